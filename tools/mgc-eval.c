/* mgc-eval: evaluate a model on labelled audio at window and track level,
 * with the same windows and track decision as mgcd; optionally on altered
 * copies of the same tracks (--robustness) and as an HTML report. An
 * ensemble (.yaml) is evaluated at track level as mgc-classify decides,
 * every member beside the combination. The data may hold any subset of the
 * model's classes. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mgc/util/argmax.h"
#include "mgc/audio/audio.h"
#include "mgc/ensemble/classify.h"
#include "mgc/util/json_quote.h"
#include "mgc/util/parse.h"
#include "mgc/train/corpus.h"
#include "mgc/ensemble/ensemble.h"
#include "mgc/train/ensemble_eval.h"
#include "mgc/stream/music_scan.h"
#include "mgc/report/report.h"
#include "mgc/train/feature_csv.h"
#include "mgc/util/mkdirs.h"

#include "tool.h"

static void usage(FILE *f) {
  fprintf(f,
          "usage: mgc-eval --model MODEL.safetensors --data ROOT [--list FILE] [options]\n"
          "       mgc-eval --model ENSEMBLE.yaml --data ROOT [--list FILE] [--json] [--report DIR]\n"
          "       mgc-eval --model MODEL.safetensors --table CSV [--list FILE] [options]\n"
          "  --model M         a model file, or an ensemble (.yaml): then every member and the\n"
          "                    combination, track level, as mgc-classify decides\n"
          "  --data ROOT       <class>/<audio files>, or the root --list resolves against;\n"
          "                    its classes may be any of the model's (figures then over those)\n"
          "  --list FILE       evaluate these tracks only (e.g. GTZAN's test.txt)\n"
          "  --detector D      the music detector (default: the ensemble's 'detector'; off: none);\n"
          "                    with one, only the music of each recording is classified, as by\n"
          "                    mgc-classify, and a recording without any is 'no music'\n"
          "  --table CSV       a feature-table model (feature: table): its rows, by file name\n"
          "  --json            print the figures as JSON instead of tables\n"
          "  --report DIR      write DIR/index.html (self-contained, SVG charts)\n"
          "  --curves CSV      learning curves for the report (default: those stored in the\n"
          "                    model by mgc-train, else MODEL.curves.csv if it exists)\n"
          "  --robustness      also evaluate the tracks sped up x1.25, pitch-shifted +-2\n"
          "                    semitones and with noise at 10 dB SNR\n"
          "  --cache DIR | --no-cache   feature cache (default $XDG_CACHE_HOME/mgc or ~/.cache/mgc)\n"
          "  --batch N         windows per forward pass (default 16)\n"
          "\n"
          "       mgc-eval --ensemble FILE [--json] [--report DIR] [--fit OUT.yaml [--rule R]]\n"
          "                [--calibrate]\n"
          "  --ensemble FILE   every member alone and every combination rule side by side, from\n"
          "                    the members' cross-validation files (see mgc/ensemble/ensemble.h)\n"
          "  --fit OUT.yaml    fit the weights and the stacking on all out-of-fold predictions\n"
          "                    and write the ensemble with rule R (default: the table's best)\n"
          "                    and its temperature\n"
          "  --calibrate       the temperature for the file's own rule and parameters, fitted\n"
          "                    on all out-of-fold predictions (for its 'temperature:' key)\n"
          "  --rule R          mean, weighted, product, agree, vote or stack\n"
          "  --report DIR      with --ensemble: DIR/ensemble.svg (a bar per member and rule,\n"
          "                    the spread over folds) and DIR/index.html\n");
}

/* --ensemble: the side-by-side table, and with --fit the fitted file. */
static int ensemble_main(const char *file, const char *fit_out, const char *rule_name, int json,
                         const char *report, int calibrate) {
  int rule = rule_name ? mgc_comb_rule_parse(rule_name) : -1;
  if (rule_name && rule < 0) {
    fprintf(stderr, "mgc-eval: --rule must be mean, weighted, product, agree, vote or stack\n");
    return 2;
  }
  mgc_ensemble *e = NULL;
  mgc_ens_scores *t;
  if (mgc_ensemble_load(file, 0, &e) || mgc_ensemble_evaluate(e, &t)) {
    fprintf(stderr, "mgc-eval: %s\n", mgc_error_message());
    mgc_ensemble_free(e);
    return 1;
  }
  char *js = json ? mgc_ens_scores_to_json(t) : NULL;
  if (json) printf("%s\n", js ? js : "null");
  else mgc_ens_scores_print(t, stdout);
  free(js);
  int rc = 0;
  if (report) {
    if (mgc_report_write_ensemble(report, t)) {
      fprintf(stderr, "mgc-eval: %s\n", mgc_error_message());
      rc = 1;
    } else {
      fprintf(stderr, "report: %s/index.html\n", report);
    }
  }
  if (fit_out) {
    if (rule < 0) rule = t->best_rule;
    const mgc_ens_row *row = &t->rows[t->n_members + rule];
    char header[1024];
    snprintf(header, sizeof header,
             "mgc ensemble (core/include/mgc/ensemble/ensemble.h), written by\n"
             "  mgc-eval --ensemble %s --fit %s%s%s\n"
             "rule %s (%s): cross-validated track accuracy %.1f %% +- %.1f over %d folds;\n"
             "weights and stack fitted on all %d out-of-fold predictions of the members' cv files.",
             file, fit_out, rule_name ? " --rule " : "", rule_name ? rule_name : "",
             row->name, rule_name ? "chosen by --rule" : "the best rule of the table",
             100 * row->acc_mean, 100 * row->acc_std, t->n_folds, t->n_tracks);
    if (mgc_ensemble_fit(e, (mgc_comb_rule)rule) || mgc_ensemble_write(e, fit_out, header)) {
      fprintf(stderr, "mgc-eval: %s: %s\n", fit_out, mgc_error_message());
      rc = 1;
    } else {
      fprintf(json ? stderr : stdout, "\nwrote %s (rule %s)\n", fit_out, row->name);
    }
  }
  if (calibrate) {
    double before, after;
    mgc_comb_rule own = e->rule;
    if (mgc_ensemble_calibrate(e, &before, &after)) {
      fprintf(stderr, "mgc-eval: %s\n", mgc_error_message());
      rc = 1;
    } else {
      fprintf(json ? stderr : stdout,
              "\ncalibration of %s as the file has it (rule %s, its own parameters):\n"
              "  temperature: %.4g (fitted on all %d out-of-fold predictions)\n"
              "  ECE %.3f -> %.3f out of fold (each fold calibrated by the other folds' fit)\n",
              file, mgc_comb_rule_name(own), e->temperature, t->n_tracks, before, after);
    }
  }
  mgc_ens_scores_free(t);
  mgc_ensemble_free(e);
  return rc;
}

