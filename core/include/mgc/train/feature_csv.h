/* The feature CSV (mgc_feature_csv) as training data: GTZAN's features_30_sec.csv,
 * one row per clip with its 57 handcrafted clip-level features, read as a
 * dataset whose every track is one frame of 57 values. The trainer, the
 * metrics, the reports and the model file then work on it unchanged, with
 * windows of 1 frame and a hop of 1 (conf/models/mlp.yaml takes the [57]
 * vector; mgc_model_window_layout accepts a 1-frame window for it).
 *
 * The CSV: a header line, then one row per clip. Columns are found by name,
 * in any order; extra columns (e.g. `length`) are ignored. Required:
 * `filename` (the track id, e.g. blues.00000.wav), `label` (its class) and
 * the 57 feature columns of mgc_clip_feature_name() (mgc/dsp/clip_features.h), stored in
 * that order (the table's own order, the one mgc_clip_features computes
 * from audio for mgcd). Fields may be double-quoted ("" for a quote).
 * CRLF line ends, a UTF-8 byte-order mark and blank lines are accepted.
 * Refused with file:line and the reason: a missing or repeated column, a row
 * with another number of fields than the header, an empty id or label, a
 * value that is not a finite number, a repeated id, a label outside a fixed
 * class list. */
#ifndef MGC_FEATURE_CSV_H
#define MGC_FEATURE_CSV_H

#include "mgc/train/corpus.h"
#include "mgc/train/dataset.h"
#include "mgc/util/error.h"
#include "mgc/dsp/clip_features.h"

typedef struct mgc_feature_csv {
  char *path;          /* as given, for messages */
  int n_rows;
  int n_features;      /* MGC_CLIP_DIM */
  float *x;            /* [n_rows][n_features] */
  char **ids;          /* the filename column */
  int *labels;         /* index into classes */
  int *lines;          /* line of each row in the file (1 = header) */
  int n_classes;
  char **classes;
} mgc_feature_csv;

/* Read a CSV. classes/n_classes (may be NULL/0) fix the class list and order
 * (a row of another label is an error); otherwise the classes are the sorted
 * (bytewise) set of labels, as for a folder or a list. */
mgc_status mgc_feature_csv_load(const char *path, const char *const *classes, int n_classes,
                          mgc_feature_csv **out);
void mgc_feature_csv_free(mgc_feature_csv *t);

/* Row of a track name: matched by basename ("blues/blues.00000.wav" finds
 * the row "blues.00000.wav"); a .wav and an .au name match each other (GTZAN
 * ships .au, its table and lists say .wav). -1 when there is none. */
int mgc_feature_csv_find(const mgc_feature_csv *t, const char *name);

/* Rows named by a list file such as GTZAN's split lists ("class/file" lines,
 * or bare file names; blank lines and '#' comments ignored), in the list's
 * order. An entry without a row is skipped and reported in `missing`
 * ("list:line: name: no row in CSV"), never fatal. Errors (list:line): an
 * entry whose class directory is not its row's label, an entry repeated, and
 * a list of which no entry has a row (the wrong table for it). */
typedef struct mgc_feature_csv_selection {
  int n;
  int *rows;
  int n_missing;
  char **missing;
} mgc_feature_csv_selection;
mgc_status mgc_feature_csv_select_list(const mgc_feature_csv *t, const char *list_path,
                                 mgc_feature_csv_selection **out);
void mgc_feature_csv_selection_free(mgc_feature_csv_selection *s);

/* The rows of every track of an audio dataset (rows[i] for ds->tracks[i]),
 * matched by basename as in mgc_feature_csv_find. A track without a row, or whose
 * row carries another class name, is an error naming both. */
mgc_status mgc_feature_csv_match_dataset(const mgc_feature_csv *t, const mgc_dataset *ds, int *rows);

/* Rows rows[0..n) as a dataset (track name = row id, path = "CSV:line",
 * the table's classes) and as a corpus of 1-frame tracks (feature values
 * copied; src[i] = i, i.e. the index in the dataset made from the same
 * rows), the two views mgc-train and mgc-eval work on. */
mgc_status mgc_feature_csv_dataset(const mgc_feature_csv *t, const int *rows, int n, mgc_dataset **out);
mgc_status mgc_feature_csv_corpus(const mgc_feature_csv *t, const int *rows, int n, mgc_corpus **out);

#endif
