/* Evaluation metrics (hand-computed examples) and the HTML/SVG report. */
#include <jansson.h>
#include <math.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mgc/train/metrics.h"
#include "mgc/report/report.h"
#include "test_util.h"

/* ---- the worked example: 3 classes, 5 tracks, 12 windows ----
 *
 * Class names carry the characters HTML and SVG must escape.
 *
 * track (true)  windows (argmax)                           mean probabilities   mean  vote
 * T0 (0)        .7 .2 .1 (0)  .6 .3 .1 (0)                 .65   .25   .10      0 ok  0 ok
 * T1 (1)        .1 .8 .1 (1)  .2 .6 .2 (1)  .6 .3 .1 (0)   .30   .5667 .1333    1 ok  1 ok
 * T2 (2)        .5 .1 .4 (0)  .5 .1 .4 (0)  0  .1 .9 (2)   .3333 .10   .5667    2 ok  0
 * T3 (0)        .2 .5 .3 (1)  .3 .4 .3 (1)                 .25   .45   .30      1     1
 * T4 (1)        .4 .3 .3 (0)  0  .3 .7 (2)                 .20   .30   .50      2     2
 * T2 is the designed track where the rules differ (two of three windows say
 * 0, the mean says 2). T4's votes tie 0:2; class 2 has the higher mean, so
 * the vote is 2 (the lower index would have said 0).
 * window accuracy: 2 + 2 + 1 + 0 + 0 = 5 of 12 = 0.416667
 * track accuracy (mean) 3/5 = 0.6; (vote) 2/5 = 0.4
 * top-2: T3's true class (.25) is third -> 4/5 = 0.8; top-3: 5/5 = 1
 * confusion (rows true):  [1 1 0]   window confusion: [2 2 0]
 *                         [0 1 1]                     [2 2 1]
 *                         [0 0 1]                     [2 0 1]
 * class 0: TP 1, predicted 1, support 2: P 1,   R .5, F1 2*.5/1.5 = .666667
 * class 1: TP 1, predicted 2, support 2: P .5,  R .5, F1 .5
 * class 2: TP 1, predicted 2, support 1: P .5,  R 1,  F1 2*.5/1.5 = .666667
 * macro P (1+.5+.5)/3 = .666667, R (.5+.5+1)/3 = .666667, F1 (2/3+1/2+2/3)/3 = .611111
 * ECE (15 bins, (b/15, (b+1)/15]): confidences .65 (bin 9, right), .5667 and .5667
 * (bin 8, both right), .45 (bin 6, wrong), .50 (bin 7, wrong):
 *   (|1-.65| + 2|1-.5667| + |0-.45| + |0-.5|) / 5 = (.35+.866667+.45+.5)/5 = 13/30 = .433333
 * Cross-checked with an independent stdlib-Python computation (sklearn is not installed here). */
static const char *const EX_CLASSES[3] = {"<jazz>", "r&b", "\"pop\" & 'rock'"};
static const char *const EX_NAMES[5] = {"t0", "t1", "t2 <live>", "t3", "t4"};
static const int EX_LABEL[5] = {0, 1, 2, 0, 1};
static const int EX_OFFS[6] = {0, 2, 5, 8, 10, 12};
static const float EX_PROBS[12 * 3] = {
    .7f, .2f, .1f, .6f, .3f, .1f,                   /* T0 */
    .1f, .8f, .1f, .2f, .6f, .2f, .6f, .3f, .1f,    /* T1 */
    .5f, .1f, .4f, .5f, .1f, .4f, 0.f, .1f, .9f,    /* T2 */
    .2f, .5f, .3f, .3f, .4f, .3f,                   /* T3 */
    .4f, .3f, .3f, 0.f, .3f, .7f};                  /* T4 */

static mgc_eval_input example(void) {
  mgc_eval_input in = {3, EX_CLASSES, 5, EX_LABEL, EX_NAMES, EX_OFFS, EX_PROBS};
  return in;
}

static mgc_metrics *compute_ok(const mgc_eval_input *in) {
  mgc_metrics *m = NULL;
  if (mgc_metrics_compute(in, &m) != MGC_OK) fail_msg("%s", mgc_error_message());
  assert_non_null(m);
  return m;
}

