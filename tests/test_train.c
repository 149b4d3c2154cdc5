/* The trainer end to end: recipes (and their errors), mgc-train on a small
 * synthetic dataset written as WAV files, determinism from the seed,
 * checkpoint + resume equal to an uninterrupted run, cross-validation,
 * unreadable files skipped, mgc-eval and mgc-classify on the result. */
#include "test_util.h"

#include <math.h>
#include <sndfile.h>
#include <sys/stat.h>

#include "mgc/train/recipe.h"

#ifndef MGC_TRAIN_BIN
#error "MGC_TRAIN_BIN, MGC_EVAL_BIN, MGC_CLASSIFY_BIN and MGC_CONF must be defined"
#endif

static char g_data[300], g_recipe[300];

/* Three "genres" a small CNN tells apart at once: a low tone, a high tone,
 * and noise bursts; 4 s each at 22050 Hz (one 130-frame window and a bit). */
static void write_wav(const char *path, int cls, int idx) {
  enum { SR = 22050, N = SR * 4 };
  static float y[N];
  uint64_t s = 1000 + (uint64_t)(cls * 100 + idx);
  double f = cls == 0 ? 220.0 * (1 + 0.05 * idx) : 2500.0 * (1 + 0.05 * idx);
  for (int i = 0; i < N; i++) {
    double noise = ((double)(test_rand(&s) % 2001) / 1000.0 - 1.0);
    if (cls == 2)
      y[i] = (float)(((i / 2205) % 2 ? 0.3 : 0.02) * noise);
    else
      y[i] = (float)(0.3 * sin(2 * M_PI * f * i / SR) + 0.01 * noise);
  }
  SF_INFO info = {.samplerate = SR, .channels = 1, .format = SF_FORMAT_WAV | SF_FORMAT_PCM_16};
  SNDFILE *sf = sf_open(path, SFM_WRITE, &info);
  assert_non_null(sf);
  assert_int_equal(sf_writef_float(sf, y, N), N);
  sf_close(sf);
}

static int setup(void **st) {
  tmpdir_setup(st);
  const char *classes[] = {"high", "low", "noise"}; /* sorted: labels 0, 1, 2 */
  int kind[] = {1, 0, 2};
  snprintf(g_data, sizeof g_data, "%s/data", g_dir);
  mkdir(g_data, 0755);
  for (int c = 0; c < 3; c++) {
    char d[400];
    snprintf(d, sizeof d, "%s/%s", g_data, classes[c]);
    mkdir(d, 0755);
    for (int i = 0; i < 6; i++) {
      char p[500];
      snprintf(p, sizeof p, "%s/%s.%02d.wav", d, classes[c], i);
      write_wav(p, kind[c], i);
    }
  }
  /* A file that is not audio: skipped with a warning, never fatal. */
  char bad[500];
  snprintf(bad, sizeof bad, "%s/noise/broken.wav", g_data);
  FILE *f = fopen(bad, "w");
  fputs("this is not a wav file", f);
  fclose(f);
  char arch[400];
  snprintf(arch, sizeof arch, "%s/tiny.yaml", g_dir);
  f = fopen(arch, "w");
  fputs("name: tiny\nfeature: logmel\ninput: [1, 128, 130]\nclasses: 3\nlayers:\n"
        "  - {type: conv2d, out: 4, kernel: 3, stride: 2, padding: 1}\n"
        "  - {type: batchnorm}\n  - {type: relu}\n  - {type: maxpool2d, kernel: [4, 4]}\n"
        "  - {type: dropout, p: 0.2}\n  - {type: flatten}\n"
        "  - {type: dense, out: classes}\n  - {type: softmax}\n",
        f);
  fclose(f);
  snprintf(g_recipe, sizeof g_recipe, "%s/tiny-recipe.yaml", g_dir);
  f = fopen(g_recipe, "w");
  fputs("architecture: tiny.yaml\nepochs: 6\nbatch_size: 4\nseed: 3\n"
        "optimizer: {type: adam, lr: 0.01}\nschedule: {type: plateau, patience: 2}\n"
        "early_stopping: 0\nvalidation: 0.34\nclass_weights: balanced\nlabel_smoothing: 0.05\n"
        "augment: {freq_masks: 1, freq_mask_max: 8, gain_db: 3, mixup_alpha: 0.2, "
        "offset_max: 10, audio: [speed1.1]}\n",
        f);
  fclose(f);
  return 0;
}

