/* PLACEHOLDER: being written. */
#include "layers.h"

mgc_status mgc_lstm_create(mgc_layer_spec *spec, const mgc_shape *in, mgc_rng *rng,
                            mgc_layer **out) {
  return mgc_error_set(MGC_EINVAL, "layer type %s is not implemented yet", spec->type);
}