#define NEAR(a, b) assert_float_equal((a), (b), 1e-6)

static void test_example(void **st) {
  (void)st;
  mgc_eval_input in = example();
  mgc_metrics *m = compute_ok(&in);
  assert_int_equal(m->n_tracks, 5);
  assert_int_equal(m->n_windows, 12);
  NEAR(m->window_acc, 5.0 / 12);
  NEAR(m->track_acc, 0.6);
  NEAR(m->track_acc_vote, 0.4);
  NEAR(m->top2, 0.8);
  NEAR(m->top3, 1.0);
  static const int pred[5] = {0, 1, 2, 1, 2}, vote[5] = {0, 1, 0, 1, 2};
  static const double conf[5] = {.65, 1.7 / 3, 1.7 / 3, .45, .5};
  for (int t = 0; t < 5; t++) {
    assert_int_equal(m->tracks[t].label, EX_LABEL[t]);
    assert_int_equal(m->tracks[t].pred, pred[t]);
    assert_int_equal(m->tracks[t].pred_vote, vote[t]);
    NEAR(m->tracks[t].confidence, conf[t]);
    assert_int_equal(m->tracks[t].n_windows, EX_OFFS[t + 1] - EX_OFFS[t]);
    assert_string_equal(m->tracks[t].name, EX_NAMES[t]);
  }
  NEAR(m->track_probs[2 * 3 + 0], 1.0 / 3);
  NEAR(m->track_probs[4 * 3 + 2], 0.5);
  static const int cm[9] = {1, 1, 0, 0, 1, 1, 0, 0, 1};
  static const int wcm[9] = {2, 2, 0, 2, 2, 1, 2, 0, 1};
  for (int i = 0; i < 9; i++) {
    assert_int_equal(m->confusion[i], cm[i]);
    assert_int_equal(m->window_confusion[i], wcm[i]);
  }
  static const double P[3] = {1, .5, .5}, R[3] = {.5, .5, 1}, F[3] = {2. / 3, .5, 2. / 3};
  static const int sup[3] = {2, 2, 1}, npred[3] = {1, 2, 2};
  for (int c = 0; c < 3; c++) {
    NEAR(m->per_class[c].precision, P[c]);
    NEAR(m->per_class[c].recall, R[c]);
    NEAR(m->per_class[c].f1, F[c]);
    assert_int_equal(m->per_class[c].support, sup[c]);
    assert_int_equal(m->per_class[c].predicted, npred[c]);
  }
  NEAR(m->macro_precision, 2.0 / 3);
  NEAR(m->macro_recall, 2.0 / 3);
  NEAR(m->macro_f1, (2. / 3 + .5 + 2. / 3) / 3);
  assert_int_equal(m->n_macro_classes, 3);
  NEAR(m->ece, 13.0 / 30);
  NEAR(m->mean_confidence, (.65 + 3.4 / 3 + .45 + .5) / 5);
  assert_int_equal(m->ece_bins[9].count, 1);
  assert_int_equal(m->ece_bins[8].count, 2);
  assert_int_equal(m->ece_bins[7].count, 1);
  assert_int_equal(m->ece_bins[6].count, 1);
  NEAR(m->ece_bins[8].accuracy, 1);
  NEAR(m->ece_bins[8].confidence, 1.7 / 3);
  /* Accuracy/coverage: right are .65, .567, .567; wrong .45 and .5. */
  NEAR(m->coverage[4].threshold, 0.4);
  NEAR(m->coverage[4].coverage, 1.0);
  NEAR(m->coverage[4].accuracy, 0.6);
  NEAR(m->coverage[5].coverage, 0.8);
  NEAR(m->coverage[5].accuracy, 0.75);
  NEAR(m->coverage[6].coverage, 0.2);
  NEAR(m->coverage[6].accuracy, 1.0);
  NEAR(m->coverage[7].coverage, 0.0);
  assert_true(isnan(m->coverage[7].accuracy));

  /* The text report carries the headline figures and every class name. */
  char path[300], text[8192];
  snprintf(path, sizeof path, "%s/print.txt", g_dir);
  FILE *f = fopen(path, "w+");
  assert_non_null(f);
  mgc_metrics_print(m, f);
  rewind(f);
  size_t n = fread(text, 1, sizeof text - 1, f);
  text[n] = 0;
  fclose(f);
  printf("%s", text);
  assert_non_null(strstr(text, "60.00 %"));  /* track accuracy */
  assert_non_null(strstr(text, "40.00 %"));  /* vote */
  assert_non_null(strstr(text, "41.67 %"));  /* windows */
  assert_non_null(strstr(text, "0.6111"));   /* macro F1 */
  assert_non_null(strstr(text, "0.4333"));   /* ECE */
  for (int c = 0; c < 3; c++) assert_non_null(strstr(text, EX_CLASSES[c]));
  mgc_metrics_free(m);
}

