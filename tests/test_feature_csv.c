/* Feature tables as training data: CSV parsing and its errors,
 * selection by list files, the dataset/corpus views, the 1-frame window
 * layout of a [57] input, mgc-train/mgc-eval --table end to end on a small
 * synthetic table, and --table --data --folds giving out-of-fold results
 * for exactly an audio dataset's tracks, on the audio run's folds. */
#include "test_util.h"

#include <jansson.h>
#include <math.h>
#include <sndfile.h>
#include <sys/stat.h>

#include "mgc/model/arch.h"
#include "mgc/model/model.h"
#include "mgc/train/feature_csv.h"

#ifndef MGC_TRAIN_BIN
#error "MGC_TRAIN_BIN and MGC_EVAL_BIN must be defined"
#endif

static const char *g_classes[] = {"alpha", "beta", "gamma"};

static const char *pathf(char *buf, size_t cap, const char *rel) {
  int n = snprintf(buf, cap, "%s/%s", g_dir, rel);
  assert_true(n > 0 && (size_t)n < cap);
  return buf;
}

static void write_text(const char *rel, const char *text) {
  char p[600];
  FILE *f = fopen(pathf(p, sizeof p, rel), "w");
  assert_non_null(f);
  fputs(text, f);
  fclose(f);
}

/* Value of feature k for a row of class c: class c is high on the features
 * k % 3 == c, plus noise; every feature on its own scale (1e-3 .. 1e3), as
 * the real table's are, so standardisation matters. */
static double feature_value(int c, int k, uint64_t *s) {
  double noise = (double)(test_rand(s) % 2001) / 1000.0 - 1.0;
  double v = (k % 3 == c ? 2.0 : 0.0) + 0.8 * noise;
  return v * pow(10.0, (double)(k % 7) - 3.0);
}

/* A table of n_per rows per class ("<class>.000NN.wav"), the columns in the
 * table's order with GTZAN's filename/length/label around them; rows of
 * every class interleaved. With shift_odd, the rows with an odd number look
 * like the next class (features of class c + 1): another "artist" whose
 * music says something else about its genre. */
static void write_table_ex(const char *rel, int n_per, int shift_odd) {
  char p[600];
  FILE *f = fopen(pathf(p, sizeof p, rel), "w");
  assert_non_null(f);
  fprintf(f, "filename,length");
  for (int k = 0; k < MGC_CLIP_DIM; k++) fprintf(f, ",%s", mgc_clip_feature_name(k));
  fprintf(f, ",label\n");
  uint64_t s = 77;
  for (int i = 0; i < n_per; i++)
    for (int c = 0; c < 3; c++) {
      fprintf(f, "%s.%05d.wav,661794", g_classes[c], i);
      int look = shift_odd && i % 2 ? (c + 1) % 3 : c;
      for (int k = 0; k < MGC_CLIP_DIM; k++) fprintf(f, ",%.9g", feature_value(look, k, &s));
      fprintf(f, ",%s\n", g_classes[c]);
    }
  fclose(f);
}

static void write_table(const char *rel, int n_per) { write_table_ex(rel, n_per, 0); }

/* A header with the columns in another order, an extra column and a quoted
 * name, then rows written accordingly; CRLF, a BOM and a blank line. */