/* --table: the rows of csv (those named by list, else all) as a dataset
 * (list entries without a row become its skipped messages) and a corpus. */
static mgc_status table_data(const char *csv, const char *list, const mgc_model *m,
                             mgc_dataset **ds, mgc_corpus **c) {
  const mgc_shape *in = &m->arch->input;
  if (in->ndim != 1 || in->d[0] != MGC_CLIP_DIM)
    return mgc_error_set(MGC_EINVAL, "--table: the model's input is not the [%d] feature vector",
                         MGC_CLIP_DIM);
  mgc_feature_csv *t;
  mgc_feature_csv_selection *sel = NULL;
  mgc_status st = mgc_feature_csv_load(csv, (const char *const *)m->classes, m->n_classes, &t);
  if (st) return st;
  int *all = NULL, n = t->n_rows;
  if (list) st = mgc_feature_csv_select_list(t, list, &sel);
  else if ((all = malloc(((size_t)n + 1) * sizeof *all)))
    for (int i = 0; i < n; i++) all[i] = i;
  else st = mgc_error_set(MGC_ENOMEM, "out of memory");
  const int *rows = sel ? sel->rows : all;
  if (sel) n = sel->n;
  if (!st) st = mgc_feature_csv_dataset(t, rows, n, ds);
  if (!st) st = mgc_feature_csv_corpus(t, rows, n, c);
  if (!st && sel) { /* the missing entries' messages move to the dataset */
    (*ds)->skipped = sel->missing, (*ds)->n_skipped = sel->n_missing;
    sel->missing = NULL, sel->n_missing = 0;
  }
  mgc_feature_csv_selection_free(sel);
  mgc_feature_csv_free(t);
  free(all);
  return st;
}

