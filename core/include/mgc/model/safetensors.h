/* safetensors files: the container of mgc models, and of PyTorch state
 * dicts saved with safetensors.torch.save_file.
 *
 * Layout: 8-byte little-endian header length N, N bytes of UTF-8 JSON
 *   {"__metadata__": {"key": "value", ...},
 *    "<tensor>": {"dtype": "F32", "shape": [..], "data_offsets": [b, e]}, ...}
 * then the data buffer; offsets are relative to its start, data is
 * little-endian and C-ordered.
 *
 * The reader is strict (as the reference implementation): the tensors must
 * tile the buffer exactly, with no overlap, gap or trailing byte, and every
 * size must agree with its shape and dtype. Each refusal names the file and
 * what is wrong. */
#ifndef MGC_SAFETENSORS_H
#define MGC_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "mgc/util/error.h"

#define MGC_ST_MAX_DIMS 8
/* Headers above this are refused as corrupt (the reference's limit). */
#define MGC_ST_MAX_HEADER 100000000u

/* Every dtype of the format. Only the float ones convert to float32; the
 * others are parsed (so any file opens) but carried as raw bytes. */
typedef enum mgc_st_dtype {
  MGC_ST_BOOL, MGC_ST_U8, MGC_ST_I8, MGC_ST_F8_E5M2, MGC_ST_F8_E4M3,
  MGC_ST_I16, MGC_ST_U16, MGC_ST_F16, MGC_ST_BF16,
  MGC_ST_I32, MGC_ST_U32, MGC_ST_F32,
  MGC_ST_F64, MGC_ST_I64, MGC_ST_U64,
  MGC_ST_N_DTYPES
} mgc_st_dtype;

/* "F32", "BF16", ... */
const char *mgc_st_dtype_name(mgc_st_dtype t);
/* Bytes per element. */
size_t mgc_st_dtype_size(mgc_st_dtype t);
/* 1 for F32, F64, F16 and BF16: the dtypes mgc_st_to_f32 converts. */
int mgc_st_dtype_is_float(mgc_st_dtype t);

/* One tensor of a file that was read. `data` points into the file's buffer
 * and is not necessarily aligned: read it through mgc_st_to_f32 or memcpy. */
typedef struct mgc_st_tensor {
  const char *name;
  mgc_st_dtype dtype;
  int ndim;
  size_t shape[MGC_ST_MAX_DIMS];
  size_t count;                /* product(shape) */
  size_t begin, end;           /* byte offsets in the data buffer */
  const unsigned char *data;   /* end - begin bytes */
} mgc_st_tensor;

typedef struct mgc_st_file mgc_st_file;

/* Read and validate a whole file. */
mgc_status mgc_st_read(const char *path, mgc_st_file **out);
/* Validate a file held in memory (copied); `origin` names it in messages. */
mgc_status mgc_st_parse(const void *bytes, size_t len, const char *origin, mgc_st_file **out);
void mgc_st_free(mgc_st_file *f);

/* The name given to read/parse. */
const char *mgc_st_origin(const mgc_st_file *f);
/* Tensors in data order (ascending offsets). */
int mgc_st_n_tensors(const mgc_st_file *f);
const mgc_st_tensor *mgc_st_tensor_at(const mgc_st_file *f, int i);
/* NULL when the file has no tensor of that name. */
const mgc_st_tensor *mgc_st_find(const mgc_st_file *f, const char *name);

/* __metadata__ entries in file order; mgc_st_meta is NULL when absent. */
int mgc_st_n_meta(const mgc_st_file *f);
const char *mgc_st_meta_key(const mgc_st_file *f, int i);
const char *mgc_st_meta_value(const mgc_st_file *f, int i);
const char *mgc_st_meta(const mgc_st_file *f, const char *key);

/* Convert a float tensor (F32, F64, F16, BF16) to t->count floats in dst.
 * F64 values outside float range become +-inf, as a cast does; other dtypes
 * are refused. */
mgc_status mgc_st_to_f32(const mgc_st_tensor *t, float *dst);

/* ---- writing ------------------------------------------------------------ */

typedef struct mgc_st_meta_entry {
  const char *key, *value;     /* UTF-8 */
} mgc_st_meta_entry;

/* A tensor to write: `data` holds product(shape) elements of `dtype` in
 * little-endian C order (for F32, simply the floats). mgc models are all
 * F32; the other dtypes exist so state dicts and test files can be made. */
typedef struct mgc_st_entry {
  const char *name;
  mgc_st_dtype dtype;
  int ndim;
  size_t shape[MGC_ST_MAX_DIMS];
  const void *data;
} mgc_st_entry;

/* Write metadata and tensors, header keys and data in the order given, the
 * header padded with spaces to a multiple of 8 bytes. The file is written
 * to "<path>.tmp", synced and renamed, so `path` is either the old file or
 * the complete new one, never half a model. */
mgc_status mgc_st_write(const char *path, const mgc_st_meta_entry *meta, int n_meta,
                        const mgc_st_entry *tensors, int n_tensors);

#endif
