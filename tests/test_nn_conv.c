/* Gradient checks, reference and closed-form checks for the convolutional
 * layers: conv2d/conv1d, max/avg/global pooling, batchnorm. */
#include "test_util.h"

#include "gradcheck.h"

static gc_opts batch_of(int n) {
  gc_opts o = gc_defaults();
  o.batch = n;
  return o;
}

/* Layer 0 of `yaml`, built alone, with its scratch for `batch` samples. */
typedef struct {
  mgc_arch *arch;
  mgc_layer *l;
  float *ws;
} one_layer;

static one_layer make_layer(const char *yaml, int batch, int training) {
  one_layer t;
  t.arch = gc_arch(yaml);
  mgc_rng rng;
  mgc_rng_seed(&rng, 5);
  if (mgc_layer_new(&t.arch->layers[0], &t.arch->input, &rng, &t.l))
    fail_msg("%s", mgc_error_message());
  if (t.l->ops->plan && t.l->ops->plan(t.l, batch, training))
    fail_msg("%s", mgc_error_message());
  size_t w = t.l->ops->workspace ? t.l->ops->workspace(t.l, batch, training) : 0;
  t.ws = w ? malloc(w * sizeof(float)) : NULL;
  return t;
}

static void free_layer(one_layer *t) {
  free(t->ws);
  mgc_layer_free(t->l);
  mgc_arch_free(t->arch);
}

static void fill_normal(float *v, size_t n, uint64_t seed) {
  mgc_rng rng;
  mgc_rng_seed(&rng, seed);
  for (size_t i = 0; i < n; i++) v[i] = (float)mgc_rng_normal(&rng);
}

/* ---- convolution ------------------------------------------------------- */

static void test_conv_gradients(void **st) {
  check_layer("input: [2, 5, 6]\nlayers: [{type: conv2d, out: 3, kernel: [3, 3], padding: 1}]\n",
              gc_defaults());
  check_layer("input: [2, 7, 8]\nlayers: [{type: conv2d, out: 3, kernel: [2, 3], stride: [2, 1], "
              "dilation: [1, 2], bias: false}]\n",
              gc_defaults());
  check_layer("input: [3, 11]\nlayers: [{type: conv1d, out: 4, kernel: 3, stride: 2, "
              "dilation: 2}]\n",
              gc_defaults());
  check_layer("input: [2, 9]\nlayers: [{type: conv1d, out: 3, kernel: 5, padding: same}]\n",
              gc_defaults());
  /* strided and padded together, padding wider than a dilated tap */
  check_layer("input: [2, 6, 7]\nlayers: [{type: conv2d, out: 2, kernel: 3, stride: 2, "
              "padding: [2, 1], dilation: [1, 2]}]\n",
              batch_of(3));
  /* 1x1: the column matrix is the input (one sample per gemm on a large
   * map, grouped samples on a small one) */
  check_layer("input: [3, 4, 5]\nlayers: [{type: conv2d, out: 2, kernel: 1}]\n", batch_of(3));
  check_layer("input: [2, 32, 64]\nlayers: [{type: conv2d, out: 2, kernel: 1}]\n", batch_of(2));
  /* 600 output positions: two samples per gemm (conv.c groups maps under
   * 1024 positions), then a group of one */
  check_layer("input: [1, 20, 30]\nlayers: [{type: conv2d, out: 2, kernel: 3, padding: 1}]\n",
              batch_of(3));
}

/* Direct convolution in double, the definition itself. */
typedef struct {
  int n, c, h, w, o, kh, kw, sh, sw, ph, pw, dh, dw;
} conv_cfg;

static void ref_conv(const conv_cfg *k, const float *x, const float *wt, const float *b,
                     int oh, int ow, double *y) {
  for (int n = 0; n < k->n; n++)
    for (int o = 0; o < k->o; o++)
      for (int oy = 0; oy < oh; oy++)
        for (int ox = 0; ox < ow; ox++) {
          double acc = b ? b[o] : 0.0;
          for (int c = 0; c < k->c; c++)
            for (int i = 0; i < k->kh; i++)
              for (int j = 0; j < k->kw; j++) {
                int iy = oy * k->sh - k->ph + i * k->dh, ix = ox * k->sw - k->pw + j * k->dw;
                if (iy < 0 || iy >= k->h || ix < 0 || ix >= k->w) continue;
                acc += (double)x[((n * k->c + c) * k->h + iy) * k->w + ix] *
                       wt[((o * k->c + c) * k->kh + i) * k->kw + j];
              }
          y[((n * k->o + o) * oh + oy) * ow + ox] = acc;
        }
}

