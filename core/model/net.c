#include "mgc/model/net.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct mgc_net {
  int n_layers;
  mgc_layer **layers;
  int head;           /* layers [0, head) produce the logits */
  int frozen;         /* layers [0, frozen) run as at inference in training too */
  int frozen_bn_adapt; /* ... but for their batchnorms' statistics (mgc_net_set_frozen) */
  int n_classes;
  mgc_shape input;
  /* plan */
  int batch_cap, training_cap;
  float **act;        /* act[i]: output of layer i, batch_cap * out size */
  float **grad;       /* grad[i]: dL/d act[i] (training plans only) */
  float *ws;          /* shared scratch (training plans) */
  size_t ws_floats;
  /* inference plans: every activation and scratch in one arena (see
   * plan_inference); act[i] points into it, NULL for a layer fused with
   * the next (fused[i]), whose output is never held */
  float *arena;
  float **ws_at;      /* ws_at[i]: layer i's scratch */
  unsigned char *fused;
  size_t plan_bytes;
  /* last training forward, for backward */
  const float *last_x;  /* the input of layer last_from */
  int last_from, last_batch, last_training;
  /* flat list of parameters */
  int n_params;
  mgc_param **params;
};

mgc_status mgc_net_new(const mgc_arch *arch, int n_classes, uint64_t seed, mgc_net **out) {
  *out = NULL;
  mgc_net *net = calloc(1, sizeof *net);
  if (!net || !(net->layers = calloc((size_t)arch->n_layers, sizeof *net->layers))) {
    free(net);
    return mgc_error_set(MGC_ENOMEM, "out of memory");
  }
  net->input = arch->input;
  if (n_classes <= 0) n_classes = arch->n_classes;
  mgc_rng rng;
  mgc_rng_seed(&rng, seed);
  mgc_shape shape = arch->input;
  for (int i = 0; i < arch->n_layers; i++) {
    mgc_layer_spec spec = arch->layers[i];
    spec.n_classes = n_classes;
    mgc_layer *l = NULL;
    mgc_status st = mgc_layer_new(&spec, &shape, &rng, &l);
    if (st) {
      /* Point at the option the constructor complained about if we can. */
      int line = spec.line, col = spec.col;
      const char *msg = mgc_error_message();
      for (int k = 0; k < spec.n_opts; k++) {
        char q[40];
        snprintf(q, sizeof q, "'%s'", spec.opt[k].key);
        if (strstr(msg, q)) {
          line = spec.opt[k].line;
          col = spec.opt[k].col;
          break;
        }
      }
      char in[64];
      mgc_error_prefix(st, "%s:%d:%d: layer %d (%s, input %s): ", arch->origin, line, col, i,
                       spec.type, mgc_shape_str(&shape, in, sizeof in));
      mgc_net_free(net);
      return st;
    }
    net->layers[net->n_layers++] = l;
    net->n_params += l->n_params;
    shape = l->out;
    l->ops->reseed ? l->ops->reseed(l, mgc_rng_derive(seed, (uint64_t)i + 1)) : (void)0;
    if (strcmp(spec.type, "softmax") == 0 && i != arch->n_layers - 1) {
      mgc_net_free(net);
      return mgc_error_set(MGC_EINVAL, "%s:%d:%d: softmax must be the last layer", arch->origin,
                           spec.line, spec.col);
    }
  }
  /* A trailing softmax (one class per sample) or sigmoid (independent
   * tags, multi-label) is the output: the logits are what feeds it. */
  net->head = net->n_layers;
  const char *last = net->layers[net->n_layers - 1]->ops->type;
  if (net->n_layers > 1 && (strcmp(last, "softmax") == 0 || strcmp(last, "sigmoid") == 0))
    net->head = net->n_layers - 1;
  mgc_shape o = net->layers[net->n_layers - 1]->out;
  net->n_classes = (int)mgc_shape_size(&o);
  if (!(net->params = calloc((size_t)net->n_params + 1, sizeof *net->params))) {
    mgc_net_free(net);
    return mgc_error_set(MGC_ENOMEM, "out of memory");
  }
  int k = 0;
  for (int i = 0; i < net->n_layers; i++)
    for (int j = 0; j < net->layers[i]->n_params; j++)
      net->params[k++] = &net->layers[i]->params[j];
  for (int a = 0; a < k; a++)
    for (int b = 0; b < a; b++)
      if (strcmp(net->params[a]->name, net->params[b]->name) == 0) {
        mgc_status st = mgc_error_set(MGC_EINVAL, "%s: two tensors are named '%s'",
                                      arch->origin, net->params[a]->name);
        mgc_net_free(net);
        return st;
      }
  *out = net;
  return MGC_OK;
}

