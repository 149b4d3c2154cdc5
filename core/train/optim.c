#include "mgc/train/optim.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct mgc_optim {
  mgc_optim_params p;
  int n;            /* trainable parameters */
  mgc_param **param;
  float **m, **v;   /* momentum / first moment, second moment */
  float *scale;     /* per-parameter learning-rate multiplier */
  int64_t steps;
};

void mgc_optim_params_default(mgc_optim_params *p) {
  memset(p, 0, sizeof *p);
  p->kind = MGC_OPTIM_ADAM;
  p->lr = 1e-3;
  p->beta1 = 0.9;
  p->beta2 = 0.999;
  p->eps = 1e-8;
}

int mgc_optim_kind_from_name(const char *name) {
  if (!strcmp(name, "sgd")) return MGC_OPTIM_SGD;
  if (!strcmp(name, "adam")) return MGC_OPTIM_ADAM;
  if (!strcmp(name, "adamw")) return MGC_OPTIM_ADAMW;
  return -1;
}

mgc_status mgc_optim_new(const mgc_optim_params *p, mgc_net *net, mgc_optim **out) {
  *out = NULL;
  if (!(p->lr > 0) || p->momentum < 0 || p->momentum >= 1 || p->weight_decay < 0 ||
      p->clip_norm < 0 || (p->kind != MGC_OPTIM_SGD && (p->beta1 < 0 || p->beta1 >= 1 ||
                                                       p->beta2 < 0 || p->beta2 >= 1 ||
                                                       !(p->eps > 0))))
    return mgc_error_set(MGC_EINVAL, "bad optimiser settings (lr %g, momentum %g, betas %g %g)",
                         p->lr, p->momentum, p->beta1, p->beta2);
  mgc_optim *o = calloc(1, sizeof *o);
  if (!o) return mgc_error_set(MGC_ENOMEM, "out of memory");
  o->p = *p;
  int total = mgc_net_n_params(net);
  o->param = calloc((size_t)total + 1, sizeof *o->param);
  o->m = calloc((size_t)total + 1, sizeof *o->m);
  o->v = calloc((size_t)total + 1, sizeof *o->v);
  o->scale = calloc((size_t)total + 1, sizeof *o->scale);
  if (!o->param || !o->m || !o->v || !o->scale) goto oom;
  for (int i = 0; i < total; i++) {
    mgc_param *q = mgc_net_param(net, i);
    if (!q->grad) continue;
    int k = o->n++;
    o->param[k] = q;
    o->scale[k] = 1.0f;
    int need_m = p->kind != MGC_OPTIM_SGD || p->momentum > 0;
    if (need_m && !(o->m[k] = calloc(q->size, sizeof(float)))) goto oom;
    if (p->kind != MGC_OPTIM_SGD && !(o->v[k] = calloc(q->size, sizeof(float)))) goto oom;
  }
  *out = o;
  return MGC_OK;
oom:
  mgc_optim_free(o);
  return mgc_error_set(MGC_ENOMEM, "out of memory");
}

void mgc_optim_free(mgc_optim *o) {
  if (!o) return;
  for (int i = 0; i < o->n; i++) {
    free(o->m[i]);
    free(o->v[i]);
  }
  free(o->m);
  free(o->v);
  free(o->param);
  free(o->scale);
  free(o);
}

void mgc_optim_set_lr(mgc_optim *o, double lr) { o->p.lr = lr; }

int mgc_optim_set_lr_scale(mgc_optim *o, const char *prefix, double scale) {
  int hits = 0;
  size_t len = strlen(prefix);
  for (int i = 0; i < o->n; i++)
    if (!strncmp(o->param[i]->name, prefix, len)) {
      o->scale[i] = (float)scale;
      hits++;
    }
  return hits;
}

