/* An mgc model: architecture + weights + everything needed to feed it the
 * numbers it was trained on (front-end parameters, per-band standardisation
 * statistics, class names) and a record of how it was made.
 *
 * On disk a model is one safetensors file (core/DESIGN.md has where it fits): every
 * tensor of the net, parameters and buffers, under its PyTorch name as F32,
 * and in __metadata__ (all strings):
 *   format       "mgc-model"          mgc_version  "1"
 *   architecture the YAML text        frontend     mgc_frontend_params JSON
 *   classes      JSON array of names
 *   norm_mean, norm_std  JSON arrays (%.9g: floats round-trip exactly)
 *   recipe, metrics      free text / JSON, only when set
 * The loader checks the tensor set against the architecture exactly and
 * refuses a mismatch with a message naming the tensor.
 *
 * Per-band standardisation: x' = (x - norm_mean[k]) / norm_std[k], where k
 * is the index along the input's band axis (mgc_model_band_axis):
 *   [C, H, W] (a spectrogram [1, n_mels, T])   -> H, the mel band
 *   [C, L] read by a conv1d/pool1d/batchnorm    -> C (a conv1d map)
 *   [T, F] otherwise (a sequence)               -> F
 *   [F] (a vector)                              -> F
 * norm_dim is 0 (no standardisation) or the size of that axis. */
#ifndef MGC_MODEL_H
#define MGC_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "mgc/model/arch.h"
#include "mgc/util/error.h"
#include "mgc/model/net.h"
#include "mgc/dsp/params.h"

#define MGC_MODEL_FORMAT "mgc-model"
#define MGC_MODEL_VERSION "1"

/* Every pointer is owned by the model and freed by mgc_model_free; set
 * strings and statistics with the setters below (or malloc'd copies). */
typedef struct mgc_model {
  mgc_arch *arch;
  mgc_net *net;
  int n_classes;
  char **classes;                 /* n_classes names */
  mgc_frontend_params frontend;
  int norm_dim;                   /* 0: no standardisation */
  float *norm_mean, *norm_std;    /* norm_dim values each */
  char *recipe;                   /* NULL when unset */
  char *metrics;                  /* NULL when unset */
  char *curves;                   /* learning curves (CSV text) of its training, or NULL */
  double temperature;             /* calibration of its track decision when it decides
                                     alone (mgc/util/temperature.h; an ensemble has its own);
                                     1: none; saved as metadata 'temperature' */
} mgc_model;

/* A freshly initialised model (weights from `seed`, as PyTorch initialises
 * them) of a copy of `arch`. Classes: `classes` (n_classes names) when
 * given; else "0".."n-1" with n = n_classes, or the architecture's
 * 'classes' when n_classes is 0. Default front-end, no standardisation. */
mgc_status mgc_model_new(const mgc_arch *arch, int n_classes, const char *const *classes,
                         uint64_t seed, mgc_model **out);

/* Write the model (atomically: a crash leaves the old file or the new). */
mgc_status mgc_model_save(const mgc_model *m, const char *path);

/* Read a model file; every refusal names the file and the reason. */
mgc_status mgc_model_load(const char *path, mgc_model **out);
/* The same from a file held in memory; `origin` names it in messages. */
mgc_status mgc_model_parse(const void *bytes, size_t len, const char *origin, mgc_model **out);

/* A model from an architecture file and a PyTorch state dict saved with
 * safetensors.torch.save_file(model.state_dict(), ...): tensors F32, F64,
 * F16 or BF16 (converted), '*.num_batches_tracked' ignored, the rest must
 * match the architecture exactly. classes as in mgc_model_new (seed 0). */
mgc_status mgc_model_import(const char *arch_path, const char *state_path,
                            const char *const *classes, int n_classes, mgc_model **out);

void mgc_model_free(mgc_model *m);

/* Replace the class names (count must equal the net's outputs; names must
 * be non-empty and distinct). */
mgc_status mgc_model_set_classes(mgc_model *m, int n, const char *const *classes);
/* The index of the class called name; -1 when the model has none. */
int mgc_model_class(const mgc_model *m, const char *name);
/* Set (dim > 0) or clear (dim == 0) the standardisation statistics; values
 * must be finite, std > 0, and dim must match the band axis. */
mgc_status mgc_model_set_norm(mgc_model *m, int dim, const float *mean, const float *std);
/* Set or clear (NULL) the recipe / metrics text. */
mgc_status mgc_model_set_recipe(mgc_model *m, const char *text);
mgc_status mgc_model_set_metrics(mgc_model *m, const char *text);
mgc_status mgc_model_set_curves(mgc_model *m, const char *csv);

/* Fine-tuning's start: copy into m every tensor of src with the same name
 * and shape (parameters and buffers), and take src's front-end and
 * standardisation statistics; the tensors of m that src lacks or has in
 * another shape (a new head) keep their fresh initialisation. *copied gets
 * the number copied; fresh (if not NULL) a comma-separated list of the
 * others, truncated to cap. Refuses when nothing matches (the wrong file). */
mgc_status mgc_model_init_from(mgc_model *m, const mgc_model *src, int *copied, char *fresh,
                               size_t cap);

/* Index of the band axis in the per-sample input shape (rule above). */
int mgc_model_band_axis(const mgc_arch *arch);
/* MGC_OK when norm_dim is 0 or equals the size of the band axis. */
mgc_status mgc_model_check_norm(const mgc_model *m);
/* y = standardised x for `batch` samples (y may equal x). Never allocates;
 * a copy when norm_dim is 0. Assumes mgc_model_check_norm passed. */
void mgc_model_standardize(const mgc_model *m, const float *x, float *y, int batch);

/* One window of t frames x f features, frame-major as the framer and the
 * window scheduler produce it, into the model's input layout x: [1, f, t]
 * (a map: bands on H, time on W) or [t, f] (a sequence); for the feature
 * "waveform" (frames of f consecutive samples) [1, t * f], the samples in
 * order as one channel. Not standardised:
 * mgc_session_run does that (or mgc_model_standardize). The one place where
 * windows become inputs, for training, evaluation and mgcd. MGC_EINVAL when
 * the window does not fit the input shape. Never allocates. */
mgc_status mgc_model_window_layout(const mgc_model *m, const float *win, int t, int f, float *x);

#endif