static void check_against_reference(const conv_cfg *k, int bias) {
  char yaml[300];
  snprintf(yaml, sizeof yaml,
           "input: [%d, %d, %d]\nlayers: [{type: conv2d, out: %d, kernel: [%d, %d], "
           "stride: [%d, %d], padding: [%d, %d], dilation: [%d, %d], bias: %s}]\n",
           k->c, k->h, k->w, k->o, k->kh, k->kw, k->sh, k->sw, k->ph, k->pw, k->dh, k->dw,
           bias ? "true" : "false");
  one_layer t = make_layer(yaml, k->n, 0);
  int oh = t.l->out.d[1], ow = t.l->out.d[2];
  size_t nx = (size_t)k->n * k->c * k->h * k->w, ny = (size_t)k->n * k->o * oh * ow;
  float *x = malloc(nx * sizeof(float)), *y = malloc(ny * sizeof(float));
  double *r = malloc(ny * sizeof(double));
  fill_normal(x, nx, 77);
  t.l->ops->forward(t.l, x, y, k->n, 0, t.ws);
  ref_conv(k, x, t.l->params[0].value, bias ? t.l->params[1].value : NULL, oh, ow, r);
  for (size_t i = 0; i < ny; i++)
    if (fabs(y[i] - r[i]) > 1e-5 * (1 + fabs(r[i])))
      fail_msg("%s: y[%zu] = %g, reference %g", yaml, i, y[i], r[i]);
  free(x);
  free(y);
  free(r);
  free_layer(&t);
}

static void test_conv_reference(void **st) {
  /* n c h w o kh kw sh sw ph pw dh dw */
  const conv_cfg cfgs[] = {
      {2, 3, 7, 9, 4, 3, 3, 1, 1, 1, 1, 1, 1},     {3, 2, 8, 11, 3, 2, 3, 2, 1, 0, 2, 1, 2},
      {1, 1, 5, 5, 2, 5, 5, 1, 1, 2, 2, 1, 1},     {4, 3, 6, 6, 5, 1, 1, 1, 1, 0, 0, 1, 1},
      {2, 2, 9, 10, 3, 3, 2, 3, 2, 3, 1, 2, 3},    /* padding wider than the kernel reach */
      {3, 4, 20, 30, 2, 3, 3, 1, 1, 1, 1, 1, 1},   /* two samples per gemm, then one */
      {2, 3, 40, 40, 2, 3, 3, 1, 1, 1, 1, 1, 1},   /* a gemm per sample */
      {5, 2, 16, 16, 3, 1, 1, 1, 1, 0, 0, 1, 1},   /* 1x1 in groups of 4, then 1 */
      {2, 1, 3, 40, 2, 1, 7, 1, 3, 0, 6, 1, 2},    /* wide, strided, dilated */
  };
  for (size_t i = 0; i < sizeof cfgs / sizeof cfgs[0]; i++) {
    check_against_reference(&cfgs[i], 1);
    check_against_reference(&cfgs[i], 0);
  }
}

static void test_conv_hand_computed(void **st) {
  /* 3x3 input 1..9, 2x2 kernel [[1, 2], [3, 4]], bias 0.5, padding 1,
   * stride 2: windows of the zero-padded 5x5 map at rows/cols 0 and 2. */
  mgc_arch *a = gc_arch("input: [1, 3, 3]\nlayers: [{type: conv2d, out: 1, kernel: 2, "
                        "padding: 1, stride: 2}]\n");
  mgc_net *net;
  assert_int_equal(mgc_net_new(a, 0, 1, &net), MGC_OK);
  mgc_param *w = mgc_net_find_param(net, "0.weight"), *b = mgc_net_find_param(net, "0.bias");
  assert_non_null(w);
  assert_non_null(b);
  assert_int_equal(w->ndim, 4);
  float wv[4] = {1, 2, 3, 4};
  memcpy(w->value, wv, sizeof wv);
  b->value[0] = 0.5f;
  mgc_shape o = mgc_net_output_shape(net);
  assert_int_equal(o.ndim, 3);
  assert_int_equal(o.d[1], 2);
  assert_int_equal(o.d[2], 2);
  assert_int_equal(mgc_net_plan(net, 2, 0), MGC_OK);
  float x[18];
  for (int i = 0; i < 9; i++) x[i] = (float)(i + 1), x[9 + i] = -(float)(i + 1);
  const float *y = mgc_net_forward(net, x, 2, 0);
  assert_non_null(y);
  assert_float_equal(y[0], 4.5f, 1e-6);  /* 4*1 */
  assert_float_equal(y[1], 18.5f, 1e-6); /* 3*2 + 4*3 */
  assert_float_equal(y[2], 36.5f, 1e-6); /* 2*4 + 4*7 */
  assert_float_equal(y[3], 77.5f, 1e-6); /* 5 + 2*6 + 3*8 + 4*9 */
  assert_float_equal(y[4], -3.5f, 1e-6); /* second sample: negated, same bias */
  assert_float_equal(y[7], -76.5f, 1e-6);
  mgc_net_free(net);
  mgc_arch_free(a);

  /* conv1d, two channels in, two out: y[o][t] = sum_c w[o][c][0]*x[c][t] +
   * w[o][c][1]*x[c][t+1]. */
  a = gc_arch("input: [2, 4]\nlayers: [{type: conv1d, out: 2, kernel: 2, bias: false}]\n");
  assert_int_equal(mgc_net_new(a, 0, 1, &net), MGC_OK);
  w = mgc_net_find_param(net, "0.weight");
  assert_int_equal(w->ndim, 3);
  assert_int_equal(w->shape[2], 2);
  assert_null(mgc_net_find_param(net, "0.bias"));
  float w1[8] = {1, 0, 0, 1, /* out 0: x0[t] + x1[t+1] */ -1, 1, 2, 0 /* x0[t+1]-x0[t]+2x1[t] */};
  memcpy(w->value, w1, sizeof w1);
  assert_int_equal(mgc_net_plan(net, 1, 0), MGC_OK);
  float x1[8] = {1, 2, 4, 8, 10, 20, 30, 40};
  y = mgc_net_forward(net, x1, 1, 0);
  const float e1[6] = {21, 32, 44, 21, 42, 64};
  for (int i = 0; i < 6; i++) assert_float_equal(y[i], e1[i], 1e-6);
  mgc_net_free(net);
  mgc_arch_free(a);
}

