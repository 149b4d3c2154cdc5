/* mgc-classify: the genre of audio files, decided as mgcd decides it: with
 * one model, the mean of the window probabilities over the whole file; with
 * an ensemble (a .yaml file, mgcd's default models/ensemble.yaml), every
 * member's track probabilities combined by the ensemble's rule, the table
 * member on the whole file (mgc_ensemble_classifier). With a music detector
 * (the ensemble's, or --detector) only the file's music is classified, the
 * windows mgcd would let vote (mgc/stream/music_scan.h); a file without any is
 * "no music". */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mgc/audio/audio.h"
#include "mgc/ensemble/classify.h"
#include "mgc/util/json_quote.h"
#include "mgc/stream/music_scan.h"
#include "mgc/util/argmax.h"
#include "mgc/util/parse.h"
#include "mgc/model/session.h"
#include "mgc/util/temperature.h"

#include "audio_files.h"
#include "tool.h"

#define MGC_DEFAULT_MODEL "models/ensemble.yaml"
#ifndef MGC_INSTALLED_MODEL
#define MGC_INSTALLED_MODEL MGC_DEFAULT_MODEL
#endif

static void usage(FILE *f) {
  fprintf(f,
          "usage: mgc-classify [--model M] [--detector D|off] [--json] [--timeline] [--top K]\n"
          "                    [--min-confidence P] FILE|DIR...\n"
          "  --model M   a model file, or an ensemble (.yaml; default " MGC_DEFAULT_MODEL ",\n"
          "              else " MGC_INSTALLED_MODEL ")\n"
          "  --detector D  the music detector (default: the ensemble's 'detector', if any); only\n"
          "              the music in a file is classified, a file without any is 'no music';\n"
          "              off: every window counts\n"
          "  --timeline  with --json: every window's time, P(music) and state\n"
          "  --json      one JSON object per file (genre, confidence, top-K, all probabilities;\n"
          "              with an ensemble, each member's genre and probabilities too)\n"
          "  --top K     how many classes to list (default 3)\n"
          "  --min-confidence P   below P (0-1) the answer is 'not sure' with the top K\n"
          "              candidates, not a genre (JSON: genre null, uncertain true)\n"
          "Directories are searched recursively for audio files.\n");
}

static void json_string(FILE *f, const char *s) {
  char q[4200];
  mgc_json_quote(q, sizeof q, s);
  fputs(q, f);
}

/* One model or an ensemble, behind one call: the genre probabilities of a
 * file. */
typedef struct classifier {
  mgc_model *m;                 /* one model */
  mgc_session *s;
  mgc_ensemble *e;              /* or an ensemble */
  mgc_ensemble_classifier *ec;
  int C, rate, table;           /* table: one model on the file's 57 table features */
  const char *const *classes;
  float *member_probs;          /* [members][C] */
  const mgc_model *det;         /* the music detector, or NULL */
  mgc_model *det_own;           /* when it came from --detector */
} classifier;

/* What the detector made of a file. */
typedef struct music {
  mgc_music_window *w;
  size_t n, votes;
} music;

/* detector: a model file, "off", or NULL for the ensemble's own. */
static mgc_status classifier_new(const char *path, const char *detector, classifier *c) {
  memset(c, 0, sizeof *c);
  mgc_status st;
  if (detector && strcmp(detector, "off")) {
    int k;
    if ((st = mgc_model_load(detector, &c->det_own)) || (st = mgc_music_class(c->det_own, &k)))
      return mgc_error_prefix(st, "%s: ", detector);
    c->det = c->det_own;
  }
  if (mgc_ensemble_is_path(path)) {
    if ((st = mgc_ensemble_load(path, MGC_ENSEMBLE_LOAD_MODELS, &c->e)) ||
        (st = mgc_ensemble_classifier_new(c->e, &c->ec)))
      return st;
    if (!detector) c->det = c->e->detector_loaded;
    c->C = c->e->n_classes;
    c->classes = (const char *const *)c->e->classes;
    c->rate = mgc_ensemble_classifier_rate(c->ec);
    c->member_probs = calloc((size_t)c->e->n_members * (size_t)c->C, sizeof(float));
    return c->member_probs ? MGC_OK : mgc_error_set(MGC_ENOMEM, "out of memory");
  }
  if ((st = mgc_model_load(path, &c->m)) || (st = mgc_session_new(c->m, 8, &c->s))) return st;
  c->C = c->m->n_classes;
  c->classes = (const char *const *)c->m->classes;
  c->rate = mgc_predict_rate(c->m);
  c->table = !strcmp(c->m->arch->feature, "table");
  return MGC_OK;
}

static void classifier_free(classifier *c) {
  mgc_session_free(c->s);
  mgc_model_free(c->m);
  mgc_ensemble_classifier_free(c->ec);
  mgc_ensemble_free(c->e);
  mgc_model_free(c->det_own);
  free(c->member_probs);
}