static void test_parse_good(void **st) {
  char csv[8192], p[600];
  size_t n = 0;
  n += (size_t)snprintf(csv + n, sizeof csv - n, "\xEF\xBB\xBFlabel,\"filename\",extra");
  for (int k = MGC_CLIP_DIM - 1; k >= 0; k--)
    n += (size_t)snprintf(csv + n, sizeof csv - n, ",%s", mgc_clip_feature_name(k));
  n += (size_t)snprintf(csv + n, sizeof csv - n, "\r\n");
  for (int r = 0; r < 3; r++) {
    n += (size_t)snprintf(csv + n, sizeof csv - n, "%s,\"%s.0000%d.wav\",x y", r == 1 ? "zeta" : "beta",
                          r == 2 ? "odd, \"\"name\"\"" : "row", r);
    for (int k = MGC_CLIP_DIM - 1; k >= 0; k--)
      n += (size_t)snprintf(csv + n, sizeof csv - n, ", %g", k + 0.5 + 100 * r);
    n += (size_t)snprintf(csv + n, sizeof csv - n, "\r\n%s", r == 0 ? "\r\n" : "");
  }
  write_text("good.csv", csv);
  mgc_feature_csv *t;
  if (mgc_feature_csv_load(pathf(p, sizeof p, "good.csv"), NULL, 0, &t)) fail_msg("%s", mgc_error_message());
  assert_int_equal(t->n_rows, 3);
  assert_int_equal(t->n_features, MGC_CLIP_DIM);
  assert_int_equal(t->n_classes, 2);
  assert_string_equal(t->classes[0], "beta"); /* sorted */
  assert_string_equal(t->classes[1], "zeta");
  assert_string_equal(t->ids[0], "row.00000.wav");
  assert_string_equal(t->ids[2], "odd, \"name\".00002.wav");
  assert_int_equal(t->labels[0], 0);
  assert_int_equal(t->labels[1], 1);
  assert_int_equal(t->lines[0], 2);
  assert_int_equal(t->lines[1], 4); /* after the blank line */
  for (int r = 0; r < 3; r++)
    for (int k = 0; k < MGC_CLIP_DIM; k++)
      assert_float_equal(t->x[r * MGC_CLIP_DIM + k], k + 0.5 + 100 * r, 1e-4);
  /* lookups by basename, .wav and .au alike */
  assert_int_equal(mgc_feature_csv_find(t, "row.00001.wav"), 1);
  assert_int_equal(mgc_feature_csv_find(t, "zeta/row.00001.au"), 1);
  assert_int_equal(mgc_feature_csv_find(t, "row.00001"), -1);
  assert_int_equal(mgc_feature_csv_find(t, "row.00003.wav"), -1);
  mgc_feature_csv_free(t);
  /* a fixed class list: the order is kept, unknown labels are refused */
  const char *fixed[] = {"zeta", "beta"};
  if (mgc_feature_csv_load(p, fixed, 2, &t)) fail_msg("%s", mgc_error_message());
  assert_int_equal(t->labels[0], 1);
  mgc_feature_csv_free(t);
  assert_int_not_equal(mgc_feature_csv_load(p, fixed, 1, &t), MGC_OK);
  assert_non_null(strstr(mgc_error_message(), "good.csv:2: label 'beta' is not one of the 1 classes"));
}

/* A valid header and row, then `bad` as line 3; the load must fail with want. */
static void expect_bad(const char *header_extra, const char *bad, const char *want) {
  char csv[16384], p[600], row[4096];
  size_t n = (size_t)snprintf(csv, sizeof csv, "filename,label%s", header_extra);
  size_t m = 0;
  for (int k = 0; k < MGC_CLIP_DIM; k++) {
    n += (size_t)snprintf(csv + n, sizeof csv - n, ",%s", mgc_clip_feature_name(k));
    m += (size_t)snprintf(row + m, sizeof row - m, ",%d", k);
  }
  snprintf(csv + n, sizeof csv - n, "\na.wav,x%s\n%s\n", row, bad);
  write_text("bad.csv", csv);
  mgc_feature_csv *t = NULL;
  assert_int_not_equal(mgc_feature_csv_load(pathf(p, sizeof p, "bad.csv"), NULL, 0, &t), MGC_OK);
  assert_null(t);
  if (!strstr(mgc_error_message(), want)) fail_msg("'%s' lacks '%s'", mgc_error_message(), want);
}

