/* Model files and inference sessions: safetensors reading and writing,
 * save -> load bit-exact round trips with metadata, refusal (with a clear
 * message and no leak) of every kind of damaged or mismatched file, import
 * of PyTorch-named state dicts in F32/F64/F16/BF16, and sessions that
 * standardise like the model says and never allocate while running. */
#include <math.h>

#include "mgc/model/model.h"
#include "mgc/model/net.h"
#include "mgc/nn/parallel.h"
#include "mgc/model/safetensors.h"
#include "mgc/model/session.h"
#include "mgc/train/trainer.h"
#include "test_util.h"

#include "alloc_count.h"

/* A logmel-shaped MLP, a sequence model, a conv-map read as a sequence, a
 * vector model without a softmax layer. */
static const char *k_map =
    "name: tiny-map\n"
    "feature: logmel\n"
    "input: [1, 8, 6]\n"
    "classes: 3\n"
    "layers:\n"
    "  - {type: flatten}\n"
    "  - {type: dense, out: 16}\n"
    "  - {type: relu}\n"
    "  - {type: dropout, p: 0.3}\n"
    "  - {type: dense, out: classes}\n"
    "  - {type: softmax}\n";
static const char *k_seq =
    "name: tiny-seq\n"
    "feature: mfcc\n"
    "input: [6, 8]\n"
    "layers:\n"
    "  - {type: dense, out: 12}\n"
    "  - {type: tanh}\n"
    "  - {type: temporal_pool, mode: mean}\n"
    "  - {type: dense, out: classes}\n"
    "  - {type: softmax}\n";
static const char *k_toseq =
    "name: tiny-toseq\n"
    "input: [2, 4, 6]\n"
    "layers:\n"
    "  - {type: to_sequence}\n"
    "  - {type: dense, out: 10, name: proj}\n"
    "  - {type: relu}\n"
    "  - {type: temporal_pool, mode: max}\n"
    "  - {type: dense, out: classes, name: head}\n";
static const char *k_vec =
    "name: tiny-vec\n"
    "feature: table\n"
    "input: [8]\n"
    "layers:\n"
    "  - {type: dense, out: classes, bias: false}\n"
    "  - {type: softmax}\n";

/* The default model's shape in small (conv, batchnorm with running
 * statistics, max-pooling, to_sequence, stacked bidirectional GRU), and a
 * conv1d map whose bands are its channels. */
static const char *k_crnn =
    "name: crnn-small\n"
    "feature: logmel\n"
    "input: [1, 16, 12]\n"
    "layers:\n"
    "  - {type: conv2d, out: 4, kernel: 3, padding: 1}\n"
    "  - {type: batchnorm}\n"
    "  - {type: relu}\n"
    "  - {type: maxpool2d, kernel: [4, 2]}\n"
    "  - {type: dropout, p: 0.1}\n"
    "  - {type: conv2d, out: 6, kernel: 3, padding: 1}\n"
    "  - {type: batchnorm}\n"
    "  - {type: relu}\n"
    "  - {type: maxpool2d, kernel: [4, 1]}\n"
    "  - {type: to_sequence}\n"
    "  - {type: gru, hidden: 5, layers: 2, bidirectional: true, return: last, dropout: 0.2}\n"
    "  - {type: dropout, p: 0.3}\n"
    "  - {type: dense, out: classes}\n"
    "  - {type: softmax}\n";
static const char *k_conv1d =
    "name: tiny-conv1d\n"
    "feature: mfcc\n"
    "input: [5, 20]\n"
    "layers:\n"
    "  - {type: conv1d, out: 4, kernel: 3}\n"
    "  - {type: batchnorm}\n"
    "  - {type: relu}\n"
    "  - {type: maxpool1d, kernel: 2}\n"
    "  - {type: global_avgpool}\n"
    "  - {type: dense, out: classes}\n";

static const char *k_classes[] = {"blues", "cl\xc3\xa1ssica", "hip \"hop\"", "rock/pop"};

/* ---- helpers ------------------------------------------------------------ */

static void path_in(char *buf, size_t cap, const char *name) {
  snprintf(buf, cap, "%s/%s", g_dir, name);
}

static void write_file(const char *path, const void *data, size_t len) {
  FILE *f = fopen(path, "wb");
  assert_non_null(f);
  if (len) assert_int_equal(fwrite(data, 1, len, f), len);
  assert_int_equal(fclose(f), 0);
}

static mgc_arch *parse_arch(const char *yaml) {
  mgc_arch *a;
  if (mgc_arch_parse(yaml, strlen(yaml), "test.yaml", &a)) fail_msg("%s", mgc_error_message());
  return a;
}

static mgc_model *new_model(const char *yaml, int n, const char *const *classes, uint64_t seed) {
  mgc_arch *a = parse_arch(yaml);
  mgc_model *m;
  if (mgc_model_new(a, n, classes, seed, &m)) fail_msg("%s", mgc_error_message());
  mgc_arch_free(a);
  return m;
}

static void fill_random(float *v, size_t n, uint64_t *seed) {
  for (size_t i = 0; i < n; i++) v[i] = (float)(test_rand(seed) % 20001) / 1000.0f - 10.0f;
}

/* Buffers (batchnorm running statistics) start as 0 and 1: give them
 * values a trained model would have, so that losing or swapping one shows. */
static void randomize_buffers(mgc_net *net, uint64_t seed) {
  for (int i = 0; i < mgc_net_n_params(net); i++) {
    mgc_param *p = mgc_net_param(net, i);
    if (p->grad) continue;
    for (size_t k = 0; k < p->size; k++)
      p->value[k] = 0.25f + (float)(test_rand(&seed) % 1000) / 400.0f;
  }
}

static int band_size(const mgc_model *m) { return m->arch->input.d[mgc_model_band_axis(m->arch)]; }

/* Awkward but legal statistics: signed zero, tiny, huge and subnormal
 * values, so that the JSON round trip must really be exact. */
static void set_norm_awkward(mgc_model *m, uint64_t seed, int awkward) {
  int d = band_size(m);
  float *mean = malloc(sizeof(float) * (size_t)d), *std = malloc(sizeof(float) * (size_t)d);
  for (int i = 0; i < d; i++) {
    mean[i] = (float)(test_rand(&seed) % 100000) / 997.0f - 50.0f;
    std[i] = 0.1f + (float)(test_rand(&seed) % 100000) / 3331.0f;
  }
  mean[0] = -0.0f;
  if (awkward) {
    if (d > 2) mean[1] = 1e-45f, mean[2] = -3.4028235e38f;
    std[d - 1] = 1.1754942e-38f;
  }
  if (mgc_model_set_norm(m, d, mean, std)) fail_msg("%s", mgc_error_message());
  free(mean);
  free(std);
}

static void set_norm(mgc_model *m, uint64_t seed) { set_norm_awkward(m, seed, 0); }

static void expect_msg(const char *sub) {
  const char *msg = mgc_error_message();
  if (!strstr(msg, sub)) fail_msg("message \"%s\"\n  does not contain \"%s\"", msg, sub);
}

/* The load must fail, return no model, and name the file and the problem. */
static void expect_load_refused(const char *path, const char *sub1, const char *sub2) {
  mgc_model *m = (mgc_model *)1;
  mgc_error_clear();
  mgc_status st = mgc_model_load(path, &m);
  if (st == MGC_OK) fail_msg("%s loaded, expected a refusal mentioning '%s'", path, sub1);
  assert_null(m);
  print_message("    refused: %s\n", mgc_error_message());
  expect_msg(path);
  if (sub1) expect_msg(sub1);
  if (sub2) expect_msg(sub2);
}

static void expect_st_refused(const void *bytes, size_t len, const char *sub) {
  mgc_st_file *f = (mgc_st_file *)1;
  if (mgc_st_parse(bytes, len, "crafted.safetensors", &f) == MGC_OK)
    fail_msg("parsed, expected a refusal mentioning '%s'", sub);
  assert_null(f);
  print_message("    refused: %s\n", mgc_error_message());
  expect_msg("crafted.safetensors");
  expect_msg(sub);
}

/* A safetensors file from a header text (length field = its size) and data. */
static unsigned char *craft(const char *header, const void *data, size_t dlen, size_t *len) {
  size_t h = strlen(header);
  *len = 8 + h + dlen;
  unsigned char *b = malloc(*len + 1);
  for (int i = 0; i < 8; i++) b[i] = (unsigned char)((uint64_t)h >> (8 * i));
  memcpy(b + 8, header, h);
  if (dlen) memcpy(b + 8 + h, data, dlen);
  return b;
}

/* Header text and data of a model file, for edits. */
static char *header_of(const unsigned char *b, size_t len, size_t *hlen) {
  uint64_t n = 0;
  for (int i = 7; i >= 0; i--) n = n << 8 | b[i];
  assert_true(n + 8 <= len);
  *hlen = (size_t)n;
  char *h = malloc(*hlen + 1);
  memcpy(h, b + 8, *hlen);
  h[*hlen] = 0;
  return h;
}