static void free_plan(mgc_net *net) {
  for (int i = 0; net->act && !net->arena && i < net->n_layers; i++) free(net->act[i]);
  for (int i = 0; net->grad && i < net->n_layers; i++) free(net->grad[i]);
  free(net->act);
  free(net->grad);
  free(net->ws);
  free(net->arena);
  free(net->ws_at);
  free(net->fused);
  net->act = net->grad = NULL;
  net->ws = net->arena = NULL;
  net->ws_at = NULL;
  net->fused = NULL;
  net->ws_floats = 0;
  net->batch_cap = net->training_cap = 0;
  net->plan_bytes = 0;
}

void mgc_net_free(mgc_net *net) {
  if (!net) return;
  free_plan(net);
  for (int i = 0; i < net->n_layers; i++) mgc_layer_free(net->layers[i]);
  free(net->layers);
  free(net->params);
  free(net);
}

int mgc_net_n_layers(const mgc_net *net) { return net->n_layers; }
mgc_layer *mgc_net_layer(const mgc_net *net, int i) { return net->layers[i]; }
mgc_shape mgc_net_input_shape(const mgc_net *net) { return net->input; }
mgc_shape mgc_net_output_shape(const mgc_net *net) {
  return net->layers[net->n_layers - 1]->out;
}
int mgc_net_n_classes(const mgc_net *net) { return net->n_classes; }
int mgc_net_n_params(const mgc_net *net) { return net->n_params; }
mgc_param *mgc_net_param(const mgc_net *net, int i) { return net->params[i]; }

mgc_param *mgc_net_find_param(const mgc_net *net, const char *name) {
  for (int i = 0; i < net->n_params; i++)
    if (strcmp(net->params[i]->name, name) == 0) return net->params[i];
  return NULL;
}

size_t mgc_net_param_count(const mgc_net *net) {
  size_t n = 0;
  for (int i = 0; i < net->n_params; i++)
    if (net->params[i]->grad) n += net->params[i]->size;
  return n;
}

/* Floats rounded up to a 64-byte line, so that regions of the arena start
 * on one. */
static size_t line_up(size_t n) { return (n + 15) & ~(size_t)15; }

/* An inference plan. Nothing reads a layer's output once the next layer
 * has run (backward, which does, needs a training plan), so a step (a
 * layer, or a layer fused with the next: layer.h) needs only its input,
 * its output and its scratch. All live in one arena of the largest such
 * sum: step k writes its output at the arena's start when k is even and at
 * its end when k is odd, reads its input at the other end, where step k-1
 * left it, and gets the gap between as scratch. In the FCN that is 14 MB
 * at batch 1 instead of 130 (44 MB of it the first conv's output). */