static void expect_shape(const char *yaml, int ndim, int d0, int d1, int d2) {
  mgc_arch *a = gc_arch(yaml);
  mgc_net *net;
  if (mgc_net_new(a, 0, 1, &net)) fail_msg("%s", mgc_error_message());
  mgc_shape o = mgc_net_output_shape(net);
  mgc_shape e = mgc_shape_make(ndim, d0, d1, d2);
  char b1[64], b2[64];
  if (o.ndim != e.ndim || memcmp(o.d, e.d, sizeof o.d))
    fail_msg("%s: shape %s, expected %s", yaml, mgc_shape_str(&o, b1, sizeof b1),
             mgc_shape_str(&e, b2, sizeof b2));
  mgc_net_free(net);
  mgc_arch_free(a);
}

static void test_shapes(void **st) {
  const char *in3 = "input: [3, 128, 130]\nlayers: [";
  char y[300];
#define SHAPE(layer, nd, a, b, c)                              \
  do {                                                         \
    snprintf(y, sizeof y, "%s%s]\n", in3, layer);              \
    expect_shape(y, nd, a, b, c);                              \
  } while (0)
  SHAPE("{type: conv2d, out: 8, kernel: 3}", 3, 8, 126, 128);
  SHAPE("{type: conv2d, out: 8, kernel: 3, padding: 1}", 3, 8, 128, 130);
  SHAPE("{type: conv2d, out: 8, kernel: 3, padding: same}", 3, 8, 128, 130);
  SHAPE("{type: conv2d, out: 8, kernel: 5, dilation: 2, padding: same}", 3, 8, 128, 130);
  SHAPE("{type: conv2d, out: 8, kernel: 3, stride: 2, padding: 1}", 3, 8, 64, 65);
  SHAPE("{type: conv2d, out: 8, kernel: [5, 3], stride: [2, 1], dilation: [2, 1]}", 3, 8, 60,
        128);
  SHAPE("{type: conv2d, out: 4, kernel: [128, 1]}", 3, 4, 1, 130);
  SHAPE("{type: maxpool2d, kernel: [4, 2]}", 3, 3, 32, 65);
  SHAPE("{type: maxpool2d, kernel: 3, stride: 2, padding: 1}", 3, 3, 64, 65);
  SHAPE("{type: avgpool2d, kernel: [3, 4], stride: [1, 3]}", 3, 3, 126, 43);
  SHAPE("{type: global_avgpool}", 1, 3, 0, 0);
  SHAPE("{type: global_maxpool}", 1, 3, 0, 0);
  SHAPE("{type: batchnorm2d}", 3, 3, 128, 130);
#undef SHAPE
  expect_shape("input: [4, 100]\nlayers: [{type: conv1d, out: 6, kernel: 5, stride: 3}]\n", 2,
               6, 32, 0);
  expect_shape("input: [4, 100]\nlayers: [{type: conv1d, out: 6, kernel: 3, padding: same, "
               "dilation: 4}]\n",
               2, 6, 100, 0);
  expect_shape("input: [4, 101]\nlayers: [{type: avgpool1d, kernel: 2}]\n", 2, 4, 50, 0);
  expect_shape("input: [4, 101]\nlayers: [{type: maxpool1d, kernel: 3, stride: 2, padding: 1}]\n",
               2, 4, 51, 0);
  expect_shape("input: [4, 101]\nlayers: [{type: global_maxpool}]\n", 1, 4, 0, 0);
  expect_shape("input: [4, 101]\nlayers: [{type: batchnorm1d}]\n", 2, 4, 101, 0);
  expect_shape("input: [17]\nlayers: [{type: batchnorm1d}]\n", 1, 17, 0, 0);
}

