/* The trainer's feature cache: decode, resample and run the daemon's
 * streaming framer once per (track, front-end, variant), and keep the
 * frames on disk so that later runs, folds and tools skip the decoding.
 *
 * A cache entry is <dir>/<16 hex>.npy, a float32 array [n_frames + 1][dim]:
 * the frames, frame-major, then one trailer row whose first value is the
 * chroma tuning used (NaN for other kinds) and the rest 0. The key hashes
 * everything the frames depend on, so a stale entry is never found rather
 * than found and checked: front-end JSON, kind, variant, canonical path,
 * file size and mtime (ns). */
#ifndef MGC_FEATCACHE_H
#define MGC_FEATCACHE_H

#include <stddef.h>

#include "mgc/util/error.h"
#include "mgc/dsp/features.h"
#include "mgc/dsp/params.h"

typedef struct mgc_featcache mgc_featcache;

/* Optional audio-level transform applied after decoding, before the framer
 * (speed change, pitch shift, noise). `in` is mono at `rate`; writes a
 * malloc'd signal (freed by the cache) into *out and its length into *n_out. */
typedef mgc_status (*mgc_audio_transform)(void *user, const float *in, size_t n, int rate, float **out,
                                          size_t *n_out);

/* A cache for front-end p (copied, validated) and feature kind. dir is
 * created with its parents if missing and must be writable; NULL disables
 * the disk cache (every get computes). */
mgc_status mgc_featcache_new(const char *dir, const mgc_frontend_params *p, mgc_feature_kind kind,
                             mgc_featcache **out);

/* Features of one audio file, frame-major [n_frames][dim], into *out (free
 * with mgc_feature_matrix_free). variant names the transform fn ("" or NULL
 * when none, e.g. "speed1.25") and is part of the key; a transform without a
 * variant name is refused, as its frames would pass for the plain ones. A
 * cache file that fails to read or has the wrong shape is recomputed and
 * replaced; a new entry is written atomically (temporary file + rename), so
 * readers never see half a file. Decoding failures name the file and leave
 * nothing in the cache. One featcache per thread, or external locking. */
mgc_status mgc_featcache_get(mgc_featcache *c, const char *audio_path, const char *variant, mgc_audio_transform fn,
                             void *user, mgc_feature_matrix *out);

/* Counters for the report: hits, misses (computed), bad cache files replaced.
 * Any pointer may be NULL. */
void mgc_featcache_stats(const mgc_featcache *c, long *hits, long *misses, long *replaced);

/* Free the cache object (the files stay). NULL is fine. */
void mgc_featcache_free(mgc_featcache *c);

/* The per-user cache directory mgc's tools use by default:
 * $XDG_CACHE_HOME/mgc, else $HOME/.cache/mgc, else ./.mgc-cache. */
void mgc_featcache_default_dir(char *buf, size_t cap);

#endif
