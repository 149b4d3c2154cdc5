/* An ensemble's side-by-side table as a page: mgc_report_write_ensemble. */
#include "report_impl.h"
#include "mgc/util/mkdirs.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- an ensemble's table ---- */

static const char *const COL_MEMBER = "#4e79a7", *const COL_RULE = "#f28e2b",
                         *const COL_ORACLE = "#bab0ac";

static void svg_ensemble(mgc_sbuf *b, const mgc_ens_scores *t, int standalone) {
  const double PL = 200, PW = 420, PT = 58, RH = 24, GAP = 12;
  const int n = t->n_rows;
  const double H = PT + n * RH + 2 * GAP + 44, W = PL + PW + 150;
  char buf[160];
  mgc_svg_open(b, standalone, W, H, "Track accuracy of each member and each combination rule");
  mgc_svg_title(b, 10, 22, "Members alone and combined: track accuracy, cross-validated");
  snprintf(buf, sizeof buf,
           "%d folds, %d tracks; bar = mean, whisker = +- 1 std, dots = folds", t->n_folds,
           t->n_tracks);
  mgc_svg_text(b, 10, 42, "start", 0, 11, "#555", buf, 0);
  /* x axis: 0..100 % */
  const double y_end = PT + n * RH + 2 * GAP;
  for (int v = 0; v <= 100; v += 20) {
    double x = PL + v / 100.0 * PW;
    mgc_sb_printf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#e4e4e4\"/>\n", x,
              PT - 4, x, y_end);
    snprintf(buf, sizeof buf, "%d %%", v);
    mgc_svg_text(b, x, y_end + 12, "middle", 0, 10, "#444", buf, 0);
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
    mgc_sb_printf(b, "<text x=\"%.1f\" y=\"%.1f\" dy=\".35em\" text-anchor=\"end\"%s>", PL - 8, cy,
              best ? " font-weight=\"bold\"" : "");
    mgc_sb_esc_n(b, buf, 32);
    mgc_sb_puts(b, "</text>\n");
    double m = mgc_svg_clamp(row->acc_mean, 0, 1), sd = isfinite(row->acc_std) ? row->acc_std : 0;
    mgc_sb_printf(b,
              "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\"%s><title>",
              PL, y + 4, m * PW, RH - 8, col, best ? " stroke=\"#222\" stroke-width=\"1.5\"" : "");
    mgc_sb_esc(b, row->name);
    mgc_sb_printf(b, ": %.1f %% +- %.1f</title></rect>\n", 100 * row->acc_mean, 100 * sd);
    double x0 = PL + mgc_svg_clamp(row->acc_mean - sd, 0, 1) * PW, x1 = PL + mgc_svg_clamp(row->acc_mean + sd, 0, 1) * PW;
    mgc_sb_printf(b,
              "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#222\"/>"
              "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#222\"/>"
              "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#222\"/>\n",
              x0, cy, x1, cy, x0, cy - 4, x0, cy + 4, x1, cy - 4, x1, cy + 4);
    for (int k = 0; k < t->n_folds; k++)
      if (isfinite(row->acc[k]))
        mgc_sb_printf(b, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"2.3\" fill=\"#222\" fill-opacity=\"0.55\"/>\n",
                  PL + mgc_svg_clamp(row->acc[k], 0, 1) * PW, cy + (k - (t->n_folds - 1) / 2.0) * 1.2);
    snprintf(buf, sizeof buf, "%.1f %% +- %.1f", 100 * row->acc_mean, 100 * sd);
    mgc_sb_printf(b, "<text x=\"%.1f\" y=\"%.1f\" dy=\".35em\"%s>", PL + PW + 10, cy,
              best ? " font-weight=\"bold\"" : "");
    mgc_sb_esc(b, buf);
    mgc_sb_puts(b, "</text>\n");
  }
  mgc_sb_puts(b, "</svg>\n");
}

