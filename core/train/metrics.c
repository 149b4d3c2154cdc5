/* Evaluation figures: see mgc/train/metrics.h for the definitions. */
#include "mgc/train/metrics.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "mgc/util/temperature.h"
#include "mgc/util/strdup.h"

/* A softmax row sums to 1 within a few float ulps; 1e-3 still catches rows
 * that are logits, percentages or a wrong n_classes stride. */
#define SUM_TOL 1e-3

/* "track 3 ('blues.00012')" or "track 3" for messages. */
static const char *track_desc(const mgc_eval_input *in, int t, char *buf, size_t cap) {
  if (in->track_name && in->track_name[t])
    snprintf(buf, cap, "track %d ('%s')", t, in->track_name[t]);
  else
    snprintf(buf, cap, "track %d", t);
  return buf;
}

static mgc_status validate(const mgc_eval_input *in) {
  char d[320];
  if (in->n_classes < 2)
    return mgc_error_set(MGC_EINVAL, "metrics: %d classes; need at least 2", in->n_classes);
  if (!in->classes) return mgc_error_set(MGC_EINVAL, "metrics: no class names");
  for (int c = 0; c < in->n_classes; c++)
    if (!in->classes[c]) return mgc_error_set(MGC_EINVAL, "metrics: class %d has no name", c);
  if (in->n_tracks < 1) return mgc_error_set(MGC_EINVAL, "metrics: no tracks to evaluate");
  if (!in->track_label || !in->track_windows || !in->window_probs)
    return mgc_error_set(MGC_EINVAL, "metrics: labels, window offsets or probabilities missing");
  if (in->track_windows[0] != 0)
    return mgc_error_set(MGC_EINVAL, "metrics: window offsets must start at 0, not %d",
                         in->track_windows[0]);
  for (int t = 0; t < in->n_tracks; t++) {
    if (in->track_windows[t + 1] <= in->track_windows[t])
      return mgc_error_set(MGC_EINVAL,
                           "metrics: %s has no windows: offsets %d then %d (they must increase)",
                           track_desc(in, t, d, sizeof d), in->track_windows[t],
                           in->track_windows[t + 1]);
    int y = in->track_label[t];
    if (y < 0 || y >= in->n_classes)
      return mgc_error_set(MGC_EINVAL, "metrics: %s has label %d, outside 0..%d",
                           track_desc(in, t, d, sizeof d), y, in->n_classes - 1);
  }
  for (int t = 0; t < in->n_tracks; t++)
    for (int w = in->track_windows[t]; w < in->track_windows[t + 1]; w++) {
      const float *p = in->window_probs + (size_t)w * (size_t)in->n_classes;
      double s = 0;
      for (int c = 0; c < in->n_classes; c++) {
        if (!isfinite(p[c]) || p[c] < 0)
          return mgc_error_set(MGC_EINVAL,
                               "metrics: window %d of %s (row %d): probability of class %d is %g",
                               w - in->track_windows[t], track_desc(in, t, d, sizeof d), w, c,
                               (double)p[c]);
        s += p[c];
      }
      if (fabs(s - 1.0) > SUM_TOL)
        return mgc_error_set(MGC_EINVAL,
                             "metrics: window %d of %s (row %d): probabilities sum to %g, not 1",
                             w - in->track_windows[t], track_desc(in, t, d, sizeof d), w, s);
    }
  return MGC_OK;
}

static double safe_div(double a, double b) { return b > 0 ? a / b : 0.0; }

void mgc_metrics_free(mgc_metrics *m) {
  if (!m) return;
  if (m->classes)
    for (int c = 0; c < m->n_classes; c++) free(m->classes[c]);
  free(m->classes);
  if (m->tracks)
    for (int t = 0; t < m->n_tracks; t++) free(m->tracks[t].name);
  free(m->tracks);
  free(m->per_class);
  free(m->confusion);
  free(m->window_confusion);
  free(m->track_probs);
  free(m);
}

