/* Ensemble YAML (mgc_ensemble_parse, without loading the members: their
 * paths would name arbitrary files). */
#include "fuzz.h"
#include "mgc/ensemble/ensemble.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  mgc_ensemble *e = NULL;
  if (mgc_ensemble_parse((const char *)data, size, "fuzz.yaml", "", 0, &e) == MGC_OK) mgc_ensemble_free(e);
  return 0;
}