static void test_conv_params(void **st) {
  /* PyTorch's names, layouts and init bound 1/sqrt(in*kh*kw). */
  mgc_arch *a = gc_arch("input: [4, 10, 10]\nlayers: [{type: conv2d, out: 16, kernel: [3, 2]}]\n");
  mgc_net *net;
  assert_int_equal(mgc_net_new(a, 0, 3, &net), MGC_OK);
  mgc_param *w = mgc_net_find_param(net, "0.weight"), *b = mgc_net_find_param(net, "0.bias");
  assert_non_null(w);
  assert_non_null(b);
  int ws[4] = {16, 4, 3, 2};
  for (int i = 0; i < 4; i++) assert_int_equal(w->shape[i], ws[i]);
  assert_int_equal(b->ndim, 1);
  assert_int_equal(b->shape[0], 16);
  float bound = 1.0f / sqrtf(24.0f), wmax = 0, bmax = 0;
  for (size_t i = 0; i < w->size; i++) wmax = fmaxf(wmax, fabsf(w->value[i]));
  for (size_t i = 0; i < b->size; i++) bmax = fmaxf(bmax, fabsf(b->value[i]));
  assert_true(wmax <= bound && wmax > 0.9f * bound);
  assert_true(bmax <= bound && bmax > 0.5f * bound);
  assert_int_equal(mgc_net_param_count(net), 16 * 24 + 16);
  mgc_net_free(net);
  mgc_arch_free(a);
}

/* Backward without dx (first layer of a net) gives the same parameter
 * gradients, and the gradients are overwritten, not accumulated. */
static void test_conv_backward_no_dx(void **st) {
  const char *yaml = "input: [2, 6, 7]\nlayers: [{type: conv2d, out: 3, kernel: 3, stride: 2, "
                     "padding: 1}]\n";
  one_layer t = make_layer(yaml, 3, 1);
  size_t nx = 3 * 2 * 6 * 7, ny = 3 * mgc_shape_size(&t.l->out);
  float *x = malloc(nx * sizeof(float)), *y = malloc(ny * sizeof(float));
  float *dy = malloc(ny * sizeof(float)), *dx = malloc(nx * sizeof(float));
  fill_normal(x, nx, 1);
  fill_normal(dy, ny, 2);
  t.l->ops->forward(t.l, x, y, 3, 1, t.ws);
  t.l->ops->backward(t.l, x, y, dy, dx, 3, t.ws);
  size_t nw = t.l->params[0].size;
  float *g1 = malloc(nw * sizeof(float)), b1[3];
  memcpy(g1, t.l->params[0].grad, nw * sizeof(float));
  memcpy(b1, t.l->params[1].grad, sizeof b1);
  t.l->ops->backward(t.l, x, y, dy, NULL, 3, t.ws);
  for (size_t i = 0; i < nw; i++) assert_float_equal(t.l->params[0].grad[i], g1[i], 0);
  for (int i = 0; i < 3; i++) assert_float_equal(t.l->params[1].grad[i], b1[i], 0);
  free(g1);
  free(x);
  free(y);
  free(dy);
  free(dx);
  free_layer(&t);
}

/* ---- pooling ----------------------------------------------------------- */

static void test_pool_gradients(void **st) {
  check_layer("input: [2, 6, 7]\nlayers: [{type: maxpool2d, kernel: [2, 3]}]\n", gc_defaults());
  check_layer("input: [2, 6, 7]\nlayers: [{type: avgpool2d, kernel: [2, 3]}]\n", gc_defaults());
  /* overlapping windows with padding */
  check_layer("input: [2, 7, 6]\nlayers: [{type: maxpool2d, kernel: 3, stride: 2, "
              "padding: 1}]\n",
              gc_defaults());
  check_layer("input: [2, 7, 6]\nlayers: [{type: avgpool2d, kernel: [3, 2], stride: [2, 1], "
              "padding: [1, 1]}]\n",
              gc_defaults());
  check_layer("input: [3, 11]\nlayers: [{type: maxpool1d, kernel: 3, stride: 2, padding: 1}]\n",
              gc_defaults());
  check_layer("input: [3, 11]\nlayers: [{type: avgpool1d, kernel: 2}]\n", gc_defaults());
  check_layer("input: [3, 4, 5]\nlayers: [{type: global_avgpool}]\n", gc_defaults());
  /* max pools pass the gradient to one input in a window: small enough
   * inputs (48 values at most) that the check sees every entry */
  check_layer("input: [3, 2, 4]\nlayers: [{type: global_maxpool}]\n", gc_defaults());
  check_layer("input: [3, 9]\nlayers: [{type: global_avgpool}]\n", gc_defaults());
  check_layer("input: [3, 8]\nlayers: [{type: global_maxpool}]\n", gc_defaults());
}

