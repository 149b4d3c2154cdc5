/* The HTML + SVG evaluation report: see mgc/report.h. Everything is built
 * in memory first, so a failure (a bad curves file, no memory) leaves no
 * half-written page behind. */
#include "mgc/report.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- growable text buffer ---- */

typedef struct sbuf {
  char *p;
  size_t n, cap;
  int oom;
} sbuf;

static void sb_put(sbuf *b, const char *s, size_t n) {
  if (b->oom) return;
  if (b->n + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->n + n + 1) cap *= 2;
    char *q = realloc(b->p, cap);
    if (!q) {
      b->oom = 1;
      return;
    }
    b->p = q;
    b->cap = cap;
  }
  memcpy(b->p + b->n, s, n);
  b->n += n;
  b->p[b->n] = 0;
}

static void sb_puts(sbuf *b, const char *s) { sb_put(b, s, strlen(s)); }

static void sb_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(sbuf *b, const char *fmt, ...) {
  char tmp[512];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
  va_end(ap);
  if (n < 0) {
    b->oom = 1;
    return;
  }
  if ((size_t)n < sizeof tmp) {
    sb_put(b, tmp, (size_t)n);
    return;
  }
  char *big = malloc((size_t)n + 1);
  if (!big) {
    b->oom = 1;
    return;
  }
  va_start(ap, fmt);
  vsnprintf(big, (size_t)n + 1, fmt, ap);
  va_end(ap);
  sb_put(b, big, (size_t)n);
  free(big);
}

/* Length of the valid UTF-8 sequence at u (avail bytes left), 0 if none:
 * no overlong forms, no surrogates, nothing above U+10FFFF, which is what
 * an XML parser reading a standalone SVG insists on. */
static size_t utf8_seq(const unsigned char *u, size_t avail) {
  unsigned c = u[0];
  size_t len;
  unsigned lo = 0x80, hi = 0xBF;
  if (c < 0x80) return 1;
  if (c >= 0xC2 && c <= 0xDF) len = 2;
  else if (c >= 0xE0 && c <= 0xEF) {
    len = 3;
    if (c == 0xE0) lo = 0xA0;
    if (c == 0xED) hi = 0x9F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    len = 4;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;
  } else
    return 0;
  if (avail < len || u[1] < lo || u[1] > hi) return 0;
  for (size_t k = 2; k < len; k++)
    if ((u[k] & 0xC0) != 0x80) return 0;
  return len;
}

/* Code points in s (invalid bytes count one each, as they print one U+FFFD). */
static int cp_count(const char *s) {
  const unsigned char *u = (const unsigned char *)s;
  size_t n = strlen(s);
  int k = 0;
  for (size_t i = 0; i < n; k++) {
    size_t l = utf8_seq(u + i, n - i);
    i += l ? l : 1;
  }
  return k;
}

/* Append s escaped for HTML text, HTML attributes and XML alike; control
 * characters XML forbids and invalid UTF-8 become U+FFFD. max_cp > 0 cuts
 * the text to that many code points, ending in an ellipsis. */
static void sb_esc_n(sbuf *b, const char *s, int max_cp) {
  const unsigned char *u = (const unsigned char *)(s ? s : "");
  size_t n = strlen((const char *)u);
  int total = max_cp > 0 ? cp_count((const char *)u) : 0, k = 0;
  for (size_t i = 0; i < n; k++) {
    if (max_cp > 0 && total > max_cp && k == max_cp - 1) {
      sb_puts(b, "\xE2\x80\xA6");
      return;
    }
    size_t l = utf8_seq(u + i, n - i);
    if (!l) {
      sb_puts(b, "\xEF\xBF\xBD");
      i++;
      continue;
    }
    if (l == 1) {
      unsigned char c = u[i];
      switch (c) {
      case '&': sb_puts(b, "&amp;"); break;
      case '<': sb_puts(b, "&lt;"); break;
      case '>': sb_puts(b, "&gt;"); break;
      case '"': sb_puts(b, "&quot;"); break;
      case '\'': sb_puts(b, "&#39;"); break;
      default:
        if (c < 0x20 && c != '\n' && c != '\t' && c != '\r')
          sb_puts(b, "\xEF\xBF\xBD");
        else
          sb_put(b, (const char *)u + i, 1);
      }
    } else {
      sb_put(b, (const char *)u + i, l);
    }
    i += l;
  }
}

static void sb_esc(sbuf *b, const char *s) { sb_esc_n(b, s, 0); }

/* ---- chart helpers ---- */

#define FONT 12.0
/* Average advance of a sans-serif glyph, in font sizes: enough to reserve
 * room for labels without measuring text, which SVG cannot do ahead. */
#define CHAR_W 0.62
/* Longest class name drawn in full; longer ones end in an ellipsis (the
 * tooltip and the tables carry the whole name). */
#define NAME_MAX_CP 22

static const char *const COL_P = "#4e79a7", *const COL_R = "#f28e2b", *const COL_F = "#59a14f";
static const char *const COL_TRAIN = "#4e79a7", *const COL_VAL = "#e15759";

static double clampd(double v, double lo, double hi) { return v < lo ? lo : v > hi ? hi : v; }

static int longest_name(const mgc_metrics *m) {
  int w = 1;
  for (int c = 0; c < m->n_classes; c++) {
    int k = cp_count(m->classes[c]);
    if (k > w) w = k;
  }
  return w > NAME_MAX_CP ? NAME_MAX_CP : w;
}

/* The namespace attribute is what a standalone file needs to be read as
 * SVG; inside HTML5 the parser supplies it, and leaving it out keeps the
 * page free of anything that looks like a URL. */
