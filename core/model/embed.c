#include "mgc/model/embed.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mgc/dsp/features.h"
#include "mgc/model/predict.h"

struct mgc_embedder {
  const mgc_model *model;
  mgc_net *net;     /* a private copy of the model's, planned for inference */
  int layer, max_batch;
  size_t dim, in_size;
};

static int is_dropout(const mgc_layer *l) { return !strcmp(l->ops->type, "dropout"); }

/* The layer named `name`, or by default the one whose output feeds the
 * head; -1 (with a message) when there is none. */
static int find_layer(const mgc_net *net, const char *name) {
  int n = mgc_net_n_layers(net);
  if (name) {
    for (int i = 0; i < n; i++)
      if (!strcmp(mgc_net_layer(net, i)->name, name)) return i;
    mgc_error_set(MGC_EINVAL, "the model has no layer '%s' ('mgc-model info' lists them)", name);
    return -1;
  }
  int head = n - 1;
  while (head >= 0 && mgc_net_layer(net, head)->n_params == 0) head--;
  int i = head - 1;
  while (i >= 0 && is_dropout(mgc_net_layer(net, i))) i--;
  if (i < 0) mgc_error_set(MGC_EINVAL, "the model has no layer before its head to embed with");
  return i;
}

mgc_status mgc_embedder_new(const mgc_model *m, const char *layer, int max_batch,
                            mgc_embedder **out) {
  *out = NULL;
  if (mgc_predict_is_table(m))
    return mgc_error_set(MGC_EINVAL, "a model of the 57 clip features has no embedding of audio");
  if (max_batch < 1) return mgc_error_set(MGC_EINVAL, "batch size must be >= 1");
  mgc_status st = mgc_model_check_norm(m);
  if (st) return st;
  mgc_embedder *e = calloc(1, sizeof *e);
  if (!e) return mgc_error_set(MGC_ENOMEM, "out of memory");
  e->model = m;
  e->max_batch = max_batch;
  e->in_size = mgc_shape_size(&m->arch->input);
  if ((st = mgc_net_new(m->arch, m->n_classes, 0, &e->net))) goto fail;
  for (int i = 0; i < mgc_net_n_params(e->net); i++) {
    mgc_param *dst = mgc_net_param(e->net, i);
    const mgc_param *src = mgc_net_find_param(m->net, dst->name);
    memcpy(dst->value, src->value, dst->size * sizeof(float)); /* same arch: same tensors */
  }
  if ((e->layer = find_layer(e->net, layer)) < 0) {
    st = MGC_EINVAL;
    goto fail;
  }
  mgc_shape o = mgc_net_layer(e->net, e->layer)->out;
  e->dim = mgc_shape_size(&o);
  if ((st = mgc_net_plan(e->net, max_batch, 0))) goto fail;
  *out = e;
  return MGC_OK;
fail:
  mgc_embedder_free(e);
  return st;
}

size_t mgc_embedder_dim(const mgc_embedder *e) { return e->dim; }
int mgc_embedder_layer(const mgc_embedder *e) { return e->layer; }

mgc_status mgc_embedder_process(mgc_embedder *e, const float *y, size_t n, float *out,
                                int *windows) {
  const mgc_model *m = e->model;
  mgc_feature_kind kind;
  mgc_feature_matrix fm = {0};
  mgc_status st = mgc_feature_kind_parse(m->arch->feature, &kind);
  if (!st) st = mgc_features_compute(&m->frontend, kind, y, n, &fm);
  if (st) return st;
  int win = m->frontend.segment_frames, hop = m->frontend.segment_hop;
  int nw = mgc_track_windows((int)fm.n_frames, win, hop);
  float *x = malloc((size_t)e->max_batch * e->in_size * sizeof *x);
  float *cut = malloc((size_t)win * fm.dim * sizeof *cut);
  double *sum = calloc(e->dim, sizeof *sum);
  if (!x || !cut || !sum) st = mgc_error_set(MGC_ENOMEM, "out of memory");
  for (int w0 = 0; !st && w0 < nw; w0 += e->max_batch) {
    int b = nw - w0 < e->max_batch ? nw - w0 : e->max_batch;
    for (int j = 0; !st && j < b; j++) {
      mgc_window_cut(m, &fm, (w0 + j) * hop, win, cut);
      st = mgc_model_window_layout(m, cut, win, (int)fm.dim, x + (size_t)j * e->in_size);
    }
    if (st) break;
    mgc_model_standardize(m, x, x, b);
    const float *h = mgc_net_forward_to(e->net, x, b, e->layer);
    if (!h) {
      st = MGC_EINVAL;
      break;
    }
    for (size_t k = 0; k < (size_t)b * e->dim; k++) sum[k % e->dim] += h[k];
  }
  if (!st) {
    for (size_t k = 0; k < e->dim; k++) out[k] = (float)(sum[k] / nw);
    if (windows) *windows = nw;
  }
  free(x);
  free(cut);
  free(sum);
  mgc_feature_matrix_free(&fm);
  return st;
}

void mgc_embedder_free(mgc_embedder *e) {
  if (!e) return;
  mgc_net_free(e->net);
  free(e);
}
