/* mgcd's configuration file: the shipped conf/mgcd.yaml gives the built-in
 * defaults, every key sets its field, relative paths follow the file, bad
 * input is refused with file:line:col and the reason while the running
 * configuration stays untouched, --input's classification, and the music:
 * section (detector path, off, ensemble, the music states' ranges). */
#include "test_util.h"

#include <math.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"

#ifndef MGC_CONF
#error "MGC_CONF must point at conf/"
#endif

#define DEFAULT_MODEL "/usr/local/share/mgc/models/crnn.safetensors"

static void write_text(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fputs(text, f);
  fclose(f);
}

/* Field by field: padding inside the struct is not part of the value. */
static void assert_agg_equal(const mgc_aggregator_params *a, const mgc_aggregator_params *b) {
  assert_int_equal(a->mode, b->mode);
  assert_true(a->hop_s == b->hop_s);
  assert_true(a->horizon_s == b->horizon_s);
  assert_true(a->halflife_s == b->halflife_s);
  assert_true(a->silence_db == b->silence_db);
  assert_true(a->gap_s == b->gap_s);
  assert_true(a->change_db == b->change_db);
  assert_int_equal(a->change_windows, b->change_windows);
  assert_int_equal(a->min_track_windows, b->min_track_windows);
}

static void parse_ok(const char *text, mgc_config *c) {
  if (mgc_config_parse(text, "t.yaml", "/etc/mgcd", c)) fail_msg("%s", mgc_error_message());
}

static void test_defaults(void **st) {
  (void)st;
  mgc_config c;
  mgc_config_default(&c, DEFAULT_MODEL);
  assert_int_equal(c.input_kind, MGC_INPUT_DEVICE);
  assert_string_equal(c.device, "default");
  assert_string_equal(c.file, "");
  assert_int_equal(c.fast, 0);
  assert_int_equal(c.raw, 0);
  assert_int_equal(c.raw_rate, 22050);
  assert_int_equal(c.raw_channels, 1);
  assert_int_equal(c.raw_format, MGC_SAMPLE_S16);
  assert_int_equal(c.device_rate, 0);
  assert_int_equal(c.device_channels, 0);
  assert_true(c.latency_s == 0.1);
  assert_true(c.retry_min_s == 0.5 && c.retry_max_s == 30.0);
  assert_string_equal(c.model, DEFAULT_MODEL);
  assert_int_equal(c.window_frames, 0);
  assert_int_equal(c.window_hop, 0);
  mgc_aggregator_params p;
  mgc_aggregator_params_default(&p);
  assert_agg_equal(&c.agg, &p);
  assert_string_equal(c.socket_path, "/run/mgcd/mgcd.sock");
  assert_int_equal(c.socket_mode, 0660);
  assert_string_equal(c.socket_group, "");
  assert_int_equal(c.max_clients, 64);
  assert_int_equal(c.max_line, 1024);
  assert_int_equal(c.client_buffer, 262144);
  assert_true(c.client_timeout_s == 5.0);
  assert_int_equal(c.log_level, MGC_LOG_INFO);
  assert_string_equal(c.config_path, "");
  assert_string_equal(mgc_log_level_name(MGC_LOG_ERROR), "error");
  assert_string_equal(mgc_log_level_name(MGC_LOG_WARN), "warn");
  assert_string_equal(mgc_log_level_name(MGC_LOG_INFO), "info");
  assert_string_equal(mgc_log_level_name(MGC_LOG_DEBUG), "debug");
}

/* The shipped file spells out the defaults: loading it over the built-in
 * defaults changes nothing but config_path, and the aggregator settings it
 * writes are the documented ones. */