static mgc_status plan_inference(mgc_net *net, int max_batch) {
  int n = net->n_layers;
  size_t *out = calloc((size_t)n, sizeof *out), *ws = calloc((size_t)n, sizeof *ws);
  net->act = calloc((size_t)n, sizeof *net->act);
  net->ws_at = calloc((size_t)n, sizeof *net->ws_at);
  net->fused = calloc((size_t)n, 1);
  if (!out || !ws || !net->act || !net->ws_at || !net->fused) goto oom;
  size_t size = 0, in = 0; /* arena floats; input floats of the step */
  for (int i = 0; i < n; i++) {
    mgc_layer *l = net->layers[i];
    if (l->ops->plan) {
      mgc_status st = l->ops->plan(l, max_batch, 0);
      if (st) {
        free(out);
        free(ws);
        free_plan(net);
        return st;
      }
    }
    int second = i > 0 && net->fused[i - 1]; /* of a fused pair: the step's end */
    if (!second && i + 1 < net->head && l->ops->fused_workspace && l->ops->forward_fused) {
      size_t f = l->ops->fused_workspace(l, net->layers[i + 1], max_batch);
      if (f) {
        net->fused[i] = 1;
        ws[i] = line_up(f);
        continue; /* the step's output is the next layer's */
      }
    }
    if (!second && l->ops->workspace) ws[i] = line_up(l->ops->workspace(l, max_batch, 0));
    out[i] = line_up((size_t)max_batch * mgc_shape_size(&l->out));
    size_t w = second ? ws[i - 1] : ws[i];
    if (in + out[i] + w > size) size = in + out[i] + w;
    in = out[i];
  }
  if (!(net->arena = malloc(size * sizeof(float)))) goto oom;
  int k = 0;
  in = 0;
  for (int i = 0; i < n; i++) {
    if (net->fused[i]) continue;
    int first = i > 0 && net->fused[i - 1] ? i - 1 : i; /* the step's first layer */
    float *o = k % 2 ? net->arena + size - out[i] : net->arena;
    if (ws[first]) /* else NULL, as a training plan's scratch when no layer needs any */
      net->ws_at[first] = k % 2 ? net->arena + in : net->arena + out[i];
    net->act[i] = o;
    in = out[i];
    k++;
  }
  free(out);
  free(ws);
  net->batch_cap = max_batch;
  net->training_cap = 0;
  net->plan_bytes = size * sizeof(float);
  return MGC_OK;
oom:
  free(out);
  free(ws);
  free_plan(net);
  return mgc_error_set(MGC_ENOMEM, "out of memory planning batch %d", max_batch);
}

mgc_status mgc_net_plan(mgc_net *net, int max_batch, int training) {
  if (max_batch < 1) return mgc_error_set(MGC_EINVAL, "batch size must be >= 1");
  training = training ? 1 : 0;
  if (net->act && max_batch <= net->batch_cap && training <= net->training_cap) return MGC_OK;
  if (net->training_cap > training) training = 1; /* never lose a training plan */
  free_plan(net);
  if (!training) return plan_inference(net, max_batch);
  size_t bytes = 0;
  net->act = calloc((size_t)net->n_layers, sizeof *net->act);
  net->grad = calloc((size_t)net->n_layers, sizeof *net->grad);
  if (!net->act || !net->grad) goto oom;
  for (int i = 0; i < net->n_layers; i++) {
    mgc_layer *l = net->layers[i];
    size_t n = (size_t)max_batch * mgc_shape_size(&l->out);
    if (!(net->act[i] = malloc(n * sizeof(float)))) goto oom;
    bytes += n * sizeof(float);
    if (training && i < net->head) {
      if (!(net->grad[i] = malloc(n * sizeof(float)))) goto oom;
      bytes += n * sizeof(float);
    }
    if (l->ops->workspace) {
      size_t w = l->ops->workspace(l, max_batch, training);
      if (w > net->ws_floats) net->ws_floats = w;
    }
    if (l->ops->plan) {
      mgc_status st = l->ops->plan(l, max_batch, training);
      if (st) {
        free_plan(net);
        return st;
      }
    }
  }
  if (net->ws_floats && !(net->ws = malloc(net->ws_floats * sizeof(float)))) goto oom;
  bytes += net->ws_floats * sizeof(float);
  net->batch_cap = max_batch;
  net->training_cap = training;
  net->plan_bytes = bytes;
  return MGC_OK;
oom:
  free_plan(net);
  return mgc_error_set(MGC_ENOMEM, "out of memory planning batch %d", max_batch);
}

int mgc_net_planned_batch(const mgc_net *net) { return net->batch_cap; }
size_t mgc_net_plan_bytes(const mgc_net *net) { return net->plan_bytes; }

