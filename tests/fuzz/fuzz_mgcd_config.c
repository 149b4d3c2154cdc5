/* mgcd.yaml (mgc_config_parse). */
#include <stdlib.h>

#include "config.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *text = fuzz_text(data, size);
  if (!text) return 0;
  mgc_config c;
  mgc_config_default(&c, "model.safetensors");
  mgc_config_parse(text, "fuzz.yaml", "/nonexistent", &c);
  free(text);
  return 0;
}