static void test_shipped(void **st) {
  (void)st;
  mgc_config def, c;
  mgc_config_default(&def, DEFAULT_MODEL);
  memcpy(&c, &def, sizeof c);
  const char *path = MGC_CONF "/mgcd.yaml";
  if (mgc_config_load(path, &c)) fail_msg("%s", mgc_error_message());
  assert_string_equal(c.config_path, path);
  assert_int_equal(c.input_kind, def.input_kind);
  assert_string_equal(c.device, "default");
  assert_string_equal(c.file, "");
  assert_int_equal(c.fast, 0);
  assert_int_equal(c.raw, 0);
  assert_int_equal(c.device_rate, 0);
  assert_int_equal(c.device_channels, 0);
  assert_true(c.latency_s == 0.1);
  assert_true(c.retry_min_s == 0.5 && c.retry_max_s == 30.0);
  assert_string_equal(c.model, DEFAULT_MODEL); /* left to the daemon's default */
  assert_int_equal(c.window_frames, 0);
  assert_int_equal(c.window_hop, 0);
  assert_agg_equal(&c.agg, &def.agg);
  assert_int_equal(c.agg.mode, MGC_AGG_MEAN);
  assert_true(c.agg.horizon_s == 30.0);
  assert_true(c.agg.halflife_s == 10.0);
  assert_true(c.agg.silence_db == -50.0);
  assert_true(c.agg.gap_s == 2.0);
  assert_int_equal(c.agg.change_windows, 2);
  assert_true(c.min_confidence == 0.0); /* off: every decision is said */
  assert_string_equal(c.socket_path, MGC_SOCKET_DEFAULT_PATH);
  assert_int_equal(c.socket_mode, 0660);
  /* The one shipped value that is not the built-in default: the service
   * runs as a transient user, so the socket must belong to a group people
   * are in; a manual run without a config keeps its own group. */
  assert_string_equal(c.socket_group, "audio");
  assert_int_equal(c.max_clients, 64);
  assert_int_equal(c.client_buffer, 256 * 1024);
  assert_true(c.client_timeout_s == 5.0);
  assert_int_equal(c.log_level, MGC_LOG_INFO);
  /* Field by field above; the whole struct too (config_path and the group aside). */
  memset(c.config_path, 0, sizeof c.config_path);
  memset(c.socket_group, 0, sizeof c.socket_group);
  assert_memory_equal(&c, &def, sizeof c);
}