/* Write a copy of a model file whose header has `from` replaced by `to`. */
static void rewrite_header(const char *src, const char *dst, const char *from, const char *to) {
  size_t len, hlen;
  unsigned char *b = read_file(src, &len);
  char *h = header_of(b, len, &hlen);
  char *at = strstr(h, from);
  if (!at) fail_msg("'%s' not in the header", from);
  size_t nh = hlen - strlen(from) + strlen(to);
  char *n = malloc(nh + 1);
  size_t pre = (size_t)(at - h);
  memcpy(n, h, pre);
  memcpy(n + pre, to, strlen(to));
  memcpy(n + pre + strlen(to), at + strlen(from), hlen - pre - strlen(from));
  n[nh] = 0;
  size_t out_len;
  unsigned char *o = craft(n, b + 8 + hlen, len - 8 - hlen, &out_len);
  write_file(dst, o, out_len);
  free(o);
  free(n);
  free(h);
  free(b);
}

static void net_entries(const mgc_net *net, mgc_st_entry *e) {
  for (int i = 0; i < mgc_net_n_params(net); i++) {
    const mgc_param *p = mgc_net_param(net, i);
    memset(&e[i], 0, sizeof e[i]);
    e[i].name = p->name;
    e[i].dtype = MGC_ST_F32;
    e[i].ndim = p->ndim;
    for (int d = 0; d < p->ndim; d++) e[i].shape[d] = (size_t)p->shape[d];
    e[i].data = p->value;
  }
}

static void expect_same_weights(const mgc_net *a, const mgc_net *b) {
  assert_int_equal(mgc_net_n_params(a), mgc_net_n_params(b));
  for (int i = 0; i < mgc_net_n_params(a); i++) {
    const mgc_param *p = mgc_net_param(a, i), *q = mgc_net_find_param(b, p->name);
    assert_non_null(q);
    assert_int_equal(p->size, q->size);
    assert_int_equal(p->ndim, q->ndim);
    assert_memory_equal(p->shape, q->shape, sizeof p->shape);
    assert_memory_equal(p->value, q->value, p->size * sizeof(float));
    assert_true((p->grad == NULL) == (q->grad == NULL));
  }
}

/* Inference-mode probabilities of both nets on the same batch: identical. */
static void expect_same_predictions(mgc_net *a, mgc_net *b, int batch, uint64_t seed) {
  mgc_shape s = mgc_net_input_shape(a);
  size_t n = mgc_shape_size(&s) * (size_t)batch, c = (size_t)mgc_net_n_classes(a);
  float *x = malloc(sizeof(float) * n), *pa = malloc(sizeof(float) * c * (size_t)batch);
  fill_random(x, n, &seed);
  assert_int_equal(mgc_net_plan(a, batch, 0), MGC_OK);
  assert_int_equal(mgc_net_plan(b, batch, 0), MGC_OK);
  const float *p = mgc_net_predict(a, x, batch);
  assert_non_null(p);
  memcpy(pa, p, sizeof(float) * c * (size_t)batch);
  const float *q = mgc_net_predict(b, x, batch);
  assert_non_null(q);
  assert_memory_equal(pa, q, sizeof(float) * c * (size_t)batch);
  /* and they are probabilities, not something degenerate */
  double sum = 0;
  for (size_t k = 0; k < c; k++) sum += pa[k];
  assert_true(fabs(sum - 1.0) < 1e-5);
  free(x);
  free(pa);
}

static char *fe_json(const mgc_frontend_params *p) {
  char *s;
  if (mgc_frontend_params_to_json(p, &s)) fail_msg("%s", mgc_error_message());
  return s;
}

/* ---- safetensors -------------------------------------------------------- */

static void test_st_write_format(void **st) {
  (void)st;
  char path[512];
  path_in(path, sizeof path, "fmt.safetensors");
  float a[6] = {1, 2, 3, 4, 5, 6};
  uint16_t bf[2] = {0x3f80, 0xc000}; /* 1.0, -2.0 */
  mgc_st_meta_entry meta[] = {{"zeta", "last letter"}, {"alpha", "\xc3\xa9t\xc3\xa9 \"q\"\n"}};
  mgc_st_entry t[3] = {{.name = "z.weight", .dtype = MGC_ST_F32, .ndim = 2, .shape = {2, 3}, .data = a},
                       {.name = "a.empty", .dtype = MGC_ST_F32, .ndim = 1, .shape = {0}, .data = NULL},
                       {.name = "m.bf", .dtype = MGC_ST_BF16, .ndim = 1, .shape = {2}, .data = bf}};
  assert_int_equal(mgc_st_write(path, meta, 2, t, 3), MGC_OK);
  size_t len, hlen;
  unsigned char *b = read_file(path, &len);
  char *h = header_of(b, len, &hlen);
  assert_int_equal(hlen % 8, 0);
  assert_int_equal(len, 8 + hlen + 24 + 4);
  /* keys in the order given, metadata first, padding with spaces only */
  char *pm = strstr(h, "\"__metadata__\""), *pz = strstr(h, "\"zeta\""),
       *pa = strstr(h, "\"alpha\""), *pw = strstr(h, "\"z.weight\""),
       *pe = strstr(h, "\"a.empty\""), *pb = strstr(h, "\"m.bf\"");
  assert_true(pm && pz && pa && pw && pe && pb);
  assert_true(pm == h + 1 && pz < pa && pa < pw && pw < pe && pe < pb);
  size_t end = strlen(h);
  while (end && h[end - 1] == ' ') end--;
  assert_int_equal(h[end - 1], '}');
  assert_true(hlen - end < 8);
  assert_non_null(strstr(h, "\"z.weight\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]}"));
  assert_non_null(strstr(h, "\"a.empty\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[24,24]}"));
  assert_memory_equal(b + 8 + hlen, a, 24);
  /* no temporary left behind */
  char tmp[600];
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  assert_null(fopen(tmp, "rb"));

  mgc_st_file *f;
  if (mgc_st_read(path, &f)) fail_msg("%s", mgc_error_message());
  assert_int_equal(mgc_st_n_meta(f), 2);
  assert_string_equal(mgc_st_meta_key(f, 0), "zeta");
  assert_string_equal(mgc_st_meta(f, "alpha"), meta[1].value);
  assert_null(mgc_st_meta(f, "beta"));
  assert_int_equal(mgc_st_n_tensors(f), 3);
  /* data order: the zero-size tensor at 24 sorts before m.bf at [24, 28) */
  assert_string_equal(mgc_st_tensor_at(f, 0)->name, "z.weight");
  assert_string_equal(mgc_st_tensor_at(f, 1)->name, "a.empty");
  const mgc_st_tensor *tw = mgc_st_find(f, "z.weight"), *tb = mgc_st_find(f, "m.bf");
  assert_int_equal(tw->ndim, 2);
  assert_int_equal(tw->shape[1], 3);
  assert_int_equal(tw->count, 6);
  float got[6];
  assert_int_equal(mgc_st_to_f32(tw, got), MGC_OK);
  assert_memory_equal(got, a, sizeof a);
  assert_int_equal(mgc_st_to_f32(tb, got), MGC_OK);
  assert_true(got[0] == 1.0f && got[1] == -2.0f);
  assert_int_equal(mgc_st_find(f, "a.empty")->count, 0);
  mgc_st_free(f);
  free(h);
  free(b);

  /* the writer refuses what it cannot describe */
  mgc_st_entry dup[2] = {t[0], t[0]};
  assert_int_not_equal(mgc_st_write(path, NULL, 0, dup, 2), MGC_OK);
  expect_msg("given twice");
  mgc_st_meta_entry bad = {"k", "\xff\xfe"};
  assert_int_not_equal(mgc_st_write(path, &bad, 1, t, 1), MGC_OK);
  expect_msg("UTF-8");
  /* and a failed write leaves the previous file intact */
  f = NULL;
  assert_int_equal(mgc_st_read(path, &f), MGC_OK);
  assert_int_equal(mgc_st_n_tensors(f), 3);
  mgc_st_free(f);
}

