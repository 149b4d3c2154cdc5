#include "mgc/audio/audio.h"

#include <errno.h>
#include <math.h>
#include <sndfile.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "mgc/audio/resampler.h"

/* Growable float vector used while decoding (length unknown up front for
 * compressed formats and after resampling). */
typedef struct {
  float *v;
  size_t n, cap;
} fvec;

static int fvec_reserve(fvec *a, size_t extra) {
  if (a->n + extra <= a->cap) return 0;
  size_t cap = a->cap ? a->cap : 65536;
  while (cap < a->n + extra) cap *= 2;
  float *v = realloc(a->v, cap * sizeof(float));
  if (!v) return -1;
  a->v = v;
  a->cap = cap;
  return 0;
}

/* Feed `n` samples (NULL, 0 = flush) through r into out. */
static mgc_status resample_into(mgc_resampler *r, const float *in, size_t n, fvec *out) {
  size_t used_total = 0;
  for (;;) {
    size_t want = (size_t)((double)(n - used_total) * mgc_resampler_ratio(r)) + 1024;
    if (fvec_reserve(out, want)) return mgc_error_set(MGC_ENOMEM, "out of memory");
    size_t used = 0, got = 0;
    mgc_status st = mgc_resampler_process(r, in ? in + used_total : NULL, n - used_total, &used,
                                          out->v + out->n, out->cap - out->n, &got);
    if (st) return st;
    used_total += used;
    out->n += got;
    if (in && used_total >= n) return MGC_OK;
    if (!in && got == 0) return MGC_OK; /* flush drained */
  }
}

/* Make the length exactly `len` (librosa.util.fix_length: trim or zero-pad). */
static mgc_status fix_length(fvec *a, size_t len) {
  if (a->n < len) {
    if (fvec_reserve(a, len - a->n)) return mgc_error_set(MGC_ENOMEM, "out of memory");
    memset(a->v + a->n, 0, (len - a->n) * sizeof(float));
  }
  a->n = len;
  return MGC_OK;
}

mgc_status mgc_audio_resample(const float *in, size_t n, int in_rate, int out_rate, float **out,
                              size_t *n_out) {
  *out = NULL;
  *n_out = 0;
  mgc_resampler *r = NULL;
  mgc_status st = mgc_resampler_new(in_rate, out_rate, &r);
  if (st) return st;
  fvec acc = {0};
  st = resample_into(r, in, n, &acc);
  if (!st) st = resample_into(r, NULL, 0, &acc);
  if (!st) st = fix_length(&acc, (size_t)ceil((double)n * out_rate / in_rate));
  mgc_resampler_free(r);
  if (st) {
    free(acc.v);
    return st;
  }
  *out = acc.v;
  *n_out = acc.n;
  return MGC_OK;
}

/* libsndfile accepts a WAV, AIFF or AU file whose data claims more bytes
 * than the file holds and quietly reads what is there; its parser log says
 * so ("data : N (should be M)", "Data Size : N (should be M)" for AU). A
 * truncated file is a damaged file: refuse it rather than train on half a
 * track. */
static int log_says_truncated(SNDFILE *sf) {
  char log[4096];
  sf_command(sf, SFC_GET_LOG_INFO, log, sizeof log);
  /* Only the data chunk matters: a RIFF size that disagrees (trailing junk,
   * sloppy writers) with intact audio is not damage. */
  for (const char *line = log; *line;) {
    while (*line == ' ' || *line == '\t') line++;
    const char *end = strchr(line, '\n');
    size_t len = end ? (size_t)(end - line) : strlen(line);
    if ((len >= 4 && (!strncmp(line, "data", 4) || !strncmp(line, "SSND", 4))) ||
        (len >= 9 && !strncmp(line, "Data Size", 9)))
      for (size_t i = 0; i + 9 <= len; i++)
        if (!strncmp(line + i, "should be", 9)) return 1;
    if (len >= 15 && !strncmp(line, "*** Data length", 15)) return 1;
    line += len + (end != NULL);
  }
  return 0;
}

/* An Ogg stream's last page carries the end-of-stream flag (header byte 5,
 * bit 0x04). libsndfile decodes a cut-off Ogg file without complaint, so look
 * at the last page ourselves: returns 1 if the file ends mid-stream. */
static int ogg_is_truncated(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) return 0;
  unsigned char tail[65536 + 27];
  long size = fseek(f, 0, SEEK_END) == 0 ? ftell(f) : -1;
  long start = size > (long)sizeof tail ? size - (long)sizeof tail : 0;
  size_t n = 0;
  if (size > 0 && fseek(f, start, SEEK_SET) == 0) n = fread(tail, 1, sizeof tail, f);
  fclose(f);
  /* Scan backwards for the last page header (27 bytes, "OggS", version 0). */
  for (size_t i = n >= 27 ? n - 26 : 0; i-- > 0;)
    if (!memcmp(tail + i, "OggS", 4) && tail[i + 4] == 0) return !(tail[i + 5] & 0x04);
  return 1; /* no page header in the last 64 KiB: not a complete Ogg stream */
}