static void test_every_key(void **st) {
  (void)st;
  mgc_config c;
  mgc_config_default(&c, DEFAULT_MODEL);
  parse_ok("input:\n"
           "  device: \"USB Audio\"\n"
           "  fast: yes\n"
           "  raw: {rate: 44100, channels: 2, format: f32}\n"
           "  rate: 48000\n"
           "  channels: 2\n"
           "  latency: 0.25\n"
           "  retry: {min: 1.5, max: 60}\n"
           "model: models/genre.safetensors\n"
           "window: {frames: 260, hop: 130}\n"
           "aggregate:\n"
           "  mode: ema\n"
           "  horizon: 45\n"
           "  halflife: 7.5\n"
           "  silence_db: -60\n"
           "  gap: 3.5\n"
           "  change_db: 4.5\n"
           "  change_windows: 3\n"
           "  min_confidence: 0.55\n"
           "socket:\n"
           "  path: /tmp/mgc.sock\n"
           "  mode: \"0640\"\n"
           "  group: audio\n"
           "  max_clients: 8\n"
           "  max_line: 4K\n"
           "  client_buffer: 65536\n"
           "  client_timeout: 2.5\n"
           "log: {level: debug}\n",
           &c);
  assert_int_equal(c.input_kind, MGC_INPUT_DEVICE);
  assert_string_equal(c.device, "USB Audio");
  assert_int_equal(c.fast, 1);
  assert_int_equal(c.raw, 1);
  assert_int_equal(c.raw_rate, 44100);
  assert_int_equal(c.raw_channels, 2);
  assert_int_equal(c.raw_format, MGC_SAMPLE_F32);
  assert_int_equal(c.device_rate, 48000);
  assert_int_equal(c.device_channels, 2);
  assert_true(c.latency_s == 0.25);
  assert_true(c.retry_min_s == 1.5 && c.retry_max_s == 60.0);
  assert_string_equal(c.model, "/etc/mgcd/models/genre.safetensors");
  assert_int_equal(c.window_frames, 260);
  assert_int_equal(c.window_hop, 130);
  assert_int_equal(c.agg.mode, MGC_AGG_EMA);
  assert_true(c.agg.horizon_s == 45.0);
  assert_true(c.agg.halflife_s == 7.5);
  assert_true(c.agg.silence_db == -60.0);
  assert_true(c.agg.gap_s == 3.5);
  assert_true(c.agg.change_db == 4.5);
  assert_int_equal(c.agg.change_windows, 3);
  assert_true(c.min_confidence == 0.55);
  assert_string_equal(c.socket_path, "/tmp/mgc.sock");
  assert_int_equal(c.socket_mode, 0640);
  assert_string_equal(c.socket_group, "audio");
  assert_int_equal(c.max_clients, 8);
  assert_int_equal(c.max_line, 4096);
  assert_int_equal(c.client_buffer, 65536);
  assert_true(c.client_timeout_s == 2.5);
  assert_int_equal(c.log_level, MGC_LOG_DEBUG);
  assert_string_equal(c.config_path, ""); /* parse names no file */

  /* The other spellings: file inputs, modes, sizes, switches. */
  parse_ok("input: {file: ../audio/a.wav, fast: off, raw: false}\n"
           "socket: {mode: 0o600, client_buffer: 1M, group: \"\"}\n"
           "aggregate: {silence_db: off, gap: 0, change_db: 0}\n"
           "log: {level: error}\n",
           &c);
  assert_int_equal(c.input_kind, MGC_INPUT_FILE);
  assert_string_equal(c.file, "/etc/mgcd/../audio/a.wav");
  assert_int_equal(c.fast, 0);
  assert_int_equal(c.raw, 0);
  assert_int_equal(c.socket_mode, 0600);
  assert_int_equal(c.client_buffer, 1 << 20);
  assert_string_equal(c.socket_group, "");
  assert_true(isinf(c.agg.silence_db) && c.agg.silence_db < 0);
  assert_true(c.agg.gap_s == 0.0);
  assert_true(c.agg.change_db == 0.0);
  assert_int_equal(c.log_level, MGC_LOG_ERROR);
  parse_ok("input: {file: \"-\", raw: {}}\nsocket: {mode: 660, client_buffer: 64K}\n"
           "log: {level: warn}\n",
           &c);
  assert_int_equal(c.input_kind, MGC_INPUT_STDIN);
  assert_string_equal(c.file, "-");
  assert_int_equal(c.raw, 1);
  assert_int_equal(c.raw_rate, 44100); /* kept from before: raw: {} sets nothing else */
  assert_int_equal(c.socket_mode, 0660);
  assert_int_equal(c.client_buffer, 65536);
  assert_int_equal(c.log_level, MGC_LOG_WARN);
  /* A section left empty ("input:" and only comments under it) is fine. */
  parse_ok("input:\n  # device: hw:1\nsocket:\nlog: {level: info}\n", &c);
  assert_int_equal(c.log_level, MGC_LOG_INFO);
  assert_int_equal(c.input_kind, MGC_INPUT_STDIN);
  /* Absolute paths are kept as they are; no dir: relative ones too. */
  assert_int_equal(mgc_config_parse("model: /opt/m.safetensors\n", "t.yaml", "/etc/mgcd", &c),
                   MGC_OK);
  assert_string_equal(c.model, "/opt/m.safetensors");
  assert_int_equal(mgc_config_parse("model: m.safetensors\n", "t.yaml", NULL, &c), MGC_OK);
  assert_string_equal(c.model, "m.safetensors");
}

/* mgc_config_load resolves against the file's directory, made absolute. */
static void test_load_relative(void **st) {
  (void)st;
  char sub[400], path[500], cwd[4096], want[4600], old[4096];
  snprintf(sub, sizeof sub, "%s/etc", g_dir);
  assert_int_equal(mkdir(sub, 0755), 0);
  snprintf(path, sizeof path, "%s/mgcd.yaml", sub);
  write_text(path, "# a test configuration\nmodel: ../models/x.safetensors\n"
                   "input:\n  file: clip.wav\nsocket: {path: run/s.sock}\n");
  mgc_config c;
  mgc_config_default(&c, DEFAULT_MODEL);
  if (mgc_config_load(path, &c)) fail_msg("%s", mgc_error_message());
  snprintf(want, sizeof want, "%s/../models/x.safetensors", sub);
  assert_string_equal(c.model, want);
  snprintf(want, sizeof want, "%s/clip.wav", sub);
  assert_string_equal(c.file, want);
  assert_int_equal(c.input_kind, MGC_INPUT_FILE);
  snprintf(want, sizeof want, "%s/run/s.sock", sub);
  assert_string_equal(c.socket_path, want);
  assert_string_equal(c.config_path, path);

  /* A relative file name: the directory is taken from the working one. */
  assert_non_null(getcwd(old, sizeof old));
  assert_int_equal(chdir(g_dir), 0);
  assert_non_null(getcwd(cwd, sizeof cwd));
  mgc_config_default(&c, DEFAULT_MODEL);
  if (mgc_config_load("etc/mgcd.yaml", &c)) fail_msg("%s", mgc_error_message());
  snprintf(want, sizeof want, "%s/etc/../models/x.safetensors", cwd);
  assert_string_equal(c.model, want);
  assert_int_equal(chdir(sub), 0);
  mgc_config_default(&c, DEFAULT_MODEL);
  if (mgc_config_load("mgcd.yaml", &c)) fail_msg("%s", mgc_error_message());
  snprintf(want, sizeof want, "%s/etc/clip.wav", cwd);
  assert_string_equal(c.file, want);
  assert_int_equal(chdir(old), 0);

  /* A missing file: the path and the system's reason. */
  snprintf(path, sizeof path, "%s/absent.yaml", g_dir);
  assert_int_equal(mgc_config_load(path, &c), MGC_EIO);
  assert_non_null(strstr(mgc_error_message(), path));
  assert_non_null(strstr(mgc_error_message(), "No such file"));
}