static void test_st_float_conversions(void **st) {
  (void)st;
  /* F16: 1, -2, 65504 (max), 2^-24 (smallest subnormal), 2^-14 (smallest
   * normal), 0.333 (0x3555), -0, inf. BF16 and F64 likewise exact. */
  uint16_t h[8] = {0x3c00, 0xc000, 0x7bff, 0x0001, 0x0400, 0x3555, 0x8000, 0x7c00};
  float h_want[8] = {1.0f, -2.0f, 65504.0f, 0x1p-24f, 0x1p-14f, 0x1.554p-2f, -0.0f, INFINITY};
  uint16_t bf[3] = {0x3f80, 0x4049, 0xff80}; /* 1, 3.140625, -inf */
  float bf_want[3] = {1.0f, 3.140625f, -INFINITY};
  double d[3] = {0.1, -1e300, 1.5};
  int64_t i64[1] = {42};
  char hdr[600];
  snprintf(hdr, sizeof hdr,
           "{\"h\":{\"dtype\":\"F16\",\"shape\":[8],\"data_offsets\":[0,16]},"
           "\"b\":{\"dtype\":\"BF16\",\"shape\":[3],\"data_offsets\":[16,22]},"
           "\"d\":{\"dtype\":\"F64\",\"shape\":[3],\"data_offsets\":[22,46]},"
           "\"n\":{\"dtype\":\"I64\",\"shape\":[],\"data_offsets\":[46,54]}}");
  unsigned char data[54];
  memcpy(data, h, 16);
  memcpy(data + 16, bf, 6);
  memcpy(data + 22, d, 24);
  memcpy(data + 46, i64, 8);
  size_t len;
  unsigned char *b = craft(hdr, data, sizeof data, &len);
  mgc_st_file *f;
  if (mgc_st_parse(b, len, "conv", &f)) fail_msg("%s", mgc_error_message());
  float out[8];
  assert_int_equal(mgc_st_to_f32(mgc_st_find(f, "h"), out), MGC_OK);
  for (int i = 0; i < 8; i++) {
    if (out[i] != h_want[i] || signbit(out[i]) != signbit(h_want[i]))
      fail_msg("F16 %#06x -> %a, want %a", h[i], (double)out[i], (double)h_want[i]);
  }
  assert_int_equal(mgc_st_to_f32(mgc_st_find(f, "b"), out), MGC_OK);
  assert_memory_equal(out, bf_want, sizeof bf_want);
  assert_int_equal(mgc_st_to_f32(mgc_st_find(f, "d"), out), MGC_OK);
  assert_true(out[0] == 0.1f && out[1] == -INFINITY && out[2] == 1.5f);
  const mgc_st_tensor *n = mgc_st_find(f, "n");
  assert_int_equal(n->ndim, 0);
  assert_int_equal(n->count, 1);
  assert_int_not_equal(mgc_st_to_f32(n, out), MGC_OK);
  expect_msg("I64");
  assert_int_equal(mgc_st_dtype_size(MGC_ST_BF16), 2);
  assert_string_equal(mgc_st_dtype_name(MGC_ST_F8_E4M3), "F8_E4M3");
  mgc_st_free(f);
  free(b);
}

static void test_st_reader_refusals(void **st) {
  (void)st;
  float d[4] = {1, 2, 3, 4};
  size_t len;
  unsigned char *b;
  unsigned char tiny[7] = {0};
  expect_st_refused(tiny, 0, "shorter than the 8-byte");
  expect_st_refused(tiny, 7, "shorter than the 8-byte");
  /* length beyond the file, and absurd */
  b = craft("{}", NULL, 0, &len);
  b[0] = 3;
  expect_st_refused(b, len, "beyond the end of the file");
  b[0] = 0, b[5] = 1; /* 2^40 */
  expect_st_refused(b, len, "absurd");
  free(b);
  static const struct {
    const char *header, *why;
    size_t data;
  } cases[] = {
      {"{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}", "does not parse (line 1, column", 16},
      {"  [1, 2]", "must be a JSON object", 0},
      {"", "does not parse", 0},
      {"{\"__metadata__\":{\"a\":1}}", "metadata 'a' is not a string", 0},
      {"{\"__metadata__\":[\"a\"]}", "__metadata__ must be an object", 0},
      {"{\"a\":{\"dtype\":\"F33\",\"shape\":[4],\"data_offsets\":[0,16]}}", "unknown dtype 'F33'", 16},
      {"{\"a\":{\"dtype\":7,\"shape\":[4],\"data_offsets\":[0,16]}}", "dtype must be a string", 16},
      {"{\"a\":{\"dtype\":\"F32\",\"shape\":[-4],\"data_offsets\":[0,16]}}", "non-negative integers", 16},
      {"{\"a\":{\"dtype\":\"F32\",\"shape\":[4.0],\"data_offsets\":[0,16]}}", "non-negative integers", 16},
      {"{\"a\":{\"dtype\":\"F32\",\"shape\":4,\"data_offsets\":[0,16]}}", "non-negative integers", 16},
      {"{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[16,0]}}", "end before they begin", 16},
      {"{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0]}}", "data_offsets must be [begin, end]", 16},
      {"{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,\"16\"]}}", "data_offsets must be [begin, end]", 16},
      {"{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,20]}}", "go beyond the data buffer", 16},
      {"{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,16]}}", "hold 16 bytes but shape [3] of F32 needs 12", 16},
      {"{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16],\"x\":1}}", "unexpected key 'x'", 16},
      {"{\"a\":{\"dtype\":\"F32\",\"shape\":[4]}}", "missing 'data_offsets'", 16},
      {"{\"a\":[1]}", "entry must be an object", 0},
      {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
       "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", "overlap", 16},
      {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
       "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[12,16]}}", "belong to no tensor, before 'b'", 16},
      {"{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,12]}}", "4 trailing bytes", 16},
      {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
       "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}", "duplicate", 16},
      {"{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,16]}}", "too large", 16},
      {"{}", "16 trailing bytes", 16},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    b = craft(cases[i].header, d, cases[i].data, &len);
    expect_st_refused(b, len, cases[i].why);
    free(b);
  }
  /* what is legal: no tensors, null metadata, trailing spaces */
  const char *ok[] = {"{}", "{\"__metadata__\":null}    ", "{\"__metadata__\":{}}"};
  for (int i = 0; i < 3; i++) {
    mgc_st_file *f;
    b = craft(ok[i], NULL, 0, &len);
    if (mgc_st_parse(b, len, "ok", &f)) fail_msg("%s: %s", ok[i], mgc_error_message());
    assert_int_equal(mgc_st_n_tensors(f), 0);
    mgc_st_free(f);
    free(b);
  }
  /* a missing file and a directory */
  mgc_st_file *f;
  char p[512];
  path_in(p, sizeof p, "no-such.safetensors");
  assert_int_equal(mgc_st_read(p, &f), MGC_EIO);
  expect_msg(p);
  assert_int_equal(mgc_st_read(g_dir, &f), MGC_EIO);
  expect_msg("directory");
}

/* ---- model round trip --------------------------------------------------- */

static void roundtrip(const char *yaml, const char *name) {
  char path[512], again[600];
  path_in(path, sizeof path, name);
  snprintf(again, sizeof again, "%s.again", path);
  mgc_model *m = new_model(yaml, 4, k_classes, 1234);
  randomize_buffers(m->net, 17);
  m->frontend.n_mels = 64;
  m->frontend.hop_length = 256;
  m->frontend.fmax = 8000.5;
  m->frontend.tuning = NAN;
  m->frontend.top_db = 80;
  set_norm_awkward(m, 99, 1);
  assert_int_equal(mgc_model_set_recipe(m, "epochs: 3\nlr: 0.001  # adam\n"), MGC_OK);
  assert_int_equal(mgc_model_set_metrics(m, "{\"accuracy\": 0.5, \"f1\": [0.1, 0.2]}"), MGC_OK);
  if (mgc_model_save(m, path)) fail_msg("%s", mgc_error_message());

  mgc_model *l;
  if (mgc_model_load(path, &l)) fail_msg("%s", mgc_error_message());
  assert_string_equal(l->arch->text, m->arch->text);
  assert_string_equal(l->arch->name, m->arch->name);
  assert_int_equal(l->n_classes, 4);
  for (int i = 0; i < 4; i++) assert_string_equal(l->classes[i], k_classes[i]);
  char *fa = fe_json(&m->frontend), *fb = fe_json(&l->frontend);
  assert_string_equal(fa, fb);
  assert_true(isnan(l->frontend.tuning));
  assert_int_equal(l->frontend.n_mels, 64);
  free(fa);
  free(fb);
  assert_int_equal(l->norm_dim, m->norm_dim);
  assert_memory_equal(l->norm_mean, m->norm_mean, sizeof(float) * (size_t)m->norm_dim);
  assert_memory_equal(l->norm_std, m->norm_std, sizeof(float) * (size_t)m->norm_dim);
  assert_true(signbit(l->norm_mean[0]));
  assert_string_equal(l->recipe, m->recipe);
  assert_string_equal(l->metrics, m->metrics);
  expect_same_weights(m->net, l->net);
  expect_same_predictions(m->net, l->net, 5, 7);

  /* saving what was loaded reproduces the file byte for byte */
  if (mgc_model_save(l, again)) fail_msg("%s", mgc_error_message());
  size_t la, lb;
  unsigned char *a = read_file(path, &la), *b = read_file(again, &lb);
  assert_int_equal(la, lb);
  assert_memory_equal(a, b, la);
  free(a);
  free(b);
  mgc_model_free(l);

  /* no recipe, metrics or statistics: they stay absent */
  assert_int_equal(mgc_model_set_norm(m, 0, NULL, NULL), MGC_OK);
  assert_int_equal(mgc_model_set_recipe(m, NULL), MGC_OK);
  assert_int_equal(mgc_model_set_metrics(m, NULL), MGC_OK);
  assert_int_equal(mgc_model_save(m, path), MGC_OK);
  assert_int_equal(mgc_model_load(path, &l), MGC_OK);
  assert_int_equal(l->norm_dim, 0);
  assert_null(l->norm_mean);
  assert_null(l->recipe);
  assert_null(l->metrics);
  expect_same_predictions(m->net, l->net, 2, 8);
  mgc_model_free(l);
  mgc_model_free(m);
}

static void test_roundtrip_map(void **st) { (void)st; roundtrip(k_map, "map.safetensors"); }
static void test_roundtrip_seq(void **st) { (void)st; roundtrip(k_seq, "seq.safetensors"); }
static void test_roundtrip_toseq(void **st) { (void)st; roundtrip(k_toseq, "toseq.safetensors"); }
static void test_roundtrip_vec(void **st) { (void)st; roundtrip(k_vec, "vec.safetensors"); }
static void test_roundtrip_crnn(void **st) { (void)st; roundtrip(k_crnn, "crnn.safetensors"); }
static void test_roundtrip_conv1d(void **st) { (void)st; roundtrip(k_conv1d, "conv1d.safetensors"); }