static void expect_recipe_error(const char *text, const char *want1, const char *want2) {
  mgc_recipe *r = NULL;
  assert_int_not_equal(mgc_recipe_parse(text, "r.yaml", ".", &r), MGC_OK);
  assert_null(r);
  const char *m = mgc_error_message();
  if (!strstr(m, want1) || (want2 && !strstr(m, want2)))
    fail_msg("message '%s' lacks '%s' / '%s'", m, want1, want2 ? want2 : "");
}

static void test_recipes(void **st) {
  char path[512];
  snprintf(path, sizeof path, "%s/train/crnn.yaml", MGC_CONF);
  mgc_recipe *r;
  if (mgc_recipe_load(path, &r)) fail_msg("%s", mgc_error_message());
  assert_non_null(strstr(r->architecture, "conf/train/../models/crnn.yaml"));
  assert_int_equal(r->train.batch, 32);
  assert_int_equal(r->train.optim.kind, MGC_OPTIM_ADAM);
  assert_int_equal(r->train.schedule.kind, MGC_SCHED_PLATEAU);
  assert_true(r->train.balanced);
  assert_true(r->n_variants >= 1);
  mgc_recipe_free(r);
  expect_recipe_error("epochs: 3\n", "missing 'architecture'", NULL);
  expect_recipe_error("architecture: a.yaml\nepoch: 3\n", "r.yaml:2:1:", "unknown key 'epoch'");
  expect_recipe_error("architecture: a.yaml\nepochs: -3\n", "r.yaml:2:9:", "'epochs'");
  expect_recipe_error("architecture: a.yaml\noptimizer: {type: rmsprop}\n", "r.yaml:2:19:",
                      "sgd, adam or adamw");
  expect_recipe_error("architecture: a.yaml\naugment: {audio: [speed1.1, wobble]}\n",
                      "r.yaml:2:29:", "wobble");
  expect_recipe_error("architecture: a.yaml\nbatch_size: [1\n", "r.yaml:", NULL);
  expect_recipe_error("architecture: a.yaml\nclass_weights: sometimes\n", "r.yaml:2:16:",
                      "balanced or none");
}

static int run_train(const char *extra, const char *out, char *log, size_t cap) {
  char cmd[2048];
  snprintf(cmd, sizeof cmd, "%s --recipe %s --data %s --no-cache --quiet %s %s%s", MGC_TRAIN_BIN,
           g_recipe, g_data, extra, out ? "--out " : "", out ? out : "");
  return run(cmd, log, cap);
}

/* 1 when every tensor of the two model files is bit-identical. */
static int same_weights(const char *a, const char *b) {
  mgc_model *ma = NULL, *mb = NULL;
  if (mgc_model_load(a, &ma) || mgc_model_load(b, &mb)) fail_msg("%s", mgc_error_message());
  int same = mgc_net_n_params(ma->net) == mgc_net_n_params(mb->net);
  for (int i = 0; same && i < mgc_net_n_params(ma->net); i++) {
    mgc_param *x = mgc_net_param(ma->net, i), *y = mgc_net_param(mb->net, i);
    same = !strcmp(x->name, y->name) && x->size == y->size &&
           !memcmp(x->value, y->value, x->size * sizeof(float));
  }
  mgc_model_free(ma);
  mgc_model_free(mb);
  return same;
}

