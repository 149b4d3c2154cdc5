/* The pretrained taggers' front end, computed by mgc from the front-end
 * parameters scripts/import-pretrained stores in the models, against the
 * one the networks were trained with (torchaudio 0.13's MelSpectrogram and
 * AmplitudeToDB as stored in the .pth files, tests/pretrained_ref.py):
 *
 *   - the mel filterbank equals the stored spec.mel_scale.fb [257, 96]
 *     (the same in all four files) to FB_TOL;
 *   - the dB mel frames of a real clip (decoded and resampled to 16 kHz by
 *     mgc, the same samples fed to torchaudio) agree to DB_TOL dB wherever
 *     the mel power exceeds 1e-6 (-60 dB). Below that a band holds almost
 *     no energy and float32 rounding of the FFT (relative to the frame's
 *     loud bands) is a visible fraction of it; those cells are counted, not
 *     compared.
 * Skipped with a message where torch or the shared files are absent. */
#include "test_pretrained_common.h"

#include "mgc/dsp/features.h"
#include "mgc/dsp/mel.h"

#define CLIP "rock/rock.00000.wav"
/* Filterbank weights are at most 1. torchaudio evaluates the triangles in
 * float32 (frequencies up to 8000 Hz, hence ulps of 5e-4 Hz in the slopes):
 * the stored matrix is 1.08e-5 away from the same formula in double, and
 * so is mgc's. */
#define FB_TOL 2e-5
/* dB. The difference is torchaudio's float32 filterbank above: in the low
 * bands (1-2 FFT bins each) a weight of 0.01 off by 1e-5 moves the band by
 * 1e-3 relative, 4e-3 dB. Measured: 4.5e-3 dB against torchaudio, while
 * mgc is within 7e-4 dB of the same front end computed in double with the
 * exact filterbank. */
#define DB_TOL 1e-2

static void test_frontend(void **st) {
  (void)st;
  if (!pretrained_ready(CLIP)) skip();
  char dir[256], p[600], args[3000];
  make_tmpdir(dir, sizeof dir);
  pretrained_convert(dir);
  snprintf(p, sizeof p, "%s/msd_fcn.safetensors", dir);
  mgc_model *m;
  if (mgc_model_load(p, &m)) fail_msg("%s", mgc_error_message());
  const mgc_frontend_params fe = m->frontend;
  assert_int_equal(fe.sample_rate, 16000);
  assert_int_equal(fe.n_mels, 96);
  assert_int_equal(fe.segment_frames, PRETRAINED_FRAMES);

  /* the filterbank */
  char pth[4][600];
  for (int i = 0; i < 4; i++) pretrained_pth(pth[i], sizeof pth[i], k_nets[i].name);
  snprintf(args, sizeof args, "fb '%s/fb.npy' '%s' '%s' '%s' '%s'", dir, pth[0], pth[1], pth[2],
           pth[3]);
  pretrained_python_run(args);
  mgc_npy fb;
  snprintf(p, sizeof p, "%s/fb.npy", dir);
  load_npy(p, &fb);
  const int bins = fe.n_fft / 2 + 1, mels = fe.n_mels;
  assert_int_equal(fb.ndim, 2);
  assert_int_equal(fb.shape[0], (size_t)bins);
  assert_int_equal(fb.shape[1], (size_t)mels);
  mgc_mel *mel;
  if (mgc_mel_new(&fe, &mel)) fail_msg("%s", mgc_error_message());
  float *w = malloc((size_t)mels * bins * sizeof(float));
  assert_non_null(w);
  mgc_mel_weights(mel, w);
  double fb_err = 0, fb_max = 0;
  for (int b = 0; b < mels; b++)
    for (int k = 0; k < bins; k++) {
      double ref = fb.data[(size_t)k * mels + b];
      fb_err = fmax(fb_err, fabs(w[(size_t)b * bins + k] - ref));
      fb_max = fmax(fb_max, ref);
    }
  fprintf(stderr, "  filterbank [%d, %d]: max |mgc - torchaudio| %.2e (tolerance %.0e), "
                  "largest weight %.3f\n", bins, mels, fb_err, FB_TOL, fb_max);
  assert_true(fb_max > 0.5); /* a real filterbank, not zeros on both sides */
  assert_true(fb_err <= FB_TOL);

  /* dB mel frames of real music */
  mgc_audio a;
  pretrained_clip(CLIP, fe.sample_rate, &a);
  size_t n = a.n;
  snprintf(p, sizeof p, "%s/samples.npy", dir);
  assert_int_equal(mgc_npy_write(p, a.samples, 1, &n), MGC_OK);
  mgc_feature_matrix fm;
  if (mgc_features_compute(&fe, MGC_KIND_LOGMEL, a.samples, n, &fm))
    fail_msg("%s", mgc_error_message());
  snprintf(args, sizeof args, "logmel '%s' '%s/samples.npy' '%s/logmel.npy'", pth[0], dir, dir);
  pretrained_python_run(args);
  mgc_npy ref;
  snprintf(p, sizeof p, "%s/logmel.npy", dir);
  load_npy(p, &ref);
  assert_int_equal(ref.ndim, 2);
  assert_int_equal(ref.shape[0], (size_t)mels);
  assert_int_equal(ref.shape[1], fm.n_frames);
  assert_int_equal(fm.dim, (size_t)mels);
  double db_err = 0, worst_ref = 0;
  size_t compared = 0, quiet = 0;
  for (size_t t = 0; t < fm.n_frames; t++)
    for (int b = 0; b < mels; b++) {
      double r = ref.data[(size_t)b * fm.n_frames + t], c = fm.data[t * (size_t)mels + b];
      if (r <= -60.0) {
        quiet++;
        continue;
      }
      compared++;
      if (fabs(c - r) > db_err) db_err = fabs(c - r), worst_ref = r;
    }
  fprintf(stderr, "  %s: %zu samples at %d Hz, %zu frames; max |dB diff| %.2e (tolerance "
                  "%.0e) over %zu cells above -60 dB (worst at %.1f dB), %zu quieter cells "
                  "not compared\n", CLIP, n, fe.sample_rate, fm.n_frames, db_err, DB_TOL,
          compared, worst_ref, quiet);
  assert_true(compared > 9 * (compared + quiet) / 10); /* music, not silence */
  assert_true(db_err <= DB_TOL);

  mgc_feature_matrix_free(&fm);
  mgc_npy_free(&ref);
  mgc_audio_free(&a);
  free(w);
  mgc_mel_free(mel);
  mgc_npy_free(&fb);
  mgc_model_free(m);
  snprintf(args, sizeof args, "rm -rf '%s'", dir);
  assert_int_equal(system(args), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_frontend)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