/* sklearn's zero_division=0 and default labels: y_true [0 0 1 2], y_pred
 * [0 1 1 0] over 4 classes.
 * class 0: TP 1, predicted 2, support 2: P .5, R .5, F1 .5
 * class 1: TP 1, predicted 2, support 1: P .5, R 1,  F1 .666667
 * class 2: never predicted, support 1:   P 0 (zero_division), R 0, F1 0: counted
 * class 3: neither true nor predicted: not averaged
 * macro P (.5+.5+0)/3 = .333333, R (.5+1+0)/3 = .5, F1 (.5+.666667+0)/3 = .388889 */
static void test_zero_division(void **st) {
  (void)st;
  static const char *const cls[4] = {"a", "b", "c", "d"};
  static const int label[4] = {0, 0, 1, 2}, offs[5] = {0, 1, 2, 3, 4};
  static const float p[16] = {.7f, .1f, .1f, .1f, .1f, .7f, .1f, .1f,
                              .1f, .7f, .1f, .1f, .7f, .1f, .1f, .1f};
  mgc_eval_input in = {4, cls, 4, label, NULL, offs, p};
  mgc_metrics *m = compute_ok(&in);
  NEAR(m->per_class[2].precision, 0);
  NEAR(m->per_class[2].recall, 0);
  NEAR(m->per_class[2].f1, 0);
  assert_int_equal(m->per_class[2].predicted, 0);
  assert_int_equal(m->per_class[3].support, 0);
  assert_int_equal(m->n_macro_classes, 3);
  NEAR(m->macro_precision, 1.0 / 3);
  NEAR(m->macro_recall, 0.5);
  NEAR(m->macro_f1, (0.5 + 2.0 / 3) / 3);
  NEAR(m->track_acc, 0.5);
  assert_null(m->tracks[0].name);
  mgc_metrics_free(m);
}

/* Two classes, one window per track, so confidence = the window's maximum. */
static void test_ece(void **st) {
  (void)st;
  static const char *const cls[2] = {"x", "y"};
  int offs[11];
  for (int i = 0; i <= 10; i++) offs[i] = i;
  /* Calibrated: five tracks at .6 with 3 right, five at 1.0 all right:
   * |.6-.6|*.5 + |1-1|*.5 = 0. */
  float p[20];
  int label[10];
  for (int t = 0; t < 10; t++) {
    p[2 * t] = t < 5 ? .6f : 1.f;
    p[2 * t + 1] = t < 5 ? .4f : 0.f;
    label[t] = (t < 5 && t >= 3) ? 1 : 0;
  }
  mgc_eval_input in = {2, cls, 10, label, NULL, offs, p};
  mgc_metrics *m = compute_ok(&in);
  assert_float_equal(m->ece, 0, 1e-6);
  NEAR(m->track_acc, 0.8);
  mgc_metrics_free(m);
  /* Miscalibrated: four tracks at .9 with 2 right (bin 13), six at .7 all
   * right (bin 10): |.5-.9|*.4 + |1-.7|*.6 = .16 + .18 = .34. */
  for (int t = 0; t < 10; t++) {
    p[2 * t] = t < 4 ? .9f : .3f;
    p[2 * t + 1] = t < 4 ? .1f : .7f;
    label[t] = t < 2 ? 0 : 1;
  }
  m = compute_ok(&in);
  NEAR(m->ece, 0.34);
  assert_int_equal(m->ece_bins[13].count, 4);
  assert_int_equal(m->ece_bins[10].count, 6);
  NEAR(m->ece_bins[13].accuracy, 0.5);
  NEAR(m->ece_bins[10].confidence, 0.7);
  mgc_metrics_free(m);
}

