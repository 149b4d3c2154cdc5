/* The trainer's data side: folder scans, list files (GTZAN's split lists),
 * subsets, stratified folds, the on-disk feature cache and per-band
 * standardisation statistics. */
#include <dirent.h>
#include <fcntl.h>
#include <math.h>
#include <sndfile.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mgc/audio/audio.h"
#include "mgc/train/bandstats.h"
#include "mgc/train/dataset.h"
#include "mgc/train/featcache.h"
#include "mgc/dsp/features.h"
#include "test_util.h"

/* ---- helpers ------------------------------------------------------------ */

/* g_dir/rel into buf. */
static const char *pathf(char *buf, size_t cap, const char *rel) {
  int n = snprintf(buf, cap, "%s/%s", g_dir, rel);
  assert_true(n > 0 && (size_t)n < cap);
  return buf;
}

static void mkdirs(const char *rel) {
  char cmd[1024];
  snprintf(cmd, sizeof cmd, "mkdir -p '%s/%s'", g_dir, rel);
  assert_int_equal(system(cmd), 0);
}

/* An empty file (enough for the index, which never decodes). */
static void touch(const char *rel) {
  char p[1024];
  FILE *f = fopen(pathf(p, sizeof p, rel), "w");
  assert_non_null(f);
  fclose(f);
}

static void write_text(const char *rel, const char *text) {
  char p[1024];
  FILE *f = fopen(pathf(p, sizeof p, rel), "w");
  assert_non_null(f);
  fputs(text, f);
  fclose(f);
}

/* A short real audio file: tone at freq plus deterministic noise. */
static void write_audio(const char *path, int format, int sr, double seconds, double freq) {
  SF_INFO info = {.samplerate = sr, .channels = 1, .format = format};
  SNDFILE *sf = sf_open(path, SFM_WRITE, &info);
  if (!sf) fail_msg("cannot write %s: %s", path, sf_strerror(NULL));
  sf_count_t n = (sf_count_t)(seconds * sr);
  float *buf = malloc(sizeof(float) * (size_t)n);
  uint64_t s = 0x9e3779b97f4a7c15ULL ^ (uint64_t)freq;
  for (sf_count_t i = 0; i < n; i++)
    buf[i] = (float)(0.4 * sin(2 * M_PI * freq * (double)i / sr) + 0.05 * ((double)test_rand(&s) / 2097152.0 - 1.0));
  assert_int_equal(sf_writef_float(sf, buf, n), n);
  free(buf);
  sf_close(sf);
}

static int ends_with(const char *s, const char *suffix) {
  size_t a = strlen(s), b = strlen(suffix);
  return a >= b && !strcmp(s + a - b, suffix);
}

static void expect_error(mgc_status got, mgc_status want, const char *needle) {
  if (got != want) fail_msg("status %d, expected %d (%s)", got, want, mgc_error_message());
  if (needle && !strstr(mgc_error_message(), needle))
    fail_msg("message '%s' does not contain '%s'", mgc_error_message(), needle);
}

/* ---- folder scan -------------------------------------------------------- */

static void test_scan(void **st) {
  (void)st;
  mkdirs("scan/rock/sub");
  mkdirs("scan/blues");
  mkdirs("scan/.git");
  touch("scan/rock/b.wav");
  touch("scan/rock/a.WAV");
  touch("scan/rock/notes.txt");
  touch("scan/rock/._a.wav"); /* macOS resource fork: hidden, not audio */
  touch("scan/rock/sub/deep.wav");
  touch("scan/blues/y.au");
  touch("scan/blues/x.flac");
  touch("scan/blues/z.Mp3");
  touch("scan/.git/c.wav");
  touch("scan/README.wav"); /* a file at the root is no class */
  char root[512];
  pathf(root, sizeof root, "scan");
  mgc_dataset *d;
  assert_int_equal(mgc_dataset_scan(root, &d), MGC_OK);
  assert_int_equal(d->n_classes, 2);
  assert_string_equal(d->classes[0], "blues");
  assert_string_equal(d->classes[1], "rock");
  assert_int_equal(d->n_tracks, 5);
  const char *names[] = {"blues/x.flac", "blues/y.au", "blues/z.Mp3", "rock/a.WAV", "rock/b.wav"};
  const int labels[] = {0, 0, 0, 1, 1};
  for (int i = 0; i < 5; i++) {
    assert_string_equal(d->tracks[i].name, names[i]);
    assert_int_equal(d->tracks[i].label, labels[i]);
    char want[1024];
    snprintf(want, sizeof want, "%s/%s", root, names[i]);
    assert_string_equal(d->tracks[i].path, want);
  }
  assert_int_equal(d->n_skipped, 0);
  mgc_dataset_free(d);

  /* A trailing slash on the root does not double up in paths. */
  char root_slash[520];
  snprintf(root_slash, sizeof root_slash, "%s/", root);
  assert_int_equal(mgc_dataset_scan(root_slash, &d), MGC_OK);
  assert_true(ends_with(d->tracks[0].path, "scan/blues/x.flac"));
  assert_null(strstr(d->tracks[0].path, "//"));
  mgc_dataset_free(d);

  /* A class folder with no audio is refused by name. */
  mkdirs("scan/jazz");
  touch("scan/jazz/cover.jpg");
  expect_error(mgc_dataset_scan(root, &d), MGC_EINVAL, "'jazz'");
  assert_null(d);

  /* No class folders at all; no folder at all. */
  mkdirs("flat");
  touch("flat/a.wav");
  expect_error(mgc_dataset_scan(pathf(root, sizeof root, "flat"), &d), MGC_EINVAL, "no class folders");
  expect_error(mgc_dataset_scan(pathf(root, sizeof root, "nowhere"), &d), MGC_EIO, "nowhere");
}

