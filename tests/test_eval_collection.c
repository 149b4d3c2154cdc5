/* mgc-eval on any labelled collection: a folder holding some of the model's
 * classes (labels mapped by name, figures over the classes present),
 * unknown class names refused with the list of them, and an ensemble
 * evaluated member by member beside the combination, each decision equal to
 * mgc-classify's on the same file. Data: three of the four CC clips of
 * tests/fixtures/cc, linked into <genre>/ folders. */
#include "test_util.h"

#include <jansson.h>
#include <math.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mgc/train/dataset.h"
#include "mgc/train/metrics.h"
#include "mgc/model/model.h"
#include "mgc/util/temperature.h"

#ifndef MGC_EVAL_BIN
#error "MGC_EVAL_BIN, MGC_CLASSIFY_BIN and MGC_SOURCE_DIR must be defined"
#endif

#define CRNN MGC_SOURCE_DIR "/models/crnn.safetensors"
#define ENSEMBLE MGC_SOURCE_DIR "/models/ensemble.yaml"

static char g_data[300], g_bad[300];
static const char *const k_clips[3][2] = {
    {"classical", "classical_brahms_hungarian_dance_5_30s.ogg"},
    {"metal", "metal_sectoid_metal_madness_30s.ogg"},
    {"rock", "rock_schmiedberger_rock_n_roll_30s.ogg"}};

static void link_clip(const char *root, const char *genre, const char *clip) {
  char dir[400], src[400], dst[600];
  snprintf(dir, sizeof dir, "%s/%s", root, genre);
  mkdir(dir, 0755);
  snprintf(src, sizeof src, "%s/cc/%s", MGC_FIXTURES, clip);
  snprintf(dst, sizeof dst, "%s/%s", dir, clip);
  assert_int_equal(symlink(src, dst), 0);
}

static int setup(void **st) {
  tmpdir_setup(st);
  snprintf(g_data, sizeof g_data, "%s/data", g_dir);
  snprintf(g_bad, sizeof g_bad, "%s/bad", g_dir);
  mkdir(g_data, 0755);
  mkdir(g_bad, 0755);
  for (int i = 0; i < 3; i++) link_clip(g_data, k_clips[i][0], k_clips[i][1]);
  /* Two names no GTZAN model knows beside one it does. */
  link_clip(g_bad, "classical", k_clips[0][1]);
  link_clip(g_bad, "chiptune", k_clips[1][1]);
  link_clip(g_bad, "zydeco", k_clips[2][1]);
  return 0;
}

static json_t *parse(const char *text) {
  json_error_t err;
  const char *brace = strchr(text, '{'); /* stderr lines (warnings) may come first */
  json_t *j = brace ? json_loads(brace, 0, &err) : NULL;
  if (!j) fail_msg("not JSON (%s):\n%.3000s", brace ? err.text : "no '{'", text);
  return j;
}

/* The mgc-classify --json line of the file whose path ends in name. */
static json_t *classify_line(char *lines, const char *name) {
  for (char *l = strtok(lines, "\n"); l; l = strtok(NULL, "\n")) {
    json_t *j = json_loads(l, 0, NULL);
    if (!j) continue;
    const char *f = json_string_value(json_object_get(j, "file"));
    size_t a = f ? strlen(f) : 0, b = strlen(name);
    if (a >= b && !strcmp(f + a - b, name)) return j;
    json_decref(j);
  }
  fail_msg("mgc-classify said nothing about %s", name);
  return NULL;
}

/* ---- core: the label mapping and the figures over the classes present ---- */

static void test_map_classes(void **st) {
  (void)st;
  mgc_dataset *d;
  if (mgc_dataset_scan(g_data, &d)) fail_msg("%s", mgc_error_message());
  assert_int_equal(d->n_classes, 3);
  const char *model[] = {"blues", "classical", "country", "disco", "hiphop",
                         "jazz",  "metal",     "pop",     "reggae", "rock"};
  assert_int_equal(mgc_dataset_map_classes(d, model, 10), MGC_OK);
  assert_int_equal(d->n_classes, 10);
  assert_string_equal(d->classes[9], "rock");
  assert_int_equal(d->n_tracks, 3);
  assert_int_equal(d->tracks[0].label, 1); /* classical */
  assert_int_equal(d->tracks[1].label, 6); /* metal */
  assert_int_equal(d->tracks[2].label, 9); /* rock */
  mgc_dataset_free(d);

  if (mgc_dataset_scan(g_bad, &d)) fail_msg("%s", mgc_error_message());
  assert_int_equal(mgc_dataset_map_classes(d, model, 10), MGC_EINVAL);
  const char *msg = mgc_error_message();
  if (!strstr(msg, "'chiptune', 'zydeco'") || strstr(msg, "'classical'") ||
      !strstr(msg, "blues, classical, country, disco, hiphop, jazz, metal, pop, reggae, rock"))
    fail_msg("message: %s", msg);
  /* Refused means untouched. */
  assert_int_equal(d->n_classes, 3);
  assert_string_equal(d->classes[1], "classical");
  assert_int_equal(d->tracks[2].label, 2);
  mgc_dataset_free(d);
}