double mgc_optim_lr_scale(const mgc_optim *o, int param) {
  return param >= 0 && param < o->n ? o->scale[param] : 0.0;
}
double mgc_optim_lr(const mgc_optim *o) { return o->p.lr; }
int64_t mgc_optim_steps(const mgc_optim *o) { return o->steps; }
void mgc_optim_set_steps(mgc_optim *o, int64_t steps) { o->steps = steps; }
int mgc_optim_n_slots(const mgc_optim *o) {
  return o->p.kind == MGC_OPTIM_SGD ? (o->p.momentum > 0) : 2;
}
float *mgc_optim_slot(mgc_optim *o, int param, int slot) {
  if (param < 0 || param >= o->n) return NULL;
  return slot == 0 ? o->m[param] : slot == 1 ? o->v[param] : NULL;
}

/* torch.nn.utils.clip_grad_norm_: scale by max / (norm + 1e-6) if above. */
static double clip(mgc_optim *o) {
  double ss = 0;
  for (int i = 0; i < o->n; i++) {
    if (o->scale[i] == 0.0f) continue; /* frozen: as if it had no gradient */
    const float *g = o->param[i]->grad;
    for (size_t k = 0; k < o->param[i]->size; k++) ss += (double)g[k] * g[k];
  }
  double norm = sqrt(ss);
  if (o->p.clip_norm > 0 && norm > o->p.clip_norm) {
    float scale = (float)(o->p.clip_norm / (norm + 1e-6));
    for (int i = 0; i < o->n; i++) {
      float *g = o->param[i]->grad;
      for (size_t k = 0; k < o->param[i]->size; k++) g[k] *= scale;
    }
  }
  return norm;
}

double mgc_optim_step(mgc_optim *o) {
  double norm = clip(o);
  o->steps++;
  const float lr = (float)o->p.lr, wd = (float)o->p.weight_decay;
  if (o->p.kind == MGC_OPTIM_SGD) {
    const float mu = (float)o->p.momentum;
    for (int i = 0; i < o->n; i++) {
      if (o->scale[i] == 0.0f) continue;
      float *w = o->param[i]->value, *g = o->param[i]->grad, *b = o->m[i];
      size_t n = o->param[i]->size;
      const float lr_i = lr * o->scale[i];
      for (size_t k = 0; k < n; k++) {
        float d = g[k] + wd * w[k];
        if (b) {
          /* PyTorch starts the buffer at the first gradient (no dampening). */
          b[k] = o->steps == 1 ? d : mu * b[k] + d;
          d = o->p.nesterov ? d + mu * b[k] : b[k];
        }
        w[k] -= lr_i * d;
      }
    }
    return norm;
  }
  const float b1 = (float)o->p.beta1, b2 = (float)o->p.beta2, eps = (float)o->p.eps;
  const double bc1 = 1.0 - pow(o->p.beta1, (double)o->steps);
  const double bc2 = 1.0 - pow(o->p.beta2, (double)o->steps);
  const float step = (float)(o->p.lr / bc1), rbc2 = (float)(1.0 / sqrt(bc2));
  const int decoupled = o->p.kind == MGC_OPTIM_ADAMW;
  for (int i = 0; i < o->n; i++) {
    if (o->scale[i] == 0.0f) continue;
    float *w = o->param[i]->value, *g = o->param[i]->grad, *m = o->m[i], *v = o->v[i];
    size_t n = o->param[i]->size;
    const float step_i = step * o->scale[i];
    if (decoupled && wd > 0)
      for (size_t k = 0; k < n; k++) w[k] *= 1.0f - lr * o->scale[i] * wd;
    for (size_t k = 0; k < n; k++) {
      float d = decoupled ? g[k] : g[k] + wd * w[k];
      m[k] = b1 * m[k] + (1.0f - b1) * d;
      v[k] = b2 * v[k] + (1.0f - b2) * d * d;
      w[k] -= step_i * m[k] / (sqrtf(v[k]) * rbc2 + eps);
    }
  }
  return norm;
}