/* ---- list files --------------------------------------------------------- */

/* data/blues/blues.00000.wav, data/blues/blues.00001.au (the list says .wav),
 * data/rock/rock.00000.wav; rock.00001 and jazz.00000 are missing. */
static void make_list_tree(void) {
  mkdirs("data/blues");
  mkdirs("data/rock");
  touch("data/blues/blues.00000.wav");
  touch("data/blues/blues.00001.au");
  touch("data/rock/rock.00000.wav");
  write_text("data/list.txt",
             "# GTZAN-style split list\n"
             "\n"
             "rock/rock.00000.wav\n"
             "  blues/blues.00001.wav  \r\n"
             "   # indented comment\n"
             "rock/rock.00001.wav\n"
             "blues/blues.00000.wav\n"
             "jazz/jazz.00000.wav\n"
             "\n");
}

static void test_list(void **st) {
  (void)st;
  make_list_tree();
  char list[512], root[512];
  pathf(list, sizeof list, "data/list.txt");
  pathf(root, sizeof root, "data");
  mgc_dataset *d;
  assert_int_equal(mgc_dataset_from_list(list, root, NULL, 0, &d), MGC_OK);
  /* Classes: the sorted set the list names, the missing jazz line included. */
  assert_int_equal(d->n_classes, 3);
  assert_string_equal(d->classes[0], "blues");
  assert_string_equal(d->classes[1], "jazz");
  assert_string_equal(d->classes[2], "rock");
  /* Tracks: list order, list spelling; the .au sibling is what is opened. */
  assert_int_equal(d->n_tracks, 3);
  assert_string_equal(d->tracks[0].name, "rock/rock.00000.wav");
  assert_int_equal(d->tracks[0].label, 2);
  assert_string_equal(d->tracks[1].name, "blues/blues.00001.wav");
  assert_true(ends_with(d->tracks[1].path, "data/blues/blues.00001.au"));
  assert_int_equal(d->tracks[1].label, 0);
  assert_string_equal(d->tracks[2].name, "blues/blues.00000.wav");
  assert_true(ends_with(d->tracks[2].path, "data/blues/blues.00000.wav"));
  /* Missing entries: skipped, counted, each with list:line and the name. */
  assert_int_equal(d->n_skipped, 2);
  assert_non_null(strstr(d->skipped[0], "list.txt:6:"));
  assert_non_null(strstr(d->skipped[0], "rock/rock.00001.wav"));
  assert_non_null(strstr(d->skipped[0], "not found"));
  assert_non_null(strstr(d->skipped[1], "list.txt:8:"));
  assert_non_null(strstr(d->skipped[1], "jazz/jazz.00000.wav"));
  mgc_dataset_free(d);

  /* Root NULL: the list's own directory. */
  assert_int_equal(mgc_dataset_from_list(list, NULL, NULL, 0, &d), MGC_OK);
  assert_int_equal(d->n_tracks, 3);
  mgc_dataset_free(d);

  /* Fixed classes set the order of labels; classes without tracks are fine. */
  const char *fixed[] = {"rock", "metal", "jazz", "blues"};
  assert_int_equal(mgc_dataset_from_list(list, root, fixed, 4, &d), MGC_OK);
  assert_int_equal(d->n_classes, 4);
  assert_string_equal(d->classes[1], "metal");
  assert_int_equal(d->tracks[0].label, 0);
  assert_int_equal(d->tracks[1].label, 3);
  mgc_dataset_free(d);

  /* A line of a class outside the fixed ones: error with list:line. */
  const char *two[] = {"blues", "rock"};
  expect_error(mgc_dataset_from_list(list, root, two, 2, &d), MGC_EINVAL, "list.txt:8: class 'jazz'");
  assert_null(d);
  const char *twice[] = {"blues", "blues"};
  expect_error(mgc_dataset_from_list(list, root, twice, 2, &d), MGC_EINVAL, "twice");

  /* The .wav and .au spellings of one track twice: a duplicate. */
  write_text("data/dup.txt", "blues/blues.00001.au\nrock/rock.00000.wav\nblues/blues.00001.wav\n");
  expect_error(mgc_dataset_from_list(pathf(list, sizeof list, "data/dup.txt"), root, NULL, 0, &d), MGC_EFORMAT,
               "dup.txt:3: 'blues/blues.00001.wav' repeats line 1");
  /* Not "class/file". */
  write_text("data/bad.txt", "rock/rock.00000.wav\nrock.00001.wav\n");
  expect_error(mgc_dataset_from_list(pathf(list, sizeof list, "data/bad.txt"), root, NULL, 0, &d), MGC_EFORMAT,
               "bad.txt:2:");
  write_text("data/abs.txt", "/etc/passwd\n");
  expect_error(mgc_dataset_from_list(pathf(list, sizeof list, "data/abs.txt"), root, NULL, 0, &d), MGC_EFORMAT,
               "abs.txt:1:");
  /* Nothing found at all: a wrong root, said as such. */
  pathf(list, sizeof list, "data/list.txt");
  expect_error(mgc_dataset_from_list(list, pathf(root, sizeof root, "scan"), NULL, 0, &d), MGC_EIO,
               "none of its 5 entries");
  /* Only comments. */
  write_text("data/empty.txt", "# nothing\n\n");
  expect_error(mgc_dataset_from_list(pathf(list, sizeof list, "data/empty.txt"), NULL, NULL, 0, &d),
               MGC_EFORMAT, "no entries");
  expect_error(mgc_dataset_from_list(pathf(list, sizeof list, "data/absent.txt"), NULL, NULL, 0, &d), MGC_EIO,
               "absent.txt");
}