/* Four classes, the truth only 0 and 1; one track of class 1 taken for
 * class 3, which the data does not hold.
 *   track  true  predicted
 *     0     0       0
 *     1     0       1
 *     2     1       1
 *     3     1       3
 * class 0: P 1, R .5, F1 2/3; class 1: P .5, R .5, F1 .5; class 3 (absent):
 * P 0, R 0, F1 0. Over the present classes: P .75, R .5, F1 7/12; over
 * truth or prediction (sklearn's default) F1 would be 7/18. */
static void test_metrics_over_present(void **st) {
  (void)st;
  const char *cls[] = {"a", "b", "c", "d"};
  const int label[] = {0, 0, 1, 1}, off[] = {0, 1, 2, 3, 4};
  const float p[] = {.7f, .1f, .1f, .1f, .2f, .6f, .1f, .1f, .1f, .8f, .05f, .05f, .1f, .2f, .1f, .6f};
  mgc_eval_input in = {4, cls, 4, label, NULL, off, p};
  mgc_metrics *m;
  if (mgc_metrics_compute(&in, &m)) fail_msg("%s", mgc_error_message());
  assert_true(fabs(m->macro_f1 - 7.0 / 18) < 1e-9);
  assert_int_equal(mgc_metrics_over_present(m), 2);
  assert_true(m->present_only);
  assert_int_equal(m->n_macro_classes, 2);
  assert_true(fabs(m->macro_precision - 0.75) < 1e-9);
  assert_true(fabs(m->macro_recall - 0.5) < 1e-9);
  assert_true(fabs(m->macro_f1 - 7.0 / 12) < 1e-9);
  assert_true(fabs(m->track_acc - 0.5) < 1e-9);
  char *text = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&text, &len);
  mgc_metrics_print_tracks(m, f);
  fclose(f);
  /* Rows a and b only; the column of d stays (a track went there), c's not. */
  if (!strstr(text, "the data holds 2 of the 4 classes (a, b)") || strstr(text, "\nc ") ||
      strstr(text, "\nd ") || strstr(text, "window") || !strstr(text, "     d\n"))
    fail_msg("%s", text);
  free(text);
  char *js = mgc_metrics_tracks_to_json(m);
  json_t *j = parse(js);
  assert_int_equal(json_array_size(json_object_get(j, "per_class")), 2);
  assert_int_equal(json_array_size(json_object_get(j, "evaluated_classes")), 2);
  assert_null(json_object_get(j, "window_accuracy"));
  json_decref(j);
  free(js);
  /* Every class present: nothing changes. */
  mgc_metrics *full;
  const int label2[] = {0, 1, 2, 3};
  in.track_label = label2;
  if (mgc_metrics_compute(&in, &full)) fail_msg("%s", mgc_error_message());
  double f1 = full->macro_f1;
  assert_int_equal(mgc_metrics_over_present(full), 4);
  assert_false(full->present_only);
  assert_true(full->macro_f1 == f1);
  mgc_metrics_free(full);
  mgc_metrics_free(m);
}

/* ---- the command ---- */

/* A 10-class model on 3 genres: the labels by name, the decisions and the
 * figures those of mgc-classify on the same files. */