static void test_model_new_classes(void **st) {
  (void)st;
  mgc_model *m = new_model(k_map, 0, NULL, 1); /* the architecture's 'classes: 3' */
  assert_int_equal(m->n_classes, 3);
  assert_string_equal(m->classes[2], "2");
  mgc_model_free(m);
  mgc_arch *a = parse_arch(k_seq); /* no 'classes' and none given */
  assert_int_not_equal(mgc_model_new(a, 0, NULL, 1, &m), MGC_OK);
  assert_null(m);
  expect_msg("classes");
  const char *dup[] = {"a", "b", "a"};
  assert_int_not_equal(mgc_model_new(a, 3, dup, 1, &m), MGC_OK);
  expect_msg("'a' is used twice");
  mgc_arch_free(a);
  a = parse_arch("input: [4]\nlayers: [{type: dense, out: 5}]\n");
  assert_int_not_equal(mgc_model_new(a, 3, NULL, 1, &m), MGC_OK);
  expect_msg("gives 5 outputs");
  mgc_arch_free(a);
  /* same seed, same weights; another seed, others */
  mgc_model *x = new_model(k_map, 3, NULL, 5), *y = new_model(k_map, 3, NULL, 5),
            *z = new_model(k_map, 3, NULL, 6);
  expect_same_weights(x->net, y->net);
  assert_memory_not_equal(mgc_net_param(x->net, 0)->value, mgc_net_param(z->net, 0)->value,
                          16 * sizeof(float));
  assert_int_not_equal(mgc_model_set_classes(x, 2, k_classes), MGC_OK);
  assert_int_equal(mgc_model_set_classes(x, 3, k_classes), MGC_OK);
  assert_string_equal(x->classes[1], k_classes[1]);
  mgc_model_free(x);
  mgc_model_free(y);
  mgc_model_free(z);
}

/* ---- model refusals ----------------------------------------------------- */

static void good_model_file(char *path, size_t cap, mgc_model **keep) {
  path_in(path, cap, "good.safetensors");
  mgc_model *m = new_model(k_map, 4, k_classes, 42);
  set_norm(m, 3);
  if (mgc_model_save(m, path)) fail_msg("%s", mgc_error_message());
  if (keep) *keep = m;
  else mgc_model_free(m);
}

static void test_refuse_truncated(void **st) {
  (void)st;
  char good[512], bad[512];
  good_model_file(good, sizeof good, NULL);
  path_in(bad, sizeof bad, "truncated.safetensors");
  size_t len, hlen;
  unsigned char *b = read_file(good, &len);
  free(header_of(b, len, &hlen));
  const struct {
    size_t at;
    const char *why;
  } cuts[] = {
      {0, "shorter than the 8-byte"},          {3, "shorter than the 8-byte"},
      {7, "shorter than the 8-byte"},          {8, "beyond the end of the file"},
      {8 + hlen / 2, "beyond the end of the file"}, {8 + hlen - 1, "beyond the end of the file"},
      {8 + hlen, "beyond the data buffer"},    {8 + hlen + 5, "beyond the data buffer"},
      {len / 2 + hlen / 2, "beyond the data buffer"}, {len - 1, "beyond the data buffer"},
  };
  for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
    write_file(bad, b, cuts[i].at);
    expect_load_refused(bad, cuts[i].why, NULL);
  }
  /* one byte too many is as wrong as one too few */
  unsigned char *longer = malloc(len + 1);
  memcpy(longer, b, len);
  longer[len] = 0;
  write_file(bad, longer, len + 1);
  expect_load_refused(bad, "1 trailing bytes", NULL);
  free(longer);
  free(b);
}

static void test_refuse_header_bitflips(void **st) {
  (void)st;
  char good[512], bad[512];
  good_model_file(good, sizeof good, NULL);
  path_in(bad, sizeof bad, "flipped.safetensors");
  size_t len, hlen;
  unsigned char *b = read_file(good, &len);
  char *h = header_of(b, len, &hlen);
  unsigned char *c = malloc(len);
  /* a digit of a shape: [16,48] -> [16,58] */
  const char *key = "\"1.weight\":{\"dtype\":\"F32\",\"shape\":[16,48]";
  char *at = strstr(h, key);
  assert_non_null(at);
  memcpy(c, b, len);
  c[8 + (size_t)(at - h) + strlen(key) - 3] = '5';
  write_file(bad, c, len);
  expect_load_refused(bad, "tensor '1.weight'", "shape [16, 58] of F32 needs");
  /* every digit of 4.bias's offsets, each turned into another digit */
  at = strstr(h, "\"4.bias\"");
  assert_non_null(at);
  char *off = strstr(at, "\"data_offsets\":[");
  assert_non_null(off);
  int flipped = 0;
  for (char *p = off + 16; *p != ']'; p++) {
    if (*p < '0' || *p > '9') continue;
    memcpy(c, b, len);
    c[8 + (size_t)(p - h)] = *p == '9' ? '1' : (char)(*p + 1);
    write_file(bad, c, len);
    expect_load_refused(bad, "'4.bias'", NULL);
    flipped++;
  }
  assert_true(flipped >= 4);
  /* a quote turned into something else: the JSON breaks, with a position */
  at = strstr(h, "\"classes\"");
  memcpy(c, b, len);
  c[8 + (size_t)(at - h)] = 'x';
  write_file(bad, c, len);
  expect_load_refused(bad, "header JSON does not parse (line 1, column", NULL);
  /* a brace turned into a bracket */
  memcpy(c, b, len);
  c[8] = '[';
  write_file(bad, c, len);
  expect_load_refused(bad, "does not parse", NULL);
  /* the length field: larger than the file, smaller than the header */
  memcpy(c, b, len);
  uint64_t n = len;
  for (int i = 0; i < 8; i++) c[i] = (unsigned char)(n >> (8 * i));
  write_file(bad, c, len);
  expect_load_refused(bad, "header length", "beyond the end of the file");
  memcpy(c, b, len);
  n = hlen - 8;
  for (int i = 0; i < 8; i++) c[i] = (unsigned char)(n >> (8 * i));
  write_file(bad, c, len);
  expect_load_refused(bad, "does not parse", NULL);
  free(c);
  free(h);
  free(b);
}

/* Every single-bit error in the header is refused with a message naming
 * the file: structure by the safetensors checks, free text (names, class
 * names, statistics) by the checksum; never a crash, an overrun or a leak
 * (the ASan build checks). Then bits flipped across the tensor data. */
static void test_every_header_bit_flip(void **st) {
  (void)st;
  char good[512], bad[512];
  good_model_file(good, sizeof good, NULL);
  path_in(bad, sizeof bad, "fuzz.safetensors");
  size_t len, hlen;
  unsigned char *b = read_file(good, &len);
  free(header_of(b, len, &hlen));
  unsigned char *c = malloc(len);
  int refused = 0, loaded = 0;
  for (size_t i = 0; i < 8 + hlen; i++) {
    memcpy(c, b, len);
    c[i] ^= (unsigned char)(1u << (i % 8));
    write_file(bad, c, len);
    mgc_model *m = NULL;
    if (mgc_model_load(bad, &m) == MGC_OK) {
      assert_non_null(m);
      assert_int_equal(m->n_classes, mgc_net_n_classes(m->net));
      assert_int_equal(mgc_model_check_norm(m), MGC_OK);
      mgc_model_free(m);
      loaded++;
    } else {
      assert_null(m);
      expect_msg(bad);
      refused++;
    }
  }
  print_message("    %zu header bytes flipped: %d refused, %d loaded\n", 8 + hlen, refused,
                loaded);
  assert_int_equal(loaded, 0);
  int data_flips = 0;
  for (size_t i = 8 + hlen; i < len; i += 37) {
    memcpy(c, b, len);
    c[i] ^= (unsigned char)(1u << (i % 8));
    write_file(bad, c, len);
    mgc_model *m = NULL;
    if (mgc_model_load(bad, &m) == MGC_OK) fail_msg("data byte %zu flipped, still loaded", i);
    expect_msg("checksum mismatch");
    data_flips++;
  }
  print_message("    %d flips in tensor data: all refused by the checksum\n", data_flips);
  free(c);
  free(b);
}

/* A model file with the good file's metadata but tensors changed by `edit`. */
typedef void (*tensor_edit)(mgc_st_entry *e, int *n, void *scratch);

static void write_edited(const char *good, const char *bad, const mgc_model *m, tensor_edit edit,
                         void *scratch) {
  mgc_st_file *f;
  if (mgc_st_read(good, &f)) fail_msg("%s", mgc_error_message());
  int nm = mgc_st_n_meta(f);
  mgc_st_meta_entry *meta = calloc((size_t)nm, sizeof *meta);
  for (int i = 0; i < nm; i++) meta[i] = (mgc_st_meta_entry){mgc_st_meta_key(f, i), mgc_st_meta_value(f, i)};
  int n = mgc_net_n_params(m->net);
  mgc_st_entry *e = calloc((size_t)n + 2, sizeof *e);
  net_entries(m->net, e);
  edit(e, &n, scratch);
  if (mgc_st_write(bad, meta, nm, e, n)) fail_msg("%s", mgc_error_message());
  free(e);
  free(meta);
  mgc_st_free(f);
}