/* ---- subsets ------------------------------------------------------------ */

static void test_subset_and_filter(void **st) {
  (void)st;
  make_list_tree();
  char root[512], list[512];
  mgc_dataset *d, *s;
  assert_int_equal(mgc_dataset_scan(pathf(root, sizeof root, "data"), &d), MGC_OK);
  /* blues/blues.00000.wav blues/blues.00001.au rock/rock.00000.wav */
  assert_int_equal(d->n_tracks, 3);
  const int idx[] = {2, 0};
  assert_int_equal(mgc_dataset_subset(d, idx, 2, &s), MGC_OK);
  assert_int_equal(s->n_tracks, 2);
  assert_int_equal(s->n_classes, 2);
  assert_string_equal(s->classes[1], "rock");
  assert_string_equal(s->tracks[0].name, "rock/rock.00000.wav");
  assert_int_equal(s->tracks[0].label, 1);
  assert_string_equal(s->tracks[1].path, d->tracks[0].path);
  assert_ptr_not_equal(s->tracks[1].path, d->tracks[0].path); /* owned copies */
  mgc_dataset_free(s);
  assert_int_equal(mgc_dataset_subset(d, idx, 0, &s), MGC_OK);
  assert_int_equal(s->n_tracks, 0);
  assert_int_equal(s->n_classes, 2);
  mgc_dataset_free(s);
  const int bad[] = {0, 3};
  expect_error(mgc_dataset_subset(d, bad, 2, &s), MGC_EINVAL, "out of range");

  /* Filter by a list: the list's .wav names match the scanned .au file. */
  write_text("data/keep.txt", "# keep\nblues/blues.00001.wav\nrock/rock.00000.wav\nrock/rock.00009.wav\n");
  assert_int_equal(mgc_dataset_filter_list(d, pathf(list, sizeof list, "data/keep.txt"), &s), MGC_OK);
  assert_int_equal(s->n_tracks, 2);
  assert_string_equal(s->tracks[0].name, "blues/blues.00001.au");
  assert_string_equal(s->tracks[1].name, "rock/rock.00000.wav");
  assert_int_equal(s->n_classes, 2);
  mgc_dataset_free(s);
  mgc_dataset_free(d);
}

/* ---- folds -------------------------------------------------------------- */

static void check_folds(const mgc_dataset *d, int k, const int *fold) {
  int per[8][8] = {{0}}, size[8] = {0};
  for (int i = 0; i < d->n_tracks; i++) {
    assert_in_range(fold[i], 0, k - 1);
    per[d->tracks[i].label][fold[i]]++;
    size[fold[i]]++;
  }
  for (int c = 0; c < d->n_classes; c++) {
    int lo = 1 << 30, hi = -1;
    for (int f = 0; f < k; f++) {
      lo = per[c][f] < lo ? per[c][f] : lo;
      hi = per[c][f] > hi ? per[c][f] : hi;
    }
    assert_true(hi - lo <= 1);
  }
  int lo = 1 << 30, hi = -1;
  for (int f = 0; f < k; f++) {
    lo = size[f] < lo ? size[f] : lo;
    hi = size[f] > hi ? size[f] : hi;
  }
  assert_true(hi - lo <= 1);
}

static void test_folds(void **st) {
  (void)st;
  enum { N = 21 };
  /* 3 classes of 7, 10 and 4 tracks, interleaved. */
  static const int labels[N] = {1, 0, 1, 2, 1, 0, 0, 1, 2, 1, 1, 0, 2, 1, 0, 1, 0, 1, 2, 0, 1};
  mgc_track tracks[N];
  for (int i = 0; i < N; i++) tracks[i] = (mgc_track){NULL, NULL, labels[i]};
  char *classes[] = {"a", "b", "c"};
  mgc_dataset d = {N, tracks, 3, classes, 0, NULL};
  int f1[N], f2[N], f3[N];
  for (int k = 2; k <= 7; k++) {
    assert_int_equal(mgc_dataset_folds(&d, k, 42, f1), MGC_OK);
    check_folds(&d, k, f1);
    assert_int_equal(mgc_dataset_folds(&d, k, 42, f2), MGC_OK);
    assert_memory_equal(f1, f2, sizeof f1); /* same seed, same folds */
    assert_int_equal(mgc_dataset_folds(&d, k, 43, f3), MGC_OK);
    check_folds(&d, k, f3);
    assert_memory_not_equal(f1, f3, sizeof f1); /* another seed, other folds */
  }
  /* Leave-one-out is the largest k. */
  assert_int_equal(mgc_dataset_folds(&d, N, 1, f1), MGC_OK);
  int seen[N] = {0};
  for (int i = 0; i < N; i++) seen[f1[i]]++;
  for (int i = 0; i < N; i++) assert_int_equal(seen[i], 1);
  expect_error(mgc_dataset_folds(&d, 1, 1, f1), MGC_EINVAL, "folds");
  expect_error(mgc_dataset_folds(&d, N + 1, 1, f1), MGC_EINVAL, "folds");
}