static void test_subset_folder(void **st) {
  (void)st;
  static char log[1 << 20], cl[1 << 16];
  char cmd[2048];
  snprintf(cmd, sizeof cmd, "%s --model %s --data %s --cache %s/cache --json", MGC_EVAL_BIN, CRNN,
           g_data, g_dir);
  int rc = run(cmd, log, sizeof log);
  if (rc) fail_msg("mgc-eval failed (%d):\n%.3000s", rc, log);
  json_t *j = parse(log), *clean = json_object_get(j, "clean");
  assert_int_equal(json_integer_value(json_object_get(clean, "n_classes")), 10);
  assert_int_equal(json_integer_value(json_object_get(clean, "n_tracks")), 3);
  json_t *ev = json_object_get(clean, "evaluated_classes");
  assert_int_equal(json_array_size(ev), 3);
  for (int i = 0; i < 3; i++) assert_string_equal(json_string_value(json_array_get(ev, i)), k_clips[i][0]);
  assert_int_equal(json_array_size(json_object_get(clean, "per_class")), 3);

  snprintf(cmd, sizeof cmd, "%s --model %s --json %s", MGC_CLASSIFY_BIN, CRNN, g_data);
  if ((rc = run(cmd, cl, sizeof cl))) fail_msg("mgc-classify failed (%d):\n%s", rc, cl);
  json_t *tracks = json_object_get(clean, "tracks");
  int right = 0, tp[3] = {0}, predicted[3] = {0};
  for (int i = 0; i < 3; i++) {
    json_t *t = json_array_get(tracks, i);
    char name[300];
    snprintf(name, sizeof name, "%s/%s", k_clips[i][0], k_clips[i][1]);
    assert_string_equal(json_string_value(json_object_get(t, "name")), name);
    assert_string_equal(json_string_value(json_object_get(t, "true")), k_clips[i][0]);
    static char copy[1 << 16];
    memcpy(copy, cl, sizeof copy);
    json_t *c = classify_line(copy, name);
    const char *genre = json_string_value(json_object_get(c, "genre"));
    assert_string_equal(json_string_value(json_object_get(t, "predicted")), genre);
    double a = json_real_value(json_object_get(t, "confidence"));
    double b = json_number_value(json_object_get(c, "confidence"));
    if (fabs(a - b) > 2e-3) fail_msg("%s: confidence %.4f in mgc-eval, %.4f in mgc-classify", name, a, b);
    right += !strcmp(genre, k_clips[i][0]);
    for (int k = 0; k < 3; k++)
      if (!strcmp(genre, k_clips[k][0])) {
        predicted[k]++;
        tp[k] += k == i;
      }
    json_decref(c);
  }
  /* Macro F1 over the three genres of the data, from mgc-classify's answers
   * (support 1 each, so recall is tp; an answer outside the three is only a
   * recall lost). */
  double f1 = 0;
  for (int k = 0; k < 3; k++) {
    double p = predicted[k] ? (double)tp[k] / predicted[k] : 0, r = tp[k];
    f1 += p + r > 0 ? 2 * p * r / (p + r) : 0;
  }
  f1 /= 3;
  double acc = json_real_value(json_object_get(clean, "track_accuracy"));
  double mf1 = json_real_value(json_object_get(clean, "macro_f1"));
  if (fabs(acc - right / 3.0) > 1e-9 || fabs(mf1 - f1) > 1e-9)
    fail_msg("accuracy %.4f, macro F1 %.4f; from mgc-classify: %.4f, %.4f", acc, mf1, right / 3.0, f1);
  assert_int_equal(json_integer_value(json_object_get(clean, "macro_classes")), 3);
  json_decref(j);

  /* The text says which classes the figures are over. */
  snprintf(cmd, sizeof cmd, "%s --model %s --data %s --cache %s/cache", MGC_EVAL_BIN, CRNN, g_data,
           g_dir);
  if ((rc = run(cmd, log, sizeof log))) fail_msg("mgc-eval failed (%d):\n%.3000s", rc, log);
  if (!strstr(log, "the data holds 3 of the 10 classes (classical, metal, rock)") ||
      strstr(log, "\nblues "))
    fail_msg("%.4000s", log);
}

static void test_unknown_classes(void **st) {
  (void)st;
  static char log[1 << 16];
  const char *models[] = {CRNN, ENSEMBLE};
  for (int i = 0; i < 2; i++) {
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "%s --model %s --data %s --no-cache", MGC_EVAL_BIN, models[i], g_bad);
    int rc = run(cmd, log, sizeof log);
    assert_int_equal(rc, 1);
    if (!strstr(log, "'chiptune', 'zydeco' are not among the model's 10 classes: blues, classical,"))
      fail_msg("%s", log);
  }
}

/* Every member and the combination side by side; each file's combined and
 * member decisions equal mgc-classify's with the ensemble. */