static void svg_open(sbuf *b, int standalone, double w, double h, const char *label) {
  if (standalone) sb_puts(b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
  sb_printf(b, "<svg %sviewBox=\"0 0 %.0f %.0f\" width=\"%.0f\" height=\"%.0f\" role=\"img\" "
               "font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\" font-size=\"%.0f\" "
               "aria-label=\"",
            standalone ? "xmlns=\"http://www.w3.org/2000/svg\" " : "", w, h, w, h, FONT);
  sb_esc(b, label);
  sb_puts(b, "\">\n");
  sb_printf(b, "<rect x=\"0\" y=\"0\" width=\"%.0f\" height=\"%.0f\" fill=\"#ffffff\"/>\n", w, h);
}

static void svg_title(sbuf *b, double x, double y, const char *text) {
  sb_printf(b, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"14\" font-weight=\"bold\">", x, y);
  sb_esc(b, text);
  sb_puts(b, "</text>\n");
}

/* A text element; anchor "start" / "middle" / "end"; rotation in degrees
 * about the anchor point (0: none). The .35em shift centres the glyphs on
 * y, which dominant-baseline would too but not in every renderer. */
static void svg_text(sbuf *b, double x, double y, const char *anchor, double rot, double size,
                     const char *fill, const char *text, int max_cp) {
  sb_printf(b, "<text x=\"%.1f\" y=\"%.1f\" dy=\".35em\" text-anchor=\"%s\"", x, y, anchor);
  if (rot != 0) sb_printf(b, " transform=\"rotate(%.0f %.1f %.1f)\"", rot, x, y);
  if (size != FONT) sb_printf(b, " font-size=\"%.1f\"", size);
  if (fill) sb_printf(b, " fill=\"%s\"", fill);
  sb_puts(b, ">");
  sb_esc_n(b, text, max_cp);
  sb_puts(b, "</text>\n");
}

/* Sequential blue scale (ColorBrewer "Blues" stops), v in [0, 1]. */
static void blues(double v, char out[8]) {
  static const unsigned char stop[5][3] = {
      {0xf7, 0xfb, 0xff}, {0xc6, 0xdb, 0xef}, {0x6b, 0xae, 0xd6}, {0x21, 0x71, 0xb5},
      {0x08, 0x30, 0x6b}};
  v = clampd(v, 0, 1) * 4;
  int i = (int)v;
  if (i > 3) i = 3;
  double f = v - i;
  int rgb[3];
  for (int k = 0; k < 3; k++) rgb[k] = (int)lround(stop[i][k] + f * (stop[i + 1][k] - stop[i][k]));
  snprintf(out, 8, "#%02x%02x%02x", rgb[0], rgb[1], rgb[2]);
}

/* ---- confusion heat map ---- */

static void svg_confusion(sbuf *b, const mgc_metrics *m, int standalone) {
  const int n = m->n_classes;
  const double cell = clampd(440.0 / n, 18, 48);
  const double side = n * cell;
  const double namew = longest_name(m) * FONT * CHAR_W + 10;
  const double L = namew + 30, T = 64;
  const double bar_x = L + side + 60, bar_h = clampd(side, 80, 240);
  double W = bar_x + 64;
  if (W < 400) W = 400; /* room for the title when there are few classes */
  const double H = T + side + namew * 0.72 + 36;
  const double cfs = clampd(cell * 0.36, 7, FONT);
  char col[8], buf[64];

  svg_open(b, standalone, W, H, "Confusion matrix of tracks");
  svg_title(b, 10, 22, "Confusion matrix (tracks)");
  svg_text(b, 10, 38, "start", 0, 11, "#666",
           "rows: true class; shade: share of the row; outlined: correct", 0);
  svg_text(b, 14, T + side / 2, "middle", -90, FONT, "#444", "true class", 0);
  svg_text(b, L + side / 2, H - 12, "middle", 0, FONT, "#444", "predicted class", 0);
  svg_text(b, L + side + 22, T - 10, "middle", 0, 10, "#666", "tracks", 0);
  for (int r = 0; r < n; r++) {
    int row = 0;
    for (int c = 0; c < n; c++) row += m->confusion[r * n + c];
    double y = T + (r + 0.5) * cell;
    svg_text(b, L - 6, y, "end", 0, FONT, NULL, m->classes[r], NAME_MAX_CP);
    snprintf(buf, sizeof buf, "%d", row);
    svg_text(b, L + side + 22, y, "middle", 0, 10, "#666", buf, 0);
    for (int c = 0; c < n; c++) {
      int v = m->confusion[r * n + c];
      double share = row ? (double)v / row : 0;
      blues(share, col);
      double x = L + c * cell;
      sb_printf(b,
                "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\" "
                "stroke=\"%s\" stroke-width=\"%s\"><title>true ",
                x, T + r * cell, cell, cell, col, r == c ? "#333333" : "#ffffff",
                r == c ? "1.2" : "1");
      sb_esc(b, m->classes[r]);
      sb_puts(b, ", predicted ");
      sb_esc(b, m->classes[c]);
      sb_printf(b, ": %d of %d (%.0f%%)</title></rect>\n", v, row, 100 * share);
      snprintf(buf, sizeof buf, "%d", v);
      svg_text(b, x + cell / 2, y, "middle", 0, cfs,
               share > 0.5 ? "#ffffff" : v ? "#08306b" : "#b8c4d0", buf, 0);
    }
  }
  for (int c = 0; c < n; c++)
    svg_text(b, L + (c + 0.5) * cell, T + side + 8, "end", -45, FONT, NULL, m->classes[c],
             NAME_MAX_CP);
  /* Colour bar: the same five stops as blues(), bottom 0 %, top 100 %. */
  sb_puts(b, "<defs><linearGradient id=\"mgc-cm-scale\" x1=\"0\" y1=\"1\" x2=\"0\" y2=\"0\">");
  for (int k = 0; k <= 4; k++) {
    blues(k / 4.0, col);
    sb_printf(b, "<stop offset=\"%.2f\" stop-color=\"%s\"/>", k / 4.0, col);
  }
  sb_puts(b, "</linearGradient></defs>\n");
  sb_printf(b,
            "<rect x=\"%.1f\" y=\"%.1f\" width=\"12\" height=\"%.1f\" fill=\"url(#mgc-cm-scale)\" "
            "stroke=\"#999999\"/>\n",
            bar_x, T, bar_h);
  for (int k = 0; k <= 2; k++) {
    double y = T + bar_h * (1 - k / 2.0);
    sb_printf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#999999\"/>\n",
              bar_x + 12, y, bar_x + 16, y);
    snprintf(buf, sizeof buf, "%d%%", 50 * k);
    svg_text(b, bar_x + 18, y, "start", 0, 10, "#444", buf, 0);
  }
  sb_puts(b, "</svg>\n");
}

/* ---- axes ---- */

/* Round step (1, 2 or 5 times a power of ten) giving about `want` ticks. */
static double nice_step(double span, int want) {
  double raw = span / want, p = pow(10, floor(log10(raw))), f = raw / p;
  return (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10) * p;
}

/* A vertical axis: gridlines and labels at every step from lo to hi. */
static void y_axis(sbuf *b, double x0, double y0, double w, double h, double lo, double hi,
                   double step, int log_scale) {
  char buf[32];
  for (double v = lo; v <= hi + step * 1e-6; v += step) {
    double y = y0 + h - (v - lo) / (hi - lo) * h;
    sb_printf(b,
              "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#e4e4e4\"/>"
              "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#555555\"/>\n",
              x0, y, x0 + w, y, x0 - 4, y, x0, y);
    if (log_scale)
      snprintf(buf, sizeof buf, "1e%d", (int)lround(v));
    else
      snprintf(buf, sizeof buf, "%g", fabs(v) < step * 1e-6 ? 0.0 : v);
    svg_text(b, x0 - 7, y, "end", 0, 10, "#444", buf, 0);
  }
  sb_printf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#555555\"/>\n", x0,
            y0, x0, y0 + h);
}

/* ---- per-class bars ---- */