static void test_pool_values(void **st) {
  /* 2x2 max pooling: the max, and on a tie the first maximum gets the
   * gradient (PyTorch's choice). */
  one_layer t = make_layer("input: [1, 2, 4]\nlayers: [{type: maxpool2d, kernel: 2}]\n", 1, 1);
  float x[8] = {1, 5, 2, 2, 3, 4, 2, 0}, y[2], dy[2] = {1, 10}, dx[8];
  t.l->ops->forward(t.l, x, y, 1, 1, t.ws);
  assert_float_equal(y[0], 5, 0);
  assert_float_equal(y[1], 2, 0);
  t.l->ops->backward(t.l, x, y, dy, dx, 1, t.ws);
  const float ex[8] = {0, 1, 10, 0, 0, 0, 0, 0};
  for (int i = 0; i < 8; i++) assert_float_equal(dx[i], ex[i], 0);
  free_layer(&t);

  /* A NaN wins its window, as in PyTorch (which takes the last NaN). */
  t = make_layer("input: [1, 2, 4]\nlayers: [{type: maxpool2d, kernel: 2}]\n", 1, 1);
  x[0] = NAN, x[5] = NAN;
  t.l->ops->forward(t.l, x, y, 1, 1, t.ws);
  assert_true(isnan(y[0]));
  assert_float_equal(y[1], 2, 0);
  t.l->ops->backward(t.l, x, y, dy, dx, 1, t.ws);
  assert_float_equal(dx[5], 1, 0);
  assert_float_equal(dx[0], 0, 0);
  free_layer(&t);

  /* Padding: max pooling pads with -inf (a negative map stays negative),
   * average pooling counts the padded zeros. */
  float xn[9] = {-1, -2, -3, -4, -5, -6, -7, -8, -9}, ym[4], ya[4];
  t = make_layer("input: [1, 3, 3]\nlayers: [{type: maxpool2d, kernel: 2, padding: 1}]\n", 1, 0);
  t.l->ops->forward(t.l, xn, ym, 1, 0, t.ws);
  const float em[4] = {-1, -2, -4, -5};
  for (int i = 0; i < 4; i++) assert_float_equal(ym[i], em[i], 0);
  free_layer(&t);
  t = make_layer("input: [1, 3, 3]\nlayers: [{type: avgpool2d, kernel: 2, padding: 1}]\n", 1, 0);
  t.l->ops->forward(t.l, xn, ya, 1, 0, t.ws);
  const float ea[4] = {-0.25f, -1.25f, -2.75f, -7.0f};
  for (int i = 0; i < 4; i++) assert_float_equal(ya[i], ea[i], 1e-6);
  free_layer(&t);

  /* Rectangular [2, 1] windows over a batch of two, 1-D and global pools. */
  t = make_layer("input: [2, 2, 2]\nlayers: [{type: avgpool2d, kernel: [2, 1]}]\n", 2, 0);
  float xb[16], yb[8];
  for (int i = 0; i < 16; i++) xb[i] = (float)i;
  t.l->ops->forward(t.l, xb, yb, 2, 0, t.ws);
  for (int i = 0; i < 8; i++) assert_float_equal(yb[i], (float)(4 * (i / 2) + i % 2) + 1, 1e-6);
  free_layer(&t);
  t = make_layer("input: [2, 5]\nlayers: [{type: maxpool1d, kernel: 2}]\n", 1, 0);
  float x1[10] = {3, 1, 4, 1, 5, 9, 2, 6, 5, 3}, y1[4];
  t.l->ops->forward(t.l, x1, y1, 1, 0, t.ws);
  const float e1[4] = {3, 4, 9, 6};
  for (int i = 0; i < 4; i++) assert_float_equal(y1[i], e1[i], 0);
  free_layer(&t);
  float yg[2];
  t = make_layer("input: [2, 5]\nlayers: [{type: global_maxpool}]\n", 1, 0);
  t.l->ops->forward(t.l, x1, yg, 1, 0, t.ws);
  assert_float_equal(yg[0], 5, 0);
  assert_float_equal(yg[1], 9, 0);
  free_layer(&t);
  t = make_layer("input: [2, 5]\nlayers: [{type: global_avgpool}]\n", 1, 0);
  t.l->ops->forward(t.l, x1, yg, 1, 0, t.ws);
  assert_float_equal(yg[0], 2.8f, 1e-6);
  assert_float_equal(yg[1], 5.0f, 1e-6);
  free_layer(&t);
}

/* ---- batchnorm --------------------------------------------------------- */

static void test_batchnorm_gradients(void **st) {
  check_layer("input: [3, 4, 5]\nlayers: [{type: batchnorm}]\n", batch_of(3));
  check_layer("input: [3, 7]\nlayers: [{type: batchnorm1d}]\n", batch_of(3));
  check_layer("input: [6]\nlayers: [{type: batchnorm}]\n", batch_of(4));
  check_layer("input: [2, 3, 3]\nlayers: [{type: batchnorm2d, affine: false}]\n", batch_of(3));
  /* Inside a net, with a dense layer on each side. The bias of a layer in
   * front of batchnorm has a zero gradient (the batch mean removes it),
   * which the checker rightly refuses to accept, so it has none. */
  check_net("input: [5]\nlayers: [{type: dense, out: 4, bias: false}, {type: batchnorm}, "
            "{type: dense, out: 3}]\n",
            batch_of(4));
}