static void test_ensemble(void **st) {
  (void)st;
  static char log[1 << 20], cl[1 << 16];
  char cmd[2048];
  snprintf(cmd, sizeof cmd, "%s --model %s --data %s --json", MGC_EVAL_BIN, ENSEMBLE, g_data);
  int rc = run(cmd, log, sizeof log);
  if (rc) fail_msg("mgc-eval failed (%d):\n%.3000s", rc, log);
  json_t *j = parse(log);
  json_t *table = json_object_get(j, "table"), *files = json_object_get(j, "files");
  assert_int_equal(json_array_size(table), 3);
  assert_string_equal(json_string_value(json_object_get(json_array_get(table, 0), "name")), "crnn");
  assert_string_equal(json_string_value(json_object_get(json_array_get(table, 1), "name")), "fcn_msd");
  assert_string_equal(json_string_value(json_object_get(json_array_get(table, 2), "kind")), "ensemble");
  assert_int_equal(json_array_size(files), 3);

  snprintf(cmd, sizeof cmd, "%s --model %s --json %s", MGC_CLASSIFY_BIN, ENSEMBLE, g_data);
  if ((rc = run(cmd, cl, sizeof cl))) fail_msg("mgc-classify failed (%d):\n%s", rc, cl);
  int right[3] = {0};
  for (int i = 0; i < 3; i++) {
    json_t *f = json_array_get(files, i);
    const char *name = json_string_value(json_object_get(f, "file"));
    static char copy[1 << 16];
    memcpy(copy, cl, sizeof copy);
    json_t *c = classify_line(copy, name);
    const char *genre = json_string_value(json_object_get(c, "genre"));
    assert_string_equal(json_string_value(json_object_get(f, "true")), k_clips[i][0]);
    assert_string_equal(json_string_value(json_object_get(f, "genre")), genre);
    /* The same audio through the same calls: the same numbers to print precision. */
    assert_true(fabs(json_number_value(json_object_get(f, "confidence")) -
                     json_number_value(json_object_get(c, "confidence"))) < 1.5e-4);
    right[2] += !strcmp(genre, k_clips[i][0]);
    json_t *fm = json_object_get(f, "members"), *cm = json_object_get(c, "members");
    assert_int_equal(json_array_size(fm), 2);
    for (int m = 0; m < 2; m++) {
      const char *g = json_string_value(json_object_get(json_array_get(fm, m), "genre"));
      assert_string_equal(g, json_string_value(json_object_get(json_array_get(cm, m), "genre")));
      right[m] += !strcmp(g, k_clips[i][0]);
    }
    json_decref(c);
  }
  for (int r = 0; r < 3; r++) {
    double acc = json_number_value(json_object_get(json_array_get(table, (size_t)r), "track_accuracy"));
    if (fabs(acc - right[r] / 3.0) > 1e-6) fail_msg("row %d: accuracy %.4f, want %d/3", r, acc, right[r]);
  }
  json_decref(j);

  snprintf(cmd, sizeof cmd, "%s --model %s --data %s", MGC_EVAL_BIN, ENSEMBLE, g_data);
  if ((rc = run(cmd, log, sizeof log))) fail_msg("mgc-eval failed (%d):\n%.3000s", rc, log);
  if (!strstr(log, "\nmember crnn ") || !strstr(log, "\nmember fcn_msd ") ||
      !strstr(log, "\nensemble (weighted) ") || !strstr(log, "per file") ||
      !strstr(log, "rock/rock_schmiedberger_rock_n_roll_30s.ogg") ||
      !strstr(log, "the data holds 3 of the 10"))
    fail_msg("%.4000s", log);
}

/* mgc-classify --min-confidence: a decision below it is "not sure" with its
 * candidates (JSON: genre null, uncertain true), one above it is said as
 * before; mgc-eval reports the accuracy/coverage curve that sets it. */