static void test_train_eval_classify(void **st) {
  static char log[65536];
  char m1[400], m2[400], cmd[2048];
  snprintf(m1, sizeof m1, "%s/m1.safetensors", g_dir);
  snprintf(m2, sizeof m2, "%s/m2.safetensors", g_dir);
  int rc = run_train("", m1, log, sizeof log);
  if (rc) fail_msg("mgc-train failed (%d):\n%s", rc, log);
  /* the broken file is reported and skipped */
  assert_non_null(strstr(log, "broken.wav"));
  assert_non_null(strstr(log, "1 unreadable"));
  /* Same seed, same data: the same tensors (the metadata differs only in
   * the wall-clock times it records). */
  rc = run_train("", m2, log, sizeof log);
  assert_int_equal(rc, 0);
  assert_int_equal(same_weights(m1, m2), 1);
  /* Another seed: other weights. */
  rc = run_train("--seed 4", m2, log, sizeof log);
  assert_int_equal(rc, 0);
  assert_int_equal(same_weights(m1, m2), 0);
  /* The learning curves: a header and one line per epoch. */
  char curves[450];
  snprintf(curves, sizeof curves, "%s.curves.csv", m1);
  size_t nc;
  char *csv = (char *)read_file(curves, &nc);
  int lines = 0;
  for (char *p = csv; *p; p++) lines += *p == '\n';
  assert_int_equal(lines, 1 + 6);
  assert_non_null(strstr(csv, "epoch,train_loss,train_acc,val_loss,val_acc"));
  free(csv);

  /* mgc-eval on the training data (an easy task: every track right). */
  snprintf(cmd, sizeof cmd, "%s --model %s --data %s --no-cache --json --report %s/report",
           MGC_EVAL_BIN, m1, g_data, g_dir);
  rc = run(cmd, log, sizeof log);
  if (rc) fail_msg("mgc-eval failed:\n%s", log);
  char *p = strstr(log, "\"track_accuracy\"");
  if (!p) fail_msg("no track_accuracy in mgc-eval's JSON:\n%.3000s", log);
  double acc = atof(strchr(p, ':') + 1);
  if (acc < 0.99) fail_msg("track accuracy %.3f on a trivially separable set:\n%s", acc, log);
  char html[400];
  snprintf(html, sizeof html, "%s/report/index.html", g_dir);
  struct stat sb;
  assert_int_equal(stat(html, &sb), 0);
  assert_true(sb.st_size > 1000);
  /* the model carries its learning curves, and the report draws them */
  snprintf(html, sizeof html, "%s/report/curves.svg", g_dir);
  assert_int_equal(stat(html, &sb), 0);

  /* mgc-classify on one file of each class. */
  snprintf(cmd, sizeof cmd, "%s --model %s %s/low/low.00.wav %s/high/high.03.wav",
           MGC_CLASSIFY_BIN, m1, g_data, g_data);
  rc = run(cmd, log, sizeof log);
  if (rc) fail_msg("mgc-classify failed:\n%s", log);
  assert_non_null(strstr(log, "low.00.wav: low ("));
  assert_non_null(strstr(log, "high.03.wav: high ("));
  snprintf(cmd, sizeof cmd, "%s --model %s --json %s/noise", MGC_CLASSIFY_BIN, m1, g_data);
  rc = run(cmd, log, sizeof log);
  assert_int_equal(rc, 1); /* broken.wav cannot be classified... */
  assert_non_null(strstr(log, "\"genre\": \"noise\"")); /* ...the others are */
  /* a corrupt model file is refused */
  snprintf(cmd, sizeof cmd, "head -c 1000 %s > %s/cut.safetensors && %s --model %s/cut.safetensors %s/low",
           m1, g_dir, MGC_CLASSIFY_BIN, g_dir, g_data);
  assert_int_equal(run(cmd, log, sizeof log), 1);
  /* an ensemble of the model with itself: the same decision, members listed;
   * a member that cannot be loaded is refused with the ensemble's name */
  char ens[600];
  snprintf(ens, sizeof ens, "%s/self.yaml", g_dir);
  FILE *f = fopen(ens, "w");
  assert_non_null(f);
  fprintf(f, "rule: product\nmembers:\n  - {name: a, model: %s, input: window}\n"
             "  - {name: b, model: %s, input: window}\n", m1, m1);
  fclose(f);
  snprintf(cmd, sizeof cmd, "%s --model %s --json %s/high/high.03.wav", MGC_CLASSIFY_BIN, ens, g_data);
  rc = run(cmd, log, sizeof log);
  if (rc || !strstr(log, "\"genre\": \"high\"") || !strstr(log, "\"rule\": \"product\"") ||
      !strstr(log, "{\"name\": \"b\", \"genre\": \"high\""))
    fail_msg("mgc-classify --model ENSEMBLE (%d):\n%s", rc, log);
  f = fopen(ens, "w");
  fprintf(f, "rule: mean\nmembers:\n  - {name: a, model: %s, input: window}\n"
             "  - {name: b, model: cut.safetensors, input: window}\n", m1);
  fclose(f);
  snprintf(cmd, sizeof cmd, "%s --model %s %s/low", MGC_CLASSIFY_BIN, ens, g_data);
  assert_int_equal(run(cmd, log, sizeof log), 1);
  if (!strstr(log, "cut.safetensors")) fail_msg("no file named:\n%s", log);
}