static void test_json(void **st) {
  (void)st;
  mgc_eval_input in = example();
  mgc_metrics *m = compute_ok(&in);
  char *s = mgc_metrics_to_json(m);
  assert_non_null(s);
  json_error_t err;
  json_t *o = json_loads(s, 0, &err);
  if (!o) fail_msg("JSON does not parse: %s at line %d", err.text, err.line);
  free(s);
  struct {
    const char *key;
    double v;
  } figs[] = {{"window_accuracy", m->window_acc}, {"track_accuracy", m->track_acc},
              {"track_accuracy_vote", m->track_acc_vote}, {"top2_accuracy", m->top2},
              {"top3_accuracy", m->top3}, {"macro_precision", m->macro_precision},
              {"macro_recall", m->macro_recall}, {"macro_f1", m->macro_f1}, {"ece", m->ece},
              {"mean_confidence", m->mean_confidence}};
  for (size_t i = 0; i < sizeof figs / sizeof figs[0]; i++) {
    json_t *v = json_object_get(o, figs[i].key);
    if (!json_is_real(v)) fail_msg("%s missing or not a number", figs[i].key);
    assert_float_equal(json_real_value(v), figs[i].v, 1e-13);
  }
  assert_int_equal(json_integer_value(json_object_get(o, "n_windows")), 12);
  assert_int_equal(json_integer_value(json_object_get(o, "n_tracks")), 5);
  json_t *cls = json_object_get(o, "classes");
  assert_int_equal(json_array_size(cls), 3);
  for (int c = 0; c < 3; c++)
    assert_string_equal(json_string_value(json_array_get(cls, (size_t)c)), EX_CLASSES[c]);
  json_t *cm = json_object_get(o, "confusion"), *wcm = json_object_get(o, "window_confusion");
  for (int r = 0; r < 3; r++)
    for (int c = 0; c < 3; c++) {
      assert_int_equal(json_integer_value(json_array_get(json_array_get(cm, (size_t)r), (size_t)c)),
                       m->confusion[r * 3 + c]);
      assert_int_equal(
          json_integer_value(json_array_get(json_array_get(wcm, (size_t)r), (size_t)c)),
          m->window_confusion[r * 3 + c]);
    }
  json_t *pc = json_object_get(o, "per_class");
  for (int c = 0; c < 3; c++) {
    json_t *k = json_array_get(pc, (size_t)c);
    assert_string_equal(json_string_value(json_object_get(k, "class")), EX_CLASSES[c]);
    assert_float_equal(json_real_value(json_object_get(k, "precision")),
                       m->per_class[c].precision, 1e-13);
    assert_float_equal(json_real_value(json_object_get(k, "f1")), m->per_class[c].f1, 1e-13);
    assert_int_equal(json_integer_value(json_object_get(k, "support")), m->per_class[c].support);
  }
  json_t *tr = json_object_get(o, "tracks");
  assert_int_equal(json_array_size(tr), 5);
  json_t *t2 = json_array_get(tr, 2);
  assert_string_equal(json_string_value(json_object_get(t2, "name")), "t2 <live>");
  assert_string_equal(json_string_value(json_object_get(t2, "true")), EX_CLASSES[2]);
  assert_string_equal(json_string_value(json_object_get(t2, "predicted_vote")), EX_CLASSES[0]);
  assert_float_equal(json_real_value(json_array_get(json_object_get(t2, "probabilities"), 2)),
                     m->track_probs[2 * 3 + 2], 1e-7);
  assert_int_equal(json_array_size(json_object_get(o, "ece_bins")), MGC_ECE_BINS);
  json_decref(o);
  mgc_metrics_free(m);
}

static void refused(const mgc_eval_input *in, const char *needle) {
  mgc_metrics *m = (mgc_metrics *)1;
  assert_int_equal(mgc_metrics_compute(in, &m), MGC_EINVAL);
  assert_null(m);
  printf("  refused: %s\n", mgc_error_message());
  if (!strstr(mgc_error_message(), needle))
    fail_msg("message '%s' lacks '%s'", mgc_error_message(), needle);
}

