/* The layer interface of the neural-network engine.
 *
 * Tensors are batch-major float32: a batch of N samples of per-sample shape
 * (C, H, W) is N*C*H*W floats, sample after sample (NCHW). A conv1d map is
 * (C, L), a sequence is (T, F) with time first, a vector is (F).
 *
 * A layer is created from its spec (one YAML mapping of the architecture)
 * and its input shape; creation validates the options, infers the output
 * shape and initialises parameters as PyTorch does. Parameters carry
 * PyTorch's names and layouts ("3.weight" [out, in, kh, kw], GRU
 * "5.weight_ih_l0" [3H, in] ...), so a state dict maps one to one.
 *
 * Memory: the net owns every activation and gradient buffer. A layer may
 * keep caches between forward and backward (allocated in plan(), never in
 * forward/backward) and may ask for temporary scratch (workspace(), shared
 * by all layers of a net). */
#ifndef MGC_LAYER_H
#define MGC_LAYER_H

#include <stddef.h>
#include <stdint.h>

#include "mgc/util/error.h"
#include "mgc/nn/rng.h"

#define MGC_MAX_DIMS 4

/* Per-sample shape (the batch dimension is not part of it). */
typedef struct mgc_shape {
  int ndim;               /* 1..3 */
  int d[MGC_MAX_DIMS];
} mgc_shape;

size_t mgc_shape_size(const mgc_shape *s);
/* "[1, 128, 130]" into buf. */
const char *mgc_shape_str(const mgc_shape *s, char *buf, size_t cap);
mgc_shape mgc_shape_make(int ndim, int d0, int d1, int d2);

/* A named tensor of a layer. Trainable parameters have a gradient buffer of
 * the same size; buffers (batchnorm running statistics) have grad == NULL. */
typedef struct mgc_param {
  char name[96];
  int ndim;
  int shape[MGC_MAX_DIMS];
  size_t size;
  float *value;
  float *grad;
} mgc_param;

/* One option of a layer spec: a scalar or a flow list of up to 4 scalars,
 * kept as text with its position in the YAML file for error messages. */
#define MGC_SPEC_MAX_ITEMS 4
typedef struct mgc_spec_opt {
  char key[32];
  int n_items;            /* 1 for a scalar */
  int is_list;
  char item[MGC_SPEC_MAX_ITEMS][48];
  int line, col;          /* 1-based position of the value */
  int used;               /* set by the getters: unused keys are refused */
} mgc_spec_opt;

#define MGC_SPEC_MAX_OPTS 16
typedef struct mgc_layer_spec {
  char type[32];
  char name[64];          /* parameter prefix; the layer index by default */
  int index;              /* position in the layer list */
  int line, col;          /* position of the mapping */
  int n_opts;
  mgc_spec_opt opt[MGC_SPEC_MAX_OPTS];
  int n_classes;          /* value of "classes" for options that say so */
} mgc_layer_spec;

/* Option getters used by layer constructors. Each returns MGC_OK with *out
 * set (to def when the key is absent), or MGC_EINVAL with a message naming
 * the key and the reason. "int2" accepts a scalar (3 -> 3, 3) or a pair. */
mgc_status mgc_spec_int(mgc_layer_spec *s, const char *key, int def, int lo, int hi, int *out);
mgc_status mgc_spec_int2(mgc_layer_spec *s, const char *key, int def, int lo, int hi, int out[2]);
mgc_status mgc_spec_float(mgc_layer_spec *s, const char *key, double def, double lo, double hi,
                          double *out);
mgc_status mgc_spec_bool(mgc_layer_spec *s, const char *key, int def, int *out);
/* One of the '|'-separated words in `choices` ("sequence|last"); returns
 * its index in *out. */
mgc_status mgc_spec_choice(mgc_layer_spec *s, const char *key, const char *choices, int def,
                           int *out);
