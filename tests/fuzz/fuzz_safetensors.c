/* The safetensors container (mgc_st_parse): header length, JSON header,
 * metadata and data offsets; every tensor that parses is converted. */
#include <stdlib.h>

#include "fuzz.h"
#include "mgc/model/safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  mgc_st_file *f;
  if (mgc_st_parse(data, size, "fuzz.safetensors", &f) != MGC_OK) return 0;
  for (int i = 0; i < mgc_st_n_meta(f); i++)
    (void)!(mgc_st_meta_key(f, i)[0] + mgc_st_meta_value(f, i)[0]);
  for (int i = 0; i < mgc_st_n_tensors(f); i++) {
    const mgc_st_tensor *t = mgc_st_tensor_at(f, i);
    if (!mgc_st_dtype_is_float(t->dtype) || t->count > (1u << 20)) continue;
    float *x = malloc((t->count ? t->count : 1) * sizeof *x);
    if (x) mgc_st_to_f32(t, x);
    free(x);
  }
  mgc_st_free(f);
  return 0;
}