static void test_refusals(void **st) {
  (void)st;
  mgc_eval_input in = example();
  int offs[6];
  memcpy(offs, EX_OFFS, sizeof offs);
  in.track_windows = offs;
  offs[3] = 5; /* track 2 would have no windows */
  refused(&in, "track 2 ('t2 <live>') has no windows: offsets 5 then 5");
  offs[3] = 4; /* decreasing */
  refused(&in, "track 2 ('t2 <live>') has no windows: offsets 5 then 4");
  memcpy(offs, EX_OFFS, sizeof offs);
  offs[0] = 1;
  refused(&in, "must start at 0");
  memcpy(offs, EX_OFFS, sizeof offs);
  int label[5];
  memcpy(label, EX_LABEL, sizeof label);
  in.track_label = label;
  label[3] = 3;
  refused(&in, "track 3 ('t3') has label 3, outside 0..2");
  label[3] = -1;
  in.track_name = NULL;
  refused(&in, "track 3 has label -1");
  memcpy(label, EX_LABEL, sizeof label);
  float p[36];
  memcpy(p, EX_PROBS, sizeof p);
  in.window_probs = p;
  p[2 * 3 + 1] = 0.3f; /* T1's first window (row 2) sums to 0.5 */
  refused(&in, "window 0 of track 1 (row 2): probabilities sum to 0.5, not 1");
  p[2 * 3 + 1] = NAN;
  refused(&in, "probability of class 1 is nan");
  memcpy(p, EX_PROBS, sizeof p);
  in.n_classes = 1;
  refused(&in, "at least 2");
  in.n_classes = 3;
  in.n_tracks = 0;
  refused(&in, "no tracks");
  assert_int_equal(mgc_metrics_compute(NULL, NULL), MGC_EINVAL);
}

static void test_mean_std(void **st) {
  (void)st;
  double mu, sd;
  const double v[5] = {0.70, 0.80, 0.90, 0.75, 0.85};
  /* mean .8; deviations -.1 0 .1 -.05 .05: squares sum .025, /4 = .00625 */
  mgc_metrics_mean_std(v, 5, &mu, &sd);
  NEAR(mu, 0.8);
  assert_float_equal(sd, sqrt(0.00625), 1e-12);
  mgc_metrics_mean_std(v, 1, &mu, &sd);
  NEAR(mu, 0.7);
  assert_true(isnan(sd));
  mgc_metrics_mean_std(v, 0, &mu, &sd);
  assert_true(isnan(mu) && isnan(sd));
}

/* ---- the report ---- */

static char *slurp(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  rewind(f);
  char *s = malloc((size_t)n + 1);
  assert_non_null(s);
  assert_int_equal(fread(s, 1, (size_t)n, f), (size_t)n);
  s[n] = 0;
  fclose(f);
  return s;
}

static int exists(const char *dir, const char *name) {
  char p[512];
  snprintf(p, sizeof p, "%s/%s", dir, name);
  return access(p, F_OK) == 0;
}

static char *slurp2(const char *dir, const char *name) {
  char p[512];
  snprintf(p, sizeof p, "%s/%s", dir, name);
  char *s = slurp(p);
  if (!s) fail_msg("%s was not written", p);
  return s;
}

/* A small well-formedness check, enough to catch an unclosed or misnested
 * tag, a raw '<' or '&' in text or an attribute, or an unterminated quote.
 * html: allow HTML's void elements and skip <style> content. Returns NULL
 * when fine, else what is wrong. */