static mgc_metrics *alloc_metrics(const mgc_eval_input *in) {
  int nc = in->n_classes, nt = in->n_tracks;
  mgc_metrics *m = calloc(1, sizeof *m);
  if (!m) return NULL;
  m->n_classes = nc;
  m->n_tracks = nt;
  m->classes = calloc((size_t)nc, sizeof *m->classes);
  m->tracks = calloc((size_t)nt, sizeof *m->tracks);
  m->per_class = calloc((size_t)nc, sizeof *m->per_class);
  m->confusion = calloc((size_t)nc * (size_t)nc, sizeof *m->confusion);
  m->window_confusion = calloc((size_t)nc * (size_t)nc, sizeof *m->window_confusion);
  m->track_probs = calloc((size_t)nt * (size_t)nc, sizeof *m->track_probs);
  if (!m->classes || !m->tracks || !m->per_class || !m->confusion || !m->window_confusion ||
      !m->track_probs) {
    mgc_metrics_free(m);
    return NULL;
  }
  for (int c = 0; c < nc; c++)
    if (!(m->classes[c] = mgc_strdup(in->classes[c]))) {
      mgc_metrics_free(m);
      return NULL;
    }
  if (in->track_name)
    for (int t = 0; t < nt; t++)
      if (in->track_name[t] && !(m->tracks[t].name = mgc_strdup(in->track_name[t]))) {
        mgc_metrics_free(m);
        return NULL;
      }
  return m;
}

/* The figures that rest on the tracks' confidences: ECE and its bins, the
 * mean confidence, the accuracy/coverage curve. */
static void confidence_figures(mgc_metrics *m) {
  const int nt = m->n_tracks;
  double conf_sum = 0, ece = 0;
  memset(m->ece_bins, 0, sizeof m->ece_bins);
  for (int b = 0; b < MGC_ECE_BINS; b++) {
    m->ece_bins[b].lo = (double)b / MGC_ECE_BINS;
    m->ece_bins[b].hi = (double)(b + 1) / MGC_ECE_BINS;
  }
  for (int t = 0; t < nt; t++) {
    double cf = m->tracks[t].confidence;
    /* (lo, hi] bins as in Guo et al.; confidence is >= 1/n_classes > 0. */
    int b = (int)ceil(cf * MGC_ECE_BINS) - 1;
    if (b < 0) b = 0;
    if (b >= MGC_ECE_BINS) b = MGC_ECE_BINS - 1;
    m->ece_bins[b].count++;
    m->ece_bins[b].confidence += cf;
    m->ece_bins[b].accuracy += m->tracks[t].pred == m->tracks[t].label;
    conf_sum += cf;
  }
  for (int b = 0; b < MGC_ECE_BINS; b++) {
    mgc_ece_bin *e = &m->ece_bins[b];
    if (!e->count) continue;
    e->confidence /= e->count;
    e->accuracy /= e->count;
    ece += fabs(e->accuracy - e->confidence) * e->count / nt;
  }
  m->ece = ece;
  m->mean_confidence = conf_sum / nt;
  for (int i = 0; i < MGC_COVERAGE_POINTS; i++) {
    mgc_coverage_point *c = &m->coverage[i];
    int kept = 0, right = 0;
    c->threshold = (double)i / MGC_COVERAGE_POINTS;
    for (int t = 0; t < nt; t++)
      if (m->tracks[t].confidence >= c->threshold) {
        kept++;
        right += m->tracks[t].pred == m->tracks[t].label;
      }
    c->coverage = (double)kept / nt;
    c->accuracy = kept ? (double)right / kept : NAN;
  }
}

