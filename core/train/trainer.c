#include "mgc/train/trainer.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mgc/nn/loss.h"
#include "mgc/train/metrics.h"
#include "mgc/nn/parallel.h"
#include "mgc/model/predict.h"
#include "mgc/train/checkpoint.h"

void mgc_train_config_default(mgc_train_config *c) {
  memset(c, 0, sizeof *c);
  c->epochs = 60;
  c->batch = 32;
  c->seed = 1;
  mgc_optim_params_default(&c->optim);
  mgc_schedule_init(&c->schedule, MGC_SCHED_PLATEAU, c->optim.lr);
  c->schedule.patience = 3;
  c->patience = 8;
  mgc_augment_params_default(&c->aug);
  c->aug.offset_max = 32;
  c->win_len = 130;
  c->win_hop = 65;
  c->body_cache_bytes = (size_t)1 << 30;
}

/* What masked values are filled with (mgc_augment_window): the band means
 * when there is one per feature value, else 0 (the window's mean). */
static const float *window_fill(const mgc_model *m, int dim) {
  return m->norm_dim == dim ? m->norm_mean : NULL;
}

/* ---- the loop ---------------------------------------------------------- */

typedef struct win_ref {
  int track, start;
  int row; /* the window's row in the frozen body's cache, -1 when none */
} win_ref;

/* The frozen body's output for every window of the regular grid, computed
 * once when nothing varies a window from epoch to epoch (no augmentation,
 * no random offsets, no mixup): each epoch then runs only the layers that
 * learn, so a head on a frozen pretrained network trains in seconds.
 * first[i]: the row of track i's first window. */
typedef struct body_cache {
  size_t dim;        /* floats per window: the last frozen layer's output */
  float *rows;
  int *first;
} body_cache;

typedef struct trainer {
  const mgc_train_config *cfg;
  mgc_model *model;
  mgc_net *net;
  int classes, dim;
  size_t d; /* model input size */
  mgc_rng rng;
  float *x, *win, *dz, *targets, *mix_scratch, *class_w;
  int *labels, *perm;
  win_ref *refs;
  int n_refs_cap;
  int frozen;        /* leading layers frozen (mgc_net_set_frozen) */
  body_cache train_cache, valid_cache; /* rows == NULL: not cached */
  float *xc;         /* a batch of cached rows */
} trainer;