static const float *run(mgc_net *net, const float *x, int batch, int training, int from,
                        int upto) {
  if (batch < 1 || batch > net->batch_cap || (training && !net->training_cap)) {
    mgc_error_set(MGC_ESTATE, "batch of %d (%s) does not fit the plan (%d, %s)", batch,
                  training ? "training" : "inference", net->batch_cap,
                  net->training_cap ? "training" : "inference");
    return NULL;
  }
  const float *in = x;
  for (int i = from; i < upto; i++) {
    mgc_layer *l = net->layers[i];
    float *ws = net->ws_at ? net->ws_at[i] : net->ws;
    if (net->fused && net->fused[i]) { /* layers i and i+1 in one step */
      if (i + 1 == upto) {
        mgc_error_set(MGC_EINVAL, "layer %d's output is not kept at inference (it is fused with "
                      "the next layer); take the next one", i);
        return NULL;
      }
      l->ops->forward_fused(l, net->layers[i + 1], in, net->act[i + 1], batch, ws);
      in = net->act[++i];
      continue;
    }
    int train_i = training && (i >= net->frozen || (net->frozen_bn_adapt &&
                                                     !strcmp(l->ops->type, "batchnorm")));
    l->ops->forward(l, in, net->act[i], batch, train_i, ws);
    in = net->act[i];
  }
  net->last_x = x;
  net->last_from = from;
  net->last_batch = batch;
  net->last_training = training;
  return in;
}

const float *mgc_net_forward(mgc_net *net, const float *x, int batch, int training) {
  return run(net, x, batch, training ? 1 : 0, 0, net->head);
}

const float *mgc_net_forward_from(mgc_net *net, int first, const float *x, int batch,
                                  int training) {
  if (first < 0 || first > net->frozen || (first && net->fused)) {
    mgc_error_set(MGC_EINVAL, "a forward may start at layer %d only on a training plan whose "
                  "layers before it are frozen (%d are)", first, net->frozen);
    return NULL;
  }
  return run(net, x, batch, training ? 1 : 0, first, net->head);
}

const float *mgc_net_forward_to(mgc_net *net, const float *x, int batch, int last) {
  if (last < 0 || last >= net->n_layers) {
    mgc_error_set(MGC_EINVAL, "no layer %d (the net has %d)", last, net->n_layers);
    return NULL;
  }
  return run(net, x, batch, 0, 0, last + 1);
}

void mgc_net_set_frozen(mgc_net *net, int n_layers, int adapt_batchnorm) {
  net->frozen = n_layers < 0 ? 0 : n_layers > net->head ? net->head : n_layers;
  net->frozen_bn_adapt = adapt_batchnorm ? 1 : 0;
}

int mgc_net_frozen(const mgc_net *net) { return net->frozen; }

const float *mgc_net_predict(mgc_net *net, const float *x, int batch) {
  const float *y = run(net, x, batch, 0, 0, net->n_layers);
  if (!y || net->head < net->n_layers) return y; /* the softmax or sigmoid's output */
  /* No output layer in the architecture: normalise here so callers always
   * get probabilities. */
  float *p = net->act[net->n_layers - 1];
  int c = net->n_classes;
  for (int b = 0; b < batch; b++) {
    float *r = p + (size_t)b * c;
    float m = r[0];
    for (int k = 1; k < c; k++) m = r[k] > m ? r[k] : m;
    double s = 0;
    for (int k = 0; k < c; k++) s += (r[k] = expf(r[k] - m));
    for (int k = 0; k < c; k++) r[k] = (float)(r[k] / s);
  }
  return p;
}

mgc_status mgc_net_backward(mgc_net *net, const float *dlogits, float *dx) {
  if (!net->last_training || !net->last_x)
    return mgc_error_set(MGC_ESTATE, "backward needs a training forward first");
  int batch = net->last_batch;
  /* Nothing below the frozen layers needs a gradient: stop at the first
   * trainable one, which then needs no dL/dx either. */
  int stop = net->frozen > net->last_from ? net->frozen : net->last_from;
  if (stop > 0 && dx)
    return mgc_error_set(MGC_EINVAL, "no gradient for the input: the first %d layers are frozen",
                         stop);
  const float *dy = dlogits;
  for (int i = net->head - 1; i >= stop; i--) {
    mgc_layer *l = net->layers[i];
    const float *x = i > net->last_from ? net->act[i - 1] : net->last_x;
    float *dxi = i == stop ? (stop ? NULL : dx) : net->grad[i - 1];
    l->ops->backward(l, x, net->act[i], dy, dxi, batch, net->ws);
    dy = dxi;
  }
  return MGC_OK;
}

void mgc_net_reseed(mgc_net *net, uint64_t seed) {
  for (int i = 0; i < net->n_layers; i++) {
    mgc_layer *l = net->layers[i];
    if (l->ops->reseed) l->ops->reseed(l, mgc_rng_derive(seed, (uint64_t)i + 1));
  }
}
