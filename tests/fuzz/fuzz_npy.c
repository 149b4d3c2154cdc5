/* NumPy .npy files (mgc_npy_read): magic, version, header dict, shape and
 * the size the data must have. */
#include "fuzz.h"
#include "mgc/io/npy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *path = fuzz_file(data, size, "fuzz.npy");
  mgc_npy a;
  if (path && mgc_npy_read(path, &a) == MGC_OK) mgc_npy_free(&a);
  return 0;
}
