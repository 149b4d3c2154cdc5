/* NumPy .npy files (format 1.0/2.0, little-endian float32, C order): the
 * exchange format for feature matrices and model inputs/outputs, so any
 * other implementation can be compared with mgc's numbers. */
#ifndef MGC_NPY_H
#define MGC_NPY_H

#include <stddef.h>

#include "mgc/util/error.h"

#define MGC_NPY_MAX_DIMS 8

typedef struct mgc_npy {
  float *data;                     /* product(shape) values, C order */
  int ndim;
  size_t shape[MGC_NPY_MAX_DIMS];
} mgc_npy;

/* Write a float32 array of the given shape. */
mgc_status mgc_npy_write(const char *path, const float *data, int ndim, const size_t *shape);

/* Read a float32 ('<f4') or float64 ('<f8', converted) C-order array. Any
 * other dtype, Fortran order, or a size that disagrees with the header is
 * refused with a message saying which. */
mgc_status mgc_npy_read(const char *path, mgc_npy *out);

size_t mgc_npy_count(const mgc_npy *a);

void mgc_npy_free(mgc_npy *a);

#endif
