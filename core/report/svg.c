/* The report's SVG: helpers and the charts of one model's metrics. */
#include "report_impl.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

double mgc_svg_clamp(double v, double lo, double hi) { return v < lo ? lo : v > hi ? hi : v; }

static int longest_name(const mgc_metrics *m) {
  int w = 1;
  for (int c = 0; c < m->n_classes; c++) {
    int k = mgc_sb_cp_count(m->classes[c]);
    if (k > w) w = k;
  }
  return w > NAME_MAX_CP ? NAME_MAX_CP : w;
}

/* The namespace attribute is what a standalone file needs to be read as
 * SVG; inside HTML5 the parser supplies it, and leaving it out keeps the
 * page free of anything that looks like a URL. */
void mgc_svg_open(mgc_sbuf *b, int standalone, double w, double h, const char *label) {
  if (standalone) mgc_sb_puts(b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
  mgc_sb_printf(b, "<svg %sviewBox=\"0 0 %.0f %.0f\" width=\"%.0f\" height=\"%.0f\" role=\"img\" "
               "font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\" font-size=\"%.0f\" "
               "aria-label=\"",
            standalone ? "xmlns=\"http://www.w3.org/2000/svg\" " : "", w, h, w, h, FONT);
  mgc_sb_esc(b, label);
  mgc_sb_puts(b, "\">\n");
  mgc_sb_printf(b, "<rect x=\"0\" y=\"0\" width=\"%.0f\" height=\"%.0f\" fill=\"#ffffff\"/>\n", w, h);
}

void mgc_svg_title(mgc_sbuf *b, double x, double y, const char *text) {
  mgc_sb_printf(b, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"14\" font-weight=\"bold\">", x, y);
  mgc_sb_esc(b, text);
  mgc_sb_puts(b, "</text>\n");
}

/* A text element; anchor "start" / "middle" / "end"; rotation in degrees
 * about the anchor point (0: none). The .35em shift centres the glyphs on
 * y, which dominant-baseline would too but not in every renderer. */
void mgc_svg_text(mgc_sbuf *b, double x, double y, const char *anchor, double rot, double size,
                     const char *fill, const char *text, int max_cp) {
  mgc_sb_printf(b, "<text x=\"%.1f\" y=\"%.1f\" dy=\".35em\" text-anchor=\"%s\"", x, y, anchor);
  if (rot != 0) mgc_sb_printf(b, " transform=\"rotate(%.0f %.1f %.1f)\"", rot, x, y);
  if (size != FONT) mgc_sb_printf(b, " font-size=\"%.1f\"", size);
  if (fill) mgc_sb_printf(b, " fill=\"%s\"", fill);
  mgc_sb_puts(b, ">");
  mgc_sb_esc_n(b, text, max_cp);
  mgc_sb_puts(b, "</text>\n");
}

/* Sequential blue scale (ColorBrewer "Blues" stops), v in [0, 1]. */
static void blues(double v, char out[8]) {
  static const unsigned char stop[5][3] = {
      {0xf7, 0xfb, 0xff}, {0xc6, 0xdb, 0xef}, {0x6b, 0xae, 0xd6}, {0x21, 0x71, 0xb5},
      {0x08, 0x30, 0x6b}};
  v = mgc_svg_clamp(v, 0, 1) * 4;
  int i = (int)v;
  if (i > 3) i = 3;
  double f = v - i;
  int rgb[3];
  for (int k = 0; k < 3; k++) rgb[k] = (int)lround(stop[i][k] + f * (stop[i + 1][k] - stop[i][k]));
  snprintf(out, 8, "#%02x%02x%02x", rgb[0], rgb[1], rgb[2]);
}

/* ---- confusion heat map ---- */

void mgc_svg_confusion(mgc_sbuf *b, const mgc_metrics *m, int standalone) {
  const int n = m->n_classes;
  const double cell = mgc_svg_clamp(440.0 / n, 18, 48);
  const double side = n * cell;
  const double namew = longest_name(m) * FONT * CHAR_W + 10;
  const double L = namew + 30, T = 64;
  const double bar_x = L + side + 60, bar_h = mgc_svg_clamp(side, 80, 240);
  double W = bar_x + 64;
  if (W < 400) W = 400; /* room for the title when there are few classes */
  const double H = T + side + namew * 0.72 + 36;
  const double cfs = mgc_svg_clamp(cell * 0.36, 7, FONT);
  char col[8], buf[64];

  mgc_svg_open(b, standalone, W, H, "Confusion matrix of tracks");
  mgc_svg_title(b, 10, 22, "Confusion matrix (tracks)");
  mgc_svg_text(b, 10, 38, "start", 0, 11, "#666",
           "rows: true class; shade: share of the row; outlined: correct", 0);
  mgc_svg_text(b, 14, T + side / 2, "middle", -90, FONT, "#444", "true class", 0);
  mgc_svg_text(b, L + side / 2, H - 12, "middle", 0, FONT, "#444", "predicted class", 0);
  mgc_svg_text(b, L + side + 22, T - 10, "middle", 0, 10, "#666", "tracks", 0);
  for (int r = 0; r < n; r++) {
    int row = 0;
    for (int c = 0; c < n; c++) row += m->confusion[r * n + c];
    double y = T + (r + 0.5) * cell;
    mgc_svg_text(b, L - 6, y, "end", 0, FONT, NULL, m->classes[r], NAME_MAX_CP);
    snprintf(buf, sizeof buf, "%d", row);
    mgc_svg_text(b, L + side + 22, y, "middle", 0, 10, "#666", buf, 0);
    for (int c = 0; c < n; c++) {
      int v = m->confusion[r * n + c];
      double share = row ? (double)v / row : 0;
      blues(share, col);
      double x = L + c * cell;
      mgc_sb_printf(b,
                "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\" "
                "stroke=\"%s\" stroke-width=\"%s\"><title>true ",
                x, T + r * cell, cell, cell, col, r == c ? "#333333" : "#ffffff",
                r == c ? "1.2" : "1");
      mgc_sb_esc(b, m->classes[r]);
      mgc_sb_puts(b, ", predicted ");
      mgc_sb_esc(b, m->classes[c]);
      mgc_sb_printf(b, ": %d of %d (%.0f%%)</title></rect>\n", v, row, 100 * share);
      snprintf(buf, sizeof buf, "%d", v);
      mgc_svg_text(b, x + cell / 2, y, "middle", 0, cfs,
               share > 0.5 ? "#ffffff" : v ? "#08306b" : "#b8c4d0", buf, 0);
    }
  }
  for (int c = 0; c < n; c++)
    mgc_svg_text(b, L + (c + 0.5) * cell, T + side + 8, "end", -45, FONT, NULL, m->classes[c],
             NAME_MAX_CP);
  /* Colour bar: the same five stops as blues(), bottom 0 %, top 100 %. */
  mgc_sb_puts(b, "<defs><linearGradient id=\"mgc-cm-scale\" x1=\"0\" y1=\"1\" x2=\"0\" y2=\"0\">");
  for (int k = 0; k <= 4; k++) {
    blues(k / 4.0, col);
    mgc_sb_printf(b, "<stop offset=\"%.2f\" stop-color=\"%s\"/>", k / 4.0, col);
  }
  mgc_sb_puts(b, "</linearGradient></defs>\n");
  mgc_sb_printf(b,
            "<rect x=\"%.1f\" y=\"%.1f\" width=\"12\" height=\"%.1f\" fill=\"url(#mgc-cm-scale)\" "
            "stroke=\"#999999\"/>\n",
            bar_x, T, bar_h);
  for (int k = 0; k <= 2; k++) {
    double y = T + bar_h * (1 - k / 2.0);
    mgc_sb_printf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#999999\"/>\n",
              bar_x + 12, y, bar_x + 16, y);
    snprintf(buf, sizeof buf, "%d%%", 50 * k);
    mgc_svg_text(b, bar_x + 18, y, "start", 0, 10, "#444", buf, 0);
  }
  mgc_sb_puts(b, "</svg>\n");
}