/* The file's music only (mgc_music_extract), in place of the whole file. */
static mgc_status keep_music(classifier *c, mgc_audio *a, music *mu) {
  mgc_pipeline_params pp;
  mgc_pipeline_params_default(&pp);
  float *x;
  size_t n;
  mgc_status st = mgc_music_extract(c->det, &pp, a->samples, a->n, a->rate, &mu->w, &mu->n, &x, &n);
  if (st) return st;
  mu->votes = mgc_music_votes(mu->w, mu->n);
  free(a->samples);
  a->samples = x;
  a->n = n;
  return MGC_OK;
}

static mgc_status classify(classifier *c, const char *path, double *mean, int *nw, music *mu) {
  mgc_audio a = {0};
  float p[c->C];
  mgc_status st = mgc_audio_load(path, c->rate, &a);
  if (st) return st;
  if (c->det && (st = keep_music(c, &a, mu))) {
    free(a.samples);
    return mgc_error_set(st, "%s: %s", path, mgc_error_message());
  }
  if (c->det && !mu->votes) { /* no music: nothing to classify */
    free(a.samples);
    *nw = 0;
    for (int k = 0; k < c->C; k++) mean[k] = 0;
    return MGC_OK;
  }
  st = c->ec ? mgc_ensemble_classifier_process(c->ec, a.samples, a.n, p, c->member_probs, nw)
             : mgc_predict_recording(c->s, a.samples, a.n, p, nw);
  /* a model deciding alone carries its own calibration (an ensemble's is in its rule) */
  if (!st && !c->ec && c->m->temperature != 1) mgc_temperature_apply(p, c->C, c->m->temperature);
  free(a.samples);
  if (st) return mgc_error_set(st, "%s: %s", path, mgc_error_message());
  for (int k = 0; k < c->C; k++) mean[k] = p[k];
  return MGC_OK;
}

/* One file's answer: as JSON (one object a line) or in words. */
typedef struct answer_opts {
  int json, timeline, top;
  double min_conf;
} answer_opts;

static void print_answer(const classifier *cl, const answer_opts *ao, const char *file, const double *mean, int nw,
                         const music *mu) {
  const int C = cl->C, M = cl->e ? cl->e->n_members : 0, json = ao->json, timeline = ao->timeline, top = ao->top;
  int no_music = cl->det && !mu->votes;
  int order[C];
  for (int k = 0; k < C; k++) order[k] = k;
  for (int a = 0; a < C; a++)
    for (int b = a + 1; b < C; b++)
      if (mean[order[b]] > mean[order[a]]) {
        int t = order[a];
        order[a] = order[b];
        order[b] = t;
      }
  /* Below --min-confidence the answer is "not sure" and its candidates,
   * never a genre said with confidence. */
  int unsure = !no_music && mean[order[0]] < ao->min_conf;
  if (json) {
    printf("{\"file\": ");
    json_string(stdout, file);
    if (cl->det)
      printf(", \"no_music\": %s, \"music_windows\": %zu, \"detector_windows\": %zu",
             no_music ? "true" : "false", mu->votes, mu->n);
    if (cl->det && timeline) {
      printf(", \"timeline\": [");
      for (size_t w = 0; w < mu->n; w++) {
        const mgc_music_window *mw = &mu->w[w];
        printf("%s{\"t\": %.3f, \"t_end\": %.3f, \"music\": ", w ? ", " : "", mw->t, mw->t_end);
        if (!isnan(mw->music)) printf("%.4f", mw->music);
        else printf("null");
        printf(", \"window\": \"%s\", \"state\": \"%s\", \"votes\": %s}", mgc_sound_name(mw->v.window),
               mgc_sound_name(mw->v.state), mw->v.votes ? "true" : "false");
      }
      printf("]");
    }
    if (no_music) {
      printf(", \"genre\": null, \"uncertain\": false, \"windows\": 0}\n");
      return;
    }
    printf(", \"genre\": ");
    if (unsure) printf("null");
    else json_string(stdout, cl->classes[order[0]]);
    printf(", \"uncertain\": %s", unsure ? "true" : "false");
    printf(", \"confidence\": %.4f, \"windows\": %d, \"top\": [", mean[order[0]], nw);
    for (int k = 0; k < top; k++) {
      printf("%s[", k ? ", " : "");
      json_string(stdout, cl->classes[order[k]]);
      printf(", %.4f]", mean[order[k]]);
    }
    printf("], \"probabilities\": {");
    for (int k = 0; k < C; k++) {
      printf("%s", k ? ", " : "");
      json_string(stdout, cl->classes[k]);
      printf(": %.4f", mean[k]);
    }
    printf("}");
    if (M) {
      printf(", \"rule\": ");
      json_string(stdout, mgc_comb_rule_name(cl->e->rule));
      printf(", \"members\": [");
      for (int m = 0; m < M; m++) {
        const float *p = cl->member_probs + (size_t)m * (size_t)C;
        printf("%s{\"name\": ", m ? ", " : "");
        json_string(stdout, cl->e->members[m].name);
        printf(", \"genre\": ");
        json_string(stdout, cl->classes[mgc_argmax(p, C)]);
        printf(", \"probabilities\": [");
        for (int k = 0; k < C; k++) printf("%s%.4f", k ? ", " : "", p[k]);
        printf("]}");
      }
      printf("]");
    }
    printf("}\n");
  } else if (no_music) {
    printf("%s: no music  [none of %zu windows]\n", file, mu->n);
  } else {
    if (unsure) {
      printf("%s: not sure: %s %.0f%%", file, cl->classes[order[0]], 100 * mean[order[0]]);
      for (int k = 1; k < top; k++)
        printf(", %s %.0f%%", cl->classes[order[k]], 100 * mean[order[k]]);
    } else {
      printf("%s: %s (%.0f%%)", file, cl->classes[order[0]], 100 * mean[order[0]]);
      for (int k = 1; k < top; k++) printf("%s %s %.0f%%", k == 1 ? "  then" : ",",
                                           cl->classes[order[k]], 100 * mean[order[k]]);
    }
    if (cl->table) printf("  [the whole file's 57 features]");
    else printf("  [%d windows]", nw);
    if (cl->det && mu->votes < mu->n) printf("  [music in %zu of %zu windows]", mu->votes, mu->n);
    for (int m = 0; m < M; m++) {
      const float *p = cl->member_probs + (size_t)m * (size_t)C;
      int g = mgc_argmax(p, C);
      printf("%s%s %s %.0f%%", m ? ", " : "  members: ", cl->e->members[m].name, cl->classes[g],
             100 * p[g]);
    }
    printf("\n");
  }
}

