#include "mgc/train/checkpoint.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mgc/model/safetensors.h"

static void ckpt_path(char *buf, size_t cap, const char *prefix, const char *what) {
  snprintf(buf, cap, "%s.%s.safetensors", prefix, what);
}

mgc_status mgc_checkpoint_save(const char *prefix, const mgc_model *model, mgc_optim *opt,
                               const float *best, const mgc_train_state *s) {
  char path[1024];
  ckpt_path(path, sizeof path, prefix, "last");
  mgc_status st = mgc_model_save(model, path);
  if (st) return st;
  mgc_net *net = model->net;
  int np = mgc_net_n_params(net);
  mgc_st_entry *e = calloc((size_t)np * 3 + 1, sizeof *e);
  char (*names)[128] = calloc((size_t)np * 3 + 1, sizeof *names);
  if (!e || !names) {
    free(e);
    free(names);
    return mgc_error_set(MGC_ENOMEM, "out of memory");
  }
  int n = 0, k = 0;
  size_t off = 0;
  for (int i = 0; i < np; i++) {
    mgc_param *p = mgc_net_param(net, i);
    const float *src[3] = {best ? best + off : NULL, NULL, NULL};
    if (p->grad) {
      src[1] = mgc_optim_slot(opt, k, 0);
      src[2] = mgc_optim_slot(opt, k, 1);
      k++;
    }
    static const char *tag[3] = {"best", "m", "v"};
    for (int j = 0; j < 3; j++) {
      if (!src[j]) continue;
      snprintf(names[n], sizeof names[n], "%s.%s", tag[j], p->name);
      e[n] = (mgc_st_entry){.name = names[n], .dtype = MGC_ST_F32, .ndim = 1,
                            .shape = {p->size}, .data = src[j]};
      n++;
    }
    off += p->size;
  }
  /* JSON-like, but "inf" and "nan" (a loss never measured, a schedule
   * without a best) are written as printf does: the reader below takes them. */
  char state[1024];
  snprintf(state, sizeof state,
           "{\"epoch\": %d, \"best_epoch\": %d, \"bad_epochs\": %d, \"best_val_loss\": %.17g, "
           "\"best_val_acc\": %.17g, \"best_val_track_acc\": %.17g, \"steps\": %lld, "
           "\"lr\": %.17g, \"sched_best\": %.17g, \"sched_bad\": %d, \"sched_cooldown\": %d, "
           "\"rng\": [\"%llu\", \"%llu\", \"%llu\", \"%llu\"]}",
           s->epoch, s->best_epoch, s->bad_epochs, s->best_val_loss, s->best_val_acc,
           s->best_val_track_acc, (long long)s->steps, s->sched.lr, s->sched.best,
           s->sched.bad_epochs, s->sched.cooldown_left, (unsigned long long)s->rng.s[0],
           (unsigned long long)s->rng.s[1], (unsigned long long)s->rng.s[2],
           (unsigned long long)s->rng.s[3]);
  mgc_st_meta_entry meta[2] = {{"format", "mgc-train-state"}, {"state", state}};
  ckpt_path(path, sizeof path, prefix, "opt");
  st = mgc_st_write(path, meta, 2, e, n);
  free(e);
  free(names);
  return st;
}

/* The number after "key": in the state, within [lo, hi] (NaN only when
 * nan_ok); 0 when it is missing, malformed or out of range. */
static int state_num(const char *js, const char *key, double lo, double hi, int nan_ok, double *out) {
  char pat[48];
  snprintf(pat, sizeof pat, "\"%s\":", key);
  const char *p = strstr(js, pat);
  if (!p) return 0;
  p += strlen(pat);
  char *end;
  double v = strtod(p, &end);
  if (end == p || (isnan(v) ? !nan_ok : !(v >= lo && v <= hi))) return 0;
  *out = v;
  return 1;
}

static int state_int(const char *js, const char *key, int lo, int hi, int *out) {
  double v;
  if (!state_num(js, key, lo, hi, 0, &v) || v != floor(v)) return 0;
  *out = (int)v;
  return 1;
}

/* "rng": ["a", "b", "c", "d"]: four unsigned 64-bit decimals. */
static int state_rng(const char *js, mgc_rng *r) {
  const char *p = strstr(js, "\"rng\":");
  if (!p) return 0;
  p += 6;
  for (int i = 0; i < 4; i++) {
    while (*p == ' ' || *p == '[' || *p == ',') p++;
    if (*p++ != '"' || *p < '0' || *p > '9') return 0;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(p, &end, 10);
    if (errno || *end != '"') return 0;
    r->s[i] = v;
    p = end + 1;
  }
  return 1;
}

