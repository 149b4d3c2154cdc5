/* The four pretrained taggers converted by scripts/import-pretrained give
 * the tag probabilities of their PyTorch originals: mgc's session on mgc's
 * own log-mel of two real clips (29 s at 16 kHz, decoded and resampled by
 * mgc) against the original FCN / CRNN classes loaded from the .pth, in
 * eval mode, on torchaudio's spectrogram of the same samples
 * (tests/pretrained_ref.py). Target: 1e-4 max abs over the 2 x 50
 * probabilities of each net. Also checks that the class names survive the
 * conversion verbatim and that the session gives the bits of the model's
 * own net. Skipped where torch or the shared files are absent. */
#include "test_pretrained_common.h"

#include "mgc/dsp/features.h"
#include "mgc/model/session.h"

#define PROB_TOL 1e-4

static const char *const k_clips[] = {"rock/rock.00000.wav", "classical/classical.00000.wav"};
#define N_CLIPS 2

static void test_parity(void **st) {
  (void)st;
  if (!pretrained_ready(k_clips[0]) || !pretrained_ready(k_clips[1])) skip();
  char dir[256], p[600], args[3000];
  make_tmpdir(dir, sizeof dir);
  pretrained_convert(dir);

  /* The first 29 s of each clip: samples for PyTorch, mgc's frames as the
   * models' [1, 96, 1813] input. */
  snprintf(p, sizeof p, "%s/msd_fcn.safetensors", dir);
  mgc_model *m0;
  if (mgc_model_load(p, &m0)) fail_msg("%s", mgc_error_message());
  const size_t d = (size_t)PRETRAINED_FRAMES * m0->frontend.n_mels;
  float *samples = malloc((size_t)N_CLIPS * PRETRAINED_SAMPLES * sizeof(float));
  float *x = malloc(N_CLIPS * d * sizeof(float));
  assert_non_null(samples);
  assert_non_null(x);
  for (int c = 0; c < N_CLIPS; c++) {
    mgc_audio a;
    pretrained_clip(k_clips[c], m0->frontend.sample_rate, &a);
    assert_true(a.n >= PRETRAINED_SAMPLES);
    memcpy(samples + (size_t)c * PRETRAINED_SAMPLES, a.samples,
           PRETRAINED_SAMPLES * sizeof(float));
    mgc_feature_matrix fm;
    if (mgc_features_compute(&m0->frontend, MGC_KIND_LOGMEL, a.samples, PRETRAINED_SAMPLES, &fm))
      fail_msg("%s", mgc_error_message());
    assert_int_equal(fm.n_frames, PRETRAINED_FRAMES);
    assert_int_equal(mgc_model_window_layout(m0, fm.data, PRETRAINED_FRAMES, (int)fm.dim,
                                             x + c * d),
                     MGC_OK);
    mgc_feature_matrix_free(&fm);
    mgc_audio_free(&a);
  }
  size_t shape[2] = {N_CLIPS, PRETRAINED_SAMPLES};
  snprintf(p, sizeof p, "%s/samples.npy", dir);
  assert_int_equal(mgc_npy_write(p, samples, 2, shape), MGC_OK);
  mgc_model_free(m0);

  double worst = 0;
  for (size_t i = 0; i < sizeof k_nets / sizeof k_nets[0]; i++) {
    const pretrained_net *net = &k_nets[i];
    snprintf(p, sizeof p, "%s/%s.safetensors", dir, net->name);
    mgc_model *m;
    if (mgc_model_load(p, &m)) fail_msg("%s", mgc_error_message());
    assert_int_equal(m->n_classes, 50);
    assert_string_equal(m->classes[0], net->first_tag);
    assert_string_equal(m->classes[net->odd_index], net->odd_tag);
    mgc_session *s;
    if (mgc_session_new(m, N_CLIPS, &s)) fail_msg("%s", mgc_error_message());
    float probs[N_CLIPS * 50];
    if (mgc_session_run(s, x, N_CLIPS, probs)) fail_msg("%s", mgc_error_message());

    /* The session runs its layers in another order (pools first, see
     * session.c) and flips the channels of negative batchnorm scales (these
     * nets have some); the model's own net in file order must give the
     * same bits (at the same batch size: the conv's gemm shapes, and with
     * them its rounding, depend on it). */
    mgc_session *s1;
    float p1[50];
    if (mgc_session_new(m, 1, &s1) || mgc_session_run(s1, x, 1, p1))
      fail_msg("%s", mgc_error_message());
    mgc_session_free(s1);
    assert_int_equal(mgc_net_plan(m->net, 1, 0), MGC_OK);
    const float *direct = mgc_net_predict(m->net, x, 1);
    assert_non_null(direct);
    assert_memory_equal(direct, p1, sizeof p1);

    char pth[600];
    pretrained_pth(pth, sizeof pth, net->name);
    snprintf(args, sizeof args, "probs %s '%s' '%s/samples.npy' '%s/%s.npy'", net->kind, pth,
             dir, dir, net->name);
    pretrained_python_run(args);
    mgc_npy ref;
    snprintf(p, sizeof p, "%s/%s.npy", dir, net->name);
    load_npy(p, &ref);
    assert_int_equal(mgc_npy_count(&ref), N_CLIPS * 50);
    double err = 0, sum = 0;
    int top[N_CLIPS];
    for (int c = 0; c < N_CLIPS; c++) {
      top[c] = 0;
      for (int k = 0; k < 50; k++) {
        float v = probs[c * 50 + k];
        err = fmax(err, fabs(v - ref.data[c * 50 + k]));
        sum += v;
        if (v > probs[c * 50 + top[c]]) top[c] = k;
      }
    }
    fprintf(stderr, "  %-13s max |mgc - PyTorch| %.2e (tolerance %.0e); top tags: %s %.3f, %s %.3f\n",
            net->name, err, PROB_TOL, m->classes[top[0]], (double)probs[top[0]],
            m->classes[top[1]], (double)probs[50 + top[1]]);
    /* Independent tags: a row is not a distribution (a softmax would sum
     * to 1 per clip). */
    assert_true(fabs(sum - N_CLIPS) > 1e-2);
    assert_true(err <= PROB_TOL);
    worst = fmax(worst, err);
    mgc_npy_free(&ref);
    mgc_session_free(s);
    mgc_model_free(m);
  }
  fprintf(stderr, "  worst over the four nets: %.2e\n", worst);
  free(samples);
  free(x);
  snprintf(args, sizeof args, "rm -rf '%s'", dir);
  assert_int_equal(system(args), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_parity)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