mgc_status mgc_metrics_compute(const mgc_eval_input *in, mgc_metrics **out) {
  if (!in || !out) return mgc_error_set(MGC_EINVAL, "metrics: no input");
  *out = NULL;
  mgc_status st = validate(in);
  if (st != MGC_OK) return st;
  const int nc = in->n_classes, nt = in->n_tracks;
  mgc_metrics *m = alloc_metrics(in);
  /* Per-track scratch: summed probabilities (double, so the mean of many
   * windows does not lose the last digits) and window votes. */
  double *sum = malloc((size_t)nc * sizeof *sum);
  int *votes = malloc((size_t)nc * sizeof *votes);
  if (!m || !sum || !votes) {
    mgc_metrics_free(m);
    free(sum);
    free(votes);
    return mgc_error_set(MGC_ENOMEM, "metrics: out of memory");
  }
  m->n_windows = in->track_windows[nt];

  int win_ok = 0, trk_ok = 0, vote_ok = 0, top2 = 0, top3 = 0;
  for (int t = 0; t < nt; t++) {
    const int y = in->track_label[t], w0 = in->track_windows[t], w1 = in->track_windows[t + 1];
    memset(sum, 0, (size_t)nc * sizeof *sum);
    memset(votes, 0, (size_t)nc * sizeof *votes);
    for (int w = w0; w < w1; w++) {
      const float *p = in->window_probs + (size_t)w * (size_t)nc;
      int k = mgc_argmax(p, nc);
      votes[k]++;
      m->window_confusion[y * nc + k]++;
      win_ok += k == y;
      for (int c = 0; c < nc; c++) sum[c] += p[c];
    }
    const int nw = w1 - w0;
    float *mean = m->track_probs + (size_t)t * (size_t)nc;
    for (int c = 0; c < nc; c++) mean[c] = (float)(sum[c] / nw);
    /* Decide on the double sums, not the float means, so that two classes
     * that differ by less than a float ulp are still told apart. */
    int pred = 0, pv = 0, above = 0;
    for (int c = 1; c < nc; c++)
      if (sum[c] > sum[pred]) pred = c;
    for (int c = 1; c < nc; c++)
      if (votes[c] > votes[pv] || (votes[c] == votes[pv] && sum[c] > sum[pv])) pv = c;
    for (int c = 0; c < nc; c++) above += sum[c] > sum[y];

    mgc_track_result *r = &m->tracks[t];
    r->label = y;
    r->pred = pred;
    r->pred_vote = pv;
    r->n_windows = nw;
    r->confidence = sum[pred] / nw;
    m->confusion[y * nc + pred]++;
    trk_ok += pred == y;
    vote_ok += pv == y;
    top2 += above < 2;
    top3 += above < 3;
  }
  free(sum);
  free(votes);

  m->window_acc = (double)win_ok / m->n_windows;
  m->track_acc = (double)trk_ok / nt;
  m->track_acc_vote = (double)vote_ok / nt;
  m->top2 = (double)top2 / nt;
  m->top3 = (double)top3 / nt;

  double sp = 0, sr = 0, sf = 0;
  for (int c = 0; c < nc; c++) {
    mgc_class_metrics *k = &m->per_class[c];
    int tp = m->confusion[c * nc + c];
    for (int j = 0; j < nc; j++) {
      k->support += m->confusion[c * nc + j];
      k->predicted += m->confusion[j * nc + c];
    }
    k->precision = safe_div(tp, k->predicted);
    k->recall = safe_div(tp, k->support);
    k->f1 = safe_div(2 * k->precision * k->recall, k->precision + k->recall);
    if (k->support || k->predicted) {
      m->n_macro_classes++;
      sp += k->precision;
      sr += k->recall;
      sf += k->f1;
    }
  }
  /* n_tracks >= 1 guarantees at least one class with support. */
  m->macro_precision = sp / m->n_macro_classes;
  m->macro_recall = sr / m->n_macro_classes;
  m->macro_f1 = sf / m->n_macro_classes;

  confidence_figures(m);
  *out = m;
  return MGC_OK;
}

void mgc_metrics_set_temperature(mgc_metrics *m, double T) {
  if (!m || T == 1 || !(T > 0)) return;
  const int C = m->n_classes;
  for (int t = 0; t < m->n_tracks; t++) {
    float *p = m->track_probs + (size_t)t * C;
    mgc_temperature_apply(p, C, T);
    m->tracks[t].confidence = p[m->tracks[t].pred];
  }
  confidence_figures(m);
}

int mgc_metrics_over_present(mgc_metrics *m) {
  if (!m) return 0;
  int n = 0;
  double sp = 0, sr = 0, sf = 0;
  for (int c = 0; c < m->n_classes; c++) {
    const mgc_class_metrics *k = &m->per_class[c];
    if (!k->support) continue;
    n++;
    sp += k->precision;
    sr += k->recall;
    sf += k->f1;
  }
  if (n == m->n_classes || n == 0) return n;
  m->present_only = 1;
  m->n_present = n;
  m->n_macro_classes = n;
  m->macro_precision = sp / n;
  m->macro_recall = sr / n;
  m->macro_f1 = sf / n;
  return n;
}

void mgc_metrics_mean_std(const double *v, int n, double *mean, double *std) {
  double mu = NAN, sd = NAN;
  if (n > 0) {
    double s = 0;
    for (int i = 0; i < n; i++) s += v[i];
    mu = s / n;
  }
  if (n > 1) {
    /* Two passes: the spread of fold accuracies is small next to their
     * mean, where the one-pass formula cancels badly. */
    double q = 0;
    for (int i = 0; i < n; i++) q += (v[i] - mu) * (v[i] - mu);
    sd = sqrt(q / (n - 1));
  }
  if (mean) *mean = mu;
  if (std) *std = sd;
}

/* ---- text report ---- */