static void log_line(void *user, const char *line) {
  int quiet = *(const int *)user;
  if (!quiet || !strncmp(line, "warning", 7)) fprintf(stderr, "%s\n", line);
}

/* The labelled tracks of --data (and --list), labelled with the model's
 * class indices; a data class the model lacks ends the program (status 1)
 * with every such name and the model's classes. */
static mgc_dataset *load_data(const char *data, const char *list, char *const *classes, int n) {
  mgc_dataset *ds;
  /* Both sources name their own classes first, so that the mapping sees
   * every unknown name at once rather than the first list line. */
  if (list ? mgc_dataset_from_list(list, data, NULL, 0, &ds) : mgc_dataset_scan(data, &ds))
    tool_die(NULL);
  if (mgc_dataset_map_classes(ds, (const char *const *)classes, n)) tool_die(data);
  return ds;
}

static void json_str(const char *s) {
  char q[4200];
  mgc_json_quote(q, sizeof q, s);
  fputs(q, stdout);
}

/* An ensemble evaluated on --data: the tracks decided, and every member's
 * and the combination's metrics on them. */
typedef struct ens_run {
  const char *path, *rule;
  char comb_name[64];
  const mgc_ensemble *e;
  const mgc_dataset *ds;
  int n, failed, n_no_music;
  const char **names, **no_music; /* [n], [n_no_music] */
  int *label;
  mgc_metrics **mt;               /* [members + 1], the combination last */
  double ece_uncal;               /* of the combination without its temperature (NAN: it has none) */
} ens_run;

static void ens_print_json(const ens_run *run) {
  const mgc_ensemble *e = run->e;
  const int M = e->n_members, C = e->n_classes, n = run->n;
  mgc_metrics *const *mt = run->mt;
  const mgc_metrics *E = mt[M];
  printf("{\"model\": ");
  json_str(run->path);
  printf(", \"ensemble\": ");
  json_str(e->name ? e->name : "");
  printf(", \"rule\": ");
  json_str(run->rule);
  printf(", \"tracks_not_found\": %d, \"tracks_unreadable\": %d, \"detector\": ", run->ds->n_skipped, run->failed);
  if (run->e->detector_loaded) json_str(e->detector_path);
  else printf("null");
  printf(", \"no_music\": [");
  for (int t = 0; t < run->n_no_music; t++) {
    printf("%s", t ? ", " : "");
    json_str(run->no_music[t]);
  }
  printf("], \"track_accuracy_all\": %.6f, \"classes\": [",
         E->track_acc * n / (double)(n + run->n_no_music));
  for (int k = 0; k < C; k++) {
    printf("%s", k ? ", " : "");
    json_str(e->classes[k]);
  }
  printf("], \"temperature\": %.6g, \"ece_without_temperature\": ", e->temperature);
  if (isfinite(run->ece_uncal)) printf("%.6f", run->ece_uncal);
  else printf("null");
  printf(", \"evaluated_classes\": [");
  for (int k = 0, i = 0; k < C; k++)
    if (E->per_class[k].support) {
      printf("%s", i++ ? ", " : "");
      json_str(e->classes[k]);
    }
  printf("],\n \"table\": [");
  for (int r = 0; r <= M; r++) {
    printf("%s{\"name\": ", r ? ", " : "");
    json_str(r < M ? e->members[r].name : run->comb_name);
    printf(", \"kind\": \"%s\", \"track_accuracy\": %.6f, \"macro_f1\": %.6f}",
           r < M ? "member" : "ensemble", mt[r]->track_acc, mt[r]->macro_f1);
  }
  printf("],\n \"files\": [");
  for (int t = 0; t < n; t++) {
    printf("%s\n  {\"file\": ", t ? "," : "");
    json_str(run->names[t]);
    printf(", \"true\": ");
    json_str(e->classes[run->label[t]]);
    printf(", \"genre\": ");
    json_str(e->classes[E->tracks[t].pred]);
    printf(", \"confidence\": %.4f, \"members\": [", E->tracks[t].confidence);
    for (int m = 0; m < M; m++) {
      printf("%s{\"name\": ", m ? ", " : "");
      json_str(e->members[m].name);
      printf(", \"genre\": ");
      json_str(e->classes[mt[m]->tracks[t].pred]);
      printf(", \"confidence\": %.4f}", mt[m]->tracks[t].confidence);
    }
    printf("]}");
  }
  printf("],\n \"metrics\": {");
  for (int r = 0; r <= M; r++) {
    char *j = mgc_metrics_tracks_to_json(mt[r]);
    printf("%s\n", r ? "," : "");
    json_str(r < M ? e->members[r].name : "ensemble");
    printf(": %s", j ? j : "null");
    free(j);
  }
  printf("}}\n");
}