typedef struct bad_case {
  const char *text;
  const char *where;  /* exact "t.yaml:L:C: " prefix */
  const char *reason; /* substring of the rest */
} bad_case;

static void test_errors(void **st) {
  (void)st;
  char long_path[200] = "socket: {path: /";
  for (int i = 0; i < 120; i++) strcat(long_path, "x");
  strcat(long_path, "}\n");
  const bad_case cases[] = {
      /* unknown keys, top level and nested */
      {"modle: x.safetensors\n", "t.yaml:1:1: ", "unknown key 'modle'"},
      {"log: {level: info}\ninput:\n  devise: hw:1\n", "t.yaml:3:3: ",
       "unknown key 'devise' in 'input'"},
      {"input: {retry: {min: 1, mx: 3}}\n", "t.yaml:1:25: ", "unknown key 'mx' in 'input.retry'"},
      {"aggregate:\n  mode: mean\n  window: 3\n", "t.yaml:3:3: ", "unknown key 'window'"},
      /* wrong types */
      {"model: {path: x}\n", "t.yaml:1:8: ", "'model' must be a string, not a mapping"},
      {"input: hw:1\n", "t.yaml:1:8: ", "'input' must be a mapping"},
      {"socket:\n  - path: /a\n", "t.yaml:2:3: ", "'socket' must be a mapping"},
      {"window: {frames: [130]}\n", "t.yaml:1:18: ", "'frames' must be a number"},
      {"input: {fast: maybe}\n", "t.yaml:1:15: ", "'fast' must be true or false"},
      {"input: {raw: 5}\n", "t.yaml:1:14: ", "'raw' must be true, false or a mapping"},
      {"window: {hop: 6.5}\n", "t.yaml:1:15: ", "'hop' must be an integer"},
      {"? [a, b]\n: 1\n", "t.yaml:1:3: ", "keys must be plain words"},
      /* out of range */
      {"socket:\n  max_clients: 0\n", "t.yaml:2:16: ", "'max_clients' must be in [1, 1000]"},
      {"socket:\n  max_clients: 1001\n", "t.yaml:2:16: ", "'max_clients' must be in [1, 1000]"},
      {"socket: {max_line: 63}\n", "t.yaml:1:20: ", "'max_line' must be in [64"},
      {"socket: {max_line: 65K}\n", "t.yaml:1:20: ", "'max_line' must be in [64"},
      {"socket: {client_buffer: 1000}\n", "t.yaml:1:25: ", "'client_buffer' must be in [4096"},
      {"socket: {client_buffer: 12 parsecs}\n", "t.yaml:1:25: ", "size in bytes"},
      {"input: {rate: 500}\n", "t.yaml:1:15: ", "'rate' must be 0 (the model's rate) or in"},
      {"input:\n  latency: -1\n", "t.yaml:2:12: ", "'latency' must be in [0, 10]"},
      {"aggregate: {silence_db: 3}\n", "t.yaml:1:25: ", "'silence_db' must be in [-200, 0]"},
      {"aggregate: {change_windows: 0}\n", "t.yaml:1:29: ", "'change_windows'"},
      {"aggregate: {min_confidence: 1.5}\n", "t.yaml:1:29: ", "'min_confidence' must be in [0, 1]"},
      {"input: {retry: {min: 60}}\n", "t.yaml:1:22: ", "min (60 s) must not exceed max (30 s)"},
      {"input: {retry: {min: 10, max: 5}}\n", "t.yaml:1:31: ", "must not exceed max"},
      /* the aggregator's own check: the horizon holds at least one window hop */
      {"aggregate:\n  mode: mean\n  horizon: 1\n", "t.yaml:3:12: ", "horizon_s (1) must be"},
      {"socket: {mode: 01777}\n", "t.yaml:1:16: ", "'mode' must be at most 0777"},
      {"socket: {mode: \"0680\"}\n", "t.yaml:1:16: ", "octal file mode"},
      {"socket: {mode: rw-rw----}\n", "t.yaml:1:16: ", "octal file mode"},
      {long_path, "t.yaml:1:16: ", "'path' is too long (at most 107 bytes)"},
      /* bad enums */
      {"log: {level: verbose}\n", "t.yaml:1:14: ",
       "'level' must be error, warn, info or debug, got 'verbose'"},
      {"aggregate: {mode: median}\n", "t.yaml:1:19: ", "'mode' must be mean or ema"},
      {"input: {raw: {format: s24}}\n", "t.yaml:1:23: ", "'format' must be s16 or f32"},
      /* empty / not a mapping */
      {"", "t.yaml:1:1: ", "empty configuration"},
      {"# nothing but a comment\n", "t.yaml:1:1: ", "empty configuration"},
      {"---\n", "t.yaml:1:1: ", "empty configuration"},
      {"- input\n- model\n", "t.yaml:1:1: ", "must be a mapping of sections"},
      {"just words\n", "t.yaml:1:1: ", "must be a mapping of sections"},
      {"model: \"\"\n", "t.yaml:1:8: ", "'model' must not be empty"},
      /* duplicates */
      {"log: {level: info}\nlog: {level: debug}\n", "t.yaml:2:1: ", "duplicate key 'log'"},
      {"socket:\n  mode: \"0660\"\n  group: audio\n  mode: \"0600\"\n", "t.yaml:4:3: ",
       "duplicate key 'mode' in 'socket'"},
      /* device and file together: refused at the second one */
      {"input:\n  device: hw:1\n  file: a.wav\n", "t.yaml:3:3: ", "mutually exclusive"},
      {"input: {file: a.wav, fast: yes, device: pulse}\n", "t.yaml:1:33: ", "mutually exclusive"},
      /* YAML syntax: the parser's own position */
      {"input:\n\tdevice: hw:1\n", "t.yaml:2:1: ", "cannot start any token"},
      {"input: {device: hw:1\nlog: x\n", "t.yaml:2:4: ", "did not find expected ',' or '}'"},
      {"model: \"x.safetensors\n", "t.yaml:2:1: ", "unexpected end of stream"},
  };
  mgc_config c, snap;
  mgc_config_default(&c, DEFAULT_MODEL);
  parse_ok("input: {device: pulse}\nlog: {level: warn}\nsocket: {mode: 0600}\n", &c);
  memcpy(&snap, &c, sizeof c);
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    mgc_error_clear();
    mgc_status s = mgc_config_parse(cases[i].text, "t.yaml", "/etc/mgcd", &c);
    const char *m = mgc_error_message();
    if (s != MGC_EINVAL || strncmp(m, cases[i].where, strlen(cases[i].where)) ||
        !strstr(m + strlen(cases[i].where), cases[i].reason))
      fail_msg("case %zu (%s): status %d, message '%s'; want '%s...%s'", i, cases[i].text, s, m,
               cases[i].where, cases[i].reason);
    /* Nothing of a refused file leaks into the running configuration. */
    assert_memory_equal(&c, &snap, sizeof c);
  }
  /* A valid section before a bad one is not half-applied either. */
  assert_int_equal(mgc_config_parse("log: {level: debug}\nmodel: /m\nsocket: {mode: 999}\n",
                                    "t.yaml", "/etc/mgcd", &c),
                   MGC_EINVAL);
  assert_memory_equal(&c, &snap, sizeof c);
  assert_int_equal(c.log_level, MGC_LOG_WARN);

  /* Through mgc_config_load: the message names the file as given. */
  char path[400];
  snprintf(path, sizeof path, "%s/bad.yaml", g_dir);
  write_text(path, "input:\n  device: default\n\nsocket:\n  max_clients: many\n");
  assert_int_equal(mgc_config_load(path, &c), MGC_EINVAL);
  char want[500];
  snprintf(want, sizeof want, "%s:5:16: 'max_clients' must be a number", path);
  assert_string_equal(mgc_error_message(), want);
  assert_memory_equal(&c, &snap, sizeof c);
}