/* ---- feature cache ------------------------------------------------------ */

static int count_files(const char *dir, const char *suffix) {
  DIR *dh = opendir(dir);
  assert_non_null(dh);
  int n = 0;
  struct dirent *e;
  while ((e = readdir(dh)))
    if (e->d_name[0] != '.' && (!suffix || ends_with(e->d_name, suffix))) n++;
  closedir(dh);
  return n;
}

/* The only .npy in dir. */
static void only_entry(const char *dir, char *out, size_t cap) {
  assert_int_equal(count_files(dir, ".npy"), 1);
  DIR *dh = opendir(dir);
  struct dirent *e;
  while ((e = readdir(dh)))
    if (ends_with(e->d_name, ".npy")) snprintf(out, cap, "%s/%s", dir, e->d_name);
  closedir(dh);
}

static void expect_stats(const mgc_featcache *c, long hits, long misses, long replaced) {
  long h, m, r;
  mgc_featcache_stats(c, &h, &m, &r);
  if (h != hits || m != misses || r != replaced)
    fail_msg("stats hits %ld misses %ld replaced %ld, expected %ld %ld %ld", h, m, r, hits, misses, replaced);
}

static void expect_same(const mgc_feature_matrix *a, const mgc_feature_matrix *b) {
  assert_int_equal(a->n_frames, b->n_frames);
  assert_int_equal(a->dim, b->dim);
  assert_memory_equal(a->data, b->data, sizeof(float) * a->n_frames * a->dim);
}

/* "speed2": keep every other sample (twice as fast, an octave up). */
static mgc_status speed2(void *user, const float *in, size_t n, int rate, float **out, size_t *n_out) {
  (void)rate;
  int *calls = user;
  (*calls)++;
  *n_out = (n + 1) / 2;
  *out = malloc(sizeof(float) * *n_out);
  if (!*out) return mgc_error_set(MGC_ENOMEM, "oom");
  for (size_t i = 0; i < *n_out; i++) (*out)[i] = in[2 * i];
  return MGC_OK;
}

