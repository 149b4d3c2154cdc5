#include "mgc/session.h"

#include <stdlib.h>
#include <string.h>

struct mgc_session {
  const mgc_model *model;
  mgc_net *net;        /* private copy of model->net's tensors */
  int max_batch;
  size_t in_size;      /* floats per sample */
  float *xn;           /* standardised input, max_batch samples; NULL when not needed */
};

mgc_status mgc_session_new(const mgc_model *m, int max_batch, mgc_session **out) {
  *out = NULL;
  if (max_batch < 1) return mgc_error_set(MGC_EINVAL, "session batch size must be >= 1");
  mgc_status st = mgc_model_check_norm(m);
  if (st) return st;
  mgc_session *s = calloc(1, sizeof *s);
  if (!s) return mgc_error_set(MGC_ENOMEM, "out of memory");
  s->model = m;
  s->max_batch = max_batch;
  s->in_size = mgc_shape_size(&m->arch->input);
  if ((st = mgc_net_new(m->arch, m->n_classes, 0, &s->net))) goto fail;
  for (int i = 0; i < mgc_net_n_params(m->net); i++) {
    const mgc_param *src = mgc_net_param(m->net, i);
    mgc_param *dst = mgc_net_find_param(s->net, src->name);
    if (!dst || dst->size != src->size) {
      st = mgc_error_set(MGC_ESTATE, "model net and architecture disagree on '%s'", src->name);
      goto fail;
    }
    memcpy(dst->value, src->value, src->size * sizeof(float));
  }
  if ((st = mgc_net_plan(s->net, max_batch, 0))) goto fail;
  if (m->norm_dim > 0 && !(s->xn = malloc((size_t)max_batch * s->in_size * sizeof(float)))) {
    st = mgc_error_set(MGC_ENOMEM, "out of memory");
    goto fail;
  }
  *out = s;
  return MGC_OK;
fail:
  mgc_session_free(s);
  return st;
}

mgc_status mgc_session_run(mgc_session *s, const float *x, int batch, float *probs) {
  if (batch < 1 || batch > s->max_batch)
    return mgc_error_set(MGC_EINVAL, "batch of %d outside the session's 1..%d", batch,
                         s->max_batch);
  const float *in = x;
  if (s->xn) {
    mgc_model_standardize(s->model, x, s->xn, batch);
    in = s->xn;
  }
  const float *p = mgc_net_predict(s->net, in, batch);
  if (!p) return MGC_ESTATE;
  memcpy(probs, p, (size_t)batch * (size_t)s->model->n_classes * sizeof(float));
  return MGC_OK;
}

int mgc_session_max_batch(const mgc_session *s) { return s->max_batch; }
const mgc_model *mgc_session_model(const mgc_session *s) { return s->model; }

void mgc_session_free(mgc_session *s) {
  if (!s) return;
  mgc_net_free(s->net);
  free(s->xn);
  free(s);
}