mgc_status mgc_audio_load(const char *path, int rate, mgc_audio *out) {
  memset(out, 0, sizeof *out);
  struct stat sb;
  if (stat(path, &sb) != 0)
    return mgc_error_set(MGC_EIO, "%s: cannot open: %s", path, strerror(errno));
  if (S_ISDIR(sb.st_mode)) return mgc_error_set(MGC_EIO, "%s: is a directory", path);
  if (sb.st_size == 0) return mgc_error_set(MGC_EFORMAT, "%s: empty file (0 bytes)", path);

  SF_INFO info;
  memset(&info, 0, sizeof info);
  SNDFILE *sf = sf_open(path, SFM_READ, &info);
  if (!sf) return mgc_error_set(MGC_EFORMAT, "%s: not a readable audio file: %s", path, sf_strerror(NULL));
  /* Below 1 kHz no file is audio, and resampling it up is an amplifier: a
   * few kB at 1 Hz would become hundreds of MB at 22050 Hz. */
  if (info.channels < 1 || info.samplerate < MGC_AUDIO_MIN_RATE || info.samplerate > MGC_AUDIO_MAX_RATE) {
    sf_close(sf);
    return mgc_error_set(MGC_EFORMAT, "%s: invalid header (%d channels, %d Hz; audio is %d to %d Hz)", path,
                         info.channels, info.samplerate, MGC_AUDIO_MIN_RATE, MGC_AUDIO_MAX_RATE);
  }
  if (log_says_truncated(sf)) {
    sf_close(sf);
    return mgc_error_set(MGC_EFORMAT, "%s: truncated: the header declares more audio than the file holds",
                         path);
  }
  if ((info.format & SF_FORMAT_TYPEMASK) == SF_FORMAT_OGG && ogg_is_truncated(path)) {
    sf_close(sf);
    return mgc_error_set(MGC_EFORMAT, "%s: truncated: the Ogg stream ends without its end-of-stream page",
                         path);
  }
  const int target = rate > 0 ? rate : info.samplerate;
  mgc_resampler *r = NULL;
  mgc_status st = MGC_OK;
  if (target != info.samplerate && (st = mgc_resampler_new(info.samplerate, target, &r))) {
    sf_close(sf);
    return mgc_error_prefix(st, "%s: ", path);
  }
  const size_t block = 8192;
  const int ch = info.channels;
  float *inter = malloc(sizeof(float) * block * (size_t)ch);
  float *mono = malloc(sizeof(float) * block);
  fvec acc = {0};
  size_t frames = 0;
  if (!inter || !mono) st = mgc_error_set(MGC_ENOMEM, "out of memory");
  while (!st) {
    sf_count_t got = sf_readf_float(sf, inter, (sf_count_t)block);
    if (got < 0 || sf_error(sf) != SF_ERR_NO_ERROR) {
      st = mgc_error_set(MGC_EFORMAT, "decoding failed after %zu frames: %s", frames, sf_strerror(sf));
      break;
    }
    if (got == 0) break;
    for (sf_count_t i = 0; i < got; i++) {
      float s = 0.0f;
      for (int c = 0; c < ch; c++) s += inter[(size_t)i * ch + c];
      mono[i] = ch == 1 ? s : s / (float)ch;
    }
    frames += (size_t)got;
    if (r) {
      st = resample_into(r, mono, (size_t)got, &acc);
    } else if (fvec_reserve(&acc, (size_t)got)) {
      st = mgc_error_set(MGC_ENOMEM, "out of memory");
    } else {
      memcpy(acc.v + acc.n, mono, sizeof(float) * (size_t)got);
      acc.n += (size_t)got;
    }
  }
  /* Seekable formats know their length: fewer frames than declared means the
   * file ends early. (Ogg is checked above; MP3 has no end marker, so a cut
   * MP3 cannot be told from a short one.) */
  if (!st && info.frames > 0 && info.seekable && (info.format & SF_FORMAT_TYPEMASK) != SF_FORMAT_OGG &&
      (info.format & SF_FORMAT_TYPEMASK) != SF_FORMAT_MPEG && frames < (size_t)info.frames)
    st = mgc_error_set(MGC_EFORMAT, "truncated: %zu of %lld declared frames", frames, (long long)info.frames);
  if (!st && frames == 0) st = mgc_error_set(MGC_EFORMAT, "contains no audio (0 frames)");
  if (!st && r) st = resample_into(r, NULL, 0, &acc);
  if (!st && r) st = fix_length(&acc, (size_t)ceil((double)frames * target / info.samplerate));
  free(inter);
  free(mono);
  mgc_resampler_free(r);
  sf_close(sf);
  if (st) {
    free(acc.v);
    return mgc_error_prefix(st, "%s: ", path);
  }
  out->samples = acc.v;
  out->n = acc.n;
  out->rate = target;
  out->source_rate = info.samplerate;
  out->source_channels = ch;
  return MGC_OK;
}

void mgc_audio_free(mgc_audio *a) {
  if (!a) return;
  free(a->samples);
  memset(a, 0, sizeof *a);
}
