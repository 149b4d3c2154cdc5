/* The front-end JSON a model file carries (mgc_frontend_params_from_json). */
#include <stdlib.h>

#include "fuzz.h"
#include "mgc/dsp/params.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *text = fuzz_text(data, size);
  if (!text) return 0;
  mgc_frontend_params p;
  mgc_frontend_params_from_json(text, &p);
  free(text);
  return 0;
}
