/* A recording's embedding (mgc_embedder): the output of the layer that
 * feeds the head, averaged over the recording's windows. Through the head
 * by hand it gives the model's own probabilities (one window: the mean of
 * one), so it is the layer the head reads and not another; a named layer,
 * an unknown one and a model of clip features; mgc-model embed writes the
 * same values as CSV. The shipped FCN on a bundled 30 s CC clip. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "mgc/audio/audio.h"
#include "mgc/model/embed.h"
#include "mgc/model/predict.h"

#define FCN MGC_SOURCE_DIR "/models/fcn_msd.safetensors"
#define CLIP MGC_SOURCE_DIR "/tests/fixtures/cc/jazz_macleod_vibe_ace_30s.ogg"

static mgc_model *fcn(void) {
  mgc_model *m;
  assert_int_equal(mgc_model_load(FCN, &m), MGC_OK);
  return m;
}

static void test_head_of_embedding_is_the_model(void **st) {
  (void)st;
  mgc_model *m = fcn();
  mgc_audio a = {0};
  assert_int_equal(mgc_audio_load(CLIP, m->frontend.sample_rate, &a), MGC_OK);
  mgc_embedder *e;
  assert_int_equal(mgc_embedder_new(m, NULL, 4, &e), MGC_OK);
  assert_int_equal(mgc_embedder_dim(e), 64);
  /* flatten: the dropout between it and the head is passed over */
  assert_string_equal(mgc_net_layer(m->net, mgc_embedder_layer(e))->ops->type, "flatten");
  float v[64];
  int nw = 0;
  assert_int_equal(mgc_embedder_process(e, a.samples, a.n, v, &nw), MGC_OK);
  assert_int_equal(nw, 1);
  const mgc_param *w = mgc_net_find_param(m->net, "head.weight"),
                  *b = mgc_net_find_param(m->net, "head.bias");
  int C = m->n_classes;
  double z[C], zmax = -INFINITY, sum = 0;
  for (int k = 0; k < C; k++) {
    z[k] = b->value[k];
    for (int j = 0; j < 64; j++) z[k] += (double)w->value[k * 64 + j] * v[j];
    zmax = fmax(zmax, z[k]);
  }
  for (int k = 0; k < C; k++) sum += (z[k] = exp(z[k] - zmax));
  mgc_session *s;
  assert_int_equal(mgc_session_new(m, 2, &s), MGC_OK);
  float p[C];
  assert_int_equal(mgc_predict_recording(s, a.samples, a.n, p, &nw), MGC_OK);
  assert_int_equal(nw, 1);
  for (int k = 0; k < C; k++)
    if (fabs(z[k] / sum - p[k]) > 1e-5)
      fail_msg("class %d: %g through the head, %g from the model", k, z[k] / sum, p[k]);
  /* some value of the embedding is not zero (the test could not pass on an empty one) */
  double l1 = 0;
  for (int j = 0; j < 64; j++) l1 += fabsf(v[j]);
  assert_true(l1 > 1.0);
  mgc_session_free(s);
  mgc_embedder_free(e);
  free(a.samples);
  mgc_model_free(m);
}

static void test_named_layer_and_refusals(void **st) {
  (void)st;
  mgc_model *m = fcn();
  mgc_embedder *e;
  assert_int_equal(mgc_embedder_new(m, "layer5.bn", 1, &e), MGC_OK);
  mgc_shape o = mgc_net_layer(m->net, mgc_embedder_layer(e))->out;
  assert_int_equal(mgc_embedder_dim(e), mgc_shape_size(&o));
  assert_true(mgc_embedder_dim(e) > 64);
  mgc_embedder_free(e);
  assert_int_equal(mgc_embedder_new(m, "nope", 1, &e), MGC_EINVAL);
  assert_null(e);
  assert_non_null(strstr(mgc_error_message(), "no layer 'nope'"));
  mgc_model_free(m);
  assert_int_equal(mgc_model_load(MGC_SOURCE_DIR "/models/mlp.safetensors", &m), MGC_OK);
  assert_int_equal(mgc_embedder_new(m, NULL, 1, &e), MGC_EINVAL);
  assert_non_null(strstr(mgc_error_message(), "57 clip features"));
  mgc_model_free(m);
}

/* mgc-model embed: a header, then the file, its folder and the values the
 * library computes (printed with 9 digits: every bit of a float). */
static void test_cli_writes_the_values(void **st) {
  (void)st;
  mgc_model *m = fcn();
  mgc_audio a = {0};
  assert_int_equal(mgc_audio_load(CLIP, m->frontend.sample_rate, &a), MGC_OK);
  mgc_embedder *e;
  assert_int_equal(mgc_embedder_new(m, NULL, 4, &e), MGC_OK);
  float v[64];
  assert_int_equal(mgc_embedder_process(e, a.samples, a.n, v, NULL), MGC_OK);
  FILE *f = popen(MGC_MODEL_BIN " embed -q " FCN " " CLIP, "r");
  assert_non_null(f);
  char line[8192];
  assert_non_null(fgets(line, sizeof line, f));
  assert_true(!strncmp(line, "file,folder,e0,e1,", 18));
  assert_non_null(strstr(line, ",e63\n"));
  assert_non_null(fgets(line, sizeof line, f));
  char extra[16];
  assert_null(fgets(extra, sizeof extra, f)); /* one row */
  assert_int_equal(pclose(f), 0);
  char *p = strstr(line, "jazz_macleod_vibe_ace_30s.ogg,cc,");
  assert_non_null(p);
  p = strchr(strchr(p, ',') + 1, ',');
  for (int j = 0; j < 64; j++) {
    assert_true(*p == ',');
    char *end;
    float x = strtof(p + 1, &end);
    if (x != v[j]) fail_msg("e%d: %g in the CSV, %g from the library", j, x, v[j]);
    p = end;
  }
  assert_true(*p == '\n');
  mgc_embedder_free(e);
  free(a.samples);
  mgc_model_free(m);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_head_of_embedding_is_the_model),
      cmocka_unit_test(test_named_layer_and_refusals),
      cmocka_unit_test(test_cli_writes_the_values),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