static int find_entry(mgc_st_entry *e, int n, const char *name) {
  for (int i = 0; i < n; i++)
    if (!strcmp(e[i].name, name)) return i;
  fail_msg("no tensor %s", name);
  return -1;
}

static void edit_transpose(mgc_st_entry *e, int *n, void *s) {
  int i = find_entry(e, *n, "1.weight");
  size_t t = e[i].shape[0];
  e[i].shape[0] = e[i].shape[1];
  e[i].shape[1] = t;
}
static void edit_rank(mgc_st_entry *e, int *n, void *s) {
  int i = find_entry(e, *n, "4.bias");
  e[i].ndim = 2;
  e[i].shape[1] = 1;
}
static void edit_i32(mgc_st_entry *e, int *n, void *s) {
  e[find_entry(e, *n, "1.weight")].dtype = MGC_ST_I32;
}
static void edit_f64(mgc_st_entry *e, int *n, void *s) {
  int i = find_entry(e, *n, "4.bias");
  e[i].dtype = MGC_ST_F64;
  e[i].data = s; /* room for 4 doubles */
}
static void edit_missing(mgc_st_entry *e, int *n, void *s) {
  int i = find_entry(e, *n, "4.bias");
  memmove(&e[i], &e[i + 1], sizeof *e * (size_t)(*n - i - 1));
  (*n)--;
}
static void edit_extra(mgc_st_entry *e, int *n, void *s) {
  e[*n] = e[*n - 1];
  e[*n].name = "9.weight";
  (*n)++;
}
static void edit_nan(mgc_st_entry *e, int *n, void *s) {
  int i = find_entry(e, *n, "4.bias");
  memcpy(s, e[i].data, 4 * sizeof(float));
  ((float *)s)[2] = NAN;
  e[i].data = s;
}

static void test_refuse_tensor_mismatch(void **st) {
  (void)st;
  char good[512], bad[512];
  mgc_model *m;
  good_model_file(good, sizeof good, &m);
  path_in(bad, sizeof bad, "mismatch.safetensors");
  double scratch[8] = {0};
  write_edited(good, bad, m, edit_transpose, scratch);
  expect_load_refused(bad, "tensor '1.weight' has shape [48, 16]", "expects [16, 48]");
  write_edited(good, bad, m, edit_rank, scratch);
  expect_load_refused(bad, "tensor '4.bias' has shape [4, 1]", "expects [4]");
  write_edited(good, bad, m, edit_i32, scratch);
  expect_load_refused(bad, "tensor '1.weight' is I32", "expected F32");
  write_edited(good, bad, m, edit_f64, scratch); /* a model file is F32 only */
  expect_load_refused(bad, "tensor '4.bias' is F64", "expected F32");
  write_edited(good, bad, m, edit_missing, scratch);
  expect_load_refused(bad, "missing tensor '4.bias'", "F32 [4]");
  write_edited(good, bad, m, edit_extra, scratch);
  expect_load_refused(bad, "unexpected tensor '9.weight'", "no such tensor");
  write_edited(good, bad, m, edit_nan, scratch);
  expect_load_refused(bad, "tensor '4.bias'", "non-finite");
  mgc_model_free(m);
}

static void test_refuse_bad_metadata(void **st) {
  (void)st;
  char good[512], bad[512];
  good_model_file(good, sizeof good, NULL);
  path_in(bad, sizeof bad, "meta.safetensors");
  /* architecture YAML that does not parse: file name, then line:col */
  rewrite_header(good, bad, "input: [1, 8, 6]\\n", "input: [1, 8, 6\\n");
  expect_load_refused(bad, "meta.safetensors: architecture:", NULL);
  const char *msg = mgc_error_message();
  int line = 0, col = 0;
  const char *p = strstr(msg, "architecture:");
  assert_int_equal(sscanf(p, "architecture:%d:%d:", &line, &col), 2);
  assert_true(line >= 3 && col >= 1);
  /* YAML that parses but is not an architecture: the key's position */
  rewrite_header(good, bad, "feature: logmel\\n", "feature: logmel\\nfeatures: x\\n");
  expect_load_refused(bad, "meta.safetensors: architecture:3:1: unknown key 'features'", NULL);
  /* a layer that cannot be built */
  rewrite_header(good, bad, "{type: dense, out: 16}", "{type: dense, out: -16}");
  expect_load_refused(bad, "meta.safetensors: architecture:7:", "'out'");
  /* non-string metadata values */
  rewrite_header(good, bad, "\"mgc_version\":\"1\"", "\"mgc_version\":1");
  expect_load_refused(bad, "metadata 'mgc_version' is not a string", NULL);
  rewrite_header(good, bad, "\"format\":\"mgc-model\"", "\"format\":[\"mgc-model\"]");
  expect_load_refused(bad, "metadata 'format' is not a string", NULL);
  /* not ours, or a version from the future */
  rewrite_header(good, bad, "\"format\":\"mgc-model\"", "\"format\":\"pt\"");
  expect_load_refused(bad, "not an mgc model", "mgc-model import");
  rewrite_header(good, bad, "\"mgc_version\":\"1\"", "\"mgc_version\":\"2\"");
  expect_load_refused(bad, "version '2' is not supported", NULL);
  /* classes, front-end and statistics that disagree or do not parse */
  rewrite_header(good, bad, "\\\"blues\\\",", "");
  expect_load_refused(bad, "tensor '4.weight' has shape [4, 16]", "expects [3, 16] (built for 3 classes)");
  rewrite_header(good, bad, "\"classes\":\"[", "\"classes\":\"{");
  expect_load_refused(bad, "metadata 'classes' is not JSON", NULL);
  rewrite_header(good, bad, "\\\"n_mels\\\":128", "\\\"n_mels\\\":-3");
  expect_load_refused(bad, "metadata 'frontend'", "n_mels");
  rewrite_header(good, bad, "\"norm_std\":\"[", "\"norm_std\":\"[1, ");
  expect_load_refused(bad, "'norm_mean' has 8 values, 'norm_std' 9", NULL);
  rewrite_header(good, bad, "\"norm_std\":\"[", "\"norm_std\":\"[-1, ");
  rewrite_header(bad, bad, "\"norm_mean\":\"[", "\"norm_mean\":\"[1, ");
  expect_load_refused(bad, "std[0]", "> 0");
  rewrite_header(good, bad, "\"norm_std\":\"[", "\"norm_std\":\"[\\\"x\\\", ");
  expect_load_refused(bad, "'norm_std': item 0 is not a number", NULL);
  rewrite_header(good, bad, "\"architecture\":", "\"architectur\":");
  expect_load_refused(bad, "metadata 'architecture' is missing", NULL);
}

/* ---- import ------------------------------------------------------------- */

/* Round to bfloat16 as PyTorch does (nearest, ties to even). */
static uint16_t to_bf16(float v) {
  uint32_t u;
  memcpy(&u, &v, 4);
  u += 0x7fffu + ((u >> 16) & 1u);
  return (uint16_t)(u >> 16);
}

/* Exact F16 bits of a value k * 2^-8 with |k| < 1024 (these are all
 * representable: 11 significant bits at most, exponent in the normal range). */
static uint16_t to_f16_exact(float v) {
  if (v == 0) return signbit(v) ? 0x8000 : 0;
  uint16_t s = v < 0 ? 0x8000 : 0;
  float a = fabsf(v);
  int e = 0;
  float m = frexpf(a, &e); /* a = m * 2^e, m in [0.5, 1) */
  int exp = e - 1 + 15;
  uint16_t man = (uint16_t)((m * 2.0f - 1.0f) * 1024.0f);
  return (uint16_t)(s | exp << 10 | man);
}

typedef enum { AS_F32, AS_F64, AS_F16, AS_BF16 } state_dtype;

/* Write net's tensors as a PyTorch state dict would be saved, after
 * rounding net's weights to what the dtype can hold (so both sides hold
 * the very same numbers), plus a num_batches_tracked counter. */
static void write_state_dict(mgc_net *net, const char *path, state_dtype dt) {
  int n = mgc_net_n_params(net);
  mgc_st_entry *e = calloc((size_t)n + 1, sizeof *e);
  void **bufs = calloc((size_t)n, sizeof *bufs);
  net_entries(net, e);
  for (int i = 0; i < n; i++) {
    mgc_param *p = mgc_net_param(net, i);
    if (dt == AS_F64) {
      double *d = malloc(8 * p->size);
      for (size_t k = 0; k < p->size; k++) d[k] = p->value[k];
      bufs[i] = d;
      e[i].dtype = MGC_ST_F64;
    } else if (dt == AS_BF16 || dt == AS_F16) {
      uint16_t *h = malloc(2 * p->size);
      for (size_t k = 0; k < p->size; k++) {
        if (dt == AS_BF16) {
          h[k] = to_bf16(p->value[k]);
          uint32_t u = (uint32_t)h[k] << 16;
          memcpy(&p->value[k], &u, 4);
        } else {
          p->value[k] = roundf(p->value[k] * 256.0f) / 256.0f;
          h[k] = to_f16_exact(p->value[k]);
        }
      }
      bufs[i] = h;
      e[i].dtype = dt == AS_BF16 ? MGC_ST_BF16 : MGC_ST_F16;
    }
    if (bufs[i]) e[i].data = bufs[i];
  }
  int64_t steps = 1234;
  e[n] = (mgc_st_entry){.name = "1.num_batches_tracked", .dtype = MGC_ST_I64, .ndim = 0, .data = &steps};
  mgc_st_meta_entry meta = {"format", "pt"};
  if (mgc_st_write(path, &meta, 1, e, n + 1)) fail_msg("%s", mgc_error_message());
  for (int i = 0; i < n; i++) free(bufs[i]);
  free(bufs);
  free(e);
}