/* ---- axes ---- */

/* Round step (1, 2 or 5 times a power of ten) giving about `want` ticks. */
double mgc_svg_nice_step(double span, int want) {
  double raw = span / want, p = pow(10, floor(log10(raw))), f = raw / p;
  return (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10) * p;
}

/* A vertical axis: gridlines and labels at every step from lo to hi. */
void mgc_svg_y_axis(mgc_sbuf *b, double x0, double y0, double w, double h, double lo, double hi,
                   double step, int log_scale) {
  char buf[32];
  for (double v = lo; v <= hi + step * 1e-6; v += step) {
    double y = y0 + h - (v - lo) / (hi - lo) * h;
    mgc_sb_printf(b,
              "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#e4e4e4\"/>"
              "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#555555\"/>\n",
              x0, y, x0 + w, y, x0 - 4, y, x0, y);
    if (log_scale)
      snprintf(buf, sizeof buf, "1e%d", (int)lround(v));
    else
      snprintf(buf, sizeof buf, "%g", fabs(v) < step * 1e-6 ? 0.0 : v);
    mgc_svg_text(b, x0 - 7, y, "end", 0, 10, "#444", buf, 0);
  }
  mgc_sb_printf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#555555\"/>\n", x0,
            y0, x0, y0 + h);
}