static void test_parse_errors(void **st) {
  char row[4096], bad[4200];
  size_t m = 0;
  for (int k = 0; k < MGC_CLIP_DIM; k++) m += (size_t)snprintf(row + m, sizeof row - m, ",%d", k);
  expect_bad("", "b.wav,x,1,2", "bad.csv:3: 4 fields, the header has 59");
  snprintf(bad, sizeof bad, "b.wav,x%s,7", row);
  expect_bad("", bad, "bad.csv:3: 60 fields, the header has 59");
  snprintf(bad, sizeof bad, "b.wav,x%s", row);
  bad[strlen(bad) - 2] = 'z'; /* mfcc20_var "56" -> "z6" */
  expect_bad("", bad, "bad.csv:3: column 'mfcc20_var' (field 59): 'z6' is not a finite number");
  snprintf(bad, sizeof bad, "b.wav,x,nan%s", row + 2);
  expect_bad("", bad, "bad.csv:3: column 'chroma_stft_mean' (field 3): 'nan' is not a finite number");
  snprintf(bad, sizeof bad, "b.wav,x,1e99%s", row + 2);
  expect_bad("", bad, "'1e99' is not a finite number"); /* beyond float */
  snprintf(bad, sizeof bad, "b.wav,x,%s", row + 2);
  expect_bad("", bad, "bad.csv:3: column 'chroma_stft_mean' (field 3): '' is not a finite number");
  snprintf(bad, sizeof bad, "b.wav,%s", row);
  expect_bad("", bad, "bad.csv:3: empty label");
  snprintf(bad, sizeof bad, "\"\",x%s", row);
  expect_bad("", bad, "bad.csv:3: empty filename");
  snprintf(bad, sizeof bad, "a.wav,x%s", row);
  expect_bad("", bad, "bad.csv:3: 'a.wav' repeats line 2");
  expect_bad("", "\"b.wav,x", "bad.csv:3: field 1: unterminated quote");
  expect_bad("", "\"b\"c,x", "bad.csv:3: field 1: text after the closing quote");
  expect_bad("", "b\"c,x", "bad.csv:3: field 1: stray quote");
  expect_bad(",label", "", "bad.csv:1: column 'label' appears twice (columns 2 and 3)");

  /* missing columns, named */
  char p[600];
  mgc_feature_csv *t = NULL;
  write_text("nolabel.csv", "filename,chroma_stft_mean\na.wav,1\n");
  assert_int_not_equal(mgc_feature_csv_load(pathf(p, sizeof p, "nolabel.csv"), NULL, 0, &t), MGC_OK);
  assert_non_null(strstr(mgc_error_message(), "nolabel.csv:1: missing column 'label' and others"));
  char hdr[4096];
  m = (size_t)snprintf(hdr, sizeof hdr, "filename,label");
  for (int k = 0; k < MGC_CLIP_DIM - 1; k++)
    m += (size_t)snprintf(hdr + m, sizeof hdr - m, ",%s", mgc_clip_feature_name(k));
  snprintf(hdr + m, sizeof hdr - m, "\n");
  write_text("nocol.csv", hdr);
  assert_int_not_equal(mgc_feature_csv_load(pathf(p, sizeof p, "nocol.csv"), NULL, 0, &t), MGC_OK);
  if (!strstr(mgc_error_message(), "nocol.csv:1: missing column 'mfcc20_var' (the header"))
    fail_msg("%s", mgc_error_message());
  write_text("empty.csv", "\n\n");
  assert_int_not_equal(mgc_feature_csv_load(pathf(p, sizeof p, "empty.csv"), NULL, 0, &t), MGC_OK);
  assert_non_null(strstr(mgc_error_message(), "empty.csv: empty file"));
  hdr[m] = '\0';
  strcat(hdr, ",mfcc20_var\n");
  write_text("norows.csv", hdr);
  assert_int_not_equal(mgc_feature_csv_load(pathf(p, sizeof p, "norows.csv"), NULL, 0, &t), MGC_OK);
  assert_non_null(strstr(mgc_error_message(), "norows.csv: a header but no rows"));
  assert_int_not_equal(mgc_feature_csv_load(pathf(p, sizeof p, "absent.csv"), NULL, 0, &t), MGC_OK);
  assert_non_null(strstr(mgc_error_message(), "absent.csv"));
  assert_null(t);
}

static void test_select_list(void **st) {
  char p[600], lp[600];
  write_table("sel.csv", 4);
  mgc_feature_csv *t;
  if (mgc_feature_csv_load(pathf(p, sizeof p, "sel.csv"), NULL, 0, &t)) fail_msg("%s", mgc_error_message());
  assert_int_equal(t->n_rows, 12);
  write_text("sel.txt", "# a list\n\ngamma/gamma.00001.wav\nalpha.00002.au\n"
                        "beta/beta.00009.wav\n  beta/beta.00000.wav  \n");
  mgc_feature_csv_selection *s;
  if (mgc_feature_csv_select_list(t, pathf(lp, sizeof lp, "sel.txt"), &s)) fail_msg("%s", mgc_error_message());
  assert_int_equal(s->n, 3);
  assert_string_equal(t->ids[s->rows[0]], "gamma.00001.wav"); /* the list's order */
  assert_string_equal(t->ids[s->rows[1]], "alpha.00002.wav");
  assert_string_equal(t->ids[s->rows[2]], "beta.00000.wav");
  assert_int_equal(s->n_missing, 1);
  if (!strstr(s->missing[0], "sel.txt:5: beta/beta.00009.wav: no row in"))
    fail_msg("%s", s->missing[0]);
  mgc_feature_csv_selection_free(s);
  /* errors, with list:line */
  write_text("wrong.txt", "alpha/alpha.00000.wav\nbeta/gamma.00002.wav\n");
  assert_int_not_equal(mgc_feature_csv_select_list(t, pathf(lp, sizeof lp, "wrong.txt"), &s), MGC_OK);
  assert_null(s);
  assert_non_null(strstr(mgc_error_message(), "wrong.txt:2: 'beta/gamma.00002.wav' is labelled 'gamma'"));
  write_text("twice.txt", "alpha/alpha.00000.wav\n#\nalpha/alpha.00000.au\n");
  assert_int_not_equal(mgc_feature_csv_select_list(t, pathf(lp, sizeof lp, "twice.txt"), &s), MGC_OK);
  assert_non_null(strstr(mgc_error_message(), "twice.txt:3: 'alpha/alpha.00000.au' repeats line 1"));
  write_text("none.txt", "x/y.wav\n");
  assert_int_not_equal(mgc_feature_csv_select_list(t, pathf(lp, sizeof lp, "none.txt"), &s), MGC_OK);
  assert_non_null(strstr(mgc_error_message(), "none of its 1 entries has a row"));
  write_text("blank.txt", "# nothing\n");
  assert_int_not_equal(mgc_feature_csv_select_list(t, pathf(lp, sizeof lp, "blank.txt"), &s), MGC_OK);
  assert_non_null(strstr(mgc_error_message(), "blank.txt: no entries"));

  /* the views: rows as a dataset and a corpus of 1-frame tracks */
  int rows[] = {5, 0};
  mgc_dataset *d = NULL;
  mgc_corpus *c = NULL;
  if (mgc_feature_csv_dataset(t, rows, 2, &d) || mgc_feature_csv_corpus(t, rows, 2, &c))
    fail_msg("%s", mgc_error_message());
  assert_int_equal(d->n_tracks, 2);
  assert_int_equal(d->n_classes, 3);
  assert_string_equal(d->tracks[0].name, t->ids[5]);
  assert_int_equal(d->tracks[0].label, t->labels[5]);
  assert_non_null(strstr(d->tracks[0].path, "sel.csv:7"));
  assert_int_equal(c->n_tracks, 2);
  assert_int_equal(c->src[1], 1);
  assert_int_equal((int)c->feats[0].n_frames, 1);
  assert_int_equal((int)c->feats[0].dim, MGC_CLIP_DIM);
  assert_memory_equal(c->feats[0].data, t->x + 5 * MGC_CLIP_DIM, MGC_CLIP_DIM * sizeof(float));
  int out_of_range = 12;
  mgc_corpus *c2 = NULL;
  assert_int_equal(mgc_feature_csv_corpus(t, &out_of_range, 1, &c2), MGC_EINVAL);
  mgc_corpus_free(c);
  mgc_dataset_free(d);
  mgc_feature_csv_free(t);
}