static int name_width(const mgc_metrics *m, int floor_w) {
  int w = floor_w;
  for (int c = 0; c < m->n_classes; c++) {
    int l = (int)strlen(m->classes[c]);
    if (l > w) w = l;
  }
  return w > 40 ? 40 : w;
}

/* Whether class c is a row of the tables: every class, or with
 * present_only those with support. */
static int shown(const mgc_metrics *m, int c) {
  return !m->present_only || m->per_class[c].support > 0;
}

static void print_confusion(const mgc_metrics *m, const int *cm, const char *what, FILE *f) {
  const int nc = m->n_classes;
  /* Columns: the rows' classes and any other class they were taken for, so
   * an answer outside the data's classes still shows where it went. */
  int col[nc];
  for (int c = 0; c < nc; c++) {
    col[c] = shown(m, c);
    for (int r = 0; r < nc && !col[c]; r++) col[c] = shown(m, r) && cm[r * nc + c] > 0;
  }
  int maxv = 0;
  for (int i = 0; i < nc * nc; i++)
    if (cm[i] > maxv) maxv = cm[i];
  int cell = snprintf(NULL, 0, "%d", maxv) + 1;
  if (cell < 6) cell = 6;
  int nw = name_width(m, 4);
  fprintf(f, "\nconfusion matrix (%s; rows true, columns predicted)\n", what);
  fprintf(f, "%-*s", nw, "");
  /* Column heads are the names cut to the cell width: full names are in
   * the rows, in the same order. */
  for (int c = 0; c < nc; c++)
    if (col[c]) fprintf(f, " %*.*s", cell, cell, m->classes[c]);
  fputc('\n', f);
  for (int r = 0; r < nc; r++) {
    if (!shown(m, r)) continue;
    fprintf(f, "%-*.*s", nw, nw, m->classes[r]);
    for (int c = 0; c < nc; c++)
      if (col[c]) fprintf(f, " %*d", cell, cm[r * nc + c]);
    fputc('\n', f);
  }
}

static void print_figures(const mgc_metrics *m, FILE *f, int windows) {
  if (!m || !f) return;
  const int nc = m->n_classes;
  char v[96];
  if (windows) fprintf(f, "%d tracks, %d windows, %d classes\n", m->n_tracks, m->n_windows, nc);
  else fprintf(f, "%d tracks, %d classes\n", m->n_tracks, nc);
  if (m->present_only) {
    fprintf(f, "the data holds %d of the %d classes (", m->n_present, nc);
    for (int c = 0, i = 0; c < nc; c++)
      if (m->per_class[c].support) fprintf(f, "%s%s", i++ ? ", " : "", m->classes[c]);
    fprintf(f, ");\nanswers range over all %d; per-class figures, confusion rows and macro "
               "averages over these %d\n", nc, m->n_present);
  }
#define LINE(label, ...)                   \
  do {                                     \
    snprintf(v, sizeof v, __VA_ARGS__);    \
    fprintf(f, "%-47s %s\n", label, v);    \
  } while (0)
  if (windows) {
    LINE("track accuracy (mean of window probabilities)", "%.2f %%", 100 * m->track_acc);
    LINE("track accuracy (majority vote of windows)", "%.2f %%", 100 * m->track_acc_vote);
    LINE("window accuracy", "%.2f %%", 100 * m->window_acc);
  } else {
    LINE("track accuracy", "%.2f %%", 100 * m->track_acc);
  }
  LINE("top-2 / top-3 accuracy (tracks)", "%.2f %% / %.2f %%", 100 * m->top2, 100 * m->top3);
  LINE("macro precision / recall / F1 (tracks)", "%.4f / %.4f / %.4f", m->macro_precision,
       m->macro_recall, m->macro_f1);
  LINE("expected calibration error (15 bins, tracks)", "%.4f (mean confidence %.4f)", m->ece,
       m->mean_confidence);
#undef LINE
  fprintf(f, "accuracy / coverage (decided: confidence >= threshold; the rest 'not sure'):\n ");
  for (int i = 0; i < MGC_COVERAGE_POINTS; i++) {
    const mgc_coverage_point *c = &m->coverage[i];
    if (isnan(c->accuracy)) fprintf(f, " %.1f: -/0%%", c->threshold);
    else fprintf(f, " %.1f: %.0f%%/%.0f%%", c->threshold, 100 * c->accuracy, 100 * c->coverage);
  }
  fputc('\n', f);
  int nw = name_width(m, 12);
  fprintf(f, "\n%-*s  precision  recall      f1  support  predicted\n", nw, "class");
  for (int c = 0; c < nc; c++) {
    const mgc_class_metrics *k = &m->per_class[c];
    if (!shown(m, c)) continue;
    fprintf(f, "%-*.*s  %9.4f  %6.4f  %6.4f  %7d  %9d%s\n", nw, nw, m->classes[c], k->precision,
            k->recall, k->f1, k->support, k->predicted,
            k->support || k->predicted ? "" : "  (absent: not in the macro average)");
  }
  fprintf(f, "%-*s  %9.4f  %6.4f  %6.4f  %7d\n", nw, "macro avg", m->macro_precision,
          m->macro_recall, m->macro_f1, m->n_tracks);
  print_confusion(m, m->confusion, "tracks", f);
  if (windows) print_confusion(m, m->window_confusion, "windows", f);
}