static void ens_print_text(const ens_run *run) {
  const mgc_ensemble *e = run->e;
  const int M = e->n_members, C = e->n_classes, n = run->n;
  mgc_metrics *const *mt = run->mt;
  const mgc_metrics *E = mt[M];
  printf("ensemble: %s (%s, rule %s), %d tracks evaluated, %d listed but not found, "
         "%d unreadable\n",
         run->path, e->name ? e->name : "", run->rule, n, run->ds->n_skipped, run->failed);
  printf("protocol: as mgc-classify decides: each window member's mean window probabilities "
         "over the\nwhole recording, the table member on the whole recording, combined by "
         "the rule\n");
  if (run->e->detector_loaded) {
    printf("music detector: %s: only the music of each recording is classified; %d of %d "
           "tracks had none\n(not decided; counted wrong in the accuracy over all tracks, "
           "%.1f %%)", e->detector_path, run->n_no_music, n + run->n_no_music,
           100 * E->track_acc * n / (double)(n + run->n_no_music));
    for (int t = 0; t < run->n_no_music; t++) printf("%s%s", t ? ", " : ": ", run->no_music[t]);
    printf("\n");
  }
  if (E->present_only) {
    printf("classes: the data holds %d of the %d (", E->n_present, C);
    for (int k = 0, i = 0; k < C; k++)
      if (E->per_class[k].support) printf("%s%s", i++ ? ", " : "", e->classes[k]);
    printf(");\nanswers range over all %d, macro F1 over these %d\n", C, E->n_present);
  }
  printf("\n%-24s %10s %9s\n", "", "track acc", "macro F1");
  for (int r = 0; r <= M; r++) {
    char row[96];
    snprintf(row, sizeof row, "%s%s", r < M ? "member " : "", r < M ? e->members[r].name : run->comb_name);
    printf("%-24s %8.1f %% %9.3f\n", row, 100 * mt[r]->track_acc, mt[r]->macro_f1);
  }
  int fw = 4;
  for (int t = 0; t < n; t++)
    if ((int)strlen(run->names[t]) > fw) fw = (int)strlen(run->names[t]);
  if (fw > 56) fw = 56; /* longer run->names push their row out rather than lose their end */
  printf("\nper file (* = wrong):\n%-*s  %-10s", fw, "file", "true");
  for (int r = 0; r <= M; r++)
    printf("  %-*.16s", r < M ? 16 : 0, r < M ? e->members[r].name : "ensemble");
  printf("\n");
  for (int t = 0; t < n; t++) {
    printf("%-*s  %-10s", fw, run->names[t], e->classes[run->label[t]]);
    for (int r = 0; r <= M; r++) {
      const mgc_track_result *x = &mt[r]->tracks[t];
      char cell[64];
      snprintf(cell, sizeof cell, "%s%s %.0f%%", x->pred == x->label ? "" : "*",
               e->classes[x->pred], 100 * x->confidence);
      printf("  %-*s", r < M ? 16 : 0, cell);
    }
    printf("\n");
  }
  if (e->temperature != 1)
    printf("\ncalibration: temperature %.4g; expected calibration error (15 bins, tracks) "
           "%.4f without it, %.4f with it\n", e->temperature, run->ece_uncal, E->ece);
  printf("\n%s in detail:\n", run->comb_name);
  mgc_metrics_print_tracks(E, stdout);
}