/* The [57] input takes a window of one frame, and only that. */
static void test_window_layout(void **st) {
  mgc_arch *a;
  const char *y = "name: t\nfeature: table\ninput: [57]\nclasses: 3\nlayers:\n"
                  "  - {type: dense, out: classes}\n  - {type: softmax}\n";
  if (mgc_arch_parse(y, strlen(y), "t.yaml", &a)) fail_msg("%s", mgc_error_message());
  mgc_model *m;
  if (mgc_model_new(a, 0, NULL, 1, &m)) fail_msg("%s", mgc_error_message());
  float win[2 * MGC_CLIP_DIM], x[2 * MGC_CLIP_DIM];
  for (int i = 0; i < 2 * MGC_CLIP_DIM; i++) win[i] = (float)i;
  assert_int_equal(mgc_model_window_layout(m, win, 1, MGC_CLIP_DIM, x), MGC_OK);
  assert_memory_equal(x, win, MGC_CLIP_DIM * sizeof(float));
  assert_int_equal(mgc_model_window_layout(m, win, 2, MGC_CLIP_DIM, x), MGC_EINVAL);
  assert_int_equal(mgc_model_window_layout(m, win, 1, 56, x), MGC_EINVAL);
  assert_int_equal(mgc_model_band_axis(m->arch), 0);
  mgc_model_free(m);
  mgc_arch_free(a);
}

/* ---- the tools ------------------------------------------------------------ */

static char g_recipe[600];

static void write_recipe(void) {
  write_text("mlp.yaml", "name: tmlp\nfeature: table\ninput: [57]\nclasses: 3\nlayers:\n"
                         "  - {type: dense, out: 16}\n  - {type: batchnorm}\n  - {type: relu}\n"
                         "  - {type: dropout, p: 0.1}\n  - {type: dense, out: classes}\n"
                         "  - {type: softmax}\n");
  write_text("mlp-recipe.yaml", "architecture: mlp.yaml\nepochs: 25\nbatch_size: 16\nseed: 3\n"
                                "optimizer: {type: adamw, lr: 0.01, weight_decay: 0.01}\n"
                                "schedule: {type: cosine}\nearly_stopping: 0\nvalidation: 0.0\n"
                                "label_smoothing: 0.1\nwindow: 1\nwindow_hop: 1\n"
                                "augment: {noise_std: 0.1}\n");
  pathf(g_recipe, sizeof g_recipe, "mlp-recipe.yaml");
}

static double json_track_accuracy(const char *text) {
  const char *p = strstr(text, "\"track_accuracy\"");
  if (!p) fail_msg("no track_accuracy in:\n%.3000s", text);
  return atof(strchr(p, ':') + 1);
}

