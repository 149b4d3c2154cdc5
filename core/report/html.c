/* The report's HTML page for one model. */
#include "report_impl.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- HTML ---- */

const char mgc_report_css[] =
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
static void fig_cell(mgc_sbuf *b, int k, double v) {
  if (k <= F_TOP3)
    mgc_sb_printf(b, "<td>%.1f %%</td>", 100 * v);
  else
    mgc_sb_printf(b, "<td>%.3f</td>", v);
}

static void html_headline(mgc_sbuf *b, const mgc_metrics *m, const mgc_report_extra *ex, int nx) {
  mgc_sb_puts(b, "<table class=\"fig\"><thead><tr><th>figure</th><th>clean</th>");
  for (int i = 0; i < nx; i++) {
    mgc_sb_puts(b, "<th colspan=\"2\">");
    mgc_sb_esc(b, ex[i].label);
    mgc_sb_puts(b, "</th>");
  }
  mgc_sb_puts(b, "</tr></thead><tbody>\n");
  mgc_sb_printf(b, "<tr><td>tracks / windows</td><td>%d / %d</td>", m->n_tracks, m->n_windows);
  for (int i = 0; i < nx; i++)
    mgc_sb_printf(b, "<td>%d / %d</td><td></td>", ex[i].m->n_tracks, ex[i].m->n_windows);
  mgc_sb_puts(b, "</tr>\n");
  for (int k = 0; k < N_FIG; k++) {
    double v = fig_value(m, k);
    mgc_sb_puts(b, k == F_TRACK ? "<tr class=\"main\"><td>" : "<tr><td>");
    mgc_sb_puts(b, FIG_NAME[k]);
    mgc_sb_puts(b, "</td>");
    fig_cell(b, k, v);
    for (int i = 0; i < nx; i++) {
      double w = fig_value(ex[i].m, k), d = w - v;
      fig_cell(b, k, w);
      /* Higher is better for every figure but ECE; flag what got worse. */
      int worse = k == F_ECE ? d > 0.005 : d < -0.005;
      if (fabs(d) < 5e-4)
        mgc_sb_puts(b, "<td class=\"d\">\xC2\xB1" "0</td>");
      else if (k <= F_TOP3)
        mgc_sb_printf(b, "<td class=\"d%s\">%+.1f</td>", worse ? " bad" : "", 100 * d);
      else
        mgc_sb_printf(b, "<td class=\"d%s\">%+.3f</td>", worse ? " bad" : "", d);
    }
    mgc_sb_puts(b, "</tr>\n");
  }
  mgc_sb_puts(b, "</tbody></table>\n");
  if (nx)
    mgc_sb_puts(b, "<p class=\"sub\">Small grey numbers: change from the clean figure "
               "(accuracy in percentage points); red: worse.</p>\n");
}

static void html_per_class(mgc_sbuf *b, const mgc_metrics *m) {
  mgc_sb_puts(b, "<table><thead><tr><th>class</th><th>precision</th><th>recall</th><th>F1</th>"
             "<th>support</th><th>predicted</th></tr></thead><tbody>\n");
  for (int c = 0; c < m->n_classes; c++) {
    const mgc_class_metrics *k = &m->per_class[c];
    mgc_sb_puts(b, "<tr><td>");
    mgc_sb_esc(b, m->classes[c]);
    mgc_sb_printf(b, "</td><td>%.3f</td><td>%.3f</td><td>%.3f</td><td>%d</td><td>%d</td></tr>\n",
              k->precision, k->recall, k->f1, k->support, k->predicted);
  }
  mgc_sb_printf(b,
            "<tr><th>macro average (%d classes)</th><th>%.3f</th><th>%.3f</th><th>%.3f</th>"
            "<th>%d</th><th></th></tr>\n",
            m->n_macro_classes, m->macro_precision, m->macro_recall, m->macro_f1, m->n_tracks);
  mgc_sb_puts(b, "</tbody></table>\n");
}

/* Misclassified tracks, most confident first: those are the ones worth
 * listening to. */