static void test_featcache(void **st) {
  (void)st;
  char wav[512], dir[512];
  mkdirs("fc");
  write_audio(pathf(wav, sizeof wav, "fc/tone.wav"), SF_FORMAT_WAV | SF_FORMAT_PCM_16, 22050, 2.0, 440.0);
  pathf(dir, sizeof dir, "fc/cache/a/b"); /* parents created */
  mgc_frontend_params p;
  mgc_frontend_params_default(&p);

  /* Reference: decode + framer directly. */
  mgc_audio a;
  assert_int_equal(mgc_audio_load(wav, p.sample_rate, &a), MGC_OK);
  mgc_feature_matrix ref;
  assert_int_equal(mgc_features_compute(&p, MGC_KIND_LOGMEL, a.samples, a.n, &ref), MGC_OK);
  mgc_audio_free(&a);
  assert_int_equal(ref.n_frames, 87); /* 1 + 44100 / 512 */

  mgc_featcache *c;
  assert_int_equal(mgc_featcache_new(dir, &p, MGC_KIND_LOGMEL, &c), MGC_OK);
  mgc_feature_matrix m1, m2;
  assert_int_equal(mgc_featcache_get(c, wav, NULL, NULL, NULL, &m1), MGC_OK);
  expect_stats(c, 0, 1, 0);
  expect_same(&m1, &ref);
  assert_true(isnan(m1.tuning));
  assert_int_equal(count_files(dir, NULL), 1); /* no temporary left behind */
  assert_int_equal(mgc_featcache_get(c, wav, "", NULL, NULL, &m2), MGC_OK);
  expect_stats(c, 1, 1, 0);
  expect_same(&m2, &ref);
  mgc_feature_matrix_free(&m2);
  char entry[1024];
  only_entry(dir, entry, sizeof entry);
  const char *base = strrchr(entry, '/') + 1;
  assert_int_equal(strlen(base), 16 + 4);
  assert_int_equal(strspn(base, "0123456789abcdef"), 16);

  /* The same path spelled differently is the same file. */
  char wav2[600];
  snprintf(wav2, sizeof wav2, "%s/fc/../fc/./tone.wav", g_dir);
  assert_int_equal(mgc_featcache_get(c, wav2, NULL, NULL, NULL, &m2), MGC_OK);
  expect_stats(c, 2, 1, 0);
  mgc_feature_matrix_free(&m2);

  /* A transform: its own key, different frames, computed once. */
  int calls = 0;
  expect_error(mgc_featcache_get(c, wav, "", speed2, &calls, &m2), MGC_EINVAL, "variant");
  assert_int_equal(mgc_featcache_get(c, wav, "speed2", speed2, &calls, &m2), MGC_OK);
  expect_stats(c, 2, 2, 0);
  assert_int_equal(calls, 1);
  assert_int_equal(m2.n_frames, 44); /* 1 + 22050 / 512 */
  mgc_feature_matrix_free(&m2);
  assert_int_equal(mgc_featcache_get(c, wav, "speed2", speed2, &calls, &m2), MGC_OK);
  expect_stats(c, 3, 2, 0);
  assert_int_equal(calls, 1);
  assert_int_equal(m2.n_frames, 44);
  assert_memory_not_equal(m2.data, m1.data, sizeof(float) * m2.n_frames * m2.dim);
  mgc_feature_matrix_free(&m2);
  /* Another variant name is another entry, even with the same function. */
  assert_int_equal(mgc_featcache_get(c, wav, "speed2b", speed2, &calls, &m2), MGC_OK);
  expect_stats(c, 3, 3, 0);
  mgc_feature_matrix_free(&m2);
  assert_int_equal(count_files(dir, ".npy"), 3);

  /* Touching the file (new mtime, same bytes) misses. */
  struct timespec times[2] = {{0, UTIME_OMIT}, {1500000000, 123456789}};
  assert_int_equal(utimensat(AT_FDCWD, wav, times, 0), 0);
  assert_int_equal(mgc_featcache_get(c, wav, NULL, NULL, NULL, &m2), MGC_OK);
  expect_stats(c, 3, 4, 0);
  expect_same(&m2, &ref);
  mgc_feature_matrix_free(&m2);
  times[1].tv_nsec = 123456790; /* 1 ns later: still another identity */
  assert_int_equal(utimensat(AT_FDCWD, wav, times, 0), 0);
  assert_int_equal(mgc_featcache_get(c, wav, NULL, NULL, NULL, &m2), MGC_OK);
  expect_stats(c, 3, 5, 0);
  mgc_feature_matrix_free(&m2);
  mgc_featcache_free(c);

  /* Another front-end parameter misses; the window length does not matter. */
  mgc_frontend_params q = p;
  q.segment_frames = 64;
  q.segment_hop = 32;
  assert_int_equal(mgc_featcache_new(dir, &q, MGC_KIND_LOGMEL, &c), MGC_OK);
  assert_int_equal(mgc_featcache_get(c, wav, NULL, NULL, NULL, &m2), MGC_OK);
  expect_stats(c, 1, 0, 0);
  mgc_feature_matrix_free(&m2);
  mgc_featcache_free(c);
  q = p;
  q.n_mels = 64;
  assert_int_equal(mgc_featcache_new(dir, &q, MGC_KIND_LOGMEL, &c), MGC_OK);
  assert_int_equal(mgc_featcache_get(c, wav, NULL, NULL, NULL, &m2), MGC_OK);
  expect_stats(c, 0, 1, 0);
  assert_int_equal(m2.dim, 64);
  mgc_feature_matrix_free(&m2);
  mgc_featcache_free(c);
  q = p;
  q.fmax = 8000; /* a double, not only the ints */
  assert_int_equal(mgc_featcache_new(dir, &q, MGC_KIND_LOGMEL, &c), MGC_OK);
  assert_int_equal(mgc_featcache_get(c, wav, NULL, NULL, NULL, &m2), MGC_OK);
  expect_stats(c, 0, 1, 0);
  mgc_feature_matrix_free(&m2);
  mgc_featcache_free(c);
  /* Another kind misses too. */
  assert_int_equal(mgc_featcache_new(dir, &p, MGC_KIND_MFCC, &c), MGC_OK);
  assert_int_equal(mgc_featcache_get(c, wav, NULL, NULL, NULL, &m2), MGC_OK);
  expect_stats(c, 0, 1, 0);
  assert_int_equal(m2.dim, 20);
  mgc_feature_matrix_free(&m2);
  mgc_featcache_free(c);

  /* No directory: computes every time, same numbers. */
  assert_int_equal(mgc_featcache_new(NULL, &p, MGC_KIND_LOGMEL, &c), MGC_OK);
  assert_int_equal(mgc_featcache_get(c, wav, NULL, NULL, NULL, &m2), MGC_OK);
  mgc_feature_matrix_free(&m2);
  assert_int_equal(mgc_featcache_get(c, wav, NULL, NULL, NULL, &m2), MGC_OK);
  expect_stats(c, 0, 2, 0);
  expect_same(&m2, &ref);
  mgc_feature_matrix_free(&m2);
  mgc_featcache_free(c);

  mgc_feature_matrix_free(&m1);
  mgc_feature_matrix_free(&ref);
}

/* Overwrite a cache entry with something broken, then expect a recompute
 * that counts as replaced and gives the right frames again. */
static void damage_and_check(const char *wav, const char *dir, const mgc_feature_matrix *ref,
                             void (*damage)(const char *path), long *replaced) {
  char entry[1024];
  only_entry(dir, entry, sizeof entry);
  damage(entry);
  mgc_frontend_params p;
  mgc_frontend_params_default(&p);
  mgc_featcache *c;
  assert_int_equal(mgc_featcache_new(dir, &p, MGC_KIND_LOGMEL, &c), MGC_OK);
  mgc_feature_matrix m;
  assert_int_equal(mgc_featcache_get(c, wav, NULL, NULL, NULL, &m), MGC_OK);
  expect_stats(c, 0, 1, 1);
  expect_same(&m, ref);
  mgc_feature_matrix_free(&m);
  /* ... and the replacement is good. */
  assert_int_equal(mgc_featcache_get(c, wav, NULL, NULL, NULL, &m), MGC_OK);
  expect_stats(c, 1, 1, 1);
  expect_same(&m, ref);
  mgc_feature_matrix_free(&m);
  mgc_featcache_free(c);
  (*replaced)++;
}

