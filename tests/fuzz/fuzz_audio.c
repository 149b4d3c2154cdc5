/* Audio decoding through mgc's own loader (mgc_audio_load): libsndfile's
 * formats, mgc's truncation checks, the downmix and the resampler to the
 * models' 22050 Hz. libsndfile finds the format from the bytes, not the
 * name. */
#include "fuzz.h"
#include "mgc/audio/audio.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *path = fuzz_file(data, size, "fuzz.wav");
  mgc_audio a;
  if (path && mgc_audio_load(path, 22050, &a) == MGC_OK) mgc_audio_free(&a);
  return 0;
}