static void svg_per_class(sbuf *b, const mgc_metrics *m, int standalone) {
  const int n = m->n_classes;
  const double gw = clampd(560.0 / n, 36, 84), bw = gw * 0.26;
  const int maxcp = longest_name(m);
  const int rotate = maxcp * FONT * CHAR_W > gw - 4;
  const double namew = maxcp * FONT * CHAR_W + 10;
  /* A rotated first label reaches left of its group by about 0.7 of its
   * length; the margin grows so that it is not cut off. */
  const double PL = rotate ? clampd(namew * 0.72 - gw / 2 + 8, 52, 400) : 52;
  const double PT = 62, PH = 220;
  double W = PL + n * gw + 24;
  if (W < 380) W = 380;
  const double H = PT + PH + (rotate ? namew * 0.72 + 22 : 30);
  static const char *const names[3] = {"precision", "recall", "F1"};
  const char *const cols[3] = {COL_P, COL_R, COL_F};

  svg_open(b, standalone, W, H, "Precision, recall and F1 per class");
  svg_title(b, 10, 22, "Per-class precision, recall and F1 (tracks)");
  for (int k = 0; k < 3; k++) {
    double x = PL + k * 96;
    sb_printf(b, "<rect x=\"%.1f\" y=\"36\" width=\"11\" height=\"11\" fill=\"%s\"/>\n", x,
              cols[k]);
    svg_text(b, x + 16, 41.5, "start", 0, FONT, NULL, names[k], 0);
  }
  y_axis(b, PL, PT, n * gw, PH, 0, 1, 0.2, 0);
  sb_printf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#555555\"/>\n", PL,
            PT + PH, PL + n * gw, PT + PH);
  for (int c = 0; c < n; c++) {
    const mgc_class_metrics *k = &m->per_class[c];
    const double v[3] = {k->precision, k->recall, k->f1};
    double x0 = PL + c * gw + (gw - 3 * bw) / 2;
    for (int j = 0; j < 3; j++) {
      double h = clampd(v[j], 0, 1) * PH;
      sb_printf(b,
                "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\"><title>",
                x0 + j * bw, PT + PH - h, bw - 1, h, cols[j]);
      sb_esc(b, m->classes[c]);
      sb_printf(b, ": %s %.3f (support %d)</title></rect>\n", names[j], v[j], k->support);
    }
    double cx = PL + (c + 0.5) * gw;
    if (rotate)
      svg_text(b, cx + 4, PT + PH + 8, "end", -45, FONT, NULL, m->classes[c], NAME_MAX_CP);
    else
      svg_text(b, cx, PT + PH + 14, "middle", 0, FONT, NULL, m->classes[c], NAME_MAX_CP);
  }
  sb_puts(b, "</svg>\n");
}

/* ---- reliability diagram ---- */

/* what: the title's subject (NULL: "Reliability (tracks)"). */
static void svg_reliability(sbuf *b, const mgc_metrics *m, int standalone, const char *what) {
  const double PL = 52, PT = 62, S = 240;
  const double W = PL + S + 150, H = PT + S + 46;
  char buf[160];
  svg_open(b, standalone, W, H, "Reliability diagram");
  snprintf(buf, sizeof buf, "%s: ECE %.3f", what ? what : "Reliability (tracks)", m->ece);
  svg_title(b, 10, 22, buf);
  y_axis(b, PL, PT, S, S, 0, 1, 0.2, 0);
  for (int k = 0; k <= 5; k++) {
    double x = PL + k * 0.2 * S;
    sb_printf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#555555\"/>\n",
              x, PT + S, x, PT + S + 4);
    snprintf(buf, sizeof buf, "%g", k * 0.2);
    svg_text(b, x, PT + S + 14, "middle", 0, 10, "#444", buf, 0);
  }
  sb_printf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#555555\"/>\n", PL,
            PT + S, PL + S, PT + S);
  /* Blue bar: accuracy of the bin; red mark across it: the bin's mean
   * confidence. The distance between the two is what ECE adds up. */
  for (int i = 0; i < MGC_ECE_BINS; i++) {
    const mgc_ece_bin *e = &m->ece_bins[i];
    if (!e->count) continue;
    double x = PL + e->lo * S, w = (e->hi - e->lo) * S;
    double ya = PT + S - e->accuracy * S;
    sb_printf(b,
              "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\" "
              "stroke=\"#ffffff\"><title>confidence %.2f-%.2f: %d tracks, accuracy %.3f, mean "
              "confidence %.3f</title></rect>\n",
              x, ya, w, PT + S - ya, COL_P, e->lo, e->hi, e->count, e->accuracy, e->confidence);
  }
  sb_printf(b,
            "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#888888\" "
            "stroke-dasharray=\"4 3\"/>\n",
            PL, PT + S, PL + S, PT);
  /* Marks and counts after every bar, so a taller neighbour cannot hide them. */
  for (int i = 0; i < MGC_ECE_BINS; i++) {
    const mgc_ece_bin *e = &m->ece_bins[i];
    if (!e->count) continue;
    double x = PL + e->lo * S, w = (e->hi - e->lo) * S;
    double ya = PT + S - e->accuracy * S, yc = PT + S - e->confidence * S;
    sb_printf(b,
              "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" "
              "stroke-width=\"3\"/>\n",
              x + 1, yc, x + w - 1, yc, COL_VAL);
    snprintf(buf, sizeof buf, "%d", e->count);
    svg_text(b, x + w / 2, (ya < yc ? ya : yc) - 8, "middle", 0, 8, "#555", buf, 0);
  }
  svg_text(b, PL + S / 2, H - 10, "middle", 0, FONT, "#444", "confidence", 0);
  svg_text(b, 14, PT + S / 2, "middle", -90, FONT, "#444", "accuracy", 0);
  /* Legend to the right of the plot. */
  double lx = PL + S + 16;
  sb_printf(b, "<rect x=\"%.1f\" y=\"%.1f\" width=\"11\" height=\"11\" fill=\"%s\"/>\n", lx, PT,
            COL_P);
  svg_text(b, lx + 16, PT + 5.5, "start", 0, 11, NULL, "accuracy", 0);
  sb_printf(b,
            "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" "
            "stroke-width=\"3\"/>\n",
            lx, PT + 25.5, lx + 11, PT + 25.5, COL_VAL);
  svg_text(b, lx + 16, PT + 25.5, "start", 0, 11, NULL, "mean confidence", 0);
  sb_printf(b,
            "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#888888\" "
            "stroke-dasharray=\"4 3\"/>\n",
            lx, PT + 45.5, lx + 11, PT + 45.5);
  svg_text(b, lx + 16, PT + 45.5, "start", 0, 11, NULL, "perfect calibration", 0);
  snprintf(buf, sizeof buf, "numbers: tracks per bin");
  svg_text(b, lx, PT + 65.5, "start", 0, 10, "#666", buf, 0);
  sb_puts(b, "</svg>\n");
}

/* ---- learning curves ---- */

/* val_track_acc (track-level validation accuracy) is optional: mgc-train
 * writes it, and it is the figure the model is finally judged on. */
enum { C_EPOCH, C_TL, C_TA, C_VL, C_VA, C_VT, C_LR, N_COLS };
static const char *const CURVE_COLS[N_COLS] = {"epoch",   "train_loss", "train_acc",    "val_loss",
                                               "val_acc", "val_track_acc", "lr"};

typedef struct curves {
  int n, cap;
  int has[N_COLS];
  double *v[N_COLS]; /* n values per column; NAN where missing */
} curves;

static void curves_free(curves *c) {
  for (int k = 0; k < N_COLS; k++) free(c->v[k]);
}

static char *trim(char *s) {
  while (*s == ' ' || *s == '\t') s++;
  size_t n = strlen(s);
  while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n'))
    s[--n] = 0;
  return s;
}