void mgc_metrics_print(const mgc_metrics *m, FILE *f) { print_figures(m, f, 1); }

void mgc_metrics_print_tracks(const mgc_metrics *m, FILE *f) { print_figures(m, f, 0); }

/* ---- JSON ---- */

/* A JSON string of s, with bytes that are not UTF-8 replaced by U+FFFD:
 * jansson refuses invalid UTF-8, and a class folder named in Latin-1 must
 * not make the whole report vanish. */
static json_t *jstr(const char *s) {
  json_t *j = json_string(s);
  if (j) return j;
  size_t n = strlen(s);
  char *c = malloc(3 * n + 1);
  if (!c) return NULL;
  size_t o = 0;
  const unsigned char *u = (const unsigned char *)s;
  for (size_t i = 0; i < n;) {
    int len = u[i] < 0x80 ? 1 : (u[i] & 0xE0) == 0xC0 ? 2 : (u[i] & 0xF0) == 0xE0 ? 3
              : (u[i] & 0xF8) == 0xF0 ? 4 : 0;
    int ok = len > 0 && i + (size_t)len <= n;
    for (int k = 1; ok && k < len; k++) ok = (u[i + (size_t)k] & 0xC0) == 0x80;
    if (ok) {
      memcpy(c + o, s + i, (size_t)len);
      o += (size_t)len;
      i += (size_t)len;
    } else {
      memcpy(c + o, "\xEF\xBF\xBD", 3);
      o += 3;
      i++;
    }
  }
  c[o] = 0;
  j = json_string(c); /* still NULL for overlong forms or surrogates: caller fails */
  free(c);
  return j;
}

/* Append v to arr, remembering any failure (NULL v included). */
static void push(json_t *arr, json_t *v, int *ok) {
  if (!v || json_array_append_new(arr, v)) *ok = 0;
}
static void put(json_t *obj, const char *key, json_t *v, int *ok) {
  if (!v || json_object_set_new(obj, key, v)) *ok = 0;
}

static json_t *int_matrix(const int *v, int n, int *ok) {
  json_t *rows = json_array();
  for (int r = 0; rows && r < n; r++) {
    json_t *row = json_array();
    for (int c = 0; row && c < n; c++) push(row, json_integer(v[r * n + c]), ok);
    push(rows, row, ok);
  }
  return rows;
}

/* Keys: n_classes, classes, n_tracks, n_windows, window_accuracy,
 * track_accuracy, track_accuracy_vote, top2_accuracy, top3_accuracy,
 * macro_precision, macro_recall, macro_f1, macro_classes, ece,
 * mean_confidence, evaluated_classes (only when present_only: the
 * classes with support, those per_class lists and the macro averages run
 * over), per_class [{class, precision, recall, f1, support, predicted}],
 * confusion (every class), window_confusion (rows true), ece_bins [{lo, hi,
 * count, confidence, accuracy}], tracks [{name (or null), true, predicted,
 * predicted_vote, confidence, windows, probabilities}]. Classes in
 * per_class and tracks are by name so a reader needs no index table. */