static mgc_status parse_state(const char *path, const char *js, mgc_train_state *s) {
  double loss, acc, tacc, steps, lr, sbest;
  int ok = js && state_int(js, "epoch", 0, 1000000000, &s->epoch) &&
           state_int(js, "best_epoch", 0, s->epoch, &s->best_epoch) &&
           state_int(js, "bad_epochs", 0, 1000000000, &s->bad_epochs) &&
           state_num(js, "best_val_loss", 0, INFINITY, 0, &loss) &&
           state_num(js, "best_val_acc", 0, 1, 0, &acc) &&
           state_num(js, "best_val_track_acc", 0, 1, 0, &tacc) &&
           state_num(js, "steps", 0, 9007199254740992.0, 0, &steps) && steps == floor(steps) &&
           state_num(js, "lr", 0, 1e6, 0, &lr) &&
           state_num(js, "sched_best", -INFINITY, INFINITY, 1, &sbest) &&
           state_int(js, "sched_bad", 0, 1000000000, &s->sched.bad_epochs) &&
           state_int(js, "sched_cooldown", 0, 1000000000, &s->sched.cooldown_left) &&
           state_rng(js, &s->rng);
  if (!ok) return mgc_error_set(MGC_EFORMAT, "resuming: %s has no readable training state", path);
  s->best_val_loss = loss, s->best_val_acc = acc, s->best_val_track_acc = tacc;
  s->steps = (int64_t)steps;
  s->sched.lr = lr;
  s->sched.best = sbest;
  return MGC_OK;
}

/* A float tensor of `count` values into dst; 0 when it is absent or is not one. */
static int read_tensor(const mgc_st_file *f, const char *name, size_t count, float *dst) {
  const mgc_st_tensor *t = mgc_st_find(f, name);
  return t && t->count == count && mgc_st_to_f32(t, dst) == MGC_OK;
}

static mgc_status load_weights(const char *path, mgc_net *net) {
  mgc_model *last;
  mgc_status st = mgc_model_load(path, &last);
  if (st) return mgc_error_prefix(st, "resuming: ");
  for (int i = 0; i < mgc_net_n_params(net); i++) {
    mgc_param *p = mgc_net_param(net, i), *q = mgc_net_find_param(last->net, p->name);
    if (!q || q->size != p->size) {
      mgc_model_free(last);
      return mgc_error_set(MGC_EINVAL, "resuming: %s does not match this architecture", path);
    }
    memcpy(p->value, q->value, p->size * sizeof(float));
  }
  mgc_model_free(last);
  return MGC_OK;
}

mgc_status mgc_checkpoint_load(const char *prefix, mgc_model *model, mgc_optim *opt, float *best,
                               mgc_train_state *s) {
  char path[1024];
  ckpt_path(path, sizeof path, prefix, "last");
  mgc_status st = load_weights(path, model->net);
  if (st) return st;
  ckpt_path(path, sizeof path, prefix, "opt");
  mgc_st_file *f;
  if ((st = mgc_st_read(path, &f))) return mgc_error_prefix(st, "resuming: ");
  if ((st = parse_state(path, mgc_st_meta(f, "state"), s))) goto done;
  int k = 0;
  size_t off = 0;
  for (int i = 0; i < mgc_net_n_params(model->net); i++) {
    mgc_param *p = mgc_net_param(model->net, i);
    char name[160];
    snprintf(name, sizeof name, "best.%s", p->name);
    /* Best weights are kept only with a validation set: absent is fine. */
    if (best && mgc_st_find(f, name) && !read_tensor(f, name, p->size, best + off)) {
      st = mgc_error_set(MGC_EFORMAT, "resuming: %s: %s is not %zu floats", path, name, p->size);
      goto done;
    }
    if (p->grad) {
      for (int j = 0; j < 2; j++) {
        float *slot = mgc_optim_slot(opt, k, j);
        snprintf(name, sizeof name, "%s.%s", j ? "v" : "m", p->name);
        if (slot && !read_tensor(f, name, p->size, slot)) {
          st = mgc_error_set(MGC_EFORMAT, "resuming: %s lacks %s (%zu floats)", path, name, p->size);
          goto done;
        }
      }
      k++;
    }
    off += p->size;
  }
  mgc_optim_set_steps(opt, s->steps);
done:
  mgc_st_free(f);
  return st;
}