static int ens_write_report(const ens_run *run, const char *report) {
  const mgc_ensemble *e = run->e;
  const int M = run->e->n_members;
  mgc_metrics *const *mt = run->mt;
  const mgc_metrics *E = run->mt[run->e->n_members];
  mgc_report_extra extra[MGC_ENSEMBLE_MAX_MEMBERS];
  char labels[MGC_ENSEMBLE_MAX_MEMBERS][96];
  char info[4096];
  int o = snprintf(info, sizeof info,
                   "ensemble: %s (%s), rule %s\nprotocol: one decision per track, as "
                   "mgc-classify makes it (the 'windows' of this page are the tracks);\n"
                   "the other columns of the headline table are the members alone\n",
                   run->path, e->name ? e->name : "", run->rule);
  for (int m = 0; m < M && m < MGC_ENSEMBLE_MAX_MEMBERS; m++) {
    snprintf(labels[m], sizeof labels[m], "member %s", e->members[m].name);
    extra[m] = (mgc_report_extra){labels[m], mt[m]};
    if (o > 0 && (size_t)o < sizeof info)
      o += snprintf(info + o, sizeof info - (size_t)o, "member %s: %s (%s)\n",
                    e->members[m].name, e->members[m].model_path,
                    e->members[m].input == MGC_ENS_INPUT_CONTEXT ? "context" : "window");
  }
  if (mgc_report_write(report, run->comb_name, info, E, NULL, extra, M)) {
    fprintf(stderr, "mgc-eval: report: %s\n", mgc_error_message());
    return 1;
  }
  fprintf(stderr, "report: %s/index.html\n", report);
  return 0;
}

/* --model ENSEMBLE.yaml --data: each track decoded once at the ensemble's
 * rate and decided as mgc-classify decides it (every member's track
 * probabilities, combined by the rule); then every member and the
 * combination scored on the same tracks, one probability row per track. */
