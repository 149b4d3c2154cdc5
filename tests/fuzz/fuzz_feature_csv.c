/* The feature table CSV (mgc_feature_csv_load), with and without a fixed
 * class list (GTZAN's ten). */
#include "fuzz.h"
#include "mgc/train/feature_csv.h"

static const char *const gtzan[] = {"blues", "classical", "country", "disco", "hiphop",
                                    "jazz", "metal", "pop", "reggae", "rock"};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *path = fuzz_file(data, size, "features.csv");
  if (!path) return 0;
  mgc_feature_csv *t;
  if (mgc_feature_csv_load(path, NULL, 0, &t) == MGC_OK) mgc_feature_csv_free(t);
  if (mgc_feature_csv_load(path, gtzan, 10, &t) == MGC_OK) mgc_feature_csv_free(t);
  return 0;
}