/* Split line at commas in place; returns the field count (at most cap). */
static int split_csv(char *line, char **f, int cap) {
  int n = 0;
  for (char *p = line;;) {
    char *c = strchr(p, ',');
    if (n < cap) f[n] = trim(p);
    n++;
    if (!c) break;
    *c = 0;
    p = c + 1;
  }
  return n;
}

/* Read the CSV. Returns MGC_OK with n == 0 and nothing set when the path is
 * NULL or does not exist. */
static mgc_status curves_read(const char *path, curves *cv) {
  memset(cv, 0, sizeof *cv);
  if (!path) return MGC_OK;
  FILE *f = fopen(path, "r");
  if (!f) {
    if (errno == ENOENT) return MGC_OK;
    return mgc_error_set(MGC_EIO, "%s: %s", path, strerror(errno));
  }
  enum { MAXF = 64 };
  char *line = NULL, *fld[MAXF];
  size_t lcap = 0;
  int idx[N_COLS], nhead = 0, lineno = 0;
  mgc_status st = MGC_OK;
  for (int k = 0; k < N_COLS; k++) idx[k] = -1;
  while (getline(&line, &lcap, f) >= 0) {
    lineno++;
    if (!*trim(line)) continue;
    int nf = split_csv(line, fld, MAXF);
    if (!nhead) {
      if (nf > MAXF) {
        st = mgc_error_set(MGC_EFORMAT, "%s:%d: %d columns; at most %d are read", path, lineno,
                           nf, MAXF);
        break;
      }
      nhead = nf;
      for (int i = 0; i < nf; i++)
        for (int k = 0; k < N_COLS; k++)
          if (!strcmp(fld[i], CURVE_COLS[k])) idx[k] = i;
      int any = 0;
      for (int k = C_TL; k <= C_VA; k++) any |= idx[k] >= 0;
      if (idx[C_EPOCH] < 0 || !any) {
        st = mgc_error_set(MGC_EFORMAT,
                           "%s:%d: not a learning-curve header (want "
                           "epoch,train_loss,train_acc,val_loss,val_acc,lr)",
                           path, lineno);
        break;
      }
      for (int k = 0; k < N_COLS; k++) cv->has[k] = idx[k] >= 0;
      continue;
    }
    if (nf != nhead) {
      st = mgc_error_set(MGC_EFORMAT, "%s:%d: %d fields, but the header has %d", path, lineno, nf,
                         nhead);
      break;
    }
    if (cv->n == cv->cap) {
      int cap = cv->cap ? 2 * cv->cap : 64;
      for (int k = 0; k < N_COLS; k++) {
        double *q = realloc(cv->v[k], (size_t)cap * sizeof *q);
        if (!q) {
          st = mgc_error_set(MGC_ENOMEM, "out of memory");
          break;
        }
        cv->v[k] = q;
      }
      if (st != MGC_OK) break;
      cv->cap = cap;
    }
    for (int k = 0; k < N_COLS; k++) {
      double x = NAN;
      if (idx[k] >= 0 && *fld[idx[k]]) {
        const char *txt = fld[idx[k]];
        char *end;
        x = strtod(txt, &end);
        if (*end) {
          st = mgc_error_set(MGC_EFORMAT, "%s:%d: %s '%s' is not a number", path, lineno,
                             CURVE_COLS[k], txt);
          break;
        }
        /* nan, inf (a run without validation, a diverged epoch): a gap. */
        if (!isfinite(x)) x = NAN;
      }
      cv->v[k][cv->n] = x;
    }
    if (st != MGC_OK) break;
    if (!isfinite(cv->v[C_EPOCH][cv->n])) {
      st = mgc_error_set(MGC_EFORMAT, "%s:%d: no epoch number", path, lineno);
      break;
    }
    cv->n++;
  }
  if (st == MGC_OK && ferror(f)) st = mgc_error_set(MGC_EIO, "%s: read error", path);
  if (st == MGC_OK && !nhead) st = mgc_error_set(MGC_EFORMAT, "%s: empty file", path);
  if (st == MGC_OK && !cv->n) st = mgc_error_set(MGC_EFORMAT, "%s: a header but no epochs", path);
  free(line);
  fclose(f);
  if (st != MGC_OK) {
    curves_free(cv);
    memset(cv, 0, sizeof *cv);
  }
  return st;
}

static int finite_range(const double *v, int n, double *lo, double *hi) {
  int any = 0;
  for (int i = 0; i < n; i++) {
    if (!isfinite(v[i])) continue;
    if (!any || v[i] < *lo) *lo = v[i];
    if (!any || v[i] > *hi) *hi = v[i];
    any = 1;
  }
  return any;
}

typedef struct series {
  int col;            /* column index, -1: none */
  const char *colour;
  const char *label;  /* NULL: no legend entry */
  int dashed;
} series;

/* One panel: up to three series against epochs. A log scale plots log10 of
 * the values (learning rates span decades). */