/* Three separable classes: train on 30 rows per class, evaluate on 10 others. */
static void test_train_eval(void **st) {
  static char log[65536];
  char csv[600], tl[600], el[600], model[600], cmd[4096];
  write_recipe();
  write_table("synth.csv", 40);
  pathf(csv, sizeof csv, "synth.csv");
  FILE *ft = fopen(pathf(tl, sizeof tl, "synth-train.txt"), "w");
  FILE *fe = fopen(pathf(el, sizeof el, "synth-test.txt"), "w");
  for (int c = 0; c < 3; c++)
    for (int i = 0; i < 40; i++)
      fprintf(i < 30 ? ft : fe, "%s/%s.%05d.wav\n", g_classes[c], g_classes[c], i);
  fprintf(fe, "alpha/alpha.00099.wav\n"); /* no such row: reported, not fatal */
  fclose(ft);
  fclose(fe);
  pathf(model, sizeof model, "synth.safetensors");
  snprintf(cmd, sizeof cmd, "%s --recipe %s --table %s --list %s --out %s", MGC_TRAIN_BIN,
           g_recipe, csv, tl, model);
  int rc = run(cmd, log, sizeof log);
  if (rc) fail_msg("mgc-train --table failed (%d):\n%s", rc, log);
  if (!strstr(log, "120 rows in 3 classes, training on the 90 listed in") || !strstr(log, "epoch  25/25"))
    fail_msg("unexpected log:\n%s", log);
  /* The model: standardisation statistics of the 90 training rows, and
   * windows of one frame. */
  mgc_model *m;
  if (mgc_model_load(model, &m)) fail_msg("%s", mgc_error_message());
  assert_int_equal(m->norm_dim, MGC_CLIP_DIM);
  assert_int_equal(m->frontend.segment_frames, 1);
  assert_int_equal(m->frontend.segment_hop, 1);
  mgc_feature_csv *t;
  if (mgc_feature_csv_load(csv, NULL, 0, &t)) fail_msg("%s", mgc_error_message());
  for (int k = 0; k < MGC_CLIP_DIM; k += 11) {
    double sum = 0, sq = 0;
    for (int r = 0; r < t->n_rows; r++) {
      int idx = atoi(strchr(t->ids[r], '.') + 1);
      if (idx >= 30) continue;
      sum += t->x[r * MGC_CLIP_DIM + k];
      sq += (double)t->x[r * MGC_CLIP_DIM + k] * t->x[r * MGC_CLIP_DIM + k];
    }
    double mean = sum / 90, sd = sqrt(sq / 90 - mean * mean);
    assert_float_equal(m->norm_mean[k], mean, 1e-4 * (fabs(mean) + sd));
    assert_float_equal(m->norm_std[k], sd, 1e-3 * sd);
  }
  mgc_feature_csv_free(t);
  mgc_model_free(m);
  /* held-out rows */
  snprintf(cmd, sizeof cmd, "%s --model %s --table %s --list %s --json", MGC_EVAL_BIN, model, csv,
           el);
  rc = run(cmd, log, sizeof log);
  if (rc) fail_msg("mgc-eval --table failed (%d):\n%s", rc, log);
  double acc = json_track_accuracy(log);
  if (acc < 0.9) fail_msg("held-out accuracy %.3f on separable classes:\n%.2000s", acc, log);
  assert_non_null(strstr(log, "\"n_tracks\": 30"));
  assert_non_null(strstr(log, "\"tracks_not_found\": 1"));
  snprintf(cmd, sizeof cmd, "%s --model %s --table %s --list %s", MGC_EVAL_BIN, model, csv, el);
  rc = run(cmd, log, sizeof log);
  if (rc || !strstr(log, "30 tracks evaluated, 1 listed but not found") ||
      !strstr(log, "alpha.00099.wav: no row in"))
    fail_msg("mgc-eval --table (text):\n%s", log);
  /* cross-validation over the rows */
  snprintf(cmd, sizeof cmd, "%s --recipe %s --table %s --folds 3 --quiet --cv-json %s/rows-cv.json",
           MGC_TRAIN_BIN, g_recipe, csv, g_dir);
  rc = run(cmd, log, sizeof log);
  if (rc || !strstr(log, "3-fold cross-validation, track level"))
    fail_msg("mgc-train --table --folds:\n%s", log);
  /* usage errors: a table with an audio architecture, an audio model on a table */
  write_text("audio-recipe.yaml", "architecture: audio.yaml\nepochs: 1\n");
  write_text("audio.yaml", "name: a\nfeature: mfcc\ninput: [4, 20]\nclasses: 3\nlayers:\n"
                           "  - {type: flatten}\n  - {type: dense, out: classes}\n  - {type: softmax}\n");
  snprintf(cmd, sizeof cmd, "%s --recipe %s/audio-recipe.yaml --table %s --out %s/x.safetensors",
           MGC_TRAIN_BIN, g_dir, csv, g_dir);
  assert_int_equal(run(cmd, log, sizeof log), 2);
  assert_non_null(strstr(log, "--table needs an architecture whose input is the [57] feature vector"));
  snprintf(cmd, sizeof cmd, "%s --model %s --table %s --robustness", MGC_EVAL_BIN, model, csv);
  assert_int_equal(run(cmd, log, sizeof log), 2);
  snprintf(cmd, sizeof cmd, "%s --model %s --table %s --data %s", MGC_EVAL_BIN, model, csv, g_dir);
  assert_int_equal(run(cmd, log, sizeof log), 2);
}