static int ensemble_data_main(const char *path, const char *detector, const char *data, const char *list,
                              int json, const char *report) {
  mgc_ensemble *e = NULL;
  mgc_ensemble_classifier *ec = NULL;
  if ((mgc_ensemble_is_path(path) ? mgc_ensemble_load(path, MGC_ENSEMBLE_LOAD_MODELS, &e)
                     : mgc_ensemble_single(path, NULL, MGC_ENSEMBLE_LOAD_MODELS, &e)) ||
      (detector && mgc_ensemble_set_detector(e, strcmp(detector, "off") ? detector : NULL)) ||
      mgc_ensemble_classifier_new(e, &ec))
    tool_die(path);
  const mgc_model *det = e->detector_loaded;
  mgc_pipeline_params pp;
  mgc_pipeline_params_default(&pp);
  const int M = e->n_members, C = e->n_classes, rate = mgc_ensemble_classifier_rate(ec);
  mgc_dataset *ds = load_data(data, list, e->classes, C);
  for (int i = 0; i < ds->n_skipped && i < 5; i++) fprintf(stderr, "%s\n", ds->skipped[i]);
  const int N = ds->n_tracks;
  /* Rows per decision maker: members 0..M-1, then the combination. */
  float *probs = malloc((size_t)(M + 1) * (size_t)N * (size_t)C * sizeof *probs);
  float *mp = malloc((size_t)M * (size_t)C * sizeof *mp);
  int *label = malloc((size_t)N * sizeof *label), *off = malloc(((size_t)N + 1) * sizeof *off);
  const char **names = malloc((size_t)N * sizeof *names);
  const char **no_music = malloc((size_t)N * sizeof *no_music); /* tracks the detector found no music in */
  int n_no_music = 0;
  if (!probs || !mp || !label || !off || !names || !no_music) {
    fprintf(stderr, "mgc-eval: out of memory\n");
    return 1;
  }
  int n = 0, failed = 0;
  for (int i = 0; i < N; i++) {
    const mgc_track *t = &ds->tracks[i];
    mgc_audio a = {0};
    float *comb = probs + ((size_t)M * (size_t)N + (size_t)n) * (size_t)C;
    mgc_status st = mgc_audio_load(t->path, rate, &a);
    float *x = a.samples;
    size_t nx = a.n;
    if (!st && det) { /* its music only, as mgc-classify */
      mgc_music_window *w;
      size_t nw;
      if (!(st = mgc_music_extract(det, &pp, a.samples, a.n, rate, &w, &nw, &x, &nx))) free(w);
    }
    int silent = !st && det && nx == 0;
    if (!st && !silent) st = mgc_ensemble_classifier_process(ec, x, nx, comb, mp, NULL);
    if (x != a.samples) free(x);
    free(a.samples);
    if (st) { /* as the corpus does: an unreadable file is counted, not fatal */
      fprintf(stderr, "warning: skipping %s: %s\n", t->name, mgc_error_message());
      failed++;
      continue;
    }
    if (silent) {
      no_music[n_no_music++] = t->name;
      continue;
    }
    for (int m = 0; m < M; m++)
      memcpy(probs + ((size_t)m * (size_t)N + (size_t)n) * (size_t)C, mp + (size_t)m * (size_t)C,
             (size_t)C * sizeof *mp);
    label[n] = t->label;
    names[n++] = t->name;
    if (!json && ((i + 1) % 10 == 0 || i + 1 == N)) fprintf(stderr, "tracks: %d/%d\n", i + 1, N);
  }
  if (n == 0) {
    fprintf(stderr, "mgc-eval: none of the %d tracks could be %s\n", N, n_no_music ? "decided (no music)" : "read");
    return 1;
  }
  for (int t = 0; t <= n; t++) off[t] = t;
  mgc_metrics *mt[M + 1];
  for (int r = 0; r <= M; r++) {
    /* A member's rows are [N][C] with the first n filled; one row per track. */
    mgc_eval_input in = {C, (const char *const *)e->classes, n, label, names, off,
                         probs + (size_t)r * (size_t)N * (size_t)C};
    if (mgc_metrics_compute(&in, &mt[r])) tool_die(r < M ? e->members[r].name : "ensemble");
    mgc_metrics_over_present(mt[r]);
  }
  /* Calibration on this data: the combination without its temperature. */
  double ece_uncal = NAN;
  if (e->temperature != 1) {
    mgc_combiner cb;
    float *u = malloc((size_t)n * C * sizeof *u), *row = malloc((size_t)M * C * sizeof *row);
    if (!u || !row || mgc_ensemble_combiner(e, &cb)) tool_die("calibration");
    cb.temperature = 0;
    for (int t = 0; t < n; t++) {
      for (int m = 0; m < M; m++)
        memcpy(row + (size_t)m * C, probs + ((size_t)m * N + (size_t)t) * C, (size_t)C * sizeof *row);
      mgc_combine(&cb, row, u + (size_t)t * C);
    }
    mgc_eval_input in = {C, (const char *const *)e->classes, n, label, names, off, u};
    mgc_metrics *mu;
    if (mgc_metrics_compute(&in, &mu)) tool_die("calibration");
    ece_uncal = mu->ece;
    mgc_metrics_free(mu);
    free(u);
    free(row);
  }
  ens_run x = {path, mgc_comb_rule_name(e->rule), "", e, ds, n, failed, n_no_music, names, no_music, label, mt,
               ece_uncal};
  snprintf(x.comb_name, sizeof x.comb_name, "ensemble (%s)", x.rule);
  if (json) ens_print_json(&x);
  else ens_print_text(&x);
  int rc = report ? ens_write_report(&x, report) : 0;
  for (int r = 0; r <= M; r++) mgc_metrics_free(mt[r]);
  free(probs);
  free(mp);
  free(label);
  free(off);
  free(names);
  free(no_music);
  mgc_dataset_free(ds);
  mgc_ensemble_classifier_free(ec);
  mgc_ensemble_free(e);
  return rc;
}

/* --report for one model: its page, with its learning curves (--curves,
 * else those it carries, else MODEL.curves.csv) and the altered audio's
 * figures beside the clean ones. */
static void model_report(const char *report, const char *curves, const char *model_path, const mgc_model *m,
                         mgc_metrics *const *mt, const char *const *labels, int n_cond) {
  char curves_default[1100];
  snprintf(curves_default, sizeof curves_default, "%s.curves.csv", model_path);
  char curves_saved[1100];
  if (!curves && m->curves) {
    /* The model carries the curves of its training: hand them over. */
    if (mgc_mkdirs(report)) tool_die(NULL);
    snprintf(curves_saved, sizeof curves_saved, "%s/curves.csv", report);
    FILE *f = fopen(curves_saved, "w");
    if (!f || fputs(m->curves, f) < 0 || fclose(f) != 0) tool_die(curves_saved);
    curves = curves_saved;
  }
  if (!curves) {
    FILE *f = fopen(curves_default, "r");
    if (f) {
      fclose(f);
      curves = curves_default;
    }
  }
  mgc_report_extra extra[4];
  for (int v = 1; v < n_cond; v++) extra[v - 1] = (mgc_report_extra){labels[v], mt[v]};
  char info[2048];
  snprintf(info, sizeof info, "model: %s\narchitecture: %s (%s)\nclasses: %d\nmetrics at training: %s",
           model_path, m->arch->name, m->arch->description, m->n_classes,
           m->metrics ? m->metrics : "(none)");
  if (mgc_report_write(report, m->arch->name[0] ? m->arch->name : "mgc model", info, mt[0],
                       curves, extra, n_cond - 1))
    tool_die("report");
  fprintf(stderr, "report: %s/index.html\n", report);
}