static void logf_(const mgc_train_config *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void logf_(const mgc_train_config *c, const char *fmt, ...) {
  if (!c->log) return;
  char line[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  c->log(c->log_user, line);
}

/* This epoch's training windows: every track's grid, each window moved by
 * a random offset when augmentation asks (mgc_augment_offset), in a
 * shuffled order. */
static int epoch_windows(trainer *t, const mgc_train_set *set) {
  const mgc_train_config *c = t->cfg;
  int n = 0;
  for (int i = 0; i < set->n_tracks; i++) {
    int frames = (int)set->feats[i].n_frames;
    int nw = mgc_track_windows(frames, c->win_len, c->win_hop);
    for (int k = 0; k < nw; k++) {
      int start = k * c->win_hop;
      if (c->aug.offset_max > 0) start = mgc_augment_offset(&c->aug, &t->rng, start, c->win_len, frames);
      t->refs[n++] = (win_ref){i, start, t->train_cache.rows ? t->train_cache.first[i] + k : -1};
    }
  }
  for (int i = n - 1; i > 0; i--) {
    int j = (int)mgc_rng_below(&t->rng, (uint64_t)i + 1);
    win_ref tmp = t->refs[i];
    t->refs[i] = t->refs[j];
    t->refs[j] = tmp;
  }
  return n;
}

static int count_windows(const mgc_train_set *s, const mgc_train_config *c) {
  int n = 0;
  for (int i = 0; i < s->n_tracks; i++)
    n += mgc_track_windows((int)s->feats[i].n_frames, c->win_len, c->win_hop);
  return n;
}

static int aug_active(const mgc_augment_params *a) {
  return a->freq_masks > 0 || a->time_masks > 0 || a->reverse_prob > 0 || a->gain_db > 0 ||
         a->noise_std > 0;
}

/* The loss of a batch's logits z, the backward pass and the step. With
 * mixup the targets are t->targets, else t->labels. */
static mgc_status learn_batch(trainer *t, const float *z, int b, mgc_optim *opt, double *loss_sum,
                              long *right, long *seen) {
  const mgc_train_config *c = t->cfg;
  int mix = c->aug.mixup_alpha > 0;
  double l = mgc_softmax_ce(z, b, t->classes, mix ? NULL : t->labels, mix ? t->targets : NULL,
                            c->balanced ? t->class_w : NULL, c->smoothing, t->dz, NULL);
  if (!isfinite(l))
    return mgc_error_set(MGC_EINVAL, "training diverged (loss %g); lower the learning rate", l);
  mgc_status st = mgc_net_backward(t->net, t->dz, NULL);
  if (st) return st;
  mgc_optim_step(opt);
  *loss_sum += l * b;
  for (int i = 0; i < b; i++)
    *right += mgc_argmax(z + (size_t)i * t->classes, t->classes) == t->labels[i];
  *seen += b;
  return MGC_OK;
}

/* One pass over the training windows; returns mean loss, sets accuracy. */
static mgc_status train_epoch(trainer *t, const mgc_train_set *set, mgc_optim *opt,
                              double *loss_out, double *acc_out) {
  const mgc_train_config *c = t->cfg;
  int n = epoch_windows(t, set);
  double loss_sum = 0;
  long right = 0, seen = 0;
  const float *fill = window_fill(t->model, t->dim);
  for (int b0 = 0; b0 < n; b0 += c->batch) {
    int b = n - b0 < c->batch ? n - b0 : c->batch;
    if (b < 2) break; /* batchnorm needs two samples; at most one window is left out */
    if (t->train_cache.rows) {
      const body_cache *bc = &t->train_cache;
      for (int i = 0; i < b; i++) {
        const win_ref *r = &t->refs[b0 + i];
        memcpy(t->xc + i * bc->dim, bc->rows + (size_t)r->row * bc->dim, bc->dim * sizeof(float));
        t->labels[i] = set->labels[r->track];
      }
      const float *z = mgc_net_forward_from(t->net, t->frozen, t->xc, b, 1);
      if (!z) return MGC_ESTATE;
      mgc_status st = learn_batch(t, z, b, opt, &loss_sum, &right, &seen);
      if (st) return st;
      continue;
    }
    for (int i = 0; i < b; i++) {
      const win_ref *r = &t->refs[b0 + i];
      mgc_window_cut(t->model, &set->feats[r->track], r->start, c->win_len, t->win);
      if (aug_active(&c->aug))
        mgc_augment_window(&c->aug, &t->rng, t->win, c->win_len, t->dim, fill);
      mgc_status st = mgc_model_window_layout(t->model, t->win, c->win_len, t->dim, t->x + i * t->d);
      if (st) return st;
      t->labels[i] = set->labels[r->track];
    }
    mgc_model_standardize(t->model, t->x, t->x, b);
    int mix = c->aug.mixup_alpha > 0;
    if (mix)
      mgc_augment_mixup(&c->aug, &t->rng, t->x, b, t->d, t->labels, t->classes, t->targets,
                        t->mix_scratch, t->perm);
    const float *z = mgc_net_forward(t->net, t->x, b, 1);
    if (!z) return MGC_ESTATE;
    mgc_status st = learn_batch(t, z, b, opt, &loss_sum, &right, &seen);
    if (st) return st;
  }
  *loss_out = seen ? loss_sum / seen : NAN;
  *acc_out = seen ? (double)right / seen : NAN;
  return MGC_OK;
}

/* Windows w0..w0+b of a track's regular grid, laid out and standardised
 * as the model's input, into t->x. */
static mgc_status window_batch(trainer *t, const mgc_feature_matrix *f, int w0, int b) {
  const mgc_train_config *c = t->cfg;
  for (int j = 0; j < b; j++) {
    mgc_window_cut(t->model, f, (w0 + j) * c->win_hop, c->win_len, t->win);
    mgc_status st = mgc_model_window_layout(t->model, t->win, c->win_len, t->dim, t->x + j * t->d);
    if (st) return st;
  }
  mgc_model_standardize(t->model, t->x, t->x, b);
  return MGC_OK;
}

/* Validation on the regular grid: window loss and accuracy, and track
 * accuracy by the mean of window probabilities (the daemon's rule). */
static mgc_status validate(trainer *t, const mgc_train_set *set, double *loss, double *acc,
                           double *track_acc) {
  const mgc_train_config *c = t->cfg;
  double loss_sum = 0;
  long right = 0, seen = 0, tracks_right = 0;
  double mean[t->classes];
  for (int i = 0; i < set->n_tracks; i++) {
    int nw = mgc_track_windows((int)set->feats[i].n_frames, c->win_len, c->win_hop);
    for (int k = 0; k < t->classes; k++) mean[k] = 0;
    for (int w0 = 0; w0 < nw; w0 += c->batch) {
      int b = nw - w0 < c->batch ? nw - w0 : c->batch;
      for (int j = 0; j < b; j++) t->labels[j] = set->labels[i];
      const float *z;
      if (t->valid_cache.rows) {
        const body_cache *bc = &t->valid_cache;
        z = mgc_net_forward_from(t->net, t->frozen, bc->rows + (size_t)(bc->first[i] + w0) * bc->dim,
                                 b, 0);
      } else {
        mgc_status st = window_batch(t, &set->feats[i], w0, b);
        if (st) return st;
        z = mgc_net_forward(t->net, t->x, b, 0);
      }
      if (!z) return MGC_ESTATE;
      float p[b * t->classes];
      loss_sum += b * mgc_softmax_ce(z, b, t->classes, t->labels, NULL, NULL, 0, NULL, p);
      for (int j = 0; j < b; j++) {
        right += mgc_argmax(p + j * t->classes, t->classes) == set->labels[i];
        for (int k = 0; k < t->classes; k++) mean[k] += p[j * t->classes + k];
      }
      seen += b;
    }
    tracks_right += mgc_argmax_double(mean, t->classes) == set->labels[i];
  }
  *loss = seen ? loss_sum / seen : NAN;
  *acc = seen ? (double)right / seen : NAN;
  *track_acc = set->n_tracks ? (double)tracks_right / set->n_tracks : NAN;
  return MGC_OK;
}

/* Weights (and batchnorm buffers) of the net, for keeping the best epoch. */
static float *snapshot(const mgc_net *net, float *buf) {
  size_t total = 0;
  for (int i = 0; i < mgc_net_n_params(net); i++) total += mgc_net_param(net, i)->size;
  if (!buf && !(buf = malloc(total * sizeof(float)))) return NULL;
  size_t off = 0;
  for (int i = 0; i < mgc_net_n_params(net); i++) {
    const mgc_param *p = mgc_net_param(net, i);
    memcpy(buf + off, p->value, p->size * sizeof(float));
    off += p->size;
  }
  return buf;
}

static void restore(mgc_net *net, const float *buf) {
  size_t off = 0;
  for (int i = 0; i < mgc_net_n_params(net); i++) {
    mgc_param *p = mgc_net_param(net, i);
    memcpy(p->value, buf + off, p->size * sizeof(float));
    off += p->size;
  }
}

/* ---- the frozen body ------------------------------------------------------ */

/* The layers up to the last one whose tensors are all frozen (learning-rate
 * scale 0) before the first layer that learns. */
static int frozen_layers(const mgc_net *net, const mgc_optim *opt) {
  int k = 0, frozen = 0; /* k: index among the trainable tensors, the optimiser's */
  for (int i = 0; i < mgc_net_n_layers(net); i++) {
    const mgc_layer *l = mgc_net_layer(net, i);
    int trainable = 0, learns = 0;
    for (int j = 0; j < l->n_params; j++)
      if (l->params[j].grad) {
        trainable = 1;
        learns |= mgc_optim_lr_scale(opt, k++) != 0;
      }
    if (learns) break;
    if (trainable) frozen = i + 1;
  }
  return frozen;
}

/* Nothing varies a window between epochs: the body's output can be kept. */
static int windows_fixed(const mgc_train_config *c) {
  return c->aug.offset_max == 0 && !aug_active(&c->aug) && c->aug.mixup_alpha <= 0 &&
         !c->frozen_bn_adapt; /* adapting statistics change the body's output every step */
}

static mgc_status cache_body(trainer *t, const mgc_train_set *set, body_cache *bc) {
  const mgc_train_config *c = t->cfg;
  mgc_shape o = mgc_net_layer(t->net, t->frozen - 1)->out;
  bc->dim = mgc_shape_size(&o);
  if (!(bc->first = malloc(((size_t)set->n_tracks + 1) * sizeof *bc->first)))
    return mgc_error_set(MGC_ENOMEM, "out of memory");
  int n = 0;
  for (int i = 0; i < set->n_tracks; i++) {
    bc->first[i] = n;
    n += mgc_track_windows((int)set->feats[i].n_frames, c->win_len, c->win_hop);
  }
  bc->first[set->n_tracks] = n;
  /* a body frozen only in its first layers has a large output: then it runs every epoch */
  if ((size_t)n * bc->dim * sizeof(float) > c->body_cache_bytes) return MGC_OK;
  if (!(bc->rows = malloc((size_t)n * bc->dim * sizeof(float))))
    return mgc_error_set(MGC_ENOMEM, "out of memory caching the frozen layers' output");
  for (int i = 0; i < set->n_tracks; i++) {
    int nw = bc->first[i + 1] - bc->first[i];
    for (int w0 = 0; w0 < nw; w0 += c->batch) {
      int b = nw - w0 < c->batch ? nw - w0 : c->batch;
      mgc_status st = window_batch(t, &set->feats[i], w0, b);
      if (st) return st;
      const float *y = mgc_net_forward_to(t->net, t->x, b, t->frozen - 1);
      if (!y) return MGC_ESTATE;
      memcpy(bc->rows + (size_t)(bc->first[i] + w0) * bc->dim, y, (size_t)b * bc->dim * sizeof(float));
    }
  }
  return MGC_OK;
}

static void body_cache_free(body_cache *bc) {
  free(bc->rows);
  free(bc->first);
  *bc = (body_cache){0};
}

/* Freeze the body in the net and, when the windows are fixed, run it once
 * over both sets. */
static mgc_status prepare_body(trainer *t, const mgc_optim *opt, const mgc_train_set *train,
                               const mgc_train_set *valid) {
  t->frozen = frozen_layers(t->net, opt);
  mgc_net_set_frozen(t->net, t->frozen, t->cfg->frozen_bn_adapt);
  t->frozen = mgc_net_frozen(t->net);
  if (!t->frozen) return MGC_OK;
  if (!windows_fixed(t->cfg)) {
    logf_(t->cfg, "layers 1-%d are frozen: they run as at inference, and nothing below layer "
          "%d is back-propagated", t->frozen, t->frozen + 1);
    return MGC_OK;
  }
  struct timespec a, b;
  clock_gettime(CLOCK_MONOTONIC, &a);
  mgc_status st = cache_body(t, train, &t->train_cache);
  if (!st && valid) st = cache_body(t, valid, &t->valid_cache);
  if (st) return st;
  if (!t->train_cache.rows || (valid && !t->valid_cache.rows)) {
    body_cache_free(&t->train_cache);
    body_cache_free(&t->valid_cache);
    logf_(t->cfg, "layers 1-%d are frozen; their output is too large to keep, so they run in "
          "every epoch", t->frozen);
    return MGC_OK;
  }
  if (!(t->xc = malloc((size_t)t->cfg->batch * t->train_cache.dim * sizeof(float))))
    return mgc_error_set(MGC_ENOMEM, "out of memory");
  clock_gettime(CLOCK_MONOTONIC, &b);
  logf_(t->cfg, "layers 1-%d are frozen and every window is fixed: their output (%zu values a "
        "window) was computed once, in %.1f s; the epochs train the layers above",
        t->frozen, t->train_cache.dim,
        (double)(b.tv_sec - a.tv_sec) + 1e-9 * (double)(b.tv_nsec - a.tv_nsec));
  return MGC_OK;
}

/* ---- driver -------------------------------------------------------------- */

/* What mgc_train_run refuses before it starts. */
static mgc_status check_run(const mgc_train_config *cfg, const mgc_model *model, const mgc_train_set *train) {
  /* The loss is softmax cross-entropy: it would silently train a sigmoid
   * head as if its tags were exclusive classes. */
  const mgc_layer *out_layer = mgc_net_layer(model->net, mgc_net_n_layers(model->net) - 1);
  if (strcmp(out_layer->ops->type, "sigmoid") == 0)
    return mgc_error_set(MGC_EINVAL, "multi-label (sigmoid) heads cannot be trained yet; "
                                     "replace the head with dense + softmax");
  if (cfg->epochs < 1 || cfg->batch < 2 || cfg->win_len < 1 || cfg->win_hop < 1)
    return mgc_error_set(MGC_EINVAL, "bad training settings (epochs %d, batch %d, window %d/%d)",
                         cfg->epochs, cfg->batch, cfg->win_len, cfg->win_hop);
  if (train->n_tracks < 1) return mgc_error_set(MGC_EINVAL, "no training tracks");
  if (cfg->resume && !cfg->checkpoint)
    return mgc_error_set(MGC_EINVAL, "resume needs a checkpoint path");
  return MGC_OK;
}

/* The trainer's buffers for batches of cfg->batch windows, and balanced
 * class weights from the windows each class contributes. */
static mgc_status trainer_buffers(trainer *t, const mgc_train_set *train) {
  const mgc_train_config *cfg = t->cfg;
  size_t B = (size_t)cfg->batch;
  int n_win = count_windows(train, cfg);
  t->x = malloc(B * t->d * sizeof(float));
  t->win = malloc((size_t)cfg->win_len * t->dim * sizeof(float));
  t->dz = malloc(B * t->classes * sizeof(float));
  t->targets = malloc(B * t->classes * sizeof(float));
  t->mix_scratch = malloc(B * t->d * sizeof(float));
  t->class_w = calloc((size_t)t->classes, sizeof(float));
  t->labels = malloc(B * sizeof(int));
  t->perm = malloc(B * sizeof(int));
  t->refs = malloc((size_t)n_win * sizeof *t->refs);
  if (!t->x || !t->win || !t->dz || !t->targets || !t->mix_scratch || !t->class_w || !t->labels || !t->perm ||
      !t->refs)
    return mgc_error_set(MGC_ENOMEM, "out of memory");
  double cnt[t->classes];
  for (int k = 0; k < t->classes; k++) cnt[k] = 0;
  for (int i = 0; i < train->n_tracks; i++)
    cnt[train->labels[i]] += mgc_track_windows((int)train->feats[i].n_frames, cfg->win_len, cfg->win_hop);
  for (int k = 0; k < t->classes; k++) t->class_w[k] = cnt[k] > 0 ? (float)(n_win / (t->classes * cnt[k])) : 0.0f;
  return MGC_OK;
}

static void log_epoch(const mgc_train_config *cfg, int epoch, int has_valid, double tl, double ta, double vl,
                      double va, double vt, double lr, double secs, double eta, int improved) {
  if (has_valid)
    logf_(cfg,
          "epoch %3d/%d  train loss %.4f acc %5.1f%%  val loss %.4f acc %5.1f%% tracks %5.1f%%"
          "  lr %.1e  %.1fs  ETA %d:%02d%s",
          epoch + 1, cfg->epochs, tl, 100 * ta, vl, 100 * va, 100 * vt, lr, secs,
          (int)(eta / 60), (int)eta % 60, improved ? "  *" : "");
  else
    logf_(cfg, "epoch %3d/%d  train loss %.4f acc %5.1f%%  lr %.1e  %.1fs  ETA %d:%02d",
          epoch + 1, cfg->epochs, tl, 100 * ta, lr, secs, (int)(eta / 60), (int)eta % 60);
}

/* The optimiser, with the recipe's per-prefix learning-rate scales (a rule
 * that names no parameter is a mistake, refused). */
static mgc_status open_optimiser(const mgc_train_config *cfg, mgc_net *net, mgc_optim **opt) {
  mgc_status st = mgc_optim_new(&cfg->optim, net, opt);
  if (st) return st;
  for (int i = 0; i < cfg->n_lr_rules; i++)
    if (mgc_optim_set_lr_scale(*opt, cfg->lr_rules[i].prefix, cfg->lr_rules[i].scale) == 0)
      return mgc_error_set(MGC_EINVAL, "learning-rate rule '%s': no trainable parameter's name "
                           "starts with it", cfg->lr_rules[i].prefix);
  return MGC_OK;
}

/* The learning curves' CSV: a new file with its header, or appended to on
 * a resume. */
static mgc_status open_curves(const mgc_train_config *cfg, FILE **csv) {
  *csv = fopen(cfg->curves_csv, cfg->resume ? "a" : "w");
  if (!*csv) return mgc_error_set(MGC_EIO, "%s: cannot write the learning curves", cfg->curves_csv);
  if (!cfg->resume) fprintf(*csv, "epoch,train_loss,train_acc,val_loss,val_acc,val_track_acc,lr,seconds\n");
  return MGC_OK;
}

mgc_status mgc_train_run(const mgc_train_config *cfg, mgc_model *model, const mgc_train_set *train,
                         const mgc_train_set *valid, mgc_train_result *res) {
  memset(res, 0, sizeof *res);
  mgc_status st = check_run(cfg, model, train);
  if (st) return st;
  trainer t = {.cfg = cfg, .model = model, .net = model->net, .classes = model->n_classes};
  t.dim = (int)train->feats[0].dim;
  mgc_shape si = model->arch->input;
  t.d = mgc_shape_size(&si);
  mgc_rng_seed(&t.rng, cfg->seed);
  mgc_net_reseed(t.net, mgc_rng_derive(cfg->seed, 7));
  for (int i = 0; i < train->n_tracks; i++)
    if ((int)train->feats[i].dim != t.dim || train->labels[i] < 0 ||
        train->labels[i] >= t.classes)
      return mgc_error_set(MGC_EINVAL, "training track %d: %zu features (want %d), label %d", i,
                           train->feats[i].dim, t.dim, train->labels[i]);
  float *best = NULL;
  mgc_optim *opt = NULL;
  FILE *csv = NULL;
  if ((st = trainer_buffers(&t, train))) goto done;
  /* before the plan: layers size their per-thread scratch there */
  if ((st = mgc_parallel_set_threads(cfg->threads))) goto done;
  if ((st = mgc_net_plan(t.net, cfg->batch, 1)) || (st = open_optimiser(cfg, t.net, &opt))) goto done;
  if ((st = prepare_body(&t, opt, train, valid))) goto done;
  if (valid && !(best = snapshot(t.net, NULL))) {
    st = mgc_error_set(MGC_ENOMEM, "out of memory");
    goto done;
  }
  mgc_train_state s = {.best_val_loss = INFINITY, .sched = cfg->schedule};
  s.sched.base_lr = s.sched.lr = cfg->optim.lr;
  if (s.sched.kind == MGC_SCHED_PLATEAU && isnan(s.sched.best)) s.sched.best = INFINITY;
  if (cfg->resume) {
    if ((st = mgc_checkpoint_load(cfg->checkpoint, model, opt, best, &s))) goto done;
    t.rng = s.rng;
    logf_(cfg, "resuming after epoch %d (best so far: epoch %d, val loss %.4f)", s.epoch,
          s.best_epoch, s.best_val_loss);
  }
  if (cfg->curves_csv && (st = open_curves(cfg, &csv))) goto done;
  struct timespec t0;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  double last_val = NAN;
  const int first_epoch = s.epoch; /* for the ETA: epochs timed in this run */
  if (cfg->resume) last_val = s.best_epoch == s.epoch ? s.best_val_loss : NAN;
  for (int epoch = s.epoch; epoch < cfg->epochs; epoch++) {
    struct timespec e0, e1;
    clock_gettime(CLOCK_MONOTONIC, &e0);
    double lr = cfg->resume && epoch == s.epoch ? s.sched.lr : mgc_schedule_lr(&s.sched, epoch, last_val);
    mgc_optim_set_lr(opt, lr);
    /* Dropout streams restart from (seed, epoch) so a resumed run draws the
     * same masks as an uninterrupted one. */
    mgc_net_reseed(t.net, mgc_rng_derive(cfg->seed, 1000 + (uint64_t)epoch));
    double tl = NAN, ta = NAN, vl = NAN, va = NAN, vt = NAN;
    if ((st = train_epoch(&t, train, opt, &tl, &ta))) goto done;
    if (valid && (st = validate(&t, valid, &vl, &va, &vt))) goto done;
    last_val = vl;
    clock_gettime(CLOCK_MONOTONIC, &e1);
    double secs = (double)(e1.tv_sec - e0.tv_sec) + 1e-9 * (double)(e1.tv_nsec - e0.tv_nsec);
    double total = (double)(e1.tv_sec - t0.tv_sec) + 1e-9 * (double)(e1.tv_nsec - t0.tv_nsec);
    int done_here = epoch + 1 - first_epoch;
    double eta = total / done_here * (cfg->epochs - epoch - 1);
    int improved = valid && vl < s.best_val_loss - 1e-4;
    if (improved) {
      s.best_val_loss = vl, s.best_val_acc = va, s.best_val_track_acc = vt;
      s.best_epoch = epoch + 1;
      s.bad_epochs = 0;
      snapshot(t.net, best);
    } else if (valid) {
      s.bad_epochs++;
    }
    log_epoch(cfg, epoch, valid != NULL, tl, ta, vl, va, vt, lr, secs, eta, improved);
    if (csv) {
      fprintf(csv, "%d,%.6f,%.6f,%.6f,%.6f,%.6f,%.3g,%.2f\n", epoch + 1, tl, ta, vl, va, vt, lr,
              secs);
      fflush(csv);
    }
    res->final_train_loss = tl;
    res->epochs_run = epoch + 1;
    s.epoch = epoch + 1;
    s.rng = t.rng;
    s.steps = mgc_optim_steps(opt);
    if (cfg->checkpoint && (st = mgc_checkpoint_save(cfg->checkpoint, model, opt, best, &s)))
      goto done;
    if (valid && cfg->patience > 0 && s.bad_epochs >= cfg->patience) {
      logf_(cfg, "early stop: no better validation loss for %d epochs", cfg->patience);
      break;
    }
  }
  if (valid && best && s.best_epoch > 0) {
    restore(t.net, best);
    logf_(cfg, "kept epoch %d (val loss %.4f, window acc %.1f%%, track acc %.1f%%)",
          s.best_epoch, s.best_val_loss, 100 * s.best_val_acc, 100 * s.best_val_track_acc);
  }
  res->best_epoch = valid ? s.best_epoch : res->epochs_run;
  res->best_val_loss = s.best_val_loss;
  res->best_val_acc = s.best_val_acc;
  res->best_val_track_acc = s.best_val_track_acc;
  {
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    res->seconds = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
  }
done:
  if (csv) fclose(csv);
  mgc_net_set_frozen(t.net, 0, 0);
  body_cache_free(&t.train_cache);
  body_cache_free(&t.valid_cache);
  free(t.xc);
  mgc_optim_free(opt);
  free(best);
  free(t.x);
  free(t.win);
  free(t.dz);
  free(t.targets);
  free(t.mix_scratch);
  free(t.class_w);
  free(t.labels);
  free(t.perm);
  free(t.refs);
  return st;
}