static void damage_truncate(const char *path) {
  struct stat sb;
  assert_int_equal(stat(path, &sb), 0);
  assert_int_equal(truncate(path, sb.st_size / 2), 0);
}

static void damage_garbage(const char *path) {
  FILE *f = fopen(path, "wb");
  assert_non_null(f);
  fputs("this is not a numpy file at all", f);
  fclose(f);
}

static void damage_empty(const char *path) { assert_int_equal(truncate(path, 0), 0); }

/* Header intact, one value in the middle changed: only the CRC sees it. */
static void damage_flip(const char *path) {
  FILE *f = fopen(path, "r+b");
  assert_non_null(f);
  assert_int_equal(fseek(f, 128 + 4 * 1000, SEEK_SET), 0);
  float v = 0;
  assert_int_equal(fread(&v, 4, 1, f), 1);
  v += 1.0f;
  assert_int_equal(fseek(f, 128 + 4 * 1000, SEEK_SET), 0);
  assert_int_equal(fwrite(&v, 4, 1, f), 1);
  fclose(f);
}

/* A valid npy of the wrong shape. */
static void damage_shape(const char *path) {
  float z[50] = {0};
  size_t shape[2] = {10, 5};
  assert_int_equal(mgc_npy_write(path, z, 2, shape), MGC_OK);
}

/* A valid entry of another file copied under this entry's name. */
static char g_other_entry[1024];
static void damage_swap(const char *path) {
  char cmd[2200];
  snprintf(cmd, sizeof cmd, "cp '%s' '%s'", g_other_entry, path);
  assert_int_equal(system(cmd), 0);
}

static void test_featcache_damage(void **st) {
  (void)st;
  char wav[512], other[512], dir[512], odir[512];
  mkdirs("fd");
  write_audio(pathf(wav, sizeof wav, "fd/x.wav"), SF_FORMAT_WAV | SF_FORMAT_FLOAT, 22050, 1.5, 220.0);
  write_audio(pathf(other, sizeof other, "fd/other.wav"), SF_FORMAT_WAV | SF_FORMAT_FLOAT, 22050, 1.5, 330.0);
  pathf(dir, sizeof dir, "fd/cache");
  pathf(odir, sizeof odir, "fd/ocache");
  mgc_frontend_params p;
  mgc_frontend_params_default(&p);
  mgc_featcache *c;
  mgc_feature_matrix ref, m;
  assert_int_equal(mgc_featcache_new(dir, &p, MGC_KIND_LOGMEL, &c), MGC_OK);
  assert_int_equal(mgc_featcache_get(c, wav, NULL, NULL, NULL, &ref), MGC_OK);
  mgc_featcache_free(c);
  assert_int_equal(mgc_featcache_new(odir, &p, MGC_KIND_LOGMEL, &c), MGC_OK);
  assert_int_equal(mgc_featcache_get(c, other, NULL, NULL, NULL, &m), MGC_OK);
  assert_int_equal(m.n_frames, ref.n_frames); /* same shape, other numbers */
  mgc_feature_matrix_free(&m);
  mgc_featcache_free(c);
  only_entry(odir, g_other_entry, sizeof g_other_entry);

  long n = 0;
  damage_and_check(wav, dir, &ref, damage_truncate, &n);
  damage_and_check(wav, dir, &ref, damage_garbage, &n);
  damage_and_check(wav, dir, &ref, damage_empty, &n);
  damage_and_check(wav, dir, &ref, damage_flip, &n);
  damage_and_check(wav, dir, &ref, damage_shape, &n);
  damage_and_check(wav, dir, &ref, damage_swap, &n);
  assert_int_equal(n, 6);
  mgc_feature_matrix_free(&ref);

  /* Undecodable audio: an error naming the file, nothing cached. */
  char bad[512];
  write_text("fd/bad.wav", "RIFF????WAVEjunk");
  pathf(bad, sizeof bad, "fd/bad.wav");
  assert_int_equal(mgc_featcache_new(dir, &p, MGC_KIND_LOGMEL, &c), MGC_OK);
  mgc_status s = mgc_featcache_get(c, bad, NULL, NULL, NULL, &m);
  assert_int_not_equal(s, MGC_OK);
  assert_non_null(strstr(mgc_error_message(), "bad.wav"));
  assert_null(m.data);
  expect_error(mgc_featcache_get(c, pathf(bad, sizeof bad, "fd/none.wav"), NULL, NULL, NULL, &m), MGC_EIO,
               "none.wav");
  expect_stats(c, 0, 0, 0);
  assert_int_equal(count_files(dir, NULL), 1);
  mgc_featcache_free(c);

  /* A cache directory that cannot be made is refused up front. */
  char blocked[512];
  touch("fd/file");
  expect_error(mgc_featcache_new(pathf(blocked, sizeof blocked, "fd/file/cache"), &p, MGC_KIND_LOGMEL, &c),
               MGC_EIO, "fd/file");
  p.n_fft = 7;
  expect_error(mgc_featcache_new(dir, &p, MGC_KIND_LOGMEL, &c), MGC_EINVAL, "n_fft");
}

