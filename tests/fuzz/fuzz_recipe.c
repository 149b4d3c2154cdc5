/* Training recipe YAML (mgc_recipe_parse). */
#include <stdlib.h>

#include "fuzz.h"
#include "mgc/train/recipe.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *text = fuzz_text(data, size);
  if (!text) return 0;
  mgc_recipe *r = NULL;
  if (mgc_recipe_parse(text, "fuzz.yaml", "/nonexistent", &r) == MGC_OK) mgc_recipe_free(r);
  free(text);
  return 0;
}
