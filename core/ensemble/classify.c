#include "mgc/ensemble_classify.h"

#include <stdlib.h>
#include <string.h>

#include "mgc/combine.h"
#include "mgc/features.h"
#include "mgc/model.h"
#include "mgc/session.h"
#include "mgc/table.h"
#include "mgc/trainer.h"

#define TABLE_RATE 22050 /* the feature table's rate (mgc_table_features) */
#define BATCH 8

struct mgc_ensemble_classifier {
  const mgc_ensemble *e;
  int M, C, rate;
  mgc_session **sessions;   /* [M] */
  mgc_feature_kind *kinds;  /* [M], window members */
  mgc_combiner comb;
  float *pm;                /* [M][C] */
};

void mgc_ensemble_classifier_free(mgc_ensemble_classifier *c) {
  if (!c) return;
  for (int m = 0; c->sessions && m < c->M; m++) mgc_session_free(c->sessions[m]);
  free(c->sessions);
  free(c->kinds);
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
  c->kinds = calloc((size_t)c->M, sizeof *c->kinds);
  c->pm = calloc((size_t)c->M * (size_t)c->C + 1, sizeof *c->pm);
  mgc_status st = MGC_OK;
  if (!c->sessions || !c->kinds || !c->pm) st = mgc_error_set(MGC_ENOMEM, "out of memory");
  for (int m = 0; m < c->M && !st; m++) {
    const mgc_ensemble_member *mb = &e->members[m];
    const mgc_model *model = mb->loaded;
    if (!model) {
      st = mgc_error_set(MGC_EINVAL, "%s: member '%s': model not loaded", e->origin, mb->name);
      break;
    }
    int rate = mb->input == MGC_ENS_INPUT_TABLE ? TABLE_RATE : model->frontend.sample_rate;
    if (c->rate && rate != c->rate) {
      st = mgc_error_set(MGC_EINVAL,
                         "%s: member '%s' needs audio at %d Hz, an earlier member at %d Hz: "
                         "the members must share one rate",
                         e->origin, mb->name, rate, c->rate);
      break;
    }
    c->rate = rate;
    if (mb->input == MGC_ENS_INPUT_TABLE) {
      if (mgc_shape_size(&model->arch->input) != MGC_TABLE_DIM) {
        st = mgc_error_set(MGC_EINVAL, "%s: table member '%s' does not take the %d table features",
                           e->origin, mb->name, MGC_TABLE_DIM);
        break;
      }
    } else if ((st = mgc_feature_kind_parse(model->arch->feature, &c->kinds[m]))) {
      break;
    }
    st = mgc_session_new(model, mb->input == MGC_ENS_INPUT_TABLE ? 1 : BATCH, &c->sessions[m]);
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

/* A window member's track probabilities: the mean of its windows'. */
static mgc_status window_member(mgc_ensemble_classifier *c, int m, const float *y, size_t n,
                                float *out, int *windows) {
  const mgc_model *model = c->e->members[m].loaded;
  mgc_feature_matrix fm = {0};
  mgc_status st = mgc_features_compute(&model->frontend, c->kinds[m], y, n, &fm);
  if (st) return st;
  int win = model->frontend.segment_frames, hop = model->frontend.segment_hop;
  int nw = mgc_track_windows((int)fm.n_frames, win, hop);
  size_t d = mgc_shape_size(&model->arch->input);
  float *probs = malloc((size_t)nw * (size_t)c->C * sizeof *probs);
  float *scratch = malloc(((size_t)BATCH * d + (size_t)win * fm.dim) * sizeof *scratch);
  if (!probs || !scratch) st = mgc_error_set(MGC_ENOMEM, "out of memory");
  if (!st) st = mgc_predict_track(c->sessions[m], &fm, win, hop, scratch, probs);
  if (!st) {
    for (int k = 0; k < c->C; k++) {
      double s = 0;
      for (int w = 0; w < nw; w++) s += probs[(size_t)w * (size_t)c->C + (size_t)k];
      out[k] = (float)(s / nw);
    }
    *windows = nw;
  }
  free(probs);
  free(scratch);
  mgc_feature_matrix_free(&fm);
  return st;
}

mgc_status mgc_ensemble_classifier_process(mgc_ensemble_classifier *c, const float *y, size_t n,
                                           float *probs, float *member_probs, int *windows) {
  int nw = 0;
  for (int m = 0; m < c->M; m++) {
    float *out = c->pm + (size_t)m * (size_t)c->C;
    mgc_status st;
    if (c->e->members[m].input == MGC_ENS_INPUT_TABLE) {
      float x[MGC_TABLE_DIM];
      st = mgc_table_features(y, n, TABLE_RATE, x);
      if (!st) st = mgc_session_run(c->sessions[m], x, 1, out);
    } else {
      int w = 0;
      st = window_member(c, m, y, n, out, &w);
      if (!nw) nw = w;
    }
    if (st) return st;
  }
  mgc_combine(&c->comb, c->pm, probs);
  if (member_probs) memcpy(member_probs, c->pm, (size_t)c->M * (size_t)c->C * sizeof *c->pm);
  if (windows) *windows = nw;
  return MGC_OK;
}