/* Chroma's estimated tuning survives the round trip through the cache. */
static void test_featcache_chroma(void **st) {
  (void)st;
  char wav[512], dir[512];
  mkdirs("fch");
  write_audio(pathf(wav, sizeof wav, "fch/t.au"), SF_FORMAT_AU | SF_FORMAT_PCM_16, 44100, 2.0, 450.0);
  pathf(dir, sizeof dir, "fch/cache");
  mgc_frontend_params p;
  mgc_frontend_params_default(&p);
  p.tuning = NAN;
  mgc_featcache *c;
  mgc_feature_matrix m1, m2;
  assert_int_equal(mgc_featcache_new(dir, &p, MGC_KIND_CHROMA, &c), MGC_OK);
  assert_int_equal(mgc_featcache_get(c, wav, NULL, NULL, NULL, &m1), MGC_OK);
  assert_int_equal(mgc_featcache_get(c, wav, NULL, NULL, NULL, &m2), MGC_OK);
  expect_stats(c, 1, 1, 0);
  assert_int_equal(m1.dim, 12);
  expect_same(&m1, &m2);
  assert_false(isnan(m1.tuning));
  assert_true(m1.tuning == m2.tuning);
  /* The value the front-end estimates directly, to float precision. */
  mgc_audio a;
  mgc_feature_matrix ref;
  assert_int_equal(mgc_audio_load(wav, p.sample_rate, &a), MGC_OK);
  assert_int_equal(mgc_features_compute(&p, MGC_KIND_CHROMA, a.samples, a.n, &ref), MGC_OK);
  mgc_audio_free(&a);
  assert_true(m1.tuning == (float)ref.tuning);
  assert_true(m1.tuning != 0.0);
  expect_same(&m1, &ref);
  mgc_feature_matrix_free(&ref);
  mgc_feature_matrix_free(&m1);
  mgc_feature_matrix_free(&m2);
  mgc_featcache_free(c);
}

/* Waveform frames through the cache: hop_length samples each, the partial
 * frame at the end dropped, no tuning, a hit equal to the computed frames,
 * and a key of their own (the log-mel entry of the same file is another). */
static void test_featcache_waveform(void **st) {
  (void)st;
  char wav[512], dir[512];
  mkdirs("fwv");
  write_audio(pathf(wav, sizeof wav, "fwv/t.au"), SF_FORMAT_AU | SF_FORMAT_PCM_16, 22050, 1.0, 330.0);
  pathf(dir, sizeof dir, "fwv/cache");
  mgc_frontend_params p;
  mgc_frontend_params_default(&p);
  mgc_featcache *c, *cl;
  mgc_feature_matrix m1, m2, ml;
  assert_int_equal(mgc_featcache_new(dir, &p, MGC_KIND_WAVEFORM, &c), MGC_OK);
  assert_int_equal(mgc_featcache_new(dir, &p, MGC_KIND_LOGMEL, &cl), MGC_OK);
  assert_int_equal(mgc_featcache_get(c, wav, NULL, NULL, NULL, &m1), MGC_OK);
  assert_int_equal(mgc_featcache_get(cl, wav, NULL, NULL, NULL, &ml), MGC_OK);
  assert_int_equal(mgc_featcache_get(c, wav, NULL, NULL, NULL, &m2), MGC_OK);
  expect_stats(c, 1, 1, 0);
  expect_stats(cl, 0, 1, 0);
  mgc_audio a;
  assert_int_equal(mgc_audio_load(wav, p.sample_rate, &a), MGC_OK);
  assert_int_equal(m1.dim, (size_t)p.hop_length);
  assert_int_equal(m1.n_frames, a.n / (size_t)p.hop_length);
  assert_true(a.n % (size_t)p.hop_length != 0); /* 22050 samples: a partial frame to drop */
  assert_true(isnan(m1.tuning));
  expect_same(&m1, &m2);
  assert_memory_equal(m1.data, a.samples, m1.n_frames * m1.dim * sizeof(float));
  assert_int_equal(ml.dim, (size_t)p.n_mels);
  mgc_feature_kind k;
  assert_int_equal(mgc_feature_kind_parse("waveform", &k), MGC_OK);
  assert_int_equal(k, MGC_KIND_WAVEFORM);
  assert_string_equal(mgc_feature_kind_name(MGC_KIND_WAVEFORM), "waveform");
  mgc_audio_free(&a);
  mgc_feature_matrix_free(&m1);
  mgc_feature_matrix_free(&m2);
  mgc_feature_matrix_free(&ml);
  mgc_featcache_free(c);
  mgc_featcache_free(cl);
}

/* ---- band statistics ---------------------------------------------------- */