static void curve_panel(sbuf *b, const curves *cv, double x0, double y0, const char *title,
                        const series *sr, int ns, int log_scale, int best) {
  enum { MAXS = 3 };
  const double PW = 270, PH = 170;
  const double *ep = cv->v[C_EPOCH];
  const int n = cv->n;
  char buf[64];
  double *ys[MAXS] = {NULL, NULL, NULL};
  double lo = 0, hi = 0;
  int any = 0;
  if (ns > MAXS) ns = MAXS;
  for (int s = 0; s < ns; s++) {
    if (sr[s].col < 0 || !cv->has[sr[s].col]) continue;
    if (!(ys[s] = malloc((size_t)n * sizeof *ys[s]))) {
      b->oom = 1;
      break;
    }
    for (int i = 0; i < n; i++) {
      double v = cv->v[sr[s].col][i];
      ys[s][i] = log_scale ? (v > 0 ? log10(v) : NAN) : v;
    }
    double a = 0, z = 0;
    if (finite_range(ys[s], n, &a, &z)) {
      if (!any || a < lo) lo = a;
      if (!any || z > hi) hi = z;
      any = 1;
    }
  }
  svg_text(b, x0, y0 + 8, "start", 0, 13, NULL, title, 0);
  if (!any || b->oom) {
    svg_text(b, x0 + 46 + PW / 2, y0 + 40 + PH / 2, "middle", 0, FONT, "#888", "no values", 0);
    for (int s = 0; s < MAXS; s++) free(ys[s]);
    return;
  }
  const double px = x0 + 46, py = y0 + 40;
  double step;
  if (log_scale) {
    lo = floor(lo);
    hi = ceil(hi);
    if (hi <= lo) hi = lo + 1;
    step = hi - lo > 6 ? 2 : 1;
  } else {
    if (hi - lo < 1e-12) {
      double pad = fabs(lo) > 0 ? fabs(lo) * 0.1 : 0.5;
      lo -= pad;
      hi += pad;
    }
    step = nice_step(hi - lo, 5);
    lo = floor(lo / step + 1e-9) * step;
    hi = ceil(hi / step - 1e-9) * step;
  }
  double e0 = ep[0], e1 = ep[0];
  finite_range(ep, n, &e0, &e1);
  if (e1 <= e0) {
    e0 -= 1;
    e1 += 1;
  }
  double xstep = nice_step(e1 - e0, 6);
  if (xstep < 1) xstep = 1; /* epochs are whole numbers */
#define XP(e) (px + ((e) - e0) / (e1 - e0) * PW)
#define YP(v) (py + PH - ((v) - lo) / (hi - lo) * PH)
  y_axis(b, px, py, PW, PH, lo, hi, step, log_scale);
  sb_printf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#555555\"/>\n", px,
            py + PH, px + PW, py + PH);
  for (double e = ceil(e0 / xstep) * xstep; e <= e1 + 1e-9; e += xstep) {
    double x = XP(e);
    sb_printf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#555555\"/>\n",
              x, py + PH, x, py + PH + 4);
    snprintf(buf, sizeof buf, "%g", e);
    svg_text(b, x, py + PH + 14, "middle", 0, 10, "#444", buf, 0);
  }
  svg_text(b, px + PW / 2, py + PH + 30, "middle", 0, 11, "#444", "epoch", 0);
  if (best >= 0) {
    double x = XP(ep[best]);
    sb_printf(b,
              "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#999999\" "
              "stroke-dasharray=\"3 3\"><title>lowest validation loss: epoch %g</title></line>\n",
              x, py, x, py + PH, ep[best]);
    svg_text(b, x + 3, py + 6, "start", 0, 9, "#888", "best", 0);
  }
  double lx = px + 4;
  for (int s = 0; s < ns; s++) {
    if (!ys[s]) continue;
    const char *dash = sr[s].dashed ? " stroke-dasharray=\"5 3\"" : "";
    /* Polyline per run of finite points: a missing value is a gap, not a
     * line to zero. Dots as well while they stay apart, so a run of one
     * epoch is still visible. */
    int in_run = 0;
    for (int i = 0; i <= n; i++) {
      int ok = i < n && isfinite(ys[s][i]) && isfinite(ep[i]);
      if (ok && !in_run) {
        sb_printf(b, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"1.8\"%s points=\"",
                  sr[s].colour, dash);
        in_run = 1;
      }
      if (ok) sb_printf(b, "%.1f,%.1f ", XP(ep[i]), YP(ys[s][i]));
      if (!ok && in_run) {
        sb_puts(b, "\"/>\n");
        in_run = 0;
      }
    }
    if (n <= 40 && !sr[s].dashed)
      for (int i = 0; i < n; i++)
        if (isfinite(ys[s][i]))
          sb_printf(b, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"2.2\" fill=\"%s\"/>\n", XP(ep[i]),
                    YP(ys[s][i]), sr[s].colour);
    if (!sr[s].label) continue;
    sb_printf(b,
              "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" "
              "stroke-width=\"2\"%s/>\n",
              lx, y0 + 26, lx + 18, y0 + 26, sr[s].colour, dash);
    svg_text(b, lx + 22, y0 + 26, "start", 0, 11, NULL, sr[s].label, 0);
    lx += 34 + cp_count(sr[s].label) * 11 * CHAR_W;
  }
#undef XP
#undef YP
  for (int s = 0; s < MAXS; s++) free(ys[s]);
}

static void svg_curves(sbuf *b, const curves *cv, int standalone) {
  int best = -1;
  if (cv->has[C_VL])
    for (int i = 0; i < cv->n; i++)
      if (isfinite(cv->v[C_VL][i]) && (best < 0 || cv->v[C_VL][i] < cv->v[C_VL][best])) best = i;
  double lo = 0, hi = 0;
  int with_lr = cv->has[C_LR] && finite_range(cv->v[C_LR], cv->n, &lo, &hi);
  /* Learning rates that change by more than 10x read better in decades. */
  int lr_log = with_lr && lo > 0 && hi / lo > 10;
  const double PANEL = 340;
  const double W = PANEL * (with_lr ? 3 : 2) + 10, H = 300;
  svg_open(b, standalone, W, H, "Learning curves");
  svg_title(b, 10, 22, "Learning curves");
  const series loss[2] = {{C_TL, COL_TRAIN, "train", 0}, {C_VL, COL_VAL, "validation", 0}};
  const series acc[3] = {{C_TA, COL_TRAIN, "train", 0},
                         {C_VA, COL_VAL, "validation", 0},
                         {C_VT, COL_VAL, "val. tracks", 1}};
  const series lr[1] = {{C_LR, COL_TRAIN, NULL, 0}};
  curve_panel(b, cv, 10, 40, "loss", loss, 2, 0, best);
  curve_panel(b, cv, 10 + PANEL, 40, "accuracy", acc, 3, 0, best);
  if (with_lr) curve_panel(b, cv, 10 + 2 * PANEL, 40, "learning rate", lr, 1, lr_log, -1);
  sb_puts(b, "</svg>\n");
}

/* ---- HTML ---- */

static const char CSS[] =
    "body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,'DejaVu Sans',sans-serif;"
    "margin:2em auto;max-width:1120px;padding:0 1em;color:#222;background:#fff}"
    "h1{font-size:1.6em;margin-bottom:.2em}h2{font-size:1.2em;margin-top:2em;"
    "border-bottom:1px solid #ddd;padding-bottom:.2em}"
    ".sub{color:#666;margin-top:0}"
    "table{border-collapse:collapse;font-variant-numeric:tabular-nums;margin:.5em 0}"
    "th,td{padding:.25em .7em;border-bottom:1px solid #eee;text-align:right}"
    "th:first-child,td:first-child{text-align:left}"
    "thead th{border-bottom:2px solid #bbb}"
    "td.d{color:#888;font-size:.85em}td.bad{color:#b03030}tr.main td{font-weight:bold}"
    ".charts{display:flex;flex-wrap:wrap;gap:1.5em;align-items:flex-start}"
    "figure{margin:0}svg{max-width:100%;height:auto}"
    "pre{background:#f6f6f6;padding:.8em;overflow-x:auto;font-size:.85em}"
    "footer{margin-top:3em;color:#999;font-size:.8em}";

enum { F_TRACK, F_VOTE, F_WIN, F_TOP2, F_TOP3, F_MP, F_MR, F_MF1, F_ECE, N_FIG };
static const char *const FIG_NAME[N_FIG] = {
    "track accuracy (mean of window probabilities)",
    "track accuracy (majority vote)",
    "window accuracy",
    "top-2 accuracy",
    "top-3 accuracy",
    "macro precision",
    "macro recall",
    "macro F1",
    "expected calibration error (15 bins)"};

static double fig_value(const mgc_metrics *m, int k) {
  switch (k) {
  case F_TRACK: return m->track_acc;
  case F_VOTE: return m->track_acc_vote;
  case F_WIN: return m->window_acc;
  case F_TOP2: return m->top2;
  case F_TOP3: return m->top3;
  case F_MP: return m->macro_precision;
  case F_MR: return m->macro_recall;
  case F_MF1: return m->macro_f1;
  default: return m->ece;
  }
}

/* Accuracies read best as percentages; P/R/F1 and ECE as sklearn prints them. */
static void fig_cell(sbuf *b, int k, double v) {
  if (k <= F_TOP3)
    sb_printf(b, "<td>%.1f %%</td>", 100 * v);
  else
    sb_printf(b, "<td>%.3f</td>", v);
}

