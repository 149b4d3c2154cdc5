/* The report module's own parts (mgc/report/report.h is its interface): a growable
 * text buffer with HTML/XML escaping (text.c), SVG charts (svg.c), learning
 * curves read from CSV and drawn (curves.c), the HTML page (html.c), the
 * files (report.c) and an ensemble's page (ensemble_report.c). Everything
 * is built in memory first, so a failure (a bad curves file, no memory)
 * leaves no half-written page behind. */
#ifndef MGC_REPORT_IMPL_H
#define MGC_REPORT_IMPL_H

#include <stddef.h>

#include "mgc/ensemble/ensemble.h"
#include "mgc/util/error.h"
#include "mgc/train/metrics.h"
#include "mgc/report/report.h"

/* ---- text ---- */

/* A growable string; oom is set (and later writes dropped) when memory runs out. */
typedef struct mgc_sbuf {
  char *p;
  size_t n, cap;
  int oom;
} mgc_sbuf;

void mgc_sb_put(mgc_sbuf *b, const char *s, size_t n);
void mgc_sb_puts(mgc_sbuf *b, const char *s);
void mgc_sb_printf(mgc_sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* s escaped for HTML and SVG text, bytes that are not UTF-8 replaced; cut
 * with an ellipsis after max_cp code points (0: whole). */
void mgc_sb_esc_n(mgc_sbuf *b, const char *s, int max_cp);
void mgc_sb_esc(mgc_sbuf *b, const char *s);
/* Code points of a UTF-8 string (invalid bytes count one each). */
int mgc_sb_cp_count(const char *s);

/* ---- SVG ---- */

#define FONT 12.0
/* Average advance of a sans-serif glyph, in font sizes: enough to reserve
 * room for labels without measuring text, which SVG cannot do ahead. */
#define CHAR_W 0.62
/* Longest class name drawn in full; longer ones end in an ellipsis (the
 * tooltip and the tables carry the whole name). */
#define NAME_MAX_CP 22
#define MGC_SVG_COL_P "#4e79a7"
#define MGC_SVG_COL_R "#f28e2b"
#define MGC_SVG_COL_F "#59a14f"
#define MGC_SVG_COL_TRAIN "#4e79a7"
#define MGC_SVG_COL_VAL "#e15759"

double mgc_svg_clamp(double v, double lo, double hi);
void mgc_svg_open(mgc_sbuf *b, int standalone, double w, double h, const char *label);
void mgc_svg_title(mgc_sbuf *b, double x, double y, const char *text);
void mgc_svg_text(mgc_sbuf *b, double x, double y, const char *anchor, double rot, double size, const char *fill,
                  const char *text, int max_cp);
double mgc_svg_nice_step(double span, int want);
void mgc_svg_y_axis(mgc_sbuf *b, double x0, double y0, double w, double h, double lo, double hi, double step,
                    int log_scale);
void mgc_svg_confusion(mgc_sbuf *b, const mgc_metrics *m, int standalone);
void mgc_svg_per_class(mgc_sbuf *b, const mgc_metrics *m, int standalone);
void mgc_svg_reliability(mgc_sbuf *b, const mgc_metrics *m, int standalone, const char *what);

/* ---- learning curves ---- */

/* val_track_acc (track-level validation accuracy) is optional: mgc-train
 * writes it, and it is the figure the model is finally judged on. */
enum { C_EPOCH, C_TL, C_TA, C_VL, C_VA, C_VT, C_LR, N_COLS };

typedef struct mgc_curves {
  int n, cap;
  int has[N_COLS];
  double *v[N_COLS]; /* n values per column; NAN where missing */
} mgc_curves;

mgc_status mgc_curves_read(const char *path, mgc_curves *cv);
void mgc_curves_free(mgc_curves *c);
void mgc_svg_curves(mgc_sbuf *b, const mgc_curves *cv, int standalone);

/* ---- HTML and files ---- */

extern const char mgc_report_css[];
void mgc_html_page(mgc_sbuf *b, const char *title, const char *info, const mgc_metrics *m, const mgc_curves *cv,
                   const mgc_report_extra *ex, int nx);
mgc_status mgc_report_write_file(const char *dir, const char *name, const mgc_sbuf *b);

#endif