static void test_min_confidence(void **st) {
  (void)st;
  static char out[1 << 16], copy[1 << 16];
  char cmd[2048];
  snprintf(cmd, sizeof cmd, "%s --model %s --json %s", MGC_CLASSIFY_BIN, ENSEMBLE, g_data);
  int rc = run(cmd, out, sizeof out);
  if (rc) fail_msg("mgc-classify failed (%d):\n%s", rc, out);
  memcpy(copy, out, sizeof copy);
  json_t *c = classify_line(copy, k_clips[0][1]);
  double conf = json_number_value(json_object_get(c, "confidence"));
  const char *genre = json_string_value(json_object_get(c, "genre"));
  assert_non_null(genre);
  assert_true(json_is_false(json_object_get(c, "uncertain")));
  char top[64];
  snprintf(top, sizeof top, "%s", genre);
  json_decref(c);
  for (int above = 0; above < 2; above++) {
    snprintf(cmd, sizeof cmd, "%s --model %s --json --min-confidence %.4f %s", MGC_CLASSIFY_BIN,
             ENSEMBLE, above ? conf - 0.001 : conf + 0.001, g_data);
    if ((rc = run(cmd, out, sizeof out))) fail_msg("mgc-classify failed (%d):\n%s", rc, out);
    c = classify_line(out, k_clips[0][1]);
    assert_true(json_is_boolean(json_object_get(c, "uncertain")));
    assert_int_equal(json_is_true(json_object_get(c, "uncertain")), !above);
    if (above) assert_string_equal(json_string_value(json_object_get(c, "genre")), top);
    else assert_true(json_is_null(json_object_get(c, "genre")));
    /* the candidates are there either way */
    assert_string_equal(json_string_value(json_array_get(json_array_get(json_object_get(c, "top"), 0), 0)), top);
    json_decref(c);
  }
  snprintf(cmd, sizeof cmd, "%s --model %s --min-confidence 0.99 %s", MGC_CLASSIFY_BIN, ENSEMBLE,
           g_data);
  if ((rc = run(cmd, out, sizeof out))) fail_msg("mgc-classify failed (%d):\n%s", rc, out);
  assert_non_null(strstr(out, ": not sure: "));
  snprintf(cmd, sizeof cmd, "%s --min-confidence 1.5 x.wav", MGC_CLASSIFY_BIN);
  assert_int_equal(run(cmd, out, sizeof out), 2);
  snprintf(cmd, sizeof cmd, "%s --model %s --data %s", MGC_EVAL_BIN, ENSEMBLE, g_data);
  if ((rc = run(cmd, out, sizeof out))) fail_msg("mgc-eval failed (%d):\n%.3000s", rc, out);
  assert_non_null(strstr(out, "accuracy / coverage"));
  assert_non_null(strstr(out, " 0.0: "));
}

/* mgc-model calibrate: the temperature fitted on the model's cv file is
 * stored in the model (and survives loading); mgc-classify with that model
 * says the uncalibrated model's probabilities scaled by it. */
static void test_model_temperature(void **st) {
  (void)st;
  static char out[1 << 16], copy[1 << 16];
  char cmd[4096], plain[600], cal[600];
  snprintf(plain, sizeof plain, "%s/plain.safetensors", g_dir);
  snprintf(cal, sizeof cal, "%s/cal.safetensors", g_dir);
  mgc_model *m;
  assert_int_equal(mgc_model_load(CRNN, &m), MGC_OK);
  m->temperature = 1; /* the shipped CRNN is calibrated: start from it without */
  assert_int_equal(mgc_model_save(m, plain), MGC_OK);
  mgc_model_free(m);
  snprintf(cmd, sizeof cmd, "%s calibrate %s %s/models/results/cv5.json --out %s", MGC_MODEL_BIN,
           plain, MGC_SOURCE_DIR, cal);
  int rc = run(cmd, out, sizeof out);
  if (rc) fail_msg("mgc-model calibrate failed (%d):\n%s", rc, out);
  assert_non_null(strstr(out, "out-of-fold ECE"));
  assert_int_equal(mgc_model_load(cal, &m), MGC_OK);
  double T = m->temperature;
  mgc_model_free(m);
  assert_true(T > 0.05 && T < 20 && fabs(T - 1) > 1e-3);
  const char *clip = k_clips[0][1];
  double p0[16], p1[16];
  for (int which = 0; which < 2; which++) {
    snprintf(cmd, sizeof cmd, "%s --model %s --json %s", MGC_CLASSIFY_BIN, which ? cal : plain,
             g_data);
    if ((rc = run(cmd, out, sizeof out))) fail_msg("mgc-classify failed (%d):\n%s", rc, out);
    memcpy(copy, out, sizeof copy);
    json_t *c = classify_line(copy, clip), *pr = json_object_get(c, "probabilities");
    const char *k;
    json_t *v;
    int i = 0;
    json_object_foreach(pr, k, v) (which ? p1 : p0)[i++] = json_number_value(v);
    json_decref(c);
  }
  float scaled[16];
  for (int i = 0; i < 10; i++) scaled[i] = (float)p0[i];
  mgc_temperature_apply(scaled, 10, T);
  for (int i = 0; i < 10; i++)
    if (fabs(scaled[i] - p1[i]) > 1e-3) fail_msg("class %d: %.4f calibrated, %.4f expected", i, p1[i], scaled[i]);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_map_classes),
      cmocka_unit_test(test_metrics_over_present),
      cmocka_unit_test(test_subset_folder),
      cmocka_unit_test(test_unknown_classes),
      cmocka_unit_test(test_ensemble),
      cmocka_unit_test(test_min_confidence),
      cmocka_unit_test(test_model_temperature),
  };
  return cmocka_run_group_tests(tests, setup, tmpdir_teardown);
}
