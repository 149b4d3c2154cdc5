#include "mgc/ensemble_classify.h"

#include <stdlib.h>
#include <string.h>

#include "mgc/combine.h"
#include "mgc/features.h"
#include "mgc/model.h"
#include "mgc/session.h"
#include "mgc/table.h"
#include "mgc/predict.h"

#define BATCH 8

static int is_table(const mgc_model *m) { return !strcmp(m->arch->feature, "table"); }

int mgc_model_classify_rate(const mgc_model *m) {
  return is_table(m) ? MGC_TABLE_RATE : m->frontend.sample_rate;
}

mgc_status mgc_model_classify(mgc_session *s, const float *y, size_t n, float *probs, int *windows) {
  const mgc_model *model = mgc_session_model(s);
  const int C = model->n_classes;
  if (is_table(model)) {
    if (mgc_shape_size(&model->arch->input) != MGC_TABLE_DIM)
      return mgc_error_set(MGC_EINVAL, "a table model must take the %d table features", MGC_TABLE_DIM);
    float x[MGC_TABLE_DIM];
    mgc_status st = mgc_table_features(y, n, MGC_TABLE_RATE, x);
    if (!st) st = mgc_session_run(s, x, 1, probs);
    if (!st && windows) *windows = 1;
    return st;
  }
  mgc_feature_kind kind;
  mgc_feature_matrix fm = {0};
  mgc_status st = mgc_feature_kind_parse(model->arch->feature, &kind);
  if (!st) st = mgc_features_compute(&model->frontend, kind, y, n, &fm);
  if (st) return st;
  int win = model->frontend.segment_frames, hop = model->frontend.segment_hop;
  int nw = mgc_track_windows((int)fm.n_frames, win, hop);
  size_t d = mgc_shape_size(&model->arch->input);
  float *wp = malloc((size_t)nw * (size_t)C * sizeof *wp);
  float *scratch =
      malloc(((size_t)mgc_session_max_batch(s) * d + (size_t)win * fm.dim) * sizeof *scratch);
  if (!wp || !scratch) st = mgc_error_set(MGC_ENOMEM, "out of memory");
  if (!st) st = mgc_predict_track(s, &fm, win, hop, scratch, wp);
  if (!st) {
    for (int k = 0; k < C; k++) {
      double sum = 0;
      for (int w = 0; w < nw; w++) sum += wp[(size_t)w * (size_t)C + (size_t)k];
      probs[k] = (float)(sum / nw);
    }
    if (windows) *windows = nw;
  }
  free(wp);
  free(scratch);
  mgc_feature_matrix_free(&fm);
  return st;
}

struct mgc_ensemble_classifier {
  const mgc_ensemble *e;
  int M, C, rate;
  mgc_session **sessions;   /* [M] */
  mgc_combiner comb;
  float *pm;                /* [M][C] */
};

void mgc_ensemble_classifier_free(mgc_ensemble_classifier *c) {
  if (!c) return;
  for (int m = 0; c->sessions && m < c->M; m++) mgc_session_free(c->sessions[m]);
  free(c->sessions);
  free(c->pm);
  free(c);
}

mgc_status mgc_ensemble_classifier_new(const mgc_ensemble *e, mgc_ensemble_classifier **out) {
  *out = NULL;
  mgc_ensemble_classifier *c = calloc(1, sizeof *c);
  if (!c) return mgc_error_set(MGC_ENOMEM, "out of memory");
  c->e = e;
  c->M = e->n_members;
  c->C = e->n_classes;
  c->sessions = calloc((size_t)c->M, sizeof *c->sessions);
  c->pm = calloc((size_t)c->M * (size_t)c->C + 1, sizeof *c->pm);
  mgc_status st = MGC_OK;
  if (!c->sessions || !c->pm) st = mgc_error_set(MGC_ENOMEM, "out of memory");
  for (int m = 0; m < c->M && !st; m++) {
    const mgc_ensemble_member *mb = &e->members[m];
    const mgc_model *model = mb->loaded;
    if (!model) {
      st = mgc_error_set(MGC_EINVAL, "%s: member '%s': model not loaded", e->origin, mb->name);
      break;
    }
    if ((mb->input == MGC_ENS_INPUT_TABLE) != is_table(model)) {
      st = mgc_error_set(MGC_EINVAL, "%s: member '%s' is listed as input %s, but its model reads %s",
                         e->origin, mb->name, mb->input == MGC_ENS_INPUT_TABLE ? "table" : "window",
                         model->arch->feature);
      break;
    }
    int rate = mgc_model_classify_rate(model);
    if (c->rate && rate != c->rate) {
      st = mgc_error_set(MGC_EINVAL,
                         "%s: member '%s' needs audio at %d Hz, an earlier member at %d Hz: "
                         "the members must share one rate",
                         e->origin, mb->name, rate, c->rate);
      break;
    }
    c->rate = rate;
    st = mgc_session_new(model, is_table(model) ? 1 : BATCH, &c->sessions[m]);
  }
  if (!st) st = mgc_ensemble_combiner(e, &c->comb);
  if (st) {
    mgc_ensemble_classifier_free(c);
    return st;
  }
  *out = c;
  return MGC_OK;
}

int mgc_ensemble_classifier_rate(const mgc_ensemble_classifier *c) { return c->rate; }

mgc_status mgc_ensemble_classifier_process(mgc_ensemble_classifier *c, const float *y, size_t n,
                                           float *probs, float *member_probs, int *windows) {
  int nw = 0;
  for (int m = 0; m < c->M; m++) {
    int w = 0;
    mgc_status st = mgc_model_classify(c->sessions[m], y, n, c->pm + (size_t)m * (size_t)c->C, &w);
    if (st) return st;
    if (!nw && c->e->members[m].input == MGC_ENS_INPUT_WINDOW) nw = w;
  }
  mgc_combine(&c->comb, c->pm, probs);
  if (member_probs) memcpy(member_probs, c->pm, (size_t)c->M * (size_t)c->C * sizeof *c->pm);
  if (windows) *windows = nw;
  return MGC_OK;
}