static void html_headline(sbuf *b, const mgc_metrics *m, const mgc_report_extra *ex, int nx) {
  sb_puts(b, "<table class=\"fig\"><thead><tr><th>figure</th><th>clean</th>");
  for (int i = 0; i < nx; i++) {
    sb_puts(b, "<th colspan=\"2\">");
    sb_esc(b, ex[i].label);
    sb_puts(b, "</th>");
  }
  sb_puts(b, "</tr></thead><tbody>\n");
  sb_printf(b, "<tr><td>tracks / windows</td><td>%d / %d</td>", m->n_tracks, m->n_windows);
  for (int i = 0; i < nx; i++)
    sb_printf(b, "<td>%d / %d</td><td></td>", ex[i].m->n_tracks, ex[i].m->n_windows);
  sb_puts(b, "</tr>\n");
  for (int k = 0; k < N_FIG; k++) {
    double v = fig_value(m, k);
    sb_puts(b, k == F_TRACK ? "<tr class=\"main\"><td>" : "<tr><td>");
    sb_puts(b, FIG_NAME[k]);
    sb_puts(b, "</td>");
    fig_cell(b, k, v);
    for (int i = 0; i < nx; i++) {
      double w = fig_value(ex[i].m, k), d = w - v;
      fig_cell(b, k, w);
      /* Higher is better for every figure but ECE; flag what got worse. */
      int worse = k == F_ECE ? d > 0.005 : d < -0.005;
      if (fabs(d) < 5e-4)
        sb_puts(b, "<td class=\"d\">\xC2\xB1" "0</td>");
      else if (k <= F_TOP3)
        sb_printf(b, "<td class=\"d%s\">%+.1f</td>", worse ? " bad" : "", 100 * d);
      else
        sb_printf(b, "<td class=\"d%s\">%+.3f</td>", worse ? " bad" : "", d);
    }
    sb_puts(b, "</tr>\n");
  }
  sb_puts(b, "</tbody></table>\n");
  if (nx)
    sb_puts(b, "<p class=\"sub\">Small grey numbers: change from the clean figure "
               "(accuracy in percentage points); red: worse.</p>\n");
}

static void html_per_class(sbuf *b, const mgc_metrics *m) {
  sb_puts(b, "<table><thead><tr><th>class</th><th>precision</th><th>recall</th><th>F1</th>"
             "<th>support</th><th>predicted</th></tr></thead><tbody>\n");
  for (int c = 0; c < m->n_classes; c++) {
    const mgc_class_metrics *k = &m->per_class[c];
    sb_puts(b, "<tr><td>");
    sb_esc(b, m->classes[c]);
    sb_printf(b, "</td><td>%.3f</td><td>%.3f</td><td>%.3f</td><td>%d</td><td>%d</td></tr>\n",
              k->precision, k->recall, k->f1, k->support, k->predicted);
  }
  sb_printf(b,
            "<tr><th>macro average (%d classes)</th><th>%.3f</th><th>%.3f</th><th>%.3f</th>"
            "<th>%d</th><th></th></tr>\n",
            m->n_macro_classes, m->macro_precision, m->macro_recall, m->macro_f1, m->n_tracks);
  sb_puts(b, "</tbody></table>\n");
}

/* Misclassified tracks, most confident first: those are the ones worth
 * listening to. */
static void html_errors(sbuf *b, const mgc_metrics *m) {
  int n = 0;
  for (int t = 0; t < m->n_tracks; t++) n += m->tracks[t].pred != m->tracks[t].label;
  if (!n) {
    sb_puts(b, "<p>None: every track is classified correctly.</p>\n");
    return;
  }
  int *idx = malloc((size_t)n * sizeof *idx);
  if (!idx) {
    b->oom = 1;
    return;
  }
  n = 0;
  for (int t = 0; t < m->n_tracks; t++)
    if (m->tracks[t].pred != m->tracks[t].label) idx[n++] = t;
  /* Insertion sort: stable, and the list is short. */
  for (int i = 1; i < n; i++) {
    int v = idx[i], j = i;
    while (j > 0 && m->tracks[idx[j - 1]].confidence < m->tracks[v].confidence) {
      idx[j] = idx[j - 1];
      j--;
    }
    idx[j] = v;
  }
  sb_printf(b, "<p>%d of %d tracks, most confident first.</p>\n", n, m->n_tracks);
  sb_puts(b, "<table><thead><tr><th>track</th><th>true</th><th>predicted</th>"
             "<th>confidence</th><th>vote</th><th>windows</th></tr></thead><tbody>\n");
  for (int i = 0; i < n; i++) {
    const mgc_track_result *r = &m->tracks[idx[i]];
    sb_puts(b, "<tr><td>");
    if (r->name)
      sb_esc(b, r->name);
    else
      sb_printf(b, "track %d", idx[i]);
    sb_puts(b, "</td><td>");
    sb_esc(b, m->classes[r->label]);
    sb_puts(b, "</td><td>");
    sb_esc(b, m->classes[r->pred]);
    sb_printf(b, "</td><td>%.3f</td><td>", r->confidence);
    sb_esc(b, m->classes[r->pred_vote]);
    sb_printf(b, "</td><td>%d</td></tr>\n", r->n_windows);
  }
  sb_puts(b, "</tbody></table>\n");
  free(idx);
}

static void html_page(sbuf *b, const char *title, const char *info, const mgc_metrics *m,
                      const curves *cv, const mgc_report_extra *ex, int nx) {
  sb_puts(b, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
             "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
             "<title>");
  sb_esc(b, title);
  sb_puts(b, " \xE2\x80\x94 mgc evaluation</title>\n<style>");
  sb_puts(b, CSS);
  sb_puts(b, "</style>\n</head>\n<body>\n<h1>");
  sb_esc(b, title);
  sb_printf(b,
            "</h1>\n<p class=\"sub\">%d tracks, %d windows, %d classes. A track's decision is "
            "the mean of its windows' probabilities, as the daemon makes it.</p>\n",
            m->n_tracks, m->n_windows, m->n_classes);
  sb_puts(b, "<h2>Headline figures</h2>\n");
  html_headline(b, m, ex, nx);
  sb_puts(b, "<h2>Confusion and calibration</h2>\n<div class=\"charts\">\n<figure>\n");
  svg_confusion(b, m, 0);
  sb_puts(b, "</figure>\n<figure>\n");
  svg_reliability(b, m, 0, NULL);
  sb_puts(b, "</figure>\n</div>\n<h2>Per class</h2>\n<figure>\n");
  svg_per_class(b, m, 0);
  sb_puts(b, "</figure>\n");
  html_per_class(b, m);
  if (cv->n) {
    sb_puts(b, "<h2 id=\"curves\">Learning curves</h2>\n<figure>\n");
    svg_curves(b, cv, 0);
    sb_puts(b, "</figure>\n");
  }
  sb_puts(b, "<h2>Misclassified tracks</h2>\n");
  html_errors(b, m);
  if (info) {
    sb_puts(b, "<h2>Model</h2>\n<pre>");
    sb_esc(b, info);
    sb_puts(b, "</pre>\n");
  }
  sb_puts(b, "<footer>Written by mgc. Charts are also in this folder as SVG files: "
             "confusion.svg, per_class.svg, reliability.svg");
  if (cv->n) sb_puts(b, ", curves.svg");
  sb_puts(b, ".</footer>\n</body>\n</html>\n");
}