/* ---- music: the detector and the music states ---- */

static void test_music_defaults(void **st) {
  (void)st;
  mgc_config c;
  mgc_config_default(&c, DEFAULT_MODEL);
  assert_string_equal(c.detector, ""); /* the ensemble's own */
  assert_true(c.music.threshold == 0.5);
  assert_int_equal(c.music.enter_windows, 1);
  assert_int_equal(c.music.leave_windows, 2);
}

static void test_music_keys(void **st) {
  (void)st;
  mgc_config c;
  mgc_config_default(&c, DEFAULT_MODEL);
  parse_ok("music:\n"
           "  detector: models/det.safetensors\n"
           "  threshold: 0.65\n"
           "  enter: 2\n"
           "  leave: 5\n",
           &c);
  assert_string_equal(c.detector, "/etc/mgcd/models/det.safetensors");
  assert_string_equal(c.detector_at, "t.yaml:2:13: "); /* where a load failure is reported */
  assert_true(c.music.threshold == 0.65);
  assert_int_equal(c.music.enter_windows, 2);
  assert_int_equal(c.music.leave_windows, 5);
  /* the ends of the ranges */
  parse_ok("music: {detector: /opt/d.safetensors, threshold: 0, enter: 1000, leave: 1}\n", &c);
  assert_string_equal(c.detector, "/opt/d.safetensors");
  assert_string_equal(c.detector_at, "t.yaml:1:19: ");
  assert_true(c.music.threshold == 0.0);
  assert_int_equal(c.music.enter_windows, 1000);
  assert_int_equal(c.music.leave_windows, 1);
}