/* An architecture with input_log: mgc-train's statistics are those of the
 * logarithm on the listed columns, the list travels in the model file, and
 * mgc-eval applies it (still separating the classes). */
static void test_train_input_log(void **st) {
  static char out[65536];
  char csv[600], model[600], cmd[4096];
  write_table("logt.csv", 20);
  pathf(csv, sizeof csv, "logt.csv");
  write_text("mlplog.yaml", "name: tlog\nfeature: table\ninput: [57]\nclasses: 3\n"
                            "input_log: [chroma_stft_var, 13]\nlayers:\n"
                            "  - {type: dense, out: 16}\n  - {type: relu}\n"
                            "  - {type: dense, out: classes}\n  - {type: softmax}\n");
  write_text("log-recipe.yaml", "architecture: mlplog.yaml\nepochs: 25\nbatch_size: 16\nseed: 3\n"
                                "optimizer: {type: adamw, lr: 0.01}\nschedule: {type: cosine}\n"
                                "early_stopping: 0\nvalidation: 0.0\nwindow: 1\nwindow_hop: 1\n");
  pathf(model, sizeof model, "logt.safetensors");
  snprintf(cmd, sizeof cmd, "%s --recipe %s/log-recipe.yaml --table %s --out %s", MGC_TRAIN_BIN,
           g_dir, csv, model);
  int rc = run(cmd, out, sizeof out);
  if (rc) fail_msg("mgc-train --table (input_log) failed (%d):\n%s", rc, out);
  mgc_model *m;
  if (mgc_model_load(model, &m)) fail_msg("%s", mgc_error_message());
  assert_int_equal(m->arch->n_input_log, 2);
  assert_int_equal(m->arch->input_log[0], 1);  /* chroma_stft_var */
  assert_int_equal(m->arch->input_log[1], 13);
  mgc_feature_csv *t;
  if (mgc_feature_csv_load(csv, NULL, 0, &t)) fail_msg("%s", mgc_error_message());
  int cols[] = {1, 13, 2};
  for (int j = 0; j < 3; j++) {
    int k = cols[j];
    double sum = 0, sq = 0;
    for (int r = 0; r < t->n_rows; r++) {
      double v = t->x[r * MGC_CLIP_DIM + k];
      if (k != 2) v = log(v > 1e-12 ? v : 1e-12);
      sum += v;
      sq += v * v;
    }
    double mean = sum / t->n_rows, sd = sqrt(sq / t->n_rows - mean * mean);
    assert_float_equal(m->norm_mean[k], mean, 1e-4 * (fabs(mean) + sd));
    assert_float_equal(m->norm_std[k], sd, 1e-3 * sd);
  }
  mgc_feature_csv_free(t);
  mgc_model_free(m);
  snprintf(cmd, sizeof cmd, "%s --model %s --table %s --json", MGC_EVAL_BIN, model, csv);
  rc = run(cmd, out, sizeof out);
  if (rc) fail_msg("mgc-eval --table (input_log) failed (%d):\n%s", rc, out);
  double acc = json_track_accuracy(out);
  if (acc < 0.9) fail_msg("training accuracy %.3f with input_log:\n%.2000s", acc, out);
}

/* A short WAV (its content does not matter to the table model). */
static void write_wav(const char *rel, int seed) {
  enum { SR = 22050, N = SR / 2 };
  static float y[N];
  uint64_t s = 100 + (uint64_t)seed;
  for (int i = 0; i < N; i++) y[i] = (float)(0.1 * ((double)(test_rand(&s) % 2001) / 1000.0 - 1.0));
  char p[600];
  SF_INFO info = {.samplerate = SR, .channels = 1, .format = SF_FORMAT_WAV | SF_FORMAT_PCM_16};
  SNDFILE *sf = sf_open(pathf(p, sizeof p, rel), SFM_WRITE, &info);
  assert_non_null(sf);
  assert_int_equal(sf_writef_float(sf, y, N), N);
  sf_close(sf);
}

/* Track names of each fold of a --cv-json file, and of out_of_fold. */
static json_t *fold_names(const char *path, json_t **oof) {
  json_error_t e;
  json_t *root = json_load_file(path, 0, &e);
  if (!root) fail_msg("%s: %s", path, e.text);
  json_t *folds = json_array(), *r;
  size_t i, j;
  json_array_foreach(json_object_get(root, "results"), i, r) {
    json_t *names = json_array(), *tr;
    json_array_foreach(json_object_get(json_object_get(r, "metrics"), "tracks"), j, tr)
        json_array_append(names, json_object_get(tr, "name"));
    json_array_append_new(folds, names);
  }
  if (oof) {
    *oof = json_array();
    json_t *tr;
    json_array_foreach(json_object_get(json_object_get(root, "out_of_fold"), "tracks"), j, tr) {
      json_array_append(*oof, json_object_get(tr, "name"));
      assert_int_equal(json_array_size(json_object_get(tr, "probabilities")), 3);
    }
  }
  json_decref(root);
  return folds;
}