static void test_band_stats(void **st) {
  (void)st;
  enum { D = 7, N = 1000 };
  float *x = malloc(sizeof(float) * N * D);
  uint64_t s = 12345;
  for (int t = 0; t < N; t++)
    for (int j = 0; j < D; j++) {
      double u = (double)test_rand(&s) / 2097152.0 - 1.0; /* [-1, 1) */
      /* dB-like offsets with small spreads (where float sums cancel), one
       * constant band, one huge one. */
      x[t * D + j] = j == 3 ? -100.0f : j == 6 ? (float)(1e4 * u) : (float)(-50.0 - 10.0 * j + (0.1 + j) * u);
    }
  mgc_band_stats *bs;
  assert_int_equal(mgc_band_stats_new(D, &bs), MGC_OK);
  float mean[D], sd[D];
  mgc_band_stats_get(bs, mean, sd);
  for (int j = 0; j < D; j++) {
    assert_true(mean[j] == 0.0f);
    assert_true(sd[j] == 1.0f);
  }
  /* Uneven batches, including an empty one. */
  const int batches[] = {1, 13, 0, 200, 786};
  for (int b = 0, off = 0; b < 5; off += batches[b], b++) mgc_band_stats_add(bs, x + (size_t)off * D, (size_t)batches[b]);
  assert_int_equal(mgc_band_stats_count(bs), N);
  mgc_band_stats_get(bs, mean, sd);
  for (int j = 0; j < D; j++) {
    double m = 0, v = 0;
    for (int t = 0; t < N; t++) m += x[t * D + j];
    m /= N;
    for (int t = 0; t < N; t++) v += (x[t * D + j] - m) * (x[t * D + j] - m);
    double want_sd = sqrt(v / N);
    assert_float_equal(mean[j], m, 1e-6 * (fabs(m) + 1));
    if (j == 3) {
      assert_true(sd[j] == 1e-5f); /* floored */
    } else {
      assert_float_equal(sd[j], want_sd, 1e-6 * want_sd);
    }
  }
  mgc_band_stats_free(bs);
  free(x);
  expect_error(mgc_band_stats_new(0, &bs), MGC_EINVAL, "dimension");
}

/* ---- the real split list against gtzan-mini ----------------------------- */

static void test_gtzan_mini_lists(void **st) {
  (void)st;
  char mini[1024], lists[1024], list[1100];
  snprintf(mini, sizeof mini, "%s/../../../shared/data/gtzan-mini", MGC_FIXTURES);
  snprintf(lists, sizeof lists, "%s/../../../shared/data/gtzan/splits/fault-filtered", MGC_FIXTURES);
  snprintf(list, sizeof list, "%s/test.txt", lists);
  if (access(mini, R_OK) != 0 || access(list, R_OK) != 0) {
    printf("[   SKIP   ] ../shared/data/gtzan-mini or the split lists are not here\n");
    skip();
  }
  static const char *const genres[] = {"blues", "classical", "country", "disco", "hiphop",
                                       "jazz",  "metal",     "pop",     "reggae", "rock"};
  mgc_dataset *d, *all, *f;
  assert_int_equal(mgc_dataset_from_list(list, mini, genres, 10, &d), MGC_OK);
  printf("fault-filtered test.txt against gtzan-mini: %d found, %d skipped\n", d->n_tracks, d->n_skipped);
  assert_int_equal(d->n_tracks + d->n_skipped, 290);
  assert_int_equal(d->n_tracks, 4);
  for (int i = 0; i < d->n_tracks; i++) assert_int_equal(access(d->tracks[i].path, R_OK), 0);
  assert_non_null(strstr(d->skipped[0], "test.txt:"));
  mgc_dataset_free(d);

  /* The same clips found by scanning the folder and filtering by the list. */
  assert_int_equal(mgc_dataset_scan(mini, &all), MGC_OK);
  assert_int_equal(all->n_tracks, 100);
  assert_int_equal(all->n_classes, 10);
  for (int c = 0; c < 10; c++) assert_string_equal(all->classes[c], genres[c]);
  const char *names[] = {"train", "valid", "test"};
  const int want[] = {40, 49, 4};
  for (int i = 0; i < 3; i++) {
    snprintf(list, sizeof list, "%s/%s.txt", lists, names[i]);
    assert_int_equal(mgc_dataset_filter_list(all, list, &f), MGC_OK);
    assert_int_equal(mgc_dataset_from_list(list, mini, NULL, 0, &d), MGC_OK);
    printf("fault-filtered %s.txt against gtzan-mini: %d found, %d skipped; filter of the scan: %d\n", names[i],
           d->n_tracks, d->n_skipped, f->n_tracks);
    assert_int_equal(f->n_tracks, want[i]);
    assert_int_equal(d->n_tracks, want[i]);
    mgc_dataset_free(d);
    mgc_dataset_free(f);
  }

  /* One real clip through the cache: 30 s at 22050 Hz. */
  char dir[512];
  pathf(dir, sizeof dir, "gtzan-cache");
  mgc_frontend_params p;
  mgc_frontend_params_default(&p);
  mgc_featcache *c;
  mgc_feature_matrix m1, m2;
  assert_int_equal(mgc_featcache_new(dir, &p, MGC_KIND_LOGMEL, &c), MGC_OK);
  assert_int_equal(mgc_featcache_get(c, all->tracks[0].path, NULL, NULL, NULL, &m1), MGC_OK);
  assert_int_equal(mgc_featcache_get(c, all->tracks[0].path, NULL, NULL, NULL, &m2), MGC_OK);
  expect_stats(c, 1, 1, 0);
  assert_true(m1.n_frames >= 1290 && m1.n_frames <= 1295);
  expect_same(&m1, &m2);
  mgc_feature_matrix_free(&m1);
  mgc_feature_matrix_free(&m2);
  mgc_featcache_free(c);
  mgc_dataset_free(all);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_scan),          cmocka_unit_test(test_list),
      cmocka_unit_test(test_subset_and_filter), cmocka_unit_test(test_folds),
      cmocka_unit_test(test_featcache),     cmocka_unit_test(test_featcache_damage),
      cmocka_unit_test(test_featcache_chroma), cmocka_unit_test(test_featcache_waveform),
      cmocka_unit_test(test_band_stats),
      cmocka_unit_test(test_gtzan_mini_lists),
  };
  return cmocka_run_group_tests(tests, tmpdir_setup, tmpdir_teardown);
}