/* Two epochs, stop, resume to six: the same model as six in one go. */
static void test_resume(void **st) {
  static char log[65536];
  char full[400], part[400], ck[400], extra[700];
  snprintf(full, sizeof full, "%s/full.safetensors", g_dir);
  snprintf(part, sizeof part, "%s/part.safetensors", g_dir);
  snprintf(ck, sizeof ck, "%s/ck", g_dir);
  assert_int_equal(run_train("", full, log, sizeof log), 0);
  snprintf(extra, sizeof extra, "--checkpoint %s --epochs 2", ck);
  assert_int_equal(run_train(extra, part, log, sizeof log), 0);
  char cmd[2048];
  snprintf(cmd, sizeof cmd, "%s --recipe %s --data %s --no-cache --checkpoint %s --resume --out %s",
           MGC_TRAIN_BIN, g_recipe, g_data, ck, part);
  int rc = run(cmd, log, sizeof log);
  if (rc) fail_msg("resume failed:\n%s", log);
  /* it did resume: epochs 3 to 6 only */
  if (!strstr(log, "resuming after epoch 2") || strstr(log, "epoch   1/6") ||
      !strstr(log, "epoch   3/6") || !strstr(log, "epoch   6/6"))
    fail_msg("not a resumed run:\n%s", log);
  /* The metadata holds wall-clock seconds; compare the weights. */
  assert_int_equal(same_weights(full, part), 1);
}

/* GTZAN-style lists: a training list and a separate validation list, one
 * entry missing (skipped and counted); mgc-eval on one list. */
static void test_lists(void **st) {
  static char log[65536];
  char tl[400], vl[400], cmd[2048], out[400];
  snprintf(tl, sizeof tl, "%s/train.txt", g_dir);
  snprintf(vl, sizeof vl, "%s/valid.txt", g_dir);
  snprintf(out, sizeof out, "%s/lists.safetensors", g_dir);
  FILE *f = fopen(tl, "w");
  const char *cls[] = {"high", "low", "noise"};
  fprintf(f, "# training tracks\n");
  for (int c = 0; c < 3; c++)
    for (int i = 0; i < 4; i++) fprintf(f, "%s/%s.%02d.wav\n", cls[c], cls[c], i);
  fprintf(f, "low/low.99.wav\n"); /* not there */
  fclose(f);
  f = fopen(vl, "w");
  for (int c = 0; c < 3; c++)
    for (int i = 4; i < 6; i++) fprintf(f, "%s/%s.%02d.wav\n", cls[c], cls[c], i);
  fclose(f);
  snprintf(cmd, sizeof cmd, "%s --recipe %s --data %s --no-cache --list %s --valid-list %s --out %s",
           MGC_TRAIN_BIN, g_recipe, g_data, tl, vl, out);
  int rc = run(cmd, log, sizeof log);
  if (rc) fail_msg("mgc-train with lists failed:\n%s", log);
  if (!strstr(log, "12 tracks in 3 classes (1 listed tracks not found)") ||
      !strstr(log, "low.99.wav") || !strstr(log, "validating on 6"))
    fail_msg("unexpected report:\n%s", log);
  /* mgc-eval on the validation list only */
  snprintf(cmd, sizeof cmd, "%s --model %s --data %s --list %s --no-cache", MGC_EVAL_BIN, out,
           g_data, vl);
  rc = run(cmd, log, sizeof log);
  if (rc || !strstr(log, "6 tracks evaluated")) fail_msg("mgc-eval --list:\n%s", log);
}

