/* Shared by test_pretrained_frontend.c and test_pretrained_parity.c: where
 * the pretrained taggers and the music live, the PyTorch reference
 * (tests/pretrained_ref.py), and the conversion by scripts/import-pretrained.
 *
 * Both tests need Debian's python3-torch and python3-torchaudio for
 * /usr/bin/python3 (or $MGC_PYTHON), ../shared/pretrained and
 * ../shared/data/gtzan-mini; they are skipped with a message otherwise. */
#ifndef MGC_TEST_PRETRAINED_COMMON_H
#define MGC_TEST_PRETRAINED_COMMON_H

#include "test_util.h"

#include <math.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "mgc/audio/audio.h"
#include "mgc/model/model.h"

#if !defined(MGC_SOURCE_DIR) || !defined(MGC_SHARED_DIR) || !defined(MGC_BUILD_DIR)
#error "MGC_SOURCE_DIR, MGC_SHARED_DIR and MGC_BUILD_DIR must be defined"
#endif

/* The four networks: file stem, architecture, first tag of tags.txt and
 * one tag with a space or odd characters, kept verbatim as class names. */
typedef struct pretrained_net {
  const char *name, *kind, *first_tag, *odd_tag;
  int odd_index;
} pretrained_net;

static const pretrained_net k_nets[] __attribute__((unused)) = {
    {"msd_fcn", "fcn", "rock", "female vocalists", 5},
    {"msd_crnn", "crnn", "rock", "female vocalists", 5},
    {"jamendo_fcn", "fcn", "genre---alternative", "mood/theme---emotional", 45},
    {"jamendo_crnn", "crnn", "genre---alternative", "mood/theme---emotional", 45},
};

/* Samples the nets were trained on per excerpt: 29 s at 16 kHz, 1813 frames. */
#define PRETRAINED_SAMPLES 464000
#define PRETRAINED_FRAMES 1813

static const char *pretrained_python(void) {
  const char *p = getenv("MGC_PYTHON");
  return p && *p ? p : "/usr/bin/python3";
}

static void pretrained_pth(char *buf, size_t cap, const char *name) {
  /* "msd_fcn" -> <shared>/pretrained/msd/fcn/best_model.pth */
  const char *us = strchr(name, '_');
  snprintf(buf, cap, "%s/pretrained/%.*s/%s/best_model.pth", MGC_SHARED_DIR, (int)(us - name),
           name, us + 1);
}

static int file_exists(const char *p) {
  struct stat sb;
  return stat(p, &sb) == 0;
}

/* Prints why and returns 0 when the test cannot run here. */
static int pretrained_ready(const char *clip) {
  char cmd[600], p[600];
  snprintf(cmd, sizeof cmd, "%s -c 'import torch, torchaudio, numpy' >/dev/null 2>&1",
           pretrained_python());
  int rc = system(cmd);
  if (rc == -1 || !WIFEXITED(rc) || WEXITSTATUS(rc) != 0) {
    fprintf(stderr, "  SKIPPED: %s cannot import torch, torchaudio and numpy (install "
                    "python3-torch python3-torchaudio)\n", pretrained_python());
    return 0;
  }
  for (size_t i = 0; i < sizeof k_nets / sizeof k_nets[0]; i++) {
    pretrained_pth(p, sizeof p, k_nets[i].name);
    if (!file_exists(p)) {
      fprintf(stderr, "  SKIPPED: %s is absent (see ../shared/pretrained/README.md)\n", p);
      return 0;
    }
  }
  snprintf(p, sizeof p, "%s/data/gtzan-mini/%s", MGC_SHARED_DIR, clip);
  if (!file_exists(p)) {
    fprintf(stderr, "  SKIPPED: %s is absent\n", p);
    return 0;
  }
  return 1;
}

/* scripts/import-pretrained into dir: the four mgc models. */
static void pretrained_convert(const char *dir) {
  char cmd[1200], out[4096];
  snprintf(cmd, sizeof cmd, "%s %s/scripts/import-pretrained --shared '%s' --out '%s' --build '%s'",
           pretrained_python(), MGC_SOURCE_DIR, MGC_SHARED_DIR, dir, MGC_BUILD_DIR);
  if (run(cmd, out, sizeof out) != 0) fail_msg("%s failed:\n%s", cmd, out);
}

static void pretrained_python_run(const char *args) {
  char cmd[3200], out[4096];
  snprintf(cmd, sizeof cmd, "%s %s/tests/pretrained_ref.py %s", pretrained_python(),
           MGC_SOURCE_DIR, args);
  if (run(cmd, out, sizeof out) != 0) fail_msg("%s failed:\n%s", cmd, out);
}

/* A gtzan-mini clip decoded and resampled by mgc to `rate`. */
static void pretrained_clip(const char *clip, int rate, mgc_audio *a) {
  char p[600];
  snprintf(p, sizeof p, "%s/data/gtzan-mini/%s", MGC_SHARED_DIR, clip);
  if (mgc_audio_load(p, rate, a)) fail_msg("%s", mgc_error_message());
}

#endif