/* --table CSV --data DIR --folds K: the audio run's folds, out-of-fold
 * results for DIR's tracks only, each fold's model trained on every other
 * row (the table holds many more clips than DIR). */
static void test_folds_over_audio(void **st) {
  static char log[65536];
  char csv[600], cmd[4096], dir[600];
  write_recipe();
  write_table("folds.csv", 40);
  pathf(csv, sizeof csv, "folds.csv");
  pathf(dir, sizeof dir, "audio");
  for (int c = 0; c < 3; c++) {
    char d[700];
    snprintf(d, sizeof d, "%s/%s", dir, g_classes[c]);
    mkdir(dir, 0755);
    mkdir(d, 0755);
    for (int i = 0; i < 5; i++) {
      char rel[200];
      snprintf(rel, sizeof rel, "audio/%s/%s.%05d.wav", g_classes[c], g_classes[c], 3 * i + c);
      write_wav(rel, 10 * c + i);
    }
  }
  /* The audio run's folds (an audio architecture, the same seed). */
  write_text("audio-recipe.yaml", "architecture: audio.yaml\nepochs: 1\nseed: 3\n");
  write_text("audio.yaml", "name: a\nfeature: mfcc\ninput: [4, 20]\nclasses: 3\nlayers:\n"
                           "  - {type: flatten}\n  - {type: dense, out: classes}\n  - {type: softmax}\n");
  snprintf(cmd, sizeof cmd,
           "%s --recipe %s/audio-recipe.yaml --data %s --folds 3 --dry-run --no-cache --cv-json "
           "%s/audio-folds.json",
           MGC_TRAIN_BIN, g_dir, dir, g_dir);
  int rc = run(cmd, log, sizeof log);
  if (rc) fail_msg("audio --dry-run failed (%d):\n%s", rc, log);
  snprintf(cmd, sizeof cmd, "%s --recipe %s --table %s --data %s --folds 3 --quiet --cv-json %s/table-cv.json",
           MGC_TRAIN_BIN, g_recipe, csv, dir, g_dir);
  rc = run(cmd, log, sizeof log);
  if (rc) fail_msg("mgc-train --table --data --folds failed (%d):\n%s", rc, log);
  if (!strstr(log, "folds: 3 over the 15 tracks of") || !strstr(log, "learns the 120 other rows"))
    fail_msg("unexpected log:\n%s", log);
  char pa[700], pt[700];
  snprintf(pa, sizeof pa, "%s/audio-folds.json", g_dir);
  snprintf(pt, sizeof pt, "%s/table-cv.json", g_dir);
  json_t *oof, *fa = fold_names(pa, NULL), *ft = fold_names(pt, &oof);
  if (!json_equal(fa, ft)) {
    char *a = json_dumps(fa, 0), *b = json_dumps(ft, 0);
    fail_msg("folds differ:\naudio %s\ntable %s", a, b);
  }
  assert_int_equal(json_array_size(ft), 3);
  /* out of fold: every track of the audio folder once, by its dataset name */
  assert_int_equal(json_array_size(oof), 15);
  for (int c = 0; c < 3; c++)
    for (int i = 0; i < 5; i++) {
      char name[100];
      snprintf(name, sizeof name, "%s/%s.%05d.wav", g_classes[c], g_classes[c], 3 * i + c);
      int found = 0;
      for (size_t k = 0; k < json_array_size(oof); k++)
        found += !strcmp(json_string_value(json_array_get(oof, k)), name);
      if (found != 1) fail_msg("%s appears %d times out of fold", name, found);
    }
  json_decref(fa);
  json_decref(ft);
  json_decref(oof);
  size_t n;
  char *js = (char *)read_file(pt, &n);
  double acc = json_track_accuracy(strstr(js, "\"out_of_fold\""));
  if (acc < 0.9) fail_msg("out-of-fold accuracy %.3f on separable classes", acc);
  free(js);

  /* a track of the folder without a row is an error naming it */
  write_wav("audio/beta/beta.00077.wav", 99);
  rc = run(cmd, log, sizeof log);
  assert_int_equal(rc, 1);
  assert_non_null(strstr(log, "track 'beta/beta.00077.wav' has no row in"));
  /* --table with --data is for --folds only */
  snprintf(cmd, sizeof cmd, "%s --recipe %s --table %s --data %s --out %s/x.safetensors",
           MGC_TRAIN_BIN, g_recipe, csv, dir, g_dir);
  assert_int_equal(run(cmd, log, sizeof log), 2);
}