static void html_ensemble(mgc_sbuf *b, const mgc_ens_scores *t, const mgc_sbuf *rel) {
  mgc_sb_puts(b, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
             "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>");
  mgc_sb_esc(b, t->origin);
  mgc_sb_puts(b, " \xE2\x80\x94 mgc ensemble</title>\n<style>");
  mgc_sb_puts(b, mgc_report_css);
  mgc_sb_puts(b, "</style>\n</head>\n<body>\n<h1>");
  mgc_sb_esc(b, t->origin);
  mgc_sb_printf(b,
            "</h1>\n<p class=\"sub\">%d members, %d-fold cross-validation, %d tracks, %d classes. "
            "Track level, out of fold: each track is decided by the fold models that never saw "
            "it; weighted and stack are fitted on the other folds' tracks only.</p>\n<figure>\n",
            t->n_members, t->n_folds, t->n_tracks, t->n_classes);
  svg_ensemble(b, t, 0);
  mgc_sb_puts(b, "</figure>\n<h2>Figures</h2>\n<table>\n<thead><tr><th></th><th>track accuracy</th>"
             "<th>macro F1</th><th>NLL</th><th>T</th><th>ECE before &rarr; after</th>");
  for (int k = 0; k < t->n_folds; k++) mgc_sb_printf(b, "<th>fold %d</th>", k + 1);
  mgc_sb_puts(b, "</tr></thead>\n<tbody>\n");
  for (int r = 0; r < t->n_rows; r++) {
    const mgc_ens_row *row = &t->rows[r];
    int best = (row->kind == MGC_ENS_ROW_MEMBER && row->index == t->best_member) ||
               (row->kind == MGC_ENS_ROW_RULE && row->index == t->best_rule);
    mgc_sb_printf(b, "<tr%s><td>%s", best ? " class=\"main\"" : "",
              row->kind == MGC_ENS_ROW_MEMBER ? "member " : row->kind == MGC_ENS_ROW_RULE ? "rule " : "");
    mgc_sb_esc(b, row->name);
    mgc_sb_printf(b, "</td><td>%.1f %% &plusmn; %.1f</td>", 100 * row->acc_mean, 100 * row->acc_std);
    if (isfinite(row->f1_mean))
      mgc_sb_printf(b, "<td>%.3f</td><td>%.3f</td><td>%.2f</td><td>%.3f &rarr; %.3f</td>",
                row->f1_mean, row->nll_mean, row->temp_mean, row->ece, row->ece_cal);
    else
      mgc_sb_puts(b, "<td class=\"d\">-</td><td class=\"d\">-</td><td class=\"d\">-</td>"
                 "<td class=\"d\">-</td>");
    for (int k = 0; k < t->n_folds; k++) mgc_sb_printf(b, "<td class=\"d\">%.0f %%</td>", 100 * row->acc[k]);
    mgc_sb_puts(b, "</tr>\n");
  }
  mgc_sb_puts(b, "</tbody>\n</table>\n");
  mgc_sb_puts(b, "<h2>Calibration</h2>\n<p class=\"sub\">Temperature scaling (T, mean over folds): "
             "each fold's tracks calibrated by the temperature fitted on the other folds'; ECE "
             "over all out-of-fold tracks. The best member and the best rule, before and after:"
             "</p>\n");
  for (int i = 0; i < 4; i++) {
    const char *svg = rel[i].p ? strstr(rel[i].p, "<svg") : NULL; /* inline: no XML prolog */
    if (!svg) continue;
    mgc_sb_puts(b, "<figure>");
    mgc_sb_puts(b, svg);
    mgc_sb_puts(b, "</figure>\n");
  }
  mgc_sb_puts(b, "<footer>Written by mgc-eval --ensemble --report. The charts are also in this folder "
             "(ensemble.svg, calibration-*.svg).</footer>\n</body>\n</html>\n");
}

/* Reliability diagrams of a row's out-of-fold tracks, before and after its
 * temperature, into rel[0] and rel[1]. */
static mgc_status row_reliability(const mgc_ens_scores *t, const mgc_ens_row *row, mgc_sbuf *rel) {
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
    mgc_svg_reliability(&rel[j], m, 1, what);
    mgc_metrics_free(m);
  }
  free(off);
  return st;
}

mgc_status mgc_report_write_ensemble(const char *dir, const mgc_ens_scores *t) {
  if (!dir || !*dir || !t) return mgc_error_set(MGC_EINVAL, "report: no directory or no table");
  mgc_sbuf svg = {0}, html = {0}, rel[4] = {{0}};
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
  if (!st) st = mgc_mkdirs(dir);
  if (!st) st = mgc_report_write_file(dir, "ensemble.svg", &svg);
  for (int i = 0; !st && i < 4; i++) st = mgc_report_write_file(dir, rel_names[i], &rel[i]);
  if (!st) st = mgc_report_write_file(dir, "index.html", &html);
  free(svg.p);
  free(html.p);
  for (int i = 0; i < 4; i++) free(rel[i].p);
  return st;
}