int main(int argc, char **argv) {
  tool_init("mgc-classify");
  const char *model_path = NULL, *detector = NULL;
  int json = 0, top = 3, timeline = 0;
  double min_conf = 0;
  static const struct option lo[] = {{"model", 1, 0, 'm'}, {"json", 0, 0, 'j'},
                                     {"top", 1, 0, 't'},   {"help", 0, 0, 'h'},
                                     {"min-confidence", 1, 0, 'c'}, {"detector", 1, 0, 'd'},
                                     {"timeline", 0, 0, 'l'},
                                     {0, 0, 0, 0}};
  int ch;
  while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
    switch (ch) {
    case 'm': model_path = optarg; break;
    case 'j': json = 1; break;
    case 'd': detector = optarg; break;
    case 'l': timeline = 1; break;
    case 't': top = (int)tool_int_opt("--top", optarg, 1, 100000); break;
    case 'c': {
      char *end;
      min_conf = strtod(optarg, &end);
      if (end == optarg || *end || !(min_conf >= 0 && min_conf <= 1)) {
        fprintf(stderr, "mgc-classify: --min-confidence: '%s' is not a number in [0, 1]\n", optarg);
        return 2;
      }
      break;
    }
    case 'h': usage(stdout); return 0;
    default: usage(stderr); return 2;
    }
  }
  if (optind == argc || top < 1) {
    usage(stderr);
    return 2;
  }
  if (!model_path) model_path = access(MGC_DEFAULT_MODEL, R_OK) == 0 ? MGC_DEFAULT_MODEL
                                                                     : MGC_INSTALLED_MODEL;
  classifier cl;
  if (classifier_new(model_path, detector, &cl)) {
    fprintf(stderr, "mgc-classify: %s\n", mgc_error_message());
    classifier_free(&cl);
    return 1;
  }
  const int C = cl.C;
  if (top > C) top = C;
  answer_opts ao = {json, timeline, top, min_conf};
  mgc_path_list files = {0};
  for (int i = optind; i < argc; i++)
    if (mgc_path_list_add(&files, argv[i])) {
      fprintf(stderr, "mgc-classify: out of memory listing %s\n", argv[i]);
      return 1;
    }
  int failures = 0, bar = files.n > 1 && isatty(2);
  for (int i = 0; i < files.n; i++) {
    if (bar) {
      int w = 30, k = (i * w) / files.n;
      fprintf(stderr, "\r[%.*s%*s] %d/%d", k, "##############################", w - k, "", i,
              files.n);
      fflush(stderr);
    }
    double mean[C];
    int nw = 0;
    music mu = {0};
    if (classify(&cl, files.v[i], mean, &nw, &mu)) {
      if (bar) fprintf(stderr, "\r%*s\r", 45, "");
      fprintf(stderr, "mgc-classify: %s\n", mgc_error_message());
      free(mu.w);
      failures++;
      continue;
    }
    if (bar) fprintf(stderr, "\r%*s\r", 45, "");
    print_answer(&cl, &ao, files.v[i], mean, nw, &mu);
    free(mu.w);
    fflush(stdout);
  }
  if (bar) fprintf(stderr, "\r%*s\r", 45, "");
  mgc_path_list_free(&files);
  classifier_free(&cl);
  return failures ? 1 : 0;
}