static void html_errors(mgc_sbuf *b, const mgc_metrics *m) {
  int n = 0;
  for (int t = 0; t < m->n_tracks; t++) n += m->tracks[t].pred != m->tracks[t].label;
  if (!n) {
    mgc_sb_puts(b, "<p>None: every track is classified correctly.</p>\n");
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
  mgc_sb_printf(b, "<p>%d of %d tracks, most confident first.</p>\n", n, m->n_tracks);
  mgc_sb_puts(b, "<table><thead><tr><th>track</th><th>true</th><th>predicted</th>"
             "<th>confidence</th><th>vote</th><th>windows</th></tr></thead><tbody>\n");
  for (int i = 0; i < n; i++) {
    const mgc_track_result *r = &m->tracks[idx[i]];
    mgc_sb_puts(b, "<tr><td>");
    if (r->name)
      mgc_sb_esc(b, r->name);
    else
      mgc_sb_printf(b, "track %d", idx[i]);
    mgc_sb_puts(b, "</td><td>");
    mgc_sb_esc(b, m->classes[r->label]);
    mgc_sb_puts(b, "</td><td>");
    mgc_sb_esc(b, m->classes[r->pred]);
    mgc_sb_printf(b, "</td><td>%.3f</td><td>", r->confidence);
    mgc_sb_esc(b, m->classes[r->pred_vote]);
    mgc_sb_printf(b, "</td><td>%d</td></tr>\n", r->n_windows);
  }
  mgc_sb_puts(b, "</tbody></table>\n");
  free(idx);
}

void mgc_html_page(mgc_sbuf *b, const char *title, const char *info, const mgc_metrics *m,
                      const mgc_curves *cv, const mgc_report_extra *ex, int nx) {
  mgc_sb_puts(b, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
             "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
             "<title>");
  mgc_sb_esc(b, title);
  mgc_sb_puts(b, " \xE2\x80\x94 mgc evaluation</title>\n<style>");
  mgc_sb_puts(b, mgc_report_css);
  mgc_sb_puts(b, "</style>\n</head>\n<body>\n<h1>");
  mgc_sb_esc(b, title);
  mgc_sb_printf(b,
            "</h1>\n<p class=\"sub\">%d tracks, %d windows, %d classes. A track's decision is "
            "the mean of its windows' probabilities, as the daemon makes it.</p>\n",
            m->n_tracks, m->n_windows, m->n_classes);
  mgc_sb_puts(b, "<h2>Headline figures</h2>\n");
  html_headline(b, m, ex, nx);
  mgc_sb_puts(b, "<h2>Confusion and calibration</h2>\n<div class=\"charts\">\n<figure>\n");
  mgc_svg_confusion(b, m, 0);
  mgc_sb_puts(b, "</figure>\n<figure>\n");
  mgc_svg_reliability(b, m, 0, NULL);
  mgc_sb_puts(b, "</figure>\n</div>\n<h2>Per class</h2>\n<figure>\n");
  mgc_svg_per_class(b, m, 0);
  mgc_sb_puts(b, "</figure>\n");
  html_per_class(b, m);
  if (cv->n) {
    mgc_sb_puts(b, "<h2 id=\"curves\">Learning curves</h2>\n<figure>\n");
    mgc_svg_curves(b, cv, 0);
    mgc_sb_puts(b, "</figure>\n");
  }
  mgc_sb_puts(b, "<h2>Misclassified tracks</h2>\n");
  html_errors(b, m);
  if (info) {
    mgc_sb_puts(b, "<h2>Model</h2>\n<pre>");
    mgc_sb_esc(b, info);
    mgc_sb_puts(b, "</pre>\n");
  }
  mgc_sb_puts(b, "<footer>Written by mgc. Charts are also in this folder as SVG files: "
             "confusion.svg, per_class.svg, reliability.svg");
  if (cv->n) mgc_sb_puts(b, ", curves.svg");
  mgc_sb_puts(b, ".</footer>\n</body>\n</html>\n");
}