static void test_music_detector_off_and_ensemble(void **st) {
  (void)st;
  mgc_config c;
  mgc_config_default(&c, DEFAULT_MODEL);
  parse_ok("music: {detector: \"off\"}\n", &c);
  assert_string_equal(c.detector, "off");
  parse_ok("music: {detector: ensemble}\n", &c);
  assert_string_equal(c.detector, "");
  /* as unquoted YAML words too (off is not read as false) */
  parse_ok("music: {detector: off}\n", &c);
  assert_string_equal(c.detector, "off");
}

/* Through mgc_config_load the detector follows the file, as the model does. */
static void test_music_detector_relative_to_the_file(void **st) {
  (void)st;
  char sub[400], path[500], want[600];
  snprintf(sub, sizeof sub, "%s/music-etc", g_dir);
  assert_int_equal(mkdir(sub, 0755), 0);
  snprintf(path, sizeof path, "%s/mgcd.yaml", sub);
  write_text(path, "music:\n  detector: ../models/det.safetensors\n");
  mgc_config c;
  mgc_config_default(&c, DEFAULT_MODEL);
  if (mgc_config_load(path, &c)) fail_msg("%s", mgc_error_message());
  snprintf(want, sizeof want, "%s/../models/det.safetensors", sub);
  assert_string_equal(c.detector, want);
}