/* --model MODEL.safetensors --data (or --table): the corpus's windows
 * through the model, track decisions as mgc-classify makes them; with
 * --robustness the same tracks altered four ways. */
static int model_data_main(const char *model_path, const char *data, const char *list, const char *table,
                           const char *cache, int no_cache, int batch, int robust, int json, const char *report,
                           const char *curves) {
  mgc_model *m;
  if (mgc_model_load(model_path, &m)) tool_die(NULL);
  mgc_feature_kind kind = MGC_KIND_LOGMEL;
  if (!table && mgc_feature_kind_parse(m->arch->feature, &kind)) tool_die("the model's feature");
  char cache_dir[1024];
  if (cache) snprintf(cache_dir, sizeof cache_dir, "%s", cache);
  else mgc_featcache_default_dir(cache_dir, sizeof cache_dir);
  mgc_featcache *fc = NULL;
  if (!table && mgc_featcache_new(no_cache ? NULL : cache_dir, &m->frontend, kind, &fc))
    tool_die("cache");
  mgc_dataset *ds;
  mgc_corpus *tc = NULL; /* --table: the rows */
  if (table && table_data(table, list, m, &ds, &tc)) tool_die(NULL);
  if (!table) ds = load_data(data, list, m->classes, m->n_classes);
  int quiet = json;
  for (int i = 0; i < ds->n_skipped && i < 5; i++) log_line(&quiet, ds->skipped[i]);
  if (ds->n_skipped > 5 && !quiet)
    fprintf(stderr, "warning: ... and %d more listed tracks not found\n", ds->n_skipped - 5);
  /* The segment settings the model was trained with travel in its front-end. */
  int win = m->frontend.segment_frames, hop = m->frontend.segment_hop;
  const char *variants[] = {NULL, "speed1.25", "pitch+2", "pitch-2", "noise10"};
  const char *labels[] = {"clean", "speed x1.25", "pitch +2 st", "pitch -2 st", "noise 10 dB"};
  int n_cond = robust ? 5 : 1;
  mgc_metrics *mt[5] = {0};
  int failed = 0;
  double ece_uncal = NAN;
  for (int v = 0; v < n_cond; v++) {
    mgc_corpus *c = tc;
    if (!tc && mgc_corpus_load(ds, fc, variants[v], 1, log_line, &quiet, &c)) tool_die(labels[v]);
    if (v == 0) failed = c->n_failed;
    if (mgc_corpus_evaluate(c, m, batch, win, hop, &mt[v])) tool_die(labels[v]);
    mgc_metrics_over_present(mt[v]);
    if (v == 0) ece_uncal = mt[0]->ece;
    /* decided as mgc-classify decides: a calibrated model's own temperature */
    mgc_metrics_set_temperature(mt[v], m->temperature);
    mgc_corpus_free(c);
  }
  if (json) {
    printf("{\"model\": \"%s\", \"tracks_not_found\": %d, \"tracks_unreadable\": %d", model_path,
           ds->n_skipped, failed);
    printf(", \"temperature\": %.6g, \"ece_without_temperature\": %.6f", m->temperature,
           ece_uncal);
    for (int v = 0; v < n_cond; v++) {
      char *j = mgc_metrics_to_json(mt[v]);
      printf(", \"%s\": %s", v == 0 ? "clean" : variants[v], j ? j : "null");
      free(j);
    }
    printf("}\n");
  } else {
    printf("model: %s (%s), %d tracks evaluated, %d listed but not found, %d unreadable\n",
           model_path, m->arch->name, mt[0]->n_tracks, ds->n_skipped, failed);
    if (tc) printf("protocol: one prediction per table row; ");
    else printf("protocol: track = mean of its %d-frame windows (hop %d); ", win, hop);
    printf("tracks not seen in training only if ROOT/--list hold held-out data\n\n");
    mgc_metrics_print(mt[0], stdout);
    if (m->temperature != 1)
      printf("\ncalibration: the model's temperature %.4g (track confidences above are "
             "scaled by it); expected calibration error (15 bins, tracks) %.4f without it, "
             "%.4f with it\n", m->temperature, ece_uncal, mt[0]->ece);
    if (robust) {
      printf("\nrobustness (same tracks, altered audio):\n");
      printf("%-14s %10s %10s %10s %10s\n", "condition", "track acc", "vote acc", "window",
             "macro F1");
      for (int v = 0; v < n_cond; v++)
        printf("%-14s %9.1f%% %9.1f%% %9.1f%% %10.3f\n", labels[v], 100 * mt[v]->track_acc,
               100 * mt[v]->track_acc_vote, 100 * mt[v]->window_acc, mt[v]->macro_f1);
    }
  }
  if (report) model_report(report, curves, model_path, m, mt, labels, n_cond);
  for (int v = 0; v < n_cond; v++) mgc_metrics_free(mt[v]);
  mgc_dataset_free(ds);
  mgc_featcache_free(fc);
  mgc_model_free(m);
  return 0;
}

