/* A recording's embedding: the output of one layer of a model's net, the
 * mean over the recording's windows (the regular grid a prediction uses).
 * The 64 values a pretrained FCN feeds its head describe a recording for
 * any other task: a user's own labels, similarity, clustering, with the
 * tools of their choice (mgc-model embed writes them as CSV).
 *
 * Lifecycle as a session: _new plans once, _process runs any number of
 * recordings, _free. Inference only. */
#ifndef MGC_EMBED_H
#define MGC_EMBED_H

#include <stddef.h>

#include "mgc/util/error.h"
#include "mgc/model/model.h"

typedef struct mgc_embedder mgc_embedder;

/* layer: a layer's name (its tensors' prefix, or its index for a layer
 * without tensors, as `mgc-model info` lists them), or NULL for the input
 * of the model's last layer with tensors (the head): the output of the
 * layer before it, a dropout passed over. A model that reads the 57 clip
 * features (feature: table) is refused. The model must outlive the
 * embedder. */
mgc_status mgc_embedder_new(const mgc_model *m, const char *layer, int max_batch,
                            mgc_embedder **out);
/* Values per embedding, and the layer they come from (its index). */
size_t mgc_embedder_dim(const mgc_embedder *e);
int mgc_embedder_layer(const mgc_embedder *e);
/* y[0..n) at the model's front-end rate; out gets mgc_embedder_dim values;
 * windows (NULL if unwanted) the windows averaged. Allocates the
 * recording's features. */
mgc_status mgc_embedder_process(mgc_embedder *e, const float *y, size_t n, float *out,
                                int *windows);
void mgc_embedder_free(mgc_embedder *e);

#endif