static void test_music_errors(void **st) {
  (void)st;
  const bad_case cases[] = {
      {"music:\n  threshold: 1.5\n", "t.yaml:2:14: ", "'threshold' must be in [0, 1]"},
      {"music: {threshold: -0.1}\n", "t.yaml:1:20: ", "'threshold' must be in [0, 1]"},
      {"music: {threshold: .nan}\n", "t.yaml:1:20: ", "'threshold' must be a number"},
      {"music: {enter: 0}\n", "t.yaml:1:16: ", "'enter' must be in [1, 1000]"},
      {"music: {enter: 1001}\n", "t.yaml:1:16: ", "'enter' must be in [1, 1000]"},
      {"music: {leave: 0}\n", "t.yaml:1:16: ", "'leave' must be in [1, 1000]"},
      {"music: {leave: 2.5}\n", "t.yaml:1:16: ", "'leave' must be an integer"},
      {"music:\n  leave: 2\n  treshold: 0.5\n", "t.yaml:3:3: ", "unknown key 'treshold' in 'music'"},
      {"music: {detector: \"\"}\n", "t.yaml:1:19: ", "'detector' must not be empty"},
      {"music: {detector: [a]}\n", "t.yaml:1:19: ", "'detector' must be a string"},
      {"music: on\n", "t.yaml:1:8: ", "'music' must be a mapping"},
  };
  mgc_config c, snap;
  mgc_config_default(&c, DEFAULT_MODEL);
  parse_ok("music: {detector: \"off\", leave: 3}\n", &c);
  memcpy(&snap, &c, sizeof c);
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    mgc_error_clear();
    mgc_status s = mgc_config_parse(cases[i].text, "t.yaml", "/etc/mgcd", &c);
    const char *m = mgc_error_message();
    if (s != MGC_EINVAL || strncmp(m, cases[i].where, strlen(cases[i].where)) ||
        !strstr(m + strlen(cases[i].where), cases[i].reason))
      fail_msg("case %zu (%s): status %d, message '%s'; want '%s...%s'", i, cases[i].text, s, m,
               cases[i].where, cases[i].reason);
    assert_memory_equal(&c, &snap, sizeof c);
  }
}

static void test_set_input(void **st) {
  (void)st;
  mgc_config c;
  mgc_config_default(&c, DEFAULT_MODEL);
  mgc_config_set_input(&c, "-");
  assert_int_equal(c.input_kind, MGC_INPUT_STDIN);
  assert_string_equal(c.file, "-");

  char wav[400];
  snprintf(wav, sizeof wav, "%s/in.wav", g_dir);
  write_text(wav, "RIFF");
  mgc_config_set_input(&c, wav);
  assert_int_equal(c.input_kind, MGC_INPUT_FILE);
  assert_string_equal(c.file, wav);

  mgc_config_set_input(&c, "device:foo");
  assert_int_equal(c.input_kind, MGC_INPUT_DEVICE);
  assert_string_equal(c.device, "foo");
  /* "device:" forces a device even where a file of that name exists. */
  char forced[500];
  snprintf(forced, sizeof forced, "device:%s", wav);
  mgc_config_set_input(&c, forced);
  assert_int_equal(c.input_kind, MGC_INPUT_DEVICE);
  assert_string_equal(c.device, wav);
  mgc_config_set_input(&c, "device:");
  assert_string_equal(c.device, "default");

  /* Indexes and ALSA names are devices (run where no such files exist). */
  char old[4096];
  assert_non_null(getcwd(old, sizeof old));
  assert_int_equal(chdir(g_dir), 0);
  mgc_config_set_input(&c, "3");
  assert_int_equal(c.input_kind, MGC_INPUT_DEVICE);
  assert_string_equal(c.device, "3");
  mgc_config_set_input(&c, "hw:1");
  assert_int_equal(c.input_kind, MGC_INPUT_DEVICE);
  assert_string_equal(c.device, "hw:1");
  /* ... unless a file by that name is there. */
  write_text("3", "x");
  mgc_config_set_input(&c, "3");
  assert_int_equal(c.input_kind, MGC_INPUT_FILE);
  assert_string_equal(c.file, "3");
  /* A path is a file even when it is missing (an error at start, not a
   * device to wait for), or a directory (refused when opened). */
  mgc_config_set_input(&c, "/nonexistent/clip.wav");
  assert_int_equal(c.input_kind, MGC_INPUT_FILE);
  assert_string_equal(c.file, "/nonexistent/clip.wav");
  mgc_config_set_input(&c, g_dir);
  assert_int_equal(c.input_kind, MGC_INPUT_FILE);
  assert_string_equal(c.file, g_dir);
  assert_int_equal(chdir(old), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_defaults),      cmocka_unit_test(test_shipped),
      cmocka_unit_test(test_every_key),     cmocka_unit_test(test_load_relative),
      cmocka_unit_test(test_errors),        cmocka_unit_test(test_set_input),
      cmocka_unit_test(test_music_defaults), cmocka_unit_test(test_music_keys),
      cmocka_unit_test(test_music_detector_off_and_ensemble),
      cmocka_unit_test(test_music_detector_relative_to_the_file),
      cmocka_unit_test(test_music_errors),
  };
  return cmocka_run_group_tests(tests, tmpdir_setup, tmpdir_teardown);
}