/* ---- per-class bars ---- */

void mgc_svg_per_class(mgc_sbuf *b, const mgc_metrics *m, int standalone) {
  const int n = m->n_classes;
  const double gw = mgc_svg_clamp(560.0 / n, 36, 84), bw = gw * 0.26;
  const int maxcp = longest_name(m);
  const int rotate = maxcp * FONT * CHAR_W > gw - 4;
  const double namew = maxcp * FONT * CHAR_W + 10;
  /* A rotated first label reaches left of its group by about 0.7 of its
   * length; the margin grows so that it is not cut off. */
  const double PL = rotate ? mgc_svg_clamp(namew * 0.72 - gw / 2 + 8, 52, 400) : 52;
  const double PT = 62, PH = 220;
  double W = PL + n * gw + 24;
  if (W < 380) W = 380;
  const double H = PT + PH + (rotate ? namew * 0.72 + 22 : 30);
  static const char *const names[3] = {"precision", "recall", "F1"};
  const char *const cols[3] = {MGC_SVG_COL_P, MGC_SVG_COL_R, MGC_SVG_COL_F};

  mgc_svg_open(b, standalone, W, H, "Precision, recall and F1 per class");
  mgc_svg_title(b, 10, 22, "Per-class precision, recall and F1 (tracks)");
  for (int k = 0; k < 3; k++) {
    double x = PL + k * 96;
    mgc_sb_printf(b, "<rect x=\"%.1f\" y=\"36\" width=\"11\" height=\"11\" fill=\"%s\"/>\n", x,
              cols[k]);
    mgc_svg_text(b, x + 16, 41.5, "start", 0, FONT, NULL, names[k], 0);
  }
  mgc_svg_y_axis(b, PL, PT, n * gw, PH, 0, 1, 0.2, 0);
  mgc_sb_printf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#555555\"/>\n", PL,
            PT + PH, PL + n * gw, PT + PH);
  for (int c = 0; c < n; c++) {
    const mgc_class_metrics *k = &m->per_class[c];
    const double v[3] = {k->precision, k->recall, k->f1};
    double x0 = PL + c * gw + (gw - 3 * bw) / 2;
    for (int j = 0; j < 3; j++) {
      double h = mgc_svg_clamp(v[j], 0, 1) * PH;
      mgc_sb_printf(b,
                "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\"><title>",
                x0 + j * bw, PT + PH - h, bw - 1, h, cols[j]);
      mgc_sb_esc(b, m->classes[c]);
      mgc_sb_printf(b, ": %s %.3f (support %d)</title></rect>\n", names[j], v[j], k->support);
    }
    double cx = PL + (c + 0.5) * gw;
    if (rotate)
      mgc_svg_text(b, cx + 4, PT + PH + 8, "end", -45, FONT, NULL, m->classes[c], NAME_MAX_CP);
    else
      mgc_svg_text(b, cx, PT + PH + 14, "middle", 0, FONT, NULL, m->classes[c], NAME_MAX_CP);
  }
  mgc_sb_puts(b, "</svg>\n");
}

/* ---- reliability diagram ---- */

