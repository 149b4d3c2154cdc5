/* The evaluation report as pictures: a self-contained HTML page (inline CSS
 * and SVG, no script, no network reference) that any browser shows
 * offline, plus each chart as a standalone SVG file for slides and the
 * model card.
 *
 * Files written into DIR (created with its parents):
 *   index.html       headline figures (clean and any extra conditions side
 *                    by side), the charts, the per-class table, the
 *                    misclassified tracks, the model information
 *   confusion.svg    track-level confusion heat map, rows normalised
 *   per_class.svg    precision / recall / F1 bars per class
 *   reliability.svg  reliability diagram of the ECE bins
 *   curves.svg       loss, accuracy (and learning-rate) curves by epoch,
 *                    only when a learning-curve CSV is given; a stale copy
 *                    from an earlier report is removed otherwise
 * Numbers are printed with printf, so LC_NUMERIC must be "C" (the default;
 * no mgc program changes it). */
#ifndef MGC_REPORT_H
#define MGC_REPORT_H

#include "mgc/ensemble/ensemble.h"
#include "mgc/train/ensemble_eval.h"
#include "mgc/util/error.h"
#include "mgc/train/metrics.h"

/* Figures of the same test set under another condition, shown in the
 * headline table beside the clean ones, e.g. {"speed x1.25", &m_fast}. */
typedef struct mgc_report_extra {
  const char *label;
  const mgc_metrics *m;
} mgc_report_extra;

/* Write the report into dir. title: e.g. the model's name (NULL: "mgc
 * model"); model_info: free text shown in a <pre> (may be NULL);
 * curves_csv: learning-curve CSV with the header
 * "epoch,train_loss,train_acc,val_loss,val_acc,lr" (columns found by name,
 * any order, extra ones ignored; empty or "nan" fields are gaps): NULL or a
 * path that does not exist omits the curves, a file that exists but is
 * malformed is refused with file:line and nothing is written; extras:
 * n_extras other conditions (may be 0). Every text put into the page is
 * escaped, and bytes that are not UTF-8 are replaced. */
mgc_status mgc_report_write(const char *dir, const char *title, const char *model_info,
                            const mgc_metrics *m, const char *curves_csv,
                            const mgc_report_extra *extras, int n_extras);

/* An ensemble's side-by-side table (mgc_ensemble_evaluate) as a picture:
 * DIR/ensemble.svg, one bar per member, rule and the oracle (mean track
 * accuracy over the folds, a whisker of one standard deviation each side,
 * a dot per fold; the best member and rule in bold), and DIR/index.html
 * showing it above the table's numbers. */
mgc_status mgc_report_write_ensemble(const char *dir, const mgc_ens_scores *t);

#endif
