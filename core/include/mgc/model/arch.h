/* Model architecture: the YAML description of a network (conf/models/).
 *
 *   name: crnn
 *   feature: logmel          # front-end output it reads (logmel, mfcc,
 *                            # chroma, waveform, table, ...)
 *   input: [1, 128, 130]     # per-sample shape, batch excluded
 *   classes: 10              # default size of any option written 'classes'
 *   layers:
 *     - {type: conv2d, out: 32, kernel: 3, padding: 1}
 *     - ...
 *     - {type: dense, out: classes}
 *     - {type: softmax}
 *   input_log: [rms_var, 3]  # optional: bands standardised as log(max(x, 1e-12))
 *                            # instead of x (band indices, or the table's
 *                            # column names when feature is table)
 *
 * Parsing checks the syntax and the keys; shape inference happens when a
 * net is built from it (mgc_net_new). Errors say file:line:column. */
#ifndef MGC_ARCH_H
#define MGC_ARCH_H

#include <stddef.h>

#include "mgc/util/error.h"
#include "mgc/nn/layer.h"

typedef struct mgc_arch {
  char origin[256];       /* file name, or a label for in-memory text */
  char name[64];
  char feature[32];
  char description[256];
  mgc_shape input;
  int input_line, input_col;
  int n_classes;          /* 0 when the file does not say */
  int n_layers;
  mgc_layer_spec *layers;
  char *text;             /* the YAML source, stored in model files */
  /* input_log: sorted, distinct band indices (along mgc_model_band_axis)
   * whose logarithm the model's standardisation uses instead of the value:
   * heavy-tailed positive features such as variances are closer to normal
   * in log. Part of the standardisation, so only applied with statistics. */
  int n_input_log;
  int *input_log;
} mgc_arch;

/* The floor under input_log's logarithm, so that a zero (silence) gives a
 * large negative number, not -inf. */
#define MGC_INPUT_LOG_FLOOR 1e-12f

/* Applies the architecture's input_log in place to n frames of dim values,
 * value k of a frame being band k (features as the front end gives them;
 * dim must be the band count). */
void mgc_arch_log_frames(const mgc_arch *a, float *x, size_t n, size_t dim);

mgc_status mgc_arch_load(const char *path, mgc_arch **out);
/* Parse YAML text; `origin` names it in error messages. */
mgc_status mgc_arch_parse(const char *text, size_t len, const char *origin, mgc_arch **out);
void mgc_arch_free(mgc_arch *a);

#endif
