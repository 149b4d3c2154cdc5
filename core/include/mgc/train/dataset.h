/* The dataset index of the trainer: which audio files, with which labels.
 *
 * Two sources: a folder tree <root>/<class>/<audio files>, or a list file
 * such as GTZAN's split lists ("genre/genre.000NN.wav" lines) resolved
 * against a data root. Missing list entries are skipped and counted, never
 * fatal, so a list written for the full GTZAN works on any subset of it.
 * Nothing here decodes audio: a file that exists but cannot be decoded is
 * found (and skipped) by the feature cache's caller. */
#ifndef MGC_DATASET_H
#define MGC_DATASET_H

#include <stdint.h>

#include "mgc/util/error.h"

typedef struct mgc_track {
  char *path;  /* as opened: <root>/<name>, or the .au/.wav sibling a list line resolved to */
  char *name;  /* relative id, e.g. "blues/blues.00000.wav" (list entries keep the list's spelling) */
  int label;   /* index into classes */
} mgc_track;

typedef struct mgc_dataset {
  int n_tracks;
  mgc_track *tracks;
  int n_classes;
  char **classes;  /* class names; label i is classes[i] */
  int n_skipped;
  char **skipped;  /* one message per skipped entry ("list:line: name: not found under root") */
} mgc_dataset;

/* Index <root>/<class>/<files>: classes are the sorted (bytewise) sub-directory
 * names, hidden ones ignored; files sorted, audio recognised by extension (wav
 * au aif aiff flac ogg oga opus mp3, any case), hidden and other files ignored.
 * A class directory without audio, or a root without classes, is an error naming it. */
mgc_status mgc_dataset_scan(const char *root, mgc_dataset **out);

/* Index a list file: one "class/file" per line (blank lines and '#' comments
 * ignored), resolved against root (NULL: the list's own directory); class is
 * the first path component. A missing .wav is looked for as .au and vice versa
 * (GTZAN ships .au, its lists say .wav); still missing, it is skipped with a
 * message. classes/n_classes (may be NULL/0) fix the class list and order, and
 * a line of another class is an error with list:line; otherwise the classes are
 * the sorted set named in the list (skipped lines included, so the set does not
 * depend on which files are present). Tracks keep the list's order. Errors: a
 * malformed or duplicate line, an empty list, or no entry found at all (a
 * wrong root, said as such rather than an empty dataset). */
mgc_status mgc_dataset_from_list(const char *list_path, const char *root, const char *const *classes,
                                 int n_classes, mgc_dataset **out);

/* The tracks idx[0..n) of d (in that order), with d's classes; no skipped entries. */
mgc_status mgc_dataset_subset(const mgc_dataset *d, const int *idx, int n, mgc_dataset **out);

/* Keep only the tracks of d whose name appears in the list file (.wav and .au
 * spellings of a name match each other), in d's order, with d's classes. Used
 * to restrict the artist-filtered GTZAN lists to the clips of a scanned folder. */
mgc_status mgc_dataset_filter_list(const mgc_dataset *d, const char *list_path, mgc_dataset **out);

/* Stratified k-fold at track level: fold[i] in [0,k) for every track. Per
 * class, tracks are shuffled with the seed and dealt round robin (continuing
 * across classes), so per-class counts per fold differ by at most 1 and so do
 * fold sizes. k must be in [2, n_tracks]. */
mgc_status mgc_dataset_folds(const mgc_dataset *d, int k, uint64_t seed, int *fold);

/* Relabel d onto the classes of a model (classes[0..n_classes), names
 * compared exactly): each track's label becomes the index of its class's
 * name there, and d's class list becomes a copy of classes, so a folder of
 * 3 genres is evaluated by a 10-class model with the model's indices (its
 * answers stay over all 10). Refuses, leaving d as it was, any class of d
 * that classes lacks, naming every such class and listing classes (e.g.
 * "the data's classes 'electronic', 'folk' are not among the model's 10:
 * blues, ..."). */
mgc_status mgc_dataset_map_classes(mgc_dataset *d, const char *const *classes, int n_classes);

/* Free d and every string it holds (NULL is fine). */
void mgc_dataset_free(mgc_dataset *d);

#endif