static void test_batchnorm_values(void **st) {
  /* One feature, a batch of 4: mean 2.5, biased variance 1.25, unbiased 5/3. */
  mgc_arch *a = gc_arch("input: [1]\nlayers: [{type: batchnorm}]\n");
  mgc_net *net;
  assert_int_equal(mgc_net_new(a, 0, 1, &net), MGC_OK);
  assert_int_equal(mgc_net_n_params(net), 4);
  mgc_param *g = mgc_net_find_param(net, "0.weight"), *b = mgc_net_find_param(net, "0.bias");
  mgc_param *rm = mgc_net_find_param(net, "0.running_mean");
  mgc_param *rv = mgc_net_find_param(net, "0.running_var");
  assert_non_null(g);
  assert_non_null(b);
  assert_non_null(rm);
  assert_non_null(rv);
  assert_null(rm->grad);
  assert_null(rv->grad);
  assert_non_null(g->grad);
  assert_float_equal(g->value[0], 1, 0);
  assert_float_equal(b->value[0], 0, 0);
  assert_float_equal(rm->value[0], 0, 0);
  assert_float_equal(rv->value[0], 1, 0);
  assert_int_equal(mgc_net_param_count(net), 2);
  assert_int_equal(mgc_net_plan(net, 4, 1), MGC_OK);
  float x[4] = {1, 2, 3, 4};
  const float *y = mgc_net_forward(net, x, 4, 1);
  for (int i = 0; i < 4; i++)
    assert_float_equal(y[i], (x[i] - 2.5) / sqrt(1.25 + 1e-5), 1e-6);
  /* running = 0.9*running + 0.1*batch, the variance unbiased */
  assert_float_equal(rm->value[0], 0.25f, 1e-7);
  assert_float_equal(rv->value[0], 0.9f + 0.1f * 5.0f / 3.0f, 1e-6);
  y = mgc_net_forward(net, x, 4, 1);
  assert_float_equal(rm->value[0], 0.9f * 0.25f + 0.25f, 1e-6);
  assert_float_equal(rv->value[0], 0.9f * (0.9f + 0.5f / 3.0f) + 0.5f / 3.0f, 1e-6);
  /* inference: running statistics, gamma and beta */
  rm->value[0] = 2.0f;
  rv->value[0] = 4.0f;
  g->value[0] = 3.0f;
  b->value[0] = -1.0f;
  y = mgc_net_forward(net, x, 4, 0);
  for (int i = 0; i < 4; i++)
    assert_float_equal(y[i], 3.0 * (x[i] - 2.0) / sqrt(4.0 + 1e-5) - 1.0, 1e-6);
  mgc_net_free(net);
  mgc_arch_free(a);

  /* [C, H, W]: per channel zero mean and unit variance over the batch and
   * the map, whatever the channels' scales; momentum and eps options. */
  a = gc_arch("input: [3, 4, 5]\nlayers: [{type: batchnorm2d, momentum: 0.25, eps: 0.001}]\n");
  assert_int_equal(mgc_net_new(a, 0, 1, &net), MGC_OK);
  assert_int_equal(mgc_net_plan(net, 6, 1), MGC_OK);
  float *xs = malloc(6 * 60 * sizeof(float));
  fill_normal(xs, 360, 9);
  double mean[3] = {0}, var[3] = {0};
  for (int n = 0; n < 6; n++)
    for (int c = 0; c < 3; c++)
      for (int i = 0; i < 20; i++) {
        float *v = &xs[(n * 3 + c) * 20 + i];
        *v = *v * (float)(c + 1) * 10 + 100.0f * (float)c;
        mean[c] += *v / 120.0;
      }
  for (int n = 0; n < 6; n++)
    for (int c = 0; c < 3; c++)
      for (int i = 0; i < 20; i++) {
        double d = xs[(n * 3 + c) * 20 + i] - mean[c];
        var[c] += d * d / 120.0;
      }
  y = mgc_net_forward(net, xs, 6, 1);
  rm = mgc_net_find_param(net, "0.running_mean");
  rv = mgc_net_find_param(net, "0.running_var");
  for (int c = 0; c < 3; c++) {
    double s1 = 0, s2 = 0;
    for (int n = 0; n < 6; n++)
      for (int i = 0; i < 20; i++) {
        double v = y[(n * 3 + c) * 20 + i];
        s1 += v;
        s2 += v * v;
      }
    assert_float_equal(s1 / 120.0, 0.0, 1e-5);
    assert_float_equal(s2 / 120.0, var[c] / (var[c] + 1e-3), 1e-5);
    assert_float_equal(rm->value[c], 0.25 * mean[c], 1e-4);
    double erv = 0.75 + 0.25 * var[c] * 120.0 / 119.0;
    assert_float_equal(rv->value[c], erv, 1e-5 * erv);
  }
  free(xs);
  mgc_net_free(net);
  mgc_arch_free(a);

  /* One value per channel in training (PyTorch refuses it): the output is
   * beta and the running statistics stay finite and unchanged. */
  a = gc_arch("input: [3]\nlayers: [{type: batchnorm}]\n");
  assert_int_equal(mgc_net_new(a, 0, 1, &net), MGC_OK);
  assert_int_equal(mgc_net_plan(net, 2, 1), MGC_OK);
  float x1[3] = {5, -2, 7};
  y = mgc_net_forward(net, x1, 1, 1);
  for (int i = 0; i < 3; i++) assert_float_equal(y[i], 0, 0);
  rm = mgc_net_find_param(net, "0.running_mean");
  rv = mgc_net_find_param(net, "0.running_var");
  for (int i = 0; i < 3; i++) {
    assert_float_equal(rm->value[i], 0, 0);
    assert_float_equal(rv->value[i], 1, 0);
  }
  mgc_net_free(net);
  mgc_arch_free(a);

  /* affine: false has only the buffers */
  a = gc_arch("input: [2, 3]\nlayers: [{type: batchnorm, affine: false}]\n");
  assert_int_equal(mgc_net_new(a, 0, 1, &net), MGC_OK);
  assert_int_equal(mgc_net_n_params(net), 2);
  assert_non_null(mgc_net_find_param(net, "0.running_var"));
  assert_int_equal(mgc_net_param_count(net), 0);
  mgc_net_free(net);
  mgc_arch_free(a);
}