static void import_variants(const char *yaml, const char *arch, const char *state) {
  write_file(arch, yaml, strlen(yaml));
  mgc_arch *a = parse_arch(yaml);
  const char *names[] = {"F32", "F64", "F16", "BF16"};
  for (int v = AS_F32; v <= AS_BF16; v++) {
    print_message("    %s, state dict as %s\n", a->name, names[v]);
    mgc_net *ref;
    assert_int_equal(mgc_net_new(a, 4, 100 + (uint64_t)v, &ref), MGC_OK);
    randomize_buffers(ref, 200 + (uint64_t)v);
    write_state_dict(ref, state, (state_dtype)v);
    mgc_model *m;
    if (mgc_model_import(arch, state, v == AS_F32 ? k_classes : NULL, 4, &m))
      fail_msg("%s", mgc_error_message());
    assert_int_equal(m->n_classes, 4);
    assert_string_equal(m->classes[3], v == AS_F32 ? k_classes[3] : "3");
    assert_int_equal(m->norm_dim, 0);
    assert_int_equal(m->frontend.n_mels, 128);
    expect_same_weights(ref, m->net);
    expect_same_predictions(ref, m->net, 3, 11);
    mgc_net_free(ref);
    mgc_model_free(m);
  }
  mgc_arch_free(a);
}

static void test_import_state_dict(void **st) {
  (void)st;
  char arch[512], state[512];
  path_in(arch, sizeof arch, "import.yaml");
  path_in(state, sizeof state, "state.safetensors");
  import_variants(k_crnn, arch, state);
  import_variants(k_toseq, arch, state);
  /* the state dict is not an mgc model, but once imported it saves as one */
  expect_load_refused(state, "not an mgc model", "format = \"pt\"");
  mgc_model *m;
  assert_int_equal(mgc_model_import(arch, state, NULL, 4, &m), MGC_OK);
  char saved[512];
  path_in(saved, sizeof saved, "imported.safetensors");
  assert_int_equal(mgc_model_save(m, saved), MGC_OK);
  mgc_model *l;
  assert_int_equal(mgc_model_load(saved, &l), MGC_OK);
  expect_same_predictions(m->net, l->net, 2, 12);
  mgc_model_free(l);

  /* refusals name the state file and the tensor */
  mgc_st_entry e[8];
  int n = mgc_net_n_params(m->net);
  assert_true(n <= 7);
  net_entries(m->net, e);
  int64_t ints[400] = {0};
  e[0].dtype = MGC_ST_I32; /* proj.weight */
  assert_int_equal(mgc_st_write(state, NULL, 0, e, n), MGC_OK);
  assert_int_not_equal(mgc_model_import(arch, state, NULL, 4, &l), MGC_OK);
  assert_null(l);
  expect_msg(state);
  expect_msg("tensor 'proj.weight' is I32, expected a float type");
  net_entries(m->net, e);
  e[n] = (mgc_st_entry){.name = "proj.running_mean", .dtype = MGC_ST_F32, .ndim = 1, .shape = {2}, .data = ints};
  assert_int_equal(mgc_st_write(state, NULL, 0, e, n + 1), MGC_OK);
  assert_int_not_equal(mgc_model_import(arch, state, NULL, 4, &l), MGC_OK);
  expect_msg("unexpected tensor 'proj.running_mean'");
  assert_int_equal(mgc_st_write(state, NULL, 0, e, n - 1), MGC_OK);
  assert_int_not_equal(mgc_model_import(arch, state, NULL, 4, &l), MGC_OK);
  expect_msg("missing tensor 'head.bias'");
  /* a state dict for 3 classes does not fit a 4-class net */
  assert_int_equal(mgc_st_write(state, NULL, 0, e, n), MGC_OK);
  assert_int_not_equal(mgc_model_import(arch, state, NULL, 3, &l), MGC_OK);
  expect_msg("tensor 'head.weight' has shape [4, 10], the architecture expects [3, 10] (built for 3 classes)");
  /* and an architecture file that does not parse says where */
  const char *broken = "input: [4]\nlayers: [{type: dense, out: 4}\n";
  write_file(arch, broken, strlen(broken));
  assert_int_not_equal(mgc_model_import(arch, state, NULL, 4, &l), MGC_OK);
  expect_msg(arch);
  mgc_model_free(m);
}

/* ---- sessions ----------------------------------------------------------- */

/* Standardise as documented in model.h, written independently here. */
static void reference_standardize(const mgc_model *m, int conv_map, const float *x, float *y,
                                  int batch) {
  const mgc_shape *s = &m->arch->input;
  size_t n = mgc_shape_size(s);
  for (int b = 0; b < batch; b++)
    for (size_t i = 0; i < n; i++) {
      size_t band;
      if (s->ndim == 3) band = (i / (size_t)s->d[2]) % (size_t)s->d[1];     /* [C, H, W]: H */
      else if (s->ndim == 2 && conv_map) band = i / (size_t)s->d[1];        /* [C, L]: C */
      else if (s->ndim == 2) band = i % (size_t)s->d[1];                    /* [T, F]: F */
      else band = i;                                                        /* [F] */
      y[b * n + i] = (x[b * n + i] - m->norm_mean[band]) / m->norm_std[band];
    }
}

static void session_case(const char *yaml, int conv_map) {
  mgc_model *m = new_model(yaml, 4, NULL, 77);
  randomize_buffers(m->net, 6);
  assert_int_equal(mgc_model_band_axis(m->arch) == 0 && m->arch->input.ndim == 2, conv_map);
  set_norm(m, 5);
  const int max = 4;
  mgc_session *s;
  long before = g_allocs;
  if (mgc_session_new(m, max, &s)) fail_msg("%s", mgc_error_message());
  assert_true(g_allocs > before); /* the counter sees libmgc's allocations */
  assert_int_equal(mgc_session_max_batch(s), max);
  size_t per = mgc_shape_size(&m->arch->input);
  float *x = malloc(sizeof(float) * per * max), *xn = malloc(sizeof(float) * per * max);
  float *p = malloc(sizeof(float) * 4 * max), *ref = malloc(sizeof(float) * 4 * max);
  assert_int_equal(mgc_net_plan(m->net, max, 0), MGC_OK);
  uint64_t seed = 3;
  for (int round = 0; round < 3; round++) {
    for (int batch = 1; batch <= max; batch++) {
      fill_random(x, per * (size_t)batch, &seed);
      before = g_allocs;
      mgc_status stt = mgc_session_run(s, x, batch, p);
      long during = g_allocs - before;
      assert_int_equal(stt, MGC_OK);
      assert_int_equal(during, 0);
      reference_standardize(m, conv_map, x, xn, batch);
      const float *q = mgc_net_predict(m->net, xn, batch);
      assert_non_null(q);
      memcpy(ref, q, sizeof(float) * 4 * (size_t)batch);
      assert_memory_equal(p, ref, sizeof(float) * 4 * (size_t)batch);
      /* the library's own standardisation is the same function */
      mgc_model_standardize(m, x, x, batch);
      assert_memory_equal(x, xn, sizeof(float) * per * (size_t)batch);
    }
  }
  /* batches outside the plan are refused, still without allocating */
  before = g_allocs;
  assert_int_not_equal(mgc_session_run(s, x, max + 1, p), MGC_OK);
  assert_int_not_equal(mgc_session_run(s, x, 0, p), MGC_OK);
  assert_int_equal(g_allocs - before, 0);
  expect_msg("outside the session's 1..4");
  /* the session has its own weights: changing the model leaves it alone */
  fill_random(x, per, &seed);
  assert_int_equal(mgc_session_run(s, x, 1, p), MGC_OK);
  mgc_param *w = mgc_net_param(m->net, 0);
  for (size_t k = 0; k < w->size; k++) w->value[k] = 0;
  assert_int_equal(mgc_session_run(s, x, 1, ref), MGC_OK);
  assert_memory_equal(p, ref, sizeof(float) * 4);
  mgc_session_free(s);

  /* statistics that do not match the band axis are refused up front */
  m->norm_dim = band_size(m) + 1; /* bypassing the setter on purpose */
  assert_int_not_equal(mgc_session_new(m, 2, &s), MGC_OK);
  assert_null(s);
  expect_msg("standardisation statistics have");
  m->norm_dim = band_size(m);
  float one[64];
  for (int i = 0; i < 64; i++) one[i] = 1;
  assert_int_not_equal(mgc_model_set_norm(m, band_size(m) + 1, one, one), MGC_OK);
  expect_msg("bands");
  assert_int_not_equal(mgc_session_new(m, 0, &s), MGC_OK);
  free(x);
  free(xn);
  free(p);
  free(ref);
  mgc_model_free(m);
}

