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
 *
 * Parsing checks the syntax and the keys; shape inference happens when a
 * net is built from it (mgc_net_new). Errors say file:line:column. */
#ifndef MGC_ARCH_H
#define MGC_ARCH_H

#include <stddef.h>

#include "mgc/error.h"
#include "mgc/layer.h"

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
} mgc_arch;

mgc_status mgc_arch_load(const char *path, mgc_arch **out);
/* Parse YAML text; `origin` names it in error messages. */
mgc_status mgc_arch_parse(const char *text, size_t len, const char *origin, mgc_arch **out);
void mgc_arch_free(mgc_arch *a);

#endif