/* Position of the option `key` (or of the spec when absent). */
void mgc_spec_where(const mgc_layer_spec *s, const char *key, int *line, int *col);

typedef struct mgc_layer mgc_layer;

typedef struct mgc_layer_ops {
  const char *type;
  /* Floats of temporary scratch needed by forward/backward at this batch
   * size (shared by all layers; contents do not survive between calls).
   * NULL means none. */
  size_t (*workspace)(const mgc_layer *l, int batch, int training);
  /* Allocate caches kept from forward to backward for this batch size.
   * Called by the net outside any forward call. NULL means none. */
  mgc_status (*plan)(mgc_layer *l, int batch, int training);
  /* y = f(x) for `batch` samples. Must not allocate. `training` selects
   * batch statistics, dropout masks and caching for backward. */
  void (*forward)(mgc_layer *l, const float *x, float *y, int batch, int training, float *ws);
  /* Given dL/dy, write dL/dx into dx (skipped when dx is NULL) and
   * OVERWRITE every parameter's grad with dL/dparam. Called only after a
   * training forward on the same x. Must not allocate. */
  void (*backward)(mgc_layer *l, const float *x, const float *y, const float *dy, float *dx,
                   int batch, float *ws);
  /* Re-seed the layer's random stream (dropout). NULL if it has none. */
  void (*reseed)(mgc_layer *l, uint64_t seed);
  /* Free the layer's private state (params are freed by mgc_layer_free). */
  void (*destroy)(mgc_layer *l);

  /* Optional, inference plans only: this layer and the next one `next` run
   * as one step whose output is next's, bit for bit as the two forwards in
   * a row, without ever holding this layer's whole output (a conv whose
   * map is unfolded in bands feeding a pool: the pool eats each band).
   * fused_workspace returns the floats of scratch the step needs at this
   * batch size, 0 when the pair cannot be fused. NULL means never. */
  size_t (*fused_workspace)(const mgc_layer *l, const mgc_layer *next, int batch);
  void (*forward_fused)(mgc_layer *l, const mgc_layer *next, const float *x, float *y, int batch,
                        float *ws);
  /* Optional, for a layer whose output rows each read a window of input
   * rows (2-d pools), at inference, one sample at a time. window_rows:
   * the input rows [*y0, *y1) that output row oy reads. forward_rows:
   * output rows [oy0, oy1) into y (the sample's whole output) from input
   * rows held from row iy0 on: channel c's row iy at x + c*ld +
   * (iy - iy0)*width. */
  void (*window_rows)(const mgc_layer *l, int oy, int *y0, int *y1);
  void (*forward_rows)(const mgc_layer *l, const float *x, size_t ld, int iy0, int oy0, int oy1,
                       float *y);
} mgc_layer_ops;

struct mgc_layer {
  const mgc_layer_ops *ops;
  char name[64];
  mgc_shape in, out;
  int n_params;
  mgc_param *params;
  void *state;
};

/* Build a layer from its spec for input shape `in`; parameters are
 * initialised from rng. Unknown types and options are refused. */
mgc_status mgc_layer_new(mgc_layer_spec *spec, const mgc_shape *in, mgc_rng *rng,
                         mgc_layer **out);
void mgc_layer_free(mgc_layer *l);

/* Helpers for constructors: allocate the layer shell and its parameters.
 * mgc_layer_add_param allocates value (zeroed) and, if trainable, grad. */
mgc_status mgc_layer_alloc(const mgc_layer_ops *ops, const mgc_layer_spec *spec,
                           const mgc_shape *in, int max_params, mgc_layer **out);
mgc_status mgc_layer_add_param(mgc_layer *l, const char *suffix, int trainable, int ndim,
                               const int *shape, mgc_param **out);
/* Fill with U(-bound, bound), PyTorch's default for conv/linear/rnn. */
void mgc_param_uniform(mgc_param *p, mgc_rng *rng, float bound);
void mgc_param_fill(mgc_param *p, float v);

#endif