/* --groups: a fold's track is decided by a model that learned only the other
 * groups' rows. The even rows follow one mapping from features to classes,
 * the odd rows another; a track judged by the other group's model is
 * therefore wrong, one judged with its own group's rows right. */
static void test_folds_groups(void **st) {
  static char out[65536];
  char csv[600], cmd[4096], dir[600], even[600], odd[600];
  write_recipe();
  write_table_ex("grp.csv", 40, 1);
  pathf(csv, sizeof csv, "grp.csv");
  pathf(dir, sizeof dir, "gaudio");
  mkdir(dir, 0755);
  FILE *fe = fopen(pathf(even, sizeof even, "even.txt"), "w");
  FILE *fo = fopen(pathf(odd, sizeof odd, "odd.txt"), "w");
  for (int c = 0; c < 3; c++) {
    char d[700];
    snprintf(d, sizeof d, "%s/%s", dir, g_classes[c]);
    mkdir(d, 0755);
    for (int i = 0; i < 8; i++) {
      char rel[200];
      snprintf(rel, sizeof rel, "gaudio/%s/%s.%05d.wav", g_classes[c], g_classes[c], i);
      write_wav(rel, 10 * c + i);
    }
    for (int i = 0; i < 38; i++) /* rows 38, 39 of each class are in no list: never learned */
      fprintf(i % 2 ? fo : fe, "%s/%s.%05d.wav\n", g_classes[c], g_classes[c], i);
  }
  fclose(fe);
  fclose(fo);
  const char *fmt = "%s --recipe %s --table %s --data %s --folds 2 --quiet --cv-json %s/%s%s%s%s%s";
  /* without groups, every fold model learns both mappings and gets the
   * tracks of one of them wrong: about half */
  snprintf(cmd, sizeof cmd, fmt, MGC_TRAIN_BIN, g_recipe, csv, dir, g_dir, "nogrp.json", "", "", "",
           "");
  int rc = run(cmd, out, sizeof out);
  if (rc) fail_msg("mgc-train --table --data --folds failed (%d):\n%s", rc, out);
  snprintf(cmd, sizeof cmd, fmt, MGC_TRAIN_BIN, g_recipe, csv, dir, g_dir, "grp.json", " --groups ",
           even, ",", odd);
  rc = run(cmd, out, sizeof out);
  if (rc) fail_msg("mgc-train --groups failed (%d):\n%s", rc, out);
  if (!strstr(out, "group 1: 57 rows listed in") || !strstr(out, "group 2: 57 rows listed in") ||
      !strstr(out, "a fold's track in group g is predicted by a model that learned the rows of "
                   "the other groups only"))
    fail_msg("unexpected log:\n%s", out);
  char p1[700], p2[700];
  size_t n;
  snprintf(p1, sizeof p1, "%s/nogrp.json", g_dir);
  snprintf(p2, sizeof p2, "%s/grp.json", g_dir);
  char *j1 = (char *)read_file(p1, &n), *j2 = (char *)read_file(p2, &n);
  double a1 = json_track_accuracy(strstr(j1, "\"out_of_fold\"")),
         a2 = json_track_accuracy(strstr(j2, "\"out_of_fold\""));
  free(j1);
  free(j2);
  if (a2 > 0.1) fail_msg("with --groups, %.3f of the tracks were right: a model saw its own group", a2);
  if (a1 < 0.25 || a1 > 0.75) fail_msg("without --groups, out-of-fold accuracy %.3f (expected ~0.5)", a1);
  /* the lists must not share a row; --groups needs --table --data --folds */
  snprintf(cmd, sizeof cmd, fmt, MGC_TRAIN_BIN, g_recipe, csv, dir, g_dir, "x.json", " --groups ",
           even, ",", even);
  assert_int_equal(run(cmd, out, sizeof out), 1);
  assert_non_null(strstr(out, "--groups: 'alpha.00000.wav' is in"));
  snprintf(cmd, sizeof cmd, "%s --recipe %s --table %s --groups %s --out %s/x.safetensors",
           MGC_TRAIN_BIN, g_recipe, csv, even, g_dir);
  assert_int_equal(run(cmd, out, sizeof out), 2);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_parse_good),    cmocka_unit_test(test_parse_errors),
      cmocka_unit_test(test_select_list),   cmocka_unit_test(test_window_layout),
      cmocka_unit_test(test_train_eval),    cmocka_unit_test(test_train_input_log),
      cmocka_unit_test(test_folds_over_audio), cmocka_unit_test(test_folds_groups),
  };
  return cmocka_run_group_tests(tests, tmpdir_setup, tmpdir_teardown);
}