static void test_cross_validation(void **st) {
  static char log[65536];
  char extra[600];
  snprintf(extra, sizeof extra, "--folds 3 --epochs 3 --cv-json %s/cv.json", g_dir);
  int rc = run_train(extra, NULL, log, sizeof log);
  if (rc) fail_msg("cross-validation failed:\n%s", log);
  assert_non_null(strstr(log, "fold 1/3"));
  assert_non_null(strstr(log, "fold 3/3"));
  assert_non_null(strstr(log, "3-fold cross-validation, track level"));
  char p[400];
  snprintf(p, sizeof p, "%s/cv.json", g_dir);
  size_t n;
  char *j = (char *)read_file(p, &n);
  assert_non_null(strstr(j, "\"track_acc_mean\""));
  free(j);
  /* usage errors */
  assert_int_equal(run_train("--folds 1", NULL, log, sizeof log), 2);
  assert_int_equal(run_train("--folds 2 --epochs 3x", NULL, log, sizeof log), 2);
  assert_non_null(strstr(log, "'--epochs' must be an integer"));
  char cmd[2048];
  snprintf(cmd, sizeof cmd, "%s --recipe %s --data /nonexistent --out %s/x.safetensors",
           MGC_TRAIN_BIN, g_recipe, g_dir);
  assert_int_equal(run(cmd, log, sizeof log), 1);
  assert_non_null(strstr(log, "/nonexistent"));
}

/* A recording without music (a voice reading) is "no music" from
 * mgc-classify and from mgc-eval with the shipped ensemble, whose detector
 * decides it (without it, the same file gets a genre); music still gets
 * one. mgcd's side is in test_mgcd. */
static void test_no_music_offline(void **st) {
  (void)st;
  static char log[65536];
  char cmd[2048], dir[400];
  const char *ens = MGC_CONF "/../models/ensemble.yaml";
  const char *speech = MGC_FIXTURES "/speech/librispeech_1841-150351-0000_10s.ogg";
  const char *music = MGC_FIXTURES "/cc/jazz_macleod_vibe_ace_30s.ogg";
  snprintf(cmd, sizeof cmd, "%s --model %s %s %s", MGC_CLASSIFY_BIN, ens, speech, music);
  int rc = run(cmd, log, sizeof log);
  if (rc || !strstr(log, "_10s.ogg: no music") || !strstr(log, "vibe_ace_30s.ogg: jazz"))
    fail_msg("mgc-classify (%d):\n%s", rc, log);
  snprintf(cmd, sizeof cmd, "%s --model %s --json --timeline %s", MGC_CLASSIFY_BIN, ens, speech);
  rc = run(cmd, log, sizeof log);
  if (rc || !strstr(log, "\"no_music\": true") || !strstr(log, "\"music_windows\": 0") ||
      !strstr(log, "\"genre\": null") || !strstr(log, "\"state\": \"no_music\""))
    fail_msg("mgc-classify --json (%d):\n%s", rc, log);
  snprintf(cmd, sizeof cmd, "%s --model %s --detector off %s", MGC_CLASSIFY_BIN, ens, speech);
  rc = run(cmd, log, sizeof log);
  if (rc || strstr(log, "no music") || !strstr(log, "%)")) fail_msg("mgc-classify --detector off (%d):\n%s", rc, log);
  /* mgc-eval: a folder of jazz holding the voice too */
  snprintf(dir, sizeof dir, "%s/talk", g_dir);
  snprintf(cmd, sizeof cmd, "mkdir -p %s/jazz && cp %s %s %s/jazz/", dir, speech, music, dir);
  assert_int_equal(run(cmd, log, sizeof log), 0);
  snprintf(cmd, sizeof cmd, "%s --model %s --data %s --json", MGC_EVAL_BIN, ens, dir);
  rc = run(cmd, log, sizeof log);
  if (rc || !strstr(log, "\"no_music\": [\"jazz/librispeech_1841-150351-0000_10s.ogg\"]") ||
      !strstr(log, "\"track_accuracy_all\": 0.5"))
    fail_msg("mgc-eval (%d):\n%.4000s", rc, log);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_recipes),
      cmocka_unit_test(test_train_eval_classify),
      cmocka_unit_test(test_resume),
      cmocka_unit_test(test_lists),
      cmocka_unit_test(test_cross_validation),
      cmocka_unit_test(test_no_music_offline),
  };
  return cmocka_run_group_tests(tests, setup, tmpdir_teardown);
}
