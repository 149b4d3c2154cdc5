/* mgcd's configuration: /etc/mgcd/mgcd.yaml (shipped, every key commented,
 * as conf/mgcd.yaml). Unknown keys and bad values are refused with
 * file:line:column and the reason, so nothing starts half-configured.
 * Command-line flags override single fields after loading. */
#ifndef MGC_DAEMON_CONFIG_H
#define MGC_DAEMON_CONFIG_H

#include <stddef.h>

#include "mgc/stream/aggregator.h"
#include "mgc/util/error.h"
#include "mgc/stream/music_state.h"

/* CMake passes the install prefix's path (/etc/mgcd/mgcd.yaml for /usr). */
#ifndef MGC_CONFIG_DEFAULT_PATH
#define MGC_CONFIG_DEFAULT_PATH "/etc/mgcd/mgcd.yaml"
#endif
#define MGC_SOCKET_DEFAULT_PATH "/run/mgcd/mgcd.sock"

typedef enum { MGC_INPUT_DEVICE = 0, MGC_INPUT_FILE = 1, MGC_INPUT_STDIN = 2 } mgc_input_kind;
typedef enum { MGC_SAMPLE_S16 = 0, MGC_SAMPLE_F32 = 1 } mgc_sample_format;
typedef enum { MGC_LOG_ERROR = 0, MGC_LOG_WARN = 1, MGC_LOG_INFO = 2, MGC_LOG_DEBUG = 3 } mgc_log_level;

typedef struct mgc_config {
  /* input: */
  mgc_input_kind input_kind;
  char device[256];          /* input.device: PortAudio device name (substring match), index, or "default" */
  char file[4096];           /* input.file: audio file path, or "-" for stdin */
  int fast;                  /* input.fast: file/stdin as fast as possible instead of real time */
  int raw;                   /* input.raw given: stdin/file is headerless PCM */
  int raw_rate, raw_channels;
  mgc_sample_format raw_format;
  int device_rate;           /* input.rate: capture rate, 0 = model rate if the device takes it */
  int device_channels;       /* input.channels: 0 = up to 2, downmixed */
  double latency_s;          /* input.latency: PortAudio suggested latency (0.1) */
  double retry_min_s, retry_max_s; /* input.retry: back-off after input loss (0.5 .. 30) */
  /* model: */
  char model[4096];          /* model: model file */
  int window_frames, window_hop; /* window.frames / window.hop; 0 = the model's */
  mgc_aggregator_params agg; /* aggregate: mode, horizon, halflife, silence_db, gap, change_db, change_windows */
  double min_confidence;     /* aggregate.min_confidence: a decision below it is "not sure" (0 = off) */
  /* music: */
  char detector[4096];       /* music.detector: a model file, "off", or "" = the ensemble's own */
  char detector_at[4200];    /* "file:line:col: " where the file set music.detector, else "" */
  mgc_music_params music;    /* music.threshold, music.enter, music.leave */
  /* socket: */
  char socket_path[108];     /* socket.path (sun_path limit) */
  unsigned socket_mode;      /* socket.mode, octal text "0660" */
  char socket_group[64];     /* socket.group: "" = keep the process's group */
  int max_clients;           /* socket.max_clients (64) */
  size_t max_line;           /* socket.max_line: bytes of one command line (1024) */
  size_t client_buffer;      /* socket.client_buffer: bytes queued per client (256 KiB) */
  double client_timeout_s;   /* socket.client_timeout: a client whose buffer stays full this long is cut (5 s) */
  /* log: */
  mgc_log_level log_level;   /* log.level: error|warn|info|debug (info) */
  char config_path[4096];    /* where it was loaded from ("" = defaults) */
} mgc_config;

/* Built-in defaults (device "default", model MGC_DEFAULT_MODEL_PATH given by
 * the caller, socket MGC_SOCKET_DEFAULT_PATH, mode 0660, ...). */
void mgc_config_default(mgc_config *c, const char *default_model);

/* Load path over the defaults already in *c. On failure *c is unchanged and
 * the message reads "path:line:col: reason". Relative paths in the file
 * (model, input.file) are resolved against the file's directory. */
mgc_status mgc_config_load(const char *path, mgc_config *c);

/* Same from text; origin names it in messages, dir resolves relative paths. */
mgc_status mgc_config_parse(const char *text, const char *origin, const char *dir, mgc_config *c);

/* --input: "-" is stdin; an existing regular file, or anything with a '/',
 * is a file; "device:NAME" or anything else a device name or index. */
void mgc_config_set_input(mgc_config *c, const char *arg);

const char *mgc_log_level_name(mgc_log_level l);

#endif
