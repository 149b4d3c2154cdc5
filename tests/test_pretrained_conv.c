/* conv2d on maps as large as the pretrained taggers' (columns beyond
 * MGC_CONV_CHUNK_FLOATS, unfolded and multiplied a band of output rows at a
 * time, conv.c), against a direct convolution in double: padding rows at
 * the top and bottom of the map fall inside different bands, the last band
 * is partial, and strides, dilation and an unfolded bias are covered. Runs
 * without torch or the shared files. */
#include "test_util.h"

#include <math.h>

#include "mgc/model/net.h"

typedef struct {
  const char *yaml;
  int cin, h, w, cout, kh, kw, sh, sw, ph, pw, dh, dw, bias;
} conv_case;

static void check_case(const conv_case *c) {
  mgc_arch *a;
  if (mgc_arch_parse(c->yaml, strlen(c->yaml), "<test>", &a)) fail_msg("%s", mgc_error_message());
  mgc_net *net;
  if (mgc_net_new(a, 0, 3, &net)) fail_msg("%s", mgc_error_message());
  const int batch = 2;
  mgc_shape o = mgc_net_output_shape(net);
  int oh = o.d[1], ow = o.d[2];
  assert_int_equal(oh, (c->h + 2 * c->ph - c->dh * (c->kh - 1) - 1) / c->sh + 1);
  assert_int_equal(ow, (c->w + 2 * c->pw - c->dw * (c->kw - 1) - 1) / c->sw + 1);
  /* the case must be one that conv.c splits into bands */
  assert_true((size_t)(c->cin * c->kh * c->kw + 1) * oh * ow > 4u * 256 * 1024);
  size_t n_in = (size_t)c->cin * c->h * c->w;
  float *x = malloc(batch * n_in * sizeof(float));
  assert_non_null(x);
  uint64_t seed = 77;
  for (size_t i = 0; i < batch * n_in; i++) x[i] = (float)(test_rand(&seed) % 2001) / 1000.0f - 1;
  const mgc_param *w = mgc_net_find_param(net, "0.weight");
  const mgc_param *b = c->bias ? mgc_net_find_param(net, "0.bias") : NULL;
  assert_non_null(w);
  assert_int_equal(mgc_net_plan(net, batch, 0), MGC_OK);
  const float *y = mgc_net_forward(net, x, batch, 0);
  assert_non_null(y);
  double worst = 0;
  for (int n = 0; n < batch; n++)
    for (int co = 0; co < c->cout; co++)
      for (int oy = 0; oy < oh; oy++)
        for (int ox = 0; ox < ow; ox++) {
          double acc = b ? b->value[co] : 0.0;
          for (int ci = 0; ci < c->cin; ci++)
            for (int i = 0; i < c->kh; i++)
              for (int j = 0; j < c->kw; j++) {
                int iy = oy * c->sh - c->ph + i * c->dh, ix = ox * c->sw - c->pw + j * c->dw;
                if (iy < 0 || iy >= c->h || ix < 0 || ix >= c->w) continue;
                acc += (double)w->value[((co * c->cin + ci) * c->kh + i) * c->kw + j] *
                       x[n * n_in + ((size_t)ci * c->h + iy) * c->w + ix];
              }
          double got = y[(((size_t)n * c->cout + co) * oh + oy) * ow + ox];
          worst = fmax(worst, fabs(got - acc));
        }
  fprintf(stderr, "  [%d, %d, %d] -> [%d, %d, %d]: max |diff| %.2e\n", c->cin, c->h, c->w,
          c->cout, oh, ow, worst);
  assert_true(worst < 1e-4);
  free(x);
  mgc_net_free(net);
  mgc_arch_free(a);
}

static void test_banded_conv(void **st) {
  (void)st;
  static const conv_case cases[] = {
      {"input: [8, 64, 300]\nlayers: [{type: conv2d, out: 16, kernel: 3, padding: 1}]\n", 8, 64,
       300, 16, 3, 3, 1, 1, 1, 1, 1, 1, 1},
      {"input: [6, 90, 400]\nlayers: [{type: conv2d, out: 5, kernel: [5, 3], stride: [2, 1], "
       "dilation: [2, 1], padding: [3, 1], bias: false}]\n",
       6, 90, 400, 5, 5, 3, 2, 1, 3, 1, 2, 1, 0},
      {"input: [1, 96, 1813]\nlayers: [{type: conv2d, out: 4, kernel: 3, padding: 1}]\n", 1, 96,
       1813, 4, 3, 3, 1, 1, 1, 1, 1, 1, 1},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) check_case(&cases[i]);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_banded_conv)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
