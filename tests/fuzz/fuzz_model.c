/* A model file (mgc_model_parse): the safetensors container, then its
 * metadata (format, version, classes, front end, normalisation, the
 * architecture YAML inside it) and the tensors the architecture expects. */
#include "fuzz.h"
#include "mgc/model/model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  mgc_model *m;
  if (mgc_model_parse(data, size, "fuzz.safetensors", &m) == MGC_OK) mgc_model_free(m);
  return 0;
}