/* ---- refused options ---------------------------------------------------- */

/* The net refuses `yaml` with a message containing each of `want`. */
static void expect_refused(const char *yaml, const char *want1, const char *want2) {
  mgc_arch *a = gc_arch(yaml);
  mgc_net *net = NULL;
  mgc_status st = mgc_net_new(a, 0, 1, &net);
  if (st != MGC_EINVAL) fail_msg("accepted:\n%s", yaml);
  const char *msg = mgc_error_message();
  if (!strstr(msg, want1) || (want2 && !strstr(msg, want2)))
    fail_msg("message '%s' lacks '%s' / '%s'", msg, want1, want2 ? want2 : "");
  assert_null(net);
  mgc_arch_free(a);
}

static void test_refused(void **st) {
  /* The net points at the option the message names: line 2, its column. */
  expect_refused("input: [1, 4, 4]\nlayers: [{type: conv2d, out: 2, kernel: 7, padding: 1}]\n",
                 "<test>:2:41:", "'kernel' [7, 7] (dilation [1, 1]) is larger than the input");
  expect_refused("input: [1, 4, 4]\nlayers: [{type: conv2d, out: 2, kernel: 3, dilation: 2}]\n",
                 "'kernel'", "larger than the input 4x4");
  expect_refused("input: [1, 9]\nlayers: [{type: conv1d, out: 2, kernel: 10}]\n", "'kernel' 10",
                 "input length 9");
  expect_refused("input: [1, 4, 4]\nlayers: [{type: conv2d, out: 0, kernel: 3}]\n", "<test>:2:30:",
                 "'out' must be in [1,");
  expect_refused("input: [1, 4, 4]\nlayers: [{type: conv2d, kernel: 3}]\n", "'out'", "required");
  expect_refused("input: [1, 4, 4]\nlayers: [{type: conv2d, out: 2}]\n", "'kernel'", "required");
  expect_refused("input: [1, 4, 4]\nlayers: [{type: conv2d, out: 2, kernel: 3, stride: 0}]\n",
                 "'stride' must be in [1,", NULL);
  expect_refused("input: [1, 4, 4]\nlayers: [{type: conv2d, out: 2, kernel: 3, strides: 2}]\n",
                 "unknown option 'strides' for conv2d", NULL);
  expect_refused("input: [1, 4, 4]\nlayers: [{type: conv2d, out: 2, kernel: [3, 3, 3]}]\n",
                 "'kernel' must be an integer or a pair", NULL);
  expect_refused("input: [16]\nlayers: [{type: conv2d, out: 2, kernel: 3}]\n",
                 "conv2d needs a map [C, H, W]", "input [16]");
  expect_refused("input: [2, 16]\nlayers: [{type: conv2d, out: 2, kernel: 3}]\n",
                 "use conv1d for [C, L]", NULL);
  expect_refused("input: [2, 4, 16]\nlayers: [{type: conv1d, out: 2, kernel: 3}]\n",
                 "use conv2d for [C, H, W]", NULL);
  expect_refused("input: [2, 16]\nlayers: [{type: conv1d, out: 2, kernel: [3, 1]}]\n",
                 "'kernel' must be a single integer", NULL);
  expect_refused("input: [1, 8, 8]\nlayers: [{type: conv2d, out: 2, kernel: 4, padding: same}]\n",
                 "'padding' same needs an odd kernel", NULL);
  expect_refused("input: [1, 8, 8]\nlayers: [{type: conv2d, out: 2, kernel: 3, padding: same, "
                 "stride: 2}]\n",
                 "'padding' same needs stride 1", NULL);
  expect_refused("input: [1, 8, 8]\nlayers: [{type: conv2d, out: 2, kernel: 3, padding: valid}]\n",
                 "'padding' must be an integer", NULL);
  expect_refused("input: [1, 8, 8]\nlayers: [{type: conv2d, out: 2, kernel: 3, bias: 2}]\n",
                 "'bias' must be true or false", NULL);
  /* pooling */
  expect_refused("input: [1, 3, 8]\nlayers: [{type: maxpool2d, kernel: [4, 2]}]\n",
                 "'kernel' [4, 2] is larger than the input 3x8", NULL);
  expect_refused("input: [1, 8, 8]\nlayers: [{type: maxpool2d, kernel: 3, padding: 2}]\n",
                 "'padding' must be at most half the kernel", NULL);
  expect_refused("input: [1, 8, 8]\nlayers: [{type: avgpool2d}]\n", "'kernel'", "required");
  expect_refused("input: [1, 8, 8]\nlayers: [{type: maxpool2d, kernel: 2, stride: 0}]\n",
                 "'stride' must be in [1,", NULL);
  expect_refused("input: [1, 8]\nlayers: [{type: maxpool2d, kernel: 2}]\n",
                 "use the 1d pool for [C, L]", NULL);
  expect_refused("input: [1, 8, 8]\nlayers: [{type: avgpool1d, kernel: 2}]\n",
                 "use the 2d pool for [C, H, W]", NULL);
  expect_refused("input: [8]\nlayers: [{type: global_avgpool}]\n",
                 "global_avgpool needs a map", NULL);
  expect_refused("input: [1, 8, 8]\nlayers: [{type: global_maxpool, kernel: 2}]\n",
                 "unknown option 'kernel'", NULL);
  /* batchnorm */
  expect_refused("input: [3, 8]\nlayers: [{type: batchnorm2d}]\n",
                 "batchnorm2d needs a map [C, H, W], got [3, 8]", NULL);
  expect_refused("input: [3, 8, 8]\nlayers: [{type: batchnorm1d}]\n",
                 "batchnorm1d needs a vector [F] or a map [C, L]", NULL);
  expect_refused("input: [3, 8, 8]\nlayers: [{type: batchnorm, momentum: 1.5}]\n",
                 "'momentum' must be in [0, 1]", NULL);
}

