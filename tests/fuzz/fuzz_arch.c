/* Architecture YAML (mgc_arch_parse): what a downloaded model carries. */
#include "fuzz.h"
#include "mgc/model/arch.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  mgc_arch *a = NULL;
  if (mgc_arch_parse((const char *)data, size, "fuzz.yaml", &a) == MGC_OK) mgc_arch_free(a);
  return 0;
}