static void test_session_map(void **st) { (void)st; session_case(k_map, 0); }
static void test_session_seq(void **st) { (void)st; session_case(k_seq, 0); }
static void test_session_toseq(void **st) { (void)st; session_case(k_toseq, 0); }
static void test_session_vec(void **st) { (void)st; session_case(k_vec, 0); }
static void test_session_crnn(void **st) { (void)st; session_case(k_crnn, 0); }
static void test_session_conv1d(void **st) { (void)st; session_case(k_conv1d, 1); }

static void test_session_without_norm(void **st) {
  (void)st;
  mgc_model *m = new_model(k_map, 4, NULL, 8);
  mgc_session *s;
  assert_int_equal(mgc_session_new(m, 3, &s), MGC_OK);
  float x[3 * 48], p[12];
  uint64_t seed = 4;
  fill_random(x, 3 * 48, &seed);
  long before = g_allocs;
  assert_int_equal(mgc_session_run(s, x, 3, p), MGC_OK);
  assert_int_equal(g_allocs - before, 0);
  assert_int_equal(mgc_net_plan(m->net, 3, 0), MGC_OK);
  assert_memory_equal(p, mgc_net_predict(m->net, x, 3), sizeof p);
  mgc_session_free(s);
  mgc_model_free(m);
}

/* A trailing sigmoid is an output head: predict and sessions return its
 * independent tag probabilities as they are (no softmax over them), the
 * logits are what feeds it, tag names with spaces and odd characters
 * survive a save and load, and the trainer, whose loss is softmax
 * cross-entropy, refuses such a head. */
static void test_sigmoid_head(void **st) {
  (void)st;
  static const char *yaml =
      "input: [3]\nclasses: 4\nlayers:\n  - {name: dense, type: dense, out: classes}\n"
      "  - {type: sigmoid}\n";
  static const char *const tags[] = {"female vocalists", "Hip-Hop", "00s", "mood/theme---happy"};
  mgc_model *m = new_model(yaml, 4, tags, 3);
  const float w[12] = {0.5f, -1, 2, 1, 1, 1, -0.25f, 0, 3, 2, -2, 0.5f};
  const float b[4] = {0.1f, -0.2f, 0.3f, 1.5f};
  memcpy(mgc_net_find_param(m->net, "dense.weight")->value, w, sizeof w);
  memcpy(mgc_net_find_param(m->net, "dense.bias")->value, b, sizeof b);
  const float x[6] = {1, 0.5f, 0.75f, -1, 2, 0.25f};
  double z[8], want[8];
  for (int n = 0; n < 2; n++)
    for (int k = 0; k < 4; k++) {
      z[n * 4 + k] = b[k];
      for (int i = 0; i < 3; i++) z[n * 4 + k] += (double)w[k * 3 + i] * x[n * 3 + i];
      want[n * 4 + k] = 1.0 / (1.0 + exp(-z[n * 4 + k]));
    }
  assert_int_equal(mgc_net_n_classes(m->net), 4);
  assert_int_equal(mgc_net_plan(m->net, 2, 0), MGC_OK);
  const float *lz = mgc_net_forward(m->net, x, 2, 0);
  for (int i = 0; i < 8; i++) assert_float_equal(lz[i], z[i], 1e-5);
  char path[512];
  snprintf(path, sizeof path, "%s/sigmoid.safetensors", g_dir);
  assert_int_equal(mgc_model_save(m, path), MGC_OK);
  mgc_model_free(m);
  assert_int_equal(mgc_model_load(path, &m), MGC_OK);
  for (int k = 0; k < 4; k++) assert_string_equal(m->classes[k], tags[k]);
  mgc_session *s;
  assert_int_equal(mgc_session_new(m, 2, &s), MGC_OK);
  float p[8];
  assert_int_equal(mgc_session_run(s, x, 2, p), MGC_OK);
  for (int i = 0; i < 8; i++) assert_float_equal(p[i], want[i], 1e-6);
  /* not a distribution: the first sample's tags sum to 3.6, not 1 */
  assert_float_equal(p[0] + p[1] + p[2] + p[3], want[0] + want[1] + want[2] + want[3], 1e-5);
  assert_true(p[0] + p[1] + p[2] + p[3] > 2.0f);
  mgc_session_free(s);

  mgc_train_config cfg;
  mgc_train_config_default(&cfg);
  cfg.epochs = 1;
  cfg.batch = 2;
  cfg.win_len = cfg.win_hop = 1;
  const int labels[1] = {0};
  float frames[3] = {1, 2, 3};
  const mgc_feature_matrix fm = {frames, 1, 3, 0};
  const mgc_train_set set = {1, labels, &fm};
  mgc_train_result res;
  assert_int_equal(mgc_train_run(&cfg, m, &set, NULL, &res), MGC_EINVAL);
  assert_non_null(strstr(mgc_error_message(), "multi-label (sigmoid) heads cannot be trained yet; "
                                              "replace the head with dense + softmax"));
  mgc_model_free(m);
}

/* Sessions run max pools before the relu and batchnorm layers in front of
 * them, flipping the sign of conv channels whose batchnorm scale is
 * negative (session.c): the probabilities must keep every bit of the
 * model's net in file order, with negative, positive and zero gammas, for
 * conv2d and conv1d blocks and for a batchnorm with no conv before it (a
 * pool cannot pass that one when a scale is negative). */
static void test_session_reorder_exact(void **st) {
  (void)st;
  static const char *bn_first =
      "input: [2, 8, 6]\nlayers:\n  - {type: batchnorm, name: in_bn}\n  - {type: relu}\n"
      "  - {type: maxpool2d, kernel: 2}\n  - {type: flatten}\n  - {type: dense, out: classes}\n";
  const char *archs[] = {k_crnn, k_conv1d, bn_first};
  for (int a = 0; a < 3; a++) {
    mgc_model *m = new_model(archs[a], 4, NULL, 11);
    randomize_buffers(m->net, 9);
    int negative = 0;
    for (int i = 0; i < mgc_net_n_params(m->net); i++) {
      mgc_param *p = mgc_net_param(m->net, i);
      size_t len = strlen(p->name);
      int is_gamma = len > 7 && !strcmp(p->name + len - 7, ".weight") && p->ndim == 1;
      for (size_t c = 0; is_gamma && c < p->size; c++) {
        p->value[c] = c % 3 == 0 ? -0.75f - 0.1f * (float)c : c % 3 == 1 ? 0.5f : 0.0f;
        negative += p->value[c] < 0;
      }
    }
    assert_true(negative > 0);
    mgc_session *s;
    assert_int_equal(mgc_session_new(m, 4, &s), MGC_OK);
    assert_int_equal(mgc_net_plan(m->net, 4, 0), MGC_OK);
    size_t per = mgc_shape_size(&m->arch->input);
    float *x = malloc(sizeof(float) * per * 4), p[16];
    uint64_t seed = 21;
    for (int batch = 1; batch <= 4; batch++) {
      fill_random(x, per * (size_t)batch, &seed);
      assert_int_equal(mgc_session_run(s, x, batch, p), MGC_OK);
      const float *q = mgc_net_predict(m->net, x, batch);
      assert_non_null(q);
      assert_memory_equal(p, q, sizeof(float) * 4 * (size_t)batch);
    }
    free(x);
    mgc_session_free(s);
    mgc_model_free(m);
  }
}

/* Gammas with negative channels (flipped with the conv by the session),
 * positive and zero ones. */
static void mixed_gammas(mgc_net *net) {
  int negative = 0;
  for (int i = 0; i < mgc_net_n_params(net); i++) {
    mgc_param *p = mgc_net_param(net, i);
    size_t len = strlen(p->name);
    int is_gamma = len > 7 && !strcmp(p->name + len - 7, ".weight") && p->ndim == 1;
    for (size_t c = 0; is_gamma && c < p->size; c++) {
      p->value[c] = c % 3 == 0 ? -0.75f - 0.1f * (float)c : c % 3 == 1 ? 0.5f : 0.0f;
      negative += p->value[c] < 0;
    }
  }
  assert_true(negative > 0);
}

/* The FCN's blocks in small: maps large enough that conv forward unfolds
 * them in bands (above 1M column floats a sample), so that in a session,
 * where each max pool moves up to its conv, the conv and the pool run
 * fused. Bands of 15 rows under a 2-row pool (a row carried over), of 7
 * rows under an overlapping padded 3-row pool, a conv without bias. */
static const char *k_fcn_small =
    "name: fcn-small\n"
    "input: [1, 64, 1700]\n"
    "layers:\n"
    "  - {type: batchnorm, name: spec_bn}\n"
    "  - {type: conv2d, name: c1, out: 9, kernel: 3, padding: 1}\n"
    "  - {type: batchnorm, name: b1}\n"
    "  - {type: relu}\n"
    "  - {type: maxpool2d, kernel: [2, 4]}\n"
    "  - {type: conv2d, name: c2, out: 6, kernel: 3, padding: 1, bias: false}\n"
    "  - {type: batchnorm, name: b2}\n"
    "  - {type: relu}\n"
    "  - {type: maxpool2d, kernel: 3, stride: 2, padding: 1}\n"
    "  - {type: global_maxpool}\n"
    "  - {type: dropout, p: 0.5}\n"
    "  - {type: dense, name: head, out: classes}\n"
    "  - {type: softmax}\n";