/* what: the title's subject (NULL: "Reliability (tracks)"). */
void mgc_svg_reliability(mgc_sbuf *b, const mgc_metrics *m, int standalone, const char *what) {
  const double PL = 52, PT = 62, S = 240;
  const double W = PL + S + 150, H = PT + S + 46;
  char buf[160];
  mgc_svg_open(b, standalone, W, H, "Reliability diagram");
  snprintf(buf, sizeof buf, "%s: ECE %.3f", what ? what : "Reliability (tracks)", m->ece);
  mgc_svg_title(b, 10, 22, buf);
  mgc_svg_y_axis(b, PL, PT, S, S, 0, 1, 0.2, 0);
  for (int k = 0; k <= 5; k++) {
    double x = PL + k * 0.2 * S;
    mgc_sb_printf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#555555\"/>\n",
              x, PT + S, x, PT + S + 4);
    snprintf(buf, sizeof buf, "%g", k * 0.2);
    mgc_svg_text(b, x, PT + S + 14, "middle", 0, 10, "#444", buf, 0);
  }
  mgc_sb_printf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#555555\"/>\n", PL,
            PT + S, PL + S, PT + S);
  /* Blue bar: accuracy of the bin; red mark across it: the bin's mean
   * confidence. The distance between the two is what ECE adds up. */
  for (int i = 0; i < MGC_ECE_BINS; i++) {
    const mgc_ece_bin *e = &m->ece_bins[i];
    if (!e->count) continue;
    double x = PL + e->lo * S, w = (e->hi - e->lo) * S;
    double ya = PT + S - e->accuracy * S;
    mgc_sb_printf(b,
              "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\" "
              "stroke=\"#ffffff\"><title>confidence %.2f-%.2f: %d tracks, accuracy %.3f, mean "
              "confidence %.3f</title></rect>\n",
              x, ya, w, PT + S - ya, MGC_SVG_COL_P, e->lo, e->hi, e->count, e->accuracy, e->confidence);
  }
  mgc_sb_printf(b,
            "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#888888\" "
            "stroke-dasharray=\"4 3\"/>\n",
            PL, PT + S, PL + S, PT);
  /* Marks and counts after every bar, so a taller neighbour cannot hide them. */
  for (int i = 0; i < MGC_ECE_BINS; i++) {
    const mgc_ece_bin *e = &m->ece_bins[i];
    if (!e->count) continue;
    double x = PL + e->lo * S, w = (e->hi - e->lo) * S;
    double ya = PT + S - e->accuracy * S, yc = PT + S - e->confidence * S;
    mgc_sb_printf(b,
              "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" "
              "stroke-width=\"3\"/>\n",
              x + 1, yc, x + w - 1, yc, MGC_SVG_COL_VAL);
    snprintf(buf, sizeof buf, "%d", e->count);
    mgc_svg_text(b, x + w / 2, (ya < yc ? ya : yc) - 8, "middle", 0, 8, "#555", buf, 0);
  }
  mgc_svg_text(b, PL + S / 2, H - 10, "middle", 0, FONT, "#444", "confidence", 0);
  mgc_svg_text(b, 14, PT + S / 2, "middle", -90, FONT, "#444", "accuracy", 0);
  /* Legend to the right of the plot. */
  double lx = PL + S + 16;
  mgc_sb_printf(b, "<rect x=\"%.1f\" y=\"%.1f\" width=\"11\" height=\"11\" fill=\"%s\"/>\n", lx, PT,
            MGC_SVG_COL_P);
  mgc_svg_text(b, lx + 16, PT + 5.5, "start", 0, 11, NULL, "accuracy", 0);
  mgc_sb_printf(b,
            "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" "
            "stroke-width=\"3\"/>\n",
            lx, PT + 25.5, lx + 11, PT + 25.5, MGC_SVG_COL_VAL);
  mgc_svg_text(b, lx + 16, PT + 25.5, "start", 0, 11, NULL, "mean confidence", 0);
  mgc_sb_printf(b,
            "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#888888\" "
            "stroke-dasharray=\"4 3\"/>\n",
            lx, PT + 45.5, lx + 11, PT + 45.5);
  mgc_svg_text(b, lx + 16, PT + 45.5, "start", 0, 11, NULL, "perfect calibration", 0);
  snprintf(buf, sizeof buf, "numbers: tracks per bin");
  mgc_svg_text(b, lx, PT + 65.5, "start", 0, 10, "#666", buf, 0);
  mgc_sb_puts(b, "</svg>\n");
}
