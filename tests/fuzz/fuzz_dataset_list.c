/* Dataset list files: mgc_dataset_from_list (free classes, and GTZAN's ten
 * fixed) and mgc_dataset_filter_list, against a root holding three tracks
 * (empty files: nothing here decodes audio). */
#include <stddef.h>

#include "fuzz.h"
#include "mgc/train/dataset.h"

static const char *const gtzan[] = {"blues", "classical", "country", "disco", "hiphop",
                                    "jazz", "metal", "pop", "reggae", "rock"};
static mgc_dataset *scanned;

static void make_root(void) {
  static const char *const tracks[] = {"blues/blues.00000.wav", "blues/blues.00001.au",
                                       "jazz/jazz.00042.wav"};
  for (int i = 0; i < 3; i++) fuzz_file((const uint8_t *)"", 0, tracks[i]);
  mgc_dataset_scan(fuzz_dir(), &scanned);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (!scanned) make_root();
  const char *list = fuzz_file(data, size, "list.txt");
  if (!list) return 0;
  mgc_dataset *d;
  if (mgc_dataset_from_list(list, fuzz_dir(), NULL, 0, &d) == MGC_OK) mgc_dataset_free(d);
  if (mgc_dataset_from_list(list, fuzz_dir(), gtzan, 10, &d) == MGC_OK) mgc_dataset_free(d);
  if (scanned && mgc_dataset_filter_list(scanned, list, &d) == MGC_OK) mgc_dataset_free(d);
  return 0;
}