/* ---- files ---- */

static mgc_status mkdir_p(const char *dir) {
  size_t n = strlen(dir);
  char *p = malloc(n + 1);
  if (!p) return mgc_error_set(MGC_ENOMEM, "out of memory");
  memcpy(p, dir, n + 1);
  for (size_t i = 1; i <= n; i++) {
    if (p[i] != '/' && p[i] != 0) continue;
    char c = p[i];
    p[i] = 0;
    if (mkdir(p, 0777) != 0 && errno != EEXIST) {
      mgc_status st = mgc_error_set(MGC_EIO, "cannot create directory %s: %s", p, strerror(errno));
      free(p);
      return st;
    }
    p[i] = c;
  }
  free(p);
  struct stat sb;
  if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode))
    return mgc_error_set(MGC_EIO, "%s is not a directory", dir);
  return MGC_OK;
}

/* Write through a temporary name and rename, so a reader never sees half a
 * page. */
static mgc_status write_file(const char *dir, const char *name, const sbuf *b) {
  char path[4096], tmp[4100];
  if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, name) >= sizeof path)
    return mgc_error_set(MGC_EINVAL, "report directory name is too long");
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  FILE *f = fopen(tmp, "w");
  if (!f) return mgc_error_set(MGC_EIO, "cannot write %s: %s", tmp, strerror(errno));
  size_t w = fwrite(b->p, 1, b->n, f);
  int bad = w != b->n || ferror(f);
  if (fclose(f) != 0) bad = 1;
  if (bad || rename(tmp, path) != 0) {
    int e = errno;
    unlink(tmp);
    return mgc_error_set(MGC_EIO, "cannot write %s: %s", path, strerror(e));
  }
  return MGC_OK;
}

mgc_status mgc_report_write(const char *dir, const char *title, const char *model_info,
                            const mgc_metrics *m, const char *curves_csv,
                            const mgc_report_extra *extras, int n_extras) {
  if (!dir || !*dir || !m) return mgc_error_set(MGC_EINVAL, "report: no directory or no figures");
  if (n_extras < 0 || (n_extras > 0 && !extras))
    return mgc_error_set(MGC_EINVAL, "report: bad list of extra conditions");
  for (int i = 0; i < n_extras; i++)
    if (!extras[i].label || !extras[i].m)
      return mgc_error_set(MGC_EINVAL, "report: extra condition %d has no label or no figures", i);
  if (!title) title = "mgc model";

  curves cv;
  mgc_status st = curves_read(curves_csv, &cv);
  if (st != MGC_OK) return mgc_error_prefix(st, "report: learning curves: ");

  enum { N_OUT = 5 };
  static const char *const names[N_OUT] = {"confusion.svg", "per_class.svg", "reliability.svg",
                                           "curves.svg", "index.html"};
  sbuf out[N_OUT];
  memset(out, 0, sizeof out);
  svg_confusion(&out[0], m, 1);
  svg_per_class(&out[1], m, 1);
  svg_reliability(&out[2], m, 1, NULL);
  if (cv.n) svg_curves(&out[3], &cv, 1);
  html_page(&out[4], title, model_info, m, &cv, extras, n_extras);
  curves_free(&cv);

  for (int i = 0; i < N_OUT && st == MGC_OK; i++)
    if (out[i].oom) st = mgc_error_set(MGC_ENOMEM, "report: out of memory");
  if (st == MGC_OK) st = mkdir_p(dir);
  for (int i = 0; i < N_OUT && st == MGC_OK; i++) {
    if (i == 3 && !out[i].n) {
      /* A curves.svg left by an earlier report would belong to another model. */
      char path[4096];
      snprintf(path, sizeof path, "%s/%s", dir, names[i]);
      if (unlink(path) != 0 && errno != ENOENT)
        st = mgc_error_set(MGC_EIO, "cannot remove the stale %s: %s", path, strerror(errno));
      continue;
    }
    st = write_file(dir, names[i], &out[i]);
  }
  for (int i = 0; i < N_OUT; i++) free(out[i].p);
  return st;
}

/* ---- an ensemble's table ---- */

static const char *const COL_MEMBER = "#4e79a7", *const COL_RULE = "#f28e2b",
                         *const COL_ORACLE = "#bab0ac";

static void svg_ensemble(sbuf *b, const mgc_ens_table *t, int standalone) {
  const double PL = 200, PW = 420, PT = 58, RH = 24, GAP = 12;
  const int n = t->n_rows;
  const double H = PT + n * RH + 2 * GAP + 44, W = PL + PW + 150;
  char buf[160];
  svg_open(b, standalone, W, H, "Track accuracy of each member and each combination rule");
  svg_title(b, 10, 22, "Members alone and combined: track accuracy, cross-validated");
  snprintf(buf, sizeof buf,
           "%d folds, %d tracks; bar = mean, whisker = +- 1 std, dots = folds", t->n_folds,
           t->n_tracks);
  svg_text(b, 10, 42, "start", 0, 11, "#555", buf, 0);
  /* x axis: 0..100 % */
  const double y_end = PT + n * RH + 2 * GAP;
  for (int v = 0; v <= 100; v += 20) {
    double x = PL + v / 100.0 * PW;
    sb_printf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#e4e4e4\"/>\n", x,
              PT - 4, x, y_end);
    snprintf(buf, sizeof buf, "%d %%", v);
    svg_text(b, x, y_end + 12, "middle", 0, 10, "#444", buf, 0);
  }
  for (int r = 0; r < n; r++) {
    const mgc_ens_row *row = &t->rows[r];
    int group = row->kind == MGC_ENS_ROW_MEMBER ? 0 : row->kind == MGC_ENS_ROW_RULE ? 1 : 2;
    double y = PT + r * RH + group * GAP, cy = y + RH / 2;
    int best = (row->kind == MGC_ENS_ROW_MEMBER && row->index == t->best_member) ||
               (row->kind == MGC_ENS_ROW_RULE && row->index == t->best_rule);
    const char *col = group == 0 ? COL_MEMBER : group == 1 ? COL_RULE : COL_ORACLE;
    snprintf(buf, sizeof buf, "%s%s", group == 0 ? "member " : group == 1 ? "rule " : "",
             row->name);
    sb_printf(b, "<text x=\"%.1f\" y=\"%.1f\" dy=\".35em\" text-anchor=\"end\"%s>", PL - 8, cy,
              best ? " font-weight=\"bold\"" : "");
    sb_esc_n(b, buf, 32);
    sb_puts(b, "</text>\n");
    double m = clampd(row->acc_mean, 0, 1), sd = isfinite(row->acc_std) ? row->acc_std : 0;
    sb_printf(b,
              "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\"%s><title>",
              PL, y + 4, m * PW, RH - 8, col, best ? " stroke=\"#222\" stroke-width=\"1.5\"" : "");
    sb_esc(b, row->name);
    sb_printf(b, ": %.1f %% +- %.1f</title></rect>\n", 100 * row->acc_mean, 100 * sd);
    double x0 = PL + clampd(row->acc_mean - sd, 0, 1) * PW, x1 = PL + clampd(row->acc_mean + sd, 0, 1) * PW;
    sb_printf(b,
              "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#222\"/>"
              "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#222\"/>"
              "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#222\"/>\n",
              x0, cy, x1, cy, x0, cy - 4, x0, cy + 4, x1, cy - 4, x1, cy + 4);
    for (int k = 0; k < t->n_folds; k++)
      if (isfinite(row->acc[k]))
        sb_printf(b, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"2.3\" fill=\"#222\" fill-opacity=\"0.55\"/>\n",
                  PL + clampd(row->acc[k], 0, 1) * PW, cy + (k - (t->n_folds - 1) / 2.0) * 1.2);
    snprintf(buf, sizeof buf, "%.1f %% +- %.1f", 100 * row->acc_mean, 100 * sd);
    sb_printf(b, "<text x=\"%.1f\" y=\"%.1f\" dy=\".35em\"%s>", PL + PW + 10, cy,
              best ? " font-weight=\"bold\"" : "");
    sb_esc(b, buf);
    sb_puts(b, "</text>\n");
  }
  sb_puts(b, "</svg>\n");
}

