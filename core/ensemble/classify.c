#include "mgc/ensemble/classify.h"

#include <stdlib.h>
#include <string.h>

#include "mgc/audio/audio.h"
#include "mgc/ensemble/combine.h"
#include "mgc/dsp/features.h"
#include "mgc/model/model.h"
#include "mgc/model/session.h"
#include "mgc/dsp/clip_features.h"
#include "mgc/model/predict.h"

#define BATCH 8

struct mgc_ensemble_classifier {
  const mgc_ensemble *e;
  int M, C, rate;
  mgc_session **sessions;   /* [M] */
  int *feat_of;             /* [M]: the member whose features member m reads (itself when
                               none before it has the same front-end), -1 for a table */
  int n_feature_sets;
  int window_rate;          /* c->rate is a window member's */
  mgc_combiner comb;
  float *pm;                /* [M][C] */
};

void mgc_ensemble_classifier_free(mgc_ensemble_classifier *c) {
  if (!c) return;
  for (int m = 0; c->sessions && m < c->M; m++) mgc_session_free(c->sessions[m]);
  free(c->sessions);
  free(c->feat_of);
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
  c->feat_of = calloc((size_t)c->M, sizeof *c->feat_of);
  mgc_status st = MGC_OK;
  if (!c->sessions || !c->pm || !c->feat_of) st = mgc_error_set(MGC_ENOMEM, "out of memory");
  for (int m = 0; m < c->M && !st; m++) {
    const mgc_ensemble_member *mb = &e->members[m];
    const mgc_model *model = mb->loaded;
    if (!model) {
      st = mgc_error_set(MGC_EINVAL, "%s: member '%s': model not loaded", e->origin, mb->name);
      break;
    }
    if (mb->input == MGC_ENS_INPUT_WINDOW && mgc_predict_is_table(model)) {
      st = mgc_error_set(MGC_EINVAL, "%s: member '%s' is listed as input window, but its model "
                         "reads the table features of a whole recording (input: context)",
                         e->origin, mb->name);
      break;
    }
    /* The recording comes at the first window member's rate (mgcd's stream
     * rate); members at other rates get it resampled. */
    int rate = mgc_predict_rate(model);
    if (!c->rate || (mb->input == MGC_ENS_INPUT_WINDOW && !c->window_rate)) c->rate = rate;
    if (mb->input == MGC_ENS_INPUT_WINDOW) c->window_rate = 1;
    st = mgc_session_new(model, mgc_predict_is_table(model) ? 1 : BATCH, &c->sessions[m]);
    c->feat_of[m] = mgc_predict_is_table(model) ? -1 : m;
    for (int j = 0; j < m && c->feat_of[m] == m; j++) {
      const mgc_model *o = e->members[j].loaded;
      if (c->feat_of[j] == j && !strcmp(o->arch->feature, model->arch->feature) &&
          mgc_frontend_params_same_frames(&o->frontend, &model->frontend))
        c->feat_of[m] = j;
    }
    c->n_feature_sets += c->feat_of[m] == m;
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

int mgc_ensemble_classifier_feature_sets(const mgc_ensemble_classifier *c) {
  return c->n_feature_sets;
}

mgc_status mgc_ensemble_classifier_process(mgc_ensemble_classifier *c, const float *y, size_t n,
                                           float *probs, float *member_probs, int *windows) {
  /* Members at another rate get the recording resampled once per rate
   * (members sharing a rate share the copy; most ensembles need one), and
   * members of one front-end share its features. */
  int nw = 0, r_rate = 0;
  float *r = NULL;
  size_t rn = 0;
  mgc_feature_matrix fm[MGC_ENSEMBLE_MAX_MEMBERS];
  memset(fm, 0, sizeof fm);
  mgc_status st = MGC_OK;
  for (int m = 0; m < c->M && !st; m++) {
    int w = 0, rate = mgc_predict_rate(c->e->members[m].loaded), f = c->feat_of[m];
    int from_audio = f == m || f < 0; /* else it reads an earlier member's features */
    if (from_audio && rate != c->rate && rate != r_rate) {
      free(r);
      r = NULL;
      r_rate = 0;
      st = mgc_audio_resample(y, n, c->rate, rate, &r, &rn);
      if (!st) r_rate = rate;
    }
    const float *ym = rate == c->rate ? y : r;
    size_t nm = rate == c->rate ? n : rn;
    float *pm = c->pm + (size_t)m * (size_t)c->C;
    if (!st && f < 0) st = mgc_predict_recording(c->sessions[m], ym, nm, pm, &w);
    else if (!st && f == m) st = mgc_predict_features(c->e->members[m].loaded, ym, nm, &fm[m]);
    if (!st && f >= 0) st = mgc_predict_recording_features(c->sessions[m], &fm[f], pm, &w);
    if (!nw && c->e->members[m].input == MGC_ENS_INPUT_WINDOW) nw = w;
  }
  free(r);
  for (int m = 0; m < c->M; m++) mgc_feature_matrix_free(&fm[m]);
  if (st) return st;
  mgc_combine(&c->comb, c->pm, probs);
  if (member_probs) memcpy(member_probs, c->pm, (size_t)c->M * (size_t)c->C * sizeof *c->pm);
  if (windows) *windows = nw;
  return MGC_OK;
}
