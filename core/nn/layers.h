/* Internal: the constructor of every layer type, for the registry in
 * layer.c. Each is defined in the file pair named after it. A constructor
 * reads its options with the mgc_spec_* getters, checks the input shape,
 * sets l->out, adds and initialises parameters. */
#ifndef MGC_NN_LAYERS_H
#define MGC_NN_LAYERS_H

#include "mgc/nn/layer.h"

typedef mgc_status (*mgc_layer_ctor)(mgc_layer_spec *spec, const mgc_shape *in, mgc_rng *rng,
                                     mgc_layer **out);

mgc_status mgc_dense_create(mgc_layer_spec *, const mgc_shape *, mgc_rng *, mgc_layer **);
mgc_status mgc_activation_create(mgc_layer_spec *, const mgc_shape *, mgc_rng *, mgc_layer **);
mgc_status mgc_softmax_create(mgc_layer_spec *, const mgc_shape *, mgc_rng *, mgc_layer **);
mgc_status mgc_dropout_create(mgc_layer_spec *, const mgc_shape *, mgc_rng *, mgc_layer **);
mgc_status mgc_reshape_create(mgc_layer_spec *, const mgc_shape *, mgc_rng *, mgc_layer **);
mgc_status mgc_temporal_pool_create(mgc_layer_spec *, const mgc_shape *, mgc_rng *,
                                    mgc_layer **);
mgc_status mgc_conv_create(mgc_layer_spec *, const mgc_shape *, mgc_rng *, mgc_layer **);
mgc_status mgc_pool_create(mgc_layer_spec *, const mgc_shape *, mgc_rng *, mgc_layer **);
mgc_status mgc_batchnorm_create(mgc_layer_spec *, const mgc_shape *, mgc_rng *, mgc_layer **);
mgc_status mgc_gru_create(mgc_layer_spec *, const mgc_shape *, mgc_rng *, mgc_layer **);
mgc_status mgc_lstm_create(mgc_layer_spec *, const mgc_shape *, mgc_rng *, mgc_layer **);

#endif