static void html_ensemble(sbuf *b, const mgc_ens_table *t, const sbuf *rel) {
  sb_puts(b, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
             "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>");
  sb_esc(b, t->origin);
  sb_puts(b, " \xE2\x80\x94 mgc ensemble</title>\n<style>");
  sb_puts(b, CSS);
  sb_puts(b, "</style>\n</head>\n<body>\n<h1>");
  sb_esc(b, t->origin);
  sb_printf(b,
            "</h1>\n<p class=\"sub\">%d members, %d-fold cross-validation, %d tracks, %d classes. "
            "Track level, out of fold: each track is decided by the fold models that never saw "
            "it; weighted and stack are fitted on the other folds' tracks only.</p>\n<figure>\n",
            t->n_members, t->n_folds, t->n_tracks, t->n_classes);
  svg_ensemble(b, t, 0);
  sb_puts(b, "</figure>\n<h2>Figures</h2>\n<table>\n<thead><tr><th></th><th>track accuracy</th>"
             "<th>macro F1</th><th>NLL</th><th>T</th><th>ECE before &rarr; after</th>");
  for (int k = 0; k < t->n_folds; k++) sb_printf(b, "<th>fold %d</th>", k + 1);
  sb_puts(b, "</tr></thead>\n<tbody>\n");
  for (int r = 0; r < t->n_rows; r++) {
    const mgc_ens_row *row = &t->rows[r];
    int best = (row->kind == MGC_ENS_ROW_MEMBER && row->index == t->best_member) ||
               (row->kind == MGC_ENS_ROW_RULE && row->index == t->best_rule);
    sb_printf(b, "<tr%s><td>%s", best ? " class=\"main\"" : "",
              row->kind == MGC_ENS_ROW_MEMBER ? "member " : row->kind == MGC_ENS_ROW_RULE ? "rule " : "");
    sb_esc(b, row->name);
    sb_printf(b, "</td><td>%.1f %% &plusmn; %.1f</td>", 100 * row->acc_mean, 100 * row->acc_std);
    if (isfinite(row->f1_mean))
      sb_printf(b, "<td>%.3f</td><td>%.3f</td><td>%.2f</td><td>%.3f &rarr; %.3f</td>",
                row->f1_mean, row->nll_mean, row->temp_mean, row->ece, row->ece_cal);
    else
      sb_puts(b, "<td class=\"d\">-</td><td class=\"d\">-</td><td class=\"d\">-</td>"
                 "<td class=\"d\">-</td>");
    for (int k = 0; k < t->n_folds; k++) sb_printf(b, "<td class=\"d\">%.0f %%</td>", 100 * row->acc[k]);
    sb_puts(b, "</tr>\n");
  }
  sb_puts(b, "</tbody>\n</table>\n");
  sb_puts(b, "<h2>Calibration</h2>\n<p class=\"sub\">Temperature scaling (T, mean over folds): "
             "each fold's tracks calibrated by the temperature fitted on the other folds'; ECE "
             "over all out-of-fold tracks. The best member and the best rule, before and after:"
             "</p>\n");
  for (int i = 0; i < 4; i++) {
    const char *svg = rel[i].p ? strstr(rel[i].p, "<svg") : NULL; /* inline: no XML prolog */
    if (!svg) continue;
    sb_puts(b, "<figure>");
    sb_puts(b, svg);
    sb_puts(b, "</figure>\n");
  }
  sb_puts(b, "<footer>Written by mgc-eval --ensemble --report. The charts are also in this folder "
             "(ensemble.svg, calibration-*.svg).</footer>\n</body>\n</html>\n");
}

/* Reliability diagrams of a row's out-of-fold tracks, before and after its
 * temperature, into rel[0] and rel[1]. */
static mgc_status row_reliability(const mgc_ens_table *t, const mgc_ens_row *row, sbuf *rel) {
  int *off = malloc(((size_t)t->n_tracks + 1) * sizeof *off);
  if (!off) return mgc_error_set(MGC_ENOMEM, "report: out of memory");
  for (int i = 0; i <= t->n_tracks; i++) off[i] = i;
  mgc_status st = MGC_OK;
  for (int j = 0; !st && j < 2; j++) {
    mgc_eval_input in = {t->n_classes, (const char *const *)t->classes, t->n_tracks, t->labels,
                         NULL, off, j ? row->oof_cal : row->oof};
    mgc_metrics *m;
    if ((st = mgc_metrics_compute(&in, &m))) break;
    char what[140];
    snprintf(what, sizeof what, "%s %s, %s", row->kind == MGC_ENS_ROW_MEMBER ? "member" : "rule",
             row->name, j ? "calibrated" : "as it is");
    svg_reliability(&rel[j], m, 1, what);
    mgc_metrics_free(m);
  }
  free(off);
  return st;
}

mgc_status mgc_report_write_ensemble(const char *dir, const mgc_ens_table *t) {
  if (!dir || !*dir || !t) return mgc_error_set(MGC_EINVAL, "report: no directory or no table");
  sbuf svg = {0}, html = {0}, rel[4] = {{0}};
  static const char *const rel_names[4] = {"calibration-member-before.svg",
                                           "calibration-member-after.svg",
                                           "calibration-rule-before.svg",
                                           "calibration-rule-after.svg"};
  svg_ensemble(&svg, t, 1);
  mgc_status st = row_reliability(t, &t->rows[t->best_member], rel);
  if (!st) st = row_reliability(t, &t->rows[t->n_members + t->best_rule], rel + 2);
  if (!st) html_ensemble(&html, t, rel);
  int oom = svg.oom || html.oom;
  for (int i = 0; i < 4; i++) oom |= rel[i].oom;
  if (!st && oom) st = mgc_error_set(MGC_ENOMEM, "report: out of memory");
  if (!st) st = mkdir_p(dir);
  if (!st) st = write_file(dir, "ensemble.svg", &svg);
  for (int i = 0; !st && i < 4; i++) st = write_file(dir, rel_names[i], &rel[i]);
  if (!st) st = write_file(dir, "index.html", &html);
  free(svg.p);
  free(html.p);
  for (int i = 0; i < 4; i++) free(rel[i].p);
  return st;
}