static const char *check_markup(const char *s, int html) {
  static char why[200];
  char stack[64][32];
  int depth = 0, elements = 0;
  const char *p = s;
  while (*p) {
    if (*p == '&') {
      const char *q = p + 1;
      if (*q == '#') q++;
      while ((*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z') || (*q >= '0' && *q <= '9'))
        q++;
      if (*q != ';' || q == p + 1) {
        snprintf(why, sizeof why, "bare '&' at offset %ld", (long)(p - s));
        return why;
      }
      p = q + 1;
      continue;
    }
    if (*p != '<') {
      p++;
      continue;
    }
    if (!strncmp(p, "<?", 2) || !strncmp(p, "<!--", 4) || !strncmp(p, "<!", 2)) {
      const char *end = !strncmp(p, "<?", 2) ? "?>" : !strncmp(p, "<!--", 4) ? "-->" : ">";
      const char *q = strstr(p, end);
      if (!q) return "unterminated declaration";
      p = q + strlen(end);
      continue;
    }
    int closing = p[1] == '/';
    const char *n0 = p + 1 + closing, *n1 = n0;
    while ((*n1 >= 'a' && *n1 <= 'z') || (*n1 >= 'A' && *n1 <= 'Z') || (*n1 >= '0' && *n1 <= '9') ||
           *n1 == '-' || *n1 == ':')
      n1++;
    size_t len = (size_t)(n1 - n0);
    if (!len || len >= 32) {
      snprintf(why, sizeof why, "raw '<' at offset %ld", (long)(p - s));
      return why;
    }
    char name[32];
    memcpy(name, n0, len);
    name[len] = 0;
    const char *q = n1;
    char quote = 0;
    for (; *q && (quote || *q != '>'); q++) {
      if (quote && *q == '<') return "'<' inside an attribute value";
      if (*q == '"' || *q == '\'') quote = quote == *q ? 0 : quote ? quote : *q;
    }
    if (!*q) return "unterminated tag";
    int self = q[-1] == '/';
    if (closing) {
      if (!depth || strcmp(stack[depth - 1], name)) {
        snprintf(why, sizeof why, "</%s> closes <%s>", name, depth ? stack[depth - 1] : "nothing");
        return why;
      }
      depth--;
    } else if (!self && !(html && !strcmp(name, "meta"))) {
      if (depth == 64) return "nesting too deep";
      strcpy(stack[depth++], name);
      elements++;
    } else {
      elements++;
    }
    p = q + 1;
    if (html && !closing && !strcmp(name, "style")) {
      const char *e = strstr(p, "</style>");
      if (!e) return "unterminated <style>";
      p = e;
    }
  }
  if (depth) {
    snprintf(why, sizeof why, "<%s> never closed", stack[depth - 1]);
    return why;
  }
  return elements ? NULL : "no elements";
}

static void assert_markup(const char *text, int html, const char *what) {
  const char *why = check_markup(text, html);
  if (why) fail_msg("%s is not well-formed: %s", what, why);
}

static void write_text(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fputs(text, f);
  fclose(f);
}

static void test_report(void **st) {
  (void)st;
  mgc_eval_input in = example();
  mgc_metrics *m = compute_ok(&in);
  /* A robustness condition: T0's windows all moved to class 1. */
  float p2[36];
  memcpy(p2, EX_PROBS, sizeof p2);
  p2[0] = .2f, p2[1] = .7f, p2[3] = .3f, p2[4] = .6f;
  mgc_eval_input in2 = in;
  in2.window_probs = p2;
  mgc_metrics *m2 = compute_ok(&in2);
  NEAR(m2->track_acc, 0.4);
  mgc_report_extra ex[1] = {{"speed x1.25 <fast>", m2}};

  char dir[300], csv[300];
  snprintf(dir, sizeof dir, "%s/reports/deep/er", g_dir); /* parents created */
  snprintf(csv, sizeof csv, "%s/curves.csv", g_dir);
  /* mgc-train's columns (a superset of the documented header), with gaps
   * written as empty, nan and -nan. */
  write_text(csv, "epoch,train_loss,train_acc,val_loss,val_acc,val_track_acc,lr,seconds\n"
                  "1,2.10,0.21,2.00,0.25,0.30,0.001,12.5\n"
                  "2,1.60,0.42,1.70,0.40,0.45,0.001,12.1\n"
                  "3,1.20,0.58,1.45,0.52,0.60,0.001,12.0\n"
                  "4,0.90,0.69,1.38,0.55,0.60,0.0001,12.2\n"
                  "5,0.75,0.74,-nan,0.56,0.65,0.0001,12.3\n"
                  "6,0.66,0.78,,nan,nan,0.00001,12.0\n");
  if (mgc_report_write(dir, "crnn <test> & co", "arch: crnn\nseed: 7 <x>", m, csv, ex, 1) != MGC_OK)
    fail_msg("%s", mgc_error_message());
  printf("  report in %s\n", dir);

  const char *svgs[4] = {"confusion.svg", "per_class.svg", "reliability.svg", "curves.svg"};
  for (int i = 0; i < 4; i++) {
    char *s = slurp2(dir, svgs[i]);
    assert_markup(s, 0, svgs[i]);
    assert_non_null(strstr(s, "<?xml"));
    assert_non_null(strstr(s, "xmlns=\"http://www.w3.org/2000/svg\""));
    assert_null(strstr(s, "<jazz>"));
    free(s);
  }
  char *cm = slurp2(dir, "confusion.svg");
  /* Row 2 (one track, on the diagonal) is 100 %: the darkest shade; the
   * labels are escaped. */
  assert_non_null(strstr(cm, "fill=\"#08306b\""));
  assert_non_null(strstr(cm, "&lt;jazz&gt;"));
  assert_non_null(strstr(cm, "r&amp;b"));
  assert_non_null(strstr(cm, "&quot;pop&quot; &amp; &#39;rock&#39;"));
  free(cm);

  char *h = slurp2(dir, "index.html");
  assert_markup(h, 1, "index.html");
  assert_null(strstr(h, "http://"));
  assert_null(strstr(h, "https://"));
  assert_null(strstr(h, "<script"));
  assert_null(strstr(h, "<jazz>"));
  assert_non_null(strstr(h, "&lt;jazz&gt;"));
  assert_non_null(strstr(h, "r&amp;b"));
  assert_non_null(strstr(h, "&quot;pop&quot; &amp; &#39;rock&#39;"));
  assert_non_null(strstr(h, "crnn &lt;test&gt; &amp; co"));
  assert_non_null(strstr(h, "seed: 7 &lt;x&gt;"));
  assert_non_null(strstr(h, "speed x1.25 &lt;fast&gt;"));
  /* Misclassified tracks: T3 and T4 by the mean rule; T2 is right. */
  assert_non_null(strstr(h, "<tr><td>t3</td>"));
  assert_non_null(strstr(h, "<tr><td>t4</td>"));
  assert_null(strstr(h, "t2 &lt;live&gt;"));
  assert_non_null(strstr(h, "<td>60.0 %</td><td>40.0 %</td><td class=\"d bad\">-20.0</td>"));
  assert_non_null(strstr(h, "Learning curves"));
  assert_int_equal(exists(dir, "curves.svg"), 1);
  free(h);
  /* The lowest validation loss (epoch 4) is marked; the tracks curve and the
   * learning-rate panel (log scale: 1e-3 .. 1e-5) are drawn. */
  char *cu = slurp2(dir, "curves.svg");
  assert_non_null(strstr(cu, "lowest validation loss: epoch 4<"));
  assert_non_null(strstr(cu, "val. tracks"));
  assert_non_null(strstr(cu, ">1e-5<"));
  assert_non_null(strstr(cu, ">1e-3<"));
  free(cu);

  /* Same directory, no curves: the section and the stale curves.svg go. */
  if (mgc_report_write(dir, "again", NULL, m, NULL, NULL, 0) != MGC_OK)
    fail_msg("%s", mgc_error_message());
  h = slurp2(dir, "index.html");
  assert_markup(h, 1, "index.html without curves");
  assert_null(strstr(h, "Learning curves"));
  assert_null(strstr(h, "<pre>"));
  assert_int_equal(exists(dir, "curves.svg"), 0);
  free(h);

  /* A curves path that does not exist omits the section too. */
  char missing[320];
  snprintf(missing, sizeof missing, "%s/no-such.csv", g_dir);
  assert_int_equal(mgc_report_write(dir, "x", NULL, m, missing, NULL, 0), MGC_OK);
  assert_int_equal(exists(dir, "curves.svg"), 0);

  /* A malformed CSV is refused with file:line, and nothing is written. */
  char dir2[320];
  snprintf(dir2, sizeof dir2, "%s/reports/bad", g_dir);
  write_text(csv, "epoch,train_loss,train_acc,val_loss,val_acc,lr\n1,2,0.2,2,0.2,0.01\n"
                  "2,1.5,abc,1.8,0.3,0.01\n");
  assert_int_equal(mgc_report_write(dir2, "x", NULL, m, csv, NULL, 0), MGC_EFORMAT);
  printf("  refused: %s\n", mgc_error_message());
  assert_non_null(strstr(mgc_error_message(), "curves.csv:3: train_acc 'abc' is not a number"));
  assert_int_equal(exists(dir2, "index.html"), 0);
  write_text(csv, "step,loss\n1,2\n");
  assert_int_equal(mgc_report_write(dir2, "x", NULL, m, csv, NULL, 0), MGC_EFORMAT);
  assert_non_null(strstr(mgc_error_message(), "curves.csv:1: not a learning-curve header"));
  write_text(csv, "epoch,train_loss,train_acc,val_loss,val_acc,lr\n1,2,0.2\n");
  assert_int_equal(mgc_report_write(dir2, "x", NULL, m, csv, NULL, 0), MGC_EFORMAT);
  assert_non_null(strstr(mgc_error_message(), "curves.csv:2: 3 fields, but the header has 6"));
  assert_int_equal(mgc_report_write(dir2, "x", NULL, NULL, NULL, NULL, 0), MGC_EINVAL);
  mgc_metrics_free(m);
  mgc_metrics_free(m2);
}

/* Class names that are not UTF-8 or hold control characters, many classes
 * with long names: JSON and every file stay well-formed. */
static void test_report_odd_names(void **st) {
  (void)st;
  enum { NC = 14, NT = 28 };
  char names[NC][64];
  const char *cls[NC];
  for (int c = 0; c < NC; c++) {
    snprintf(names[c], sizeof names[c], "class %d with a rather long name", c);
    cls[c] = names[c];
  }
  snprintf(names[0], sizeof names[0], "caf\xe9 latin-1");
  snprintf(names[1], sizeof names[1], "bell\x07 <b>");
  snprintf(names[2], sizeof names[2], "K\xc3\xb6nig \xe2\x99\xab");
  int label[NT], offs[NT + 1];
  float p[NT * NC];
  uint64_t seed = 12345;
  for (int t = 0; t < NT; t++) {
    label[t] = t % NC;
    offs[t] = t;
    double s = 0;
    for (int c = 0; c < NC; c++) s += p[t * NC + c] = (float)(test_rand(&seed) % 1000 + 1);
    p[t * NC + label[t]] += (float)(t % 3 ? 4 * s : 0); /* two in three right */
    s = 0;
    for (int c = 0; c < NC; c++) s += p[t * NC + c];
    for (int c = 0; c < NC; c++) p[t * NC + c] = (float)(p[t * NC + c] / s);
  }
  offs[NT] = NT;
  mgc_eval_input in = {NC, cls, NT, label, NULL, offs, p};
  mgc_metrics *m = compute_ok(&in);
  char *js = mgc_metrics_to_json(m);
  assert_non_null(js);
  json_t *o = json_loads(js, 0, NULL);
  assert_non_null(o);
  assert_string_equal(json_string_value(json_array_get(json_object_get(o, "classes"), 0)),
                      "caf\xef\xbf\xbd latin-1");
  json_decref(o);
  free(js);
  char dir[300];
  snprintf(dir, sizeof dir, "%s/reports/odd", g_dir);
  if (mgc_report_write(dir, "odd \xff", NULL, m, NULL, NULL, 0) != MGC_OK)
    fail_msg("%s", mgc_error_message());
  const char *files[4] = {"index.html", "confusion.svg", "per_class.svg", "reliability.svg"};
  for (int i = 0; i < 4; i++) {
    char *s = slurp2(dir, files[i]);
    assert_markup(s, i == 0, files[i]);
    assert_null(strchr(s, '\x07'));
    assert_null(strstr(s, "\xe9 "));
    if (i < 3) assert_non_null(strstr(s, "K\xc3\xb6nig \xe2\x99\xab"));
    free(s);
  }
  mgc_metrics_free(m);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_example),       cmocka_unit_test(test_zero_division),
      cmocka_unit_test(test_ece),           cmocka_unit_test(test_json),
      cmocka_unit_test(test_refusals),      cmocka_unit_test(test_mean_std),
      cmocka_unit_test(test_report),        cmocka_unit_test(test_report_odd_names),
  };
  /* MGC_KEEP_REPORT=1 leaves the scratch folder for a look at the pages. */
  return cmocka_run_group_tests(tests, tmpdir_setup,
                                getenv("MGC_KEEP_REPORT") ? NULL : tmpdir_teardown);
}