/* The fused path gives the model net's numbers bit for bit, whether that
 * net runs with the inference plan (shared buffers, band-sized conv
 * scratch) or with per-layer buffers and whole column matrices (a
 * training plan), on 1 or 2 threads, and never allocates. */
static void test_session_fused_exact(void **st) {
  (void)st;
  mgc_model *m = new_model(k_fcn_small, 5, NULL, 13);
  randomize_buffers(m->net, 4);
  mixed_gammas(m->net);
  size_t per = mgc_shape_size(&m->arch->input);
  float *x = malloc(sizeof(float) * per * 2), p[10], q[10];
  uint64_t seed = 5;
  fill_random(x, per * 2, &seed);
  for (int threads = 1; threads <= 2; threads++) {
    assert_int_equal(mgc_parallel_set_threads(threads), MGC_OK);
    mgc_session *s;
    assert_int_equal(mgc_session_new(m, 2, &s), MGC_OK);
    for (int training_plan = 0; training_plan <= 1; training_plan++) {
      assert_int_equal(mgc_net_plan(m->net, 2, training_plan), MGC_OK);
      for (int batch = 1; batch <= 2; batch++) {
        long before = g_allocs;
        assert_int_equal(mgc_session_run(s, x, batch, p), MGC_OK);
        assert_int_equal(g_allocs - before, 0);
        const float *r = mgc_net_predict(m->net, x, batch);
        assert_non_null(r);
        memcpy(q, r, sizeof(float) * 5 * (size_t)batch);
        assert_memory_equal(p, q, sizeof(float) * 5 * (size_t)batch);
        assert_true(p[0] > 0.0f && p[0] < 1.0f);
      }
    }
    mgc_session_free(s);
    /* a fresh net: dropping the training plan frees its buffers */
    mgc_model_free(m);
    m = new_model(k_fcn_small, 5, NULL, 13);
    randomize_buffers(m->net, 4);
    mixed_gammas(m->net);
  }
  assert_int_equal(mgc_parallel_set_threads(1), MGC_OK);
  free(x);
  mgc_model_free(m);
}

/* A conv followed directly by a pool fuses in any net's inference plan
 * (max and average pools, strided and padded windows, a strided conv): the
 * plan holds less than the conv's output alone, and the output, NaN
 * included, is the unfused one's bit for bit (the same net planned for
 * training runs every layer on its own). */
static void test_net_fused_conv_pool(void **st) {
  (void)st;
  static const char *archs[] = {
      "input: [2, 48, 1200]\nlayers:\n"
      "  - {type: conv2d, out: 5, kernel: [3, 5], padding: [1, 2]}\n"
      "  - {type: maxpool2d, kernel: 3, stride: [2, 3], padding: 1}\n",
      "input: [2, 48, 2400]\nlayers:\n"
      "  - {type: conv2d, out: 4, kernel: 3, stride: [2, 1], padding: 1}\n"
      "  - {type: avgpool2d, kernel: 2}\n",
  };
  const int B = 3;
  for (int a = 0; a < 2; a++) {
    mgc_arch *arch = parse_arch(archs[a]);
    mgc_net *fused, *plain;
    assert_int_equal(mgc_net_new(arch, 0, 17, &fused), MGC_OK);
    assert_int_equal(mgc_net_new(arch, 0, 17, &plain), MGC_OK);
    assert_int_equal(mgc_net_plan(fused, B, 0), MGC_OK);
    assert_int_equal(mgc_net_plan(plain, B, 1), MGC_OK);
    mgc_shape conv_out = mgc_net_layer(fused, 0)->out;
    assert_true(mgc_net_plan_bytes(fused) < B * mgc_shape_size(&conv_out) * sizeof(float));
    size_t per = mgc_shape_size(&arch->input), n_out = mgc_shape_size(&mgc_net_layer(fused, 1)->out);
    float *x = malloc(sizeof(float) * per * B), *y = malloc(sizeof(float) * n_out * B);
    uint64_t seed = 9 + (uint64_t)a;
    fill_random(x, per * B, &seed);
    x[per + 1200 * 7 + 600] = NAN; /* sample 1, an interior pixel */
    for (int batch = 1; batch <= B; batch++) {
      const float *r = mgc_net_forward(fused, x, batch, 0);
      assert_non_null(r);
      memcpy(y, r, sizeof(float) * n_out * (size_t)batch);
      r = mgc_net_forward(plain, x, batch, 0);
      assert_non_null(r);
      assert_memory_equal(y, r, sizeof(float) * n_out * (size_t)batch);
    }
    int nans = 0;
    for (size_t i = 0; i < n_out * B; i++) nans += isnan(y[i]) != 0;
    assert_true(nans > 0 && nans < 40);
    free(x);
    free(y);
    mgc_net_free(fused);
    mgc_net_free(plain);
    mgc_arch_free(arch);
  }
}

/* The daemon's budget: a session of conf/models/fcn_genre.yaml at batch 1
 * plans at most 20 MB (130 MB before conv and pool fused and activations
 * shared). The net is built in the order a session runs it: each max pool
 * right after its conv (its batchnorm's default gamma is positive). */
static void test_fcn_session_plan_fits(void **st) {
  (void)st;
  mgc_arch *a;
  assert_int_equal(mgc_arch_load(MGC_FIXTURES "/../../conf/models/fcn_genre.yaml", &a), MGC_OK);
  mgc_net *as_written;
  assert_int_equal(mgc_net_new(a, 0, 1, &as_written), MGC_OK);
  assert_int_equal(mgc_net_plan(as_written, 1, 0), MGC_OK);
  int moved = 0;
  for (int i = 0; i < a->n_layers; i++) {
    if (strcmp(a->layers[i].type, "maxpool2d")) continue;
    for (int j = i; j > 0 && strcmp(a->layers[j - 1].type, "conv2d"); j--, moved++) {
      mgc_layer_spec t = a->layers[j - 1];
      a->layers[j - 1] = a->layers[j];
      a->layers[j] = t;
    }
  }
  assert_int_equal(moved, 10); /* batchnorm and relu in each of the 5 blocks */
  mgc_net *net;
  assert_int_equal(mgc_net_new(a, 0, 1, &net), MGC_OK);
  assert_int_equal(mgc_net_plan(net, 1, 0), MGC_OK);
  size_t bytes = mgc_net_plan_bytes(net);
  assert_true(bytes <= (size_t)20 * 1000 * 1000);
  /* unfused, the first conv's output alone is 64 x 96 x 1813 floats */
  assert_true(mgc_net_plan_bytes(as_written) >= (size_t)64 * 96 * 1813 * sizeof(float));
  mgc_net_free(net);
  mgc_net_free(as_written);
  mgc_arch_free(a);
}

static void test_band_axis_rule(void **st) {
  (void)st;
  static const struct {
    const char *yaml;
    int axis;
  } cases[] = {
      {"input: [1, 128, 130]\nlayers: [{type: conv2d, out: 4, kernel: 3}]\n", 1},
      {"input: [130, 20]\nlayers: [{type: gru, hidden: 8}]\n", 1},
      {"input: [130, 20]\nlayers: [{type: dense, out: 8}]\n", 1},
      {"input: [20, 130]\nlayers: [{type: conv1d, out: 8, kernel: 3}]\n", 0},
      {"input: [20, 130]\nlayers: [{type: batchnorm1d}]\n", 0},
      {"input: [57]\nlayers: [{type: dense, out: 8}]\n", 0},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    mgc_arch *a = parse_arch(cases[i].yaml);
    assert_int_equal(mgc_model_band_axis(a), cases[i].axis);
    mgc_arch_free(a);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_st_write_format),
      cmocka_unit_test(test_st_float_conversions),
      cmocka_unit_test(test_st_reader_refusals),
      cmocka_unit_test(test_roundtrip_map),
      cmocka_unit_test(test_roundtrip_seq),
      cmocka_unit_test(test_roundtrip_toseq),
      cmocka_unit_test(test_roundtrip_vec),
      cmocka_unit_test(test_roundtrip_crnn),
      cmocka_unit_test(test_roundtrip_conv1d),
      cmocka_unit_test(test_model_new_classes),
      cmocka_unit_test(test_refuse_truncated),
      cmocka_unit_test(test_refuse_header_bitflips),
      cmocka_unit_test(test_every_header_bit_flip),
      cmocka_unit_test(test_refuse_tensor_mismatch),
      cmocka_unit_test(test_refuse_bad_metadata),
      cmocka_unit_test(test_import_state_dict),
      cmocka_unit_test(test_session_map),
      cmocka_unit_test(test_session_seq),
      cmocka_unit_test(test_session_toseq),
      cmocka_unit_test(test_session_vec),
      cmocka_unit_test(test_session_crnn),
      cmocka_unit_test(test_session_conv1d),
      cmocka_unit_test(test_session_without_norm),
      cmocka_unit_test(test_band_axis_rule),
      cmocka_unit_test(test_sigmoid_head),
      cmocka_unit_test(test_session_reorder_exact),
      cmocka_unit_test(test_session_fused_exact),
      cmocka_unit_test(test_net_fused_conv_pool),
      cmocka_unit_test(test_fcn_session_plan_fits),
  };
  return cmocka_run_group_tests(tests, tmpdir_setup, tmpdir_teardown);
}