int main(int argc, char **argv) {
  tool_init("mgc-eval");
  const char *model_path = NULL, *data = NULL, *list = NULL, *report = NULL, *cache = NULL,
             *curves = NULL, *table = NULL, *ensemble = NULL, *fit = NULL, *rule = NULL, *detector = NULL;
  int json = 0, robust = 0, no_cache = 0, batch = 16, calibrate = 0;
  static const struct option lo[] = {
      {"model", 1, 0, 'm'},  {"data", 1, 0, 'd'},       {"list", 1, 0, 'l'},
      {"json", 0, 0, 'j'},   {"report", 1, 0, 'r'},     {"robustness", 0, 0, 'R'},
      {"cache", 1, 0, 'c'},  {"no-cache", 0, 0, 'C'},   {"batch", 1, 0, 'b'},
      {"curves", 1, 0, 'u'}, {"help", 0, 0, 'h'},       {"table", 1, 0, 'T'},
      {"ensemble", 1, 0, 'E'}, {"fit", 1, 0, 'F'},     {"rule", 1, 0, 'U'},
      {"calibrate", 0, 0, 'K'}, {"detector", 1, 0, 'D'}, {0, 0, 0, 0}};
  int ch;
  while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
    switch (ch) {
    case 'm': model_path = optarg; break;
    case 'd': data = optarg; break;
    case 'l': list = optarg; break;
    case 'j': json = 1; break;
    case 'r': report = optarg; break;
    case 'R': robust = 1; break;
    case 'c': cache = optarg; break;
    case 'C': no_cache = 1; break;
    case 'b': batch = (int)tool_int_opt("--batch", optarg, 1, 4096); break;
    case 'u': curves = optarg; break;
    case 'T': table = optarg; break;
    case 'E': ensemble = optarg; break;
    case 'F': fit = optarg; break;
    case 'U': rule = optarg; break;
    case 'K': calibrate = 1; break;
    case 'D': detector = optarg; break;
    case 'h': usage(stdout); return 0;
    default: usage(stderr); return 2;
    }
  }
  if (ensemble && optind == argc && !model_path && !data && !table && !list && !robust &&
      (fit || !rule))
    return ensemble_main(ensemble, fit, rule, json, report, calibrate);
  if (optind != argc || ensemble || fit || rule || calibrate || !model_path || !data == !table ||
      (table && robust) || batch < 1) {
    usage(stderr);
    return 2;
  }
  if (mgc_ensemble_is_path(model_path) && (table || robust || curves)) {
    fprintf(stderr, "mgc-eval: --table, --robustness and --curves take a model file, not an "
                    "ensemble\n");
    return 2;
  }
  if (detector && (table || robust || curves)) {
    fprintf(stderr, "mgc-eval: --detector evaluates recordings as mgc-classify decides them; not with "
                    "--table, --robustness or --curves\n");
    return 2;
  }
  if (mgc_ensemble_is_path(model_path) || detector) return ensemble_data_main(model_path, detector, data, list, json, report);
  return model_data_main(model_path, data, list, table, cache, no_cache, batch, robust, json, report, curves);
}