/* ---- a whole CRNN-style net ------------------------------------------- */

static void test_conv_net(void **st) {
  /* The conv has no bias in front of batchnorm, as usual (see the batchnorm
   * test). ReLU and max pooling have kinks: a weight feeds every position,
   * so a finite difference of a larger map often straddles one (about one
   * seed in four fails at [2, 6, 8]); on this small map, with this seed, the
   * worst relative error is 5e-4 against the 1e-2 tolerance. */
  check_net("name: tiny\nfeature: logmel\ninput: [2, 4, 6]\nclasses: 3\nlayers:\n"
            "  - {type: conv2d, out: 4, kernel: 3, padding: 1, bias: false}\n"
            "  - {type: batchnorm}\n"
            "  - {type: relu}\n"
            "  - {type: maxpool2d, kernel: 2}\n"
            "  - {type: dropout, p: 0.2}\n"
            "  - {type: to_sequence}\n"
            "  - {type: dense, out: classes}\n",
            batch_of(3));
  /* conv1d stack ending in a global pool, with a softmax head */
  check_net("input: [3, 20]\nclasses: 4\nlayers:\n"
            "  - {type: conv1d, out: 5, kernel: 3, padding: same, bias: false}\n"
            "  - {type: batchnorm1d}\n"
            "  - {type: elu}\n"
            "  - {type: avgpool1d, kernel: 2}\n"
            "  - {type: conv1d, out: 4, kernel: 3, stride: 2}\n"
            "  - {type: global_maxpool}\n"
            "  - {type: dense, out: classes}\n"
            "  - {type: softmax}\n",
            batch_of(3));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_conv_gradients),   cmocka_unit_test(test_conv_reference),
      cmocka_unit_test(test_conv_hand_computed), cmocka_unit_test(test_shapes),
      cmocka_unit_test(test_conv_params),      cmocka_unit_test(test_conv_backward_no_dx),
      cmocka_unit_test(test_pool_gradients),   cmocka_unit_test(test_pool_values),
      cmocka_unit_test(test_batchnorm_gradients), cmocka_unit_test(test_batchnorm_values),
      cmocka_unit_test(test_refused),          cmocka_unit_test(test_conv_net),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