static char *to_json(const mgc_metrics *m, int windows) {
  if (!m) return NULL;
  const int nc = m->n_classes;
  int ok = 1;
  json_t *o = json_object();
  if (!o) return NULL;
  json_t *cls = json_array();
  for (int c = 0; cls && c < nc; c++) push(cls, jstr(m->classes[c]), &ok);
  put(o, "n_classes", json_integer(nc), &ok);
  put(o, "classes", cls, &ok);
  put(o, "n_tracks", json_integer(m->n_tracks), &ok);
  if (windows) {
    put(o, "n_windows", json_integer(m->n_windows), &ok);
    put(o, "window_accuracy", json_real(m->window_acc), &ok);
  }
  put(o, "track_accuracy", json_real(m->track_acc), &ok);
  if (windows) put(o, "track_accuracy_vote", json_real(m->track_acc_vote), &ok);
  put(o, "top2_accuracy", json_real(m->top2), &ok);
  put(o, "top3_accuracy", json_real(m->top3), &ok);
  put(o, "macro_precision", json_real(m->macro_precision), &ok);
  put(o, "macro_recall", json_real(m->macro_recall), &ok);
  put(o, "macro_f1", json_real(m->macro_f1), &ok);
  put(o, "macro_classes", json_integer(m->n_macro_classes), &ok);
  put(o, "ece", json_real(m->ece), &ok);
  put(o, "mean_confidence", json_real(m->mean_confidence), &ok);

  if (m->present_only) {
    json_t *ev = json_array();
    for (int c = 0; ev && c < nc; c++)
      if (m->per_class[c].support) push(ev, jstr(m->classes[c]), &ok);
    put(o, "evaluated_classes", ev, &ok);
  }
  json_t *pc = json_array();
  for (int c = 0; pc && c < nc; c++) {
    const mgc_class_metrics *k = &m->per_class[c];
    if (!shown(m, c)) continue;
    push(pc,
         json_pack("{s:o, s:f, s:f, s:f, s:i, s:i}", "class", jstr(m->classes[c]), "precision",
                   k->precision, "recall", k->recall, "f1", k->f1, "support", k->support,
                   "predicted", k->predicted),
         &ok);
  }
  put(o, "per_class", pc, &ok);
  put(o, "confusion", int_matrix(m->confusion, nc, &ok), &ok);
  if (windows) put(o, "window_confusion", int_matrix(m->window_confusion, nc, &ok), &ok);

  json_t *bins = json_array();
  for (int b = 0; bins && b < MGC_ECE_BINS; b++) {
    const mgc_ece_bin *e = &m->ece_bins[b];
    push(bins,
         json_pack("{s:f, s:f, s:i, s:f, s:f}", "lo", e->lo, "hi", e->hi, "count", e->count,
                   "confidence", e->confidence, "accuracy", e->accuracy),
         &ok);
  }
  put(o, "ece_bins", bins, &ok);

  json_t *cov = json_array();
  for (int i = 0; cov && i < MGC_COVERAGE_POINTS; i++) {
    const mgc_coverage_point *c = &m->coverage[i];
    push(cov,
         json_pack("{s:f, s:f, s:o}", "threshold", c->threshold, "coverage", c->coverage,
                   "accuracy", isnan(c->accuracy) ? json_null() : json_real(c->accuracy)),
         &ok);
  }
  put(o, "accuracy_coverage", cov, &ok);

  json_t *tr = json_array();
  for (int t = 0; tr && t < m->n_tracks; t++) {
    const mgc_track_result *r = &m->tracks[t];
    json_t *p = json_array();
    for (int c = 0; p && c < nc; c++)
      push(p, json_real(m->track_probs[(size_t)t * (size_t)nc + (size_t)c]), &ok);
    if (windows)
      push(tr,
           json_pack("{s:o, s:o, s:o, s:o, s:f, s:i, s:o}", "name",
                     r->name ? jstr(r->name) : json_null(), "true", jstr(m->classes[r->label]),
                     "predicted", jstr(m->classes[r->pred]), "predicted_vote",
                     jstr(m->classes[r->pred_vote]), "confidence", r->confidence, "windows",
                     r->n_windows, "probabilities", p),
           &ok);
    else
      push(tr,
           json_pack("{s:o, s:o, s:o, s:f, s:o}", "name", r->name ? jstr(r->name) : json_null(),
                     "true", jstr(m->classes[r->label]), "predicted",
                     jstr(m->classes[r->pred]), "confidence", r->confidence, "probabilities",
                     p),
           &ok);
  }
  put(o, "tracks", tr, &ok);

  /* 15 significant digits print 0.6 as 0.6 (17 would show the binary
   * representation's tail) and still pin the value to an ulp or two. */
  char *s = ok ? json_dumps(o, JSON_INDENT(2) | JSON_REAL_PRECISION(15)) : NULL;
  json_decref(o);
  return s;
}

char *mgc_metrics_to_json(const mgc_metrics *m) { return to_json(m, 1); }

char *mgc_metrics_tracks_to_json(const mgc_metrics *m) { return to_json(m, 0); }
