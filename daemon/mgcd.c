/* mgcd: the real-time genre daemon. One main thread runs a poll loop over
 * the socket clients, a signalfd and a short timer; audio arrives from the
 * input's producer (PortAudio callback or file reader) through a lock-free
 * ring and is classified in this thread between polls. A window costs about
 * 1.5 ms against a hop of 1.5 s, so a single worker keeps the event latency
 * to the poll period and leaves nothing to lock. */
/* pipe2 is a Linux extension. */
#define _GNU_SOURCE
#include <errno.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cblas.h>

#include "config.h"
#include "input.h"
#include "log.h"
#include "mgc/util/json_quote.h"
#include "mgc/util/parse.h"
#include "mgc/stream/ensemble_stream.h"
#include "notify.h"
#include "server.h"

#ifndef MGC_VERSION
#define MGC_VERSION "0"
#endif
#define MGC_REPO_MODEL "models/ensemble.yaml"
#ifndef MGC_INSTALLED_MODEL
#define MGC_INSTALLED_MODEL MGC_REPO_MODEL
#endif
#define PROTOCOL 1
#define POLL_MS 20          /* the loop's period while the input is not running */
#define SLEEP_MAX_MS 250    /* at most this long between turns (client timeouts, retries, watchdog) */
#define CHUNK_S 0.5         /* audio per loop turn at most, so clients are served even when
                               audio arrives faster than it is classified (--fast, a runaway device) */

/* What the command line sets; re-applied over the file at every reload. */
typedef struct overrides {
  const char *config, *input, *socket, *model, *raw, *log_level, *detector;
  int fast, foreground, wait_clients;
  double min_confidence; /* --min-confidence; NAN when not given */
} overrides;

/* What listens: an ensemble (a one-member one for a plain model file) and
 * its live stream, with the class names ready as JSON strings. */
typedef struct engine {
  mgc_ensemble *ens;
  mgc_ensemble_stream *s;
  char **jclass;
  const char *const *classes;
  int C, rate;
} engine;

typedef struct mgcd {
  overrides ov;
  mgc_config cfg;
  engine g;                     /* the model or ensemble listening */
  mgc_input *in;
  mgc_server *srv;
  double start_mono;
  mgc_input_state state;
  uint64_t overruns;
  int prev_silent;
  int ended;
  double lost_at;               /* audio time when the input was lost */
  char ev[32768];               /* one event line being built */
  size_t ev_len;
} mgcd;

static double mono_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static double wall_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* ---- JSON lines, built with snprintf: no allocation per event ---- */

static void put(mgcd *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(mgcd *d, const char *fmt, ...) {
  if (d->ev_len >= sizeof d->ev) return;
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(d->ev + d->ev_len, sizeof d->ev - d->ev_len, fmt, ap);
  va_end(ap);
  if (n > 0) d->ev_len += (size_t)n;
  if (d->ev_len >= sizeof d->ev) d->ev_len = sizeof d->ev - 1;
}

static void begin(mgcd *d, const char *event) {
  d->ev_len = 0;
  put(d, "{\"event\":\"%s\",\"time\":%.3f", event, wall_now());
}

static void put_str(mgcd *d, const char *key, const char *val) {
  char q[4200];
  mgc_json_quote(q, sizeof q, val);
  put(d, ",\"%s\":%s", key, q);
}

static void put_probs(mgcd *d, const char *key, const float *p) {
  put(d, ",\"%s\":{", key);
  for (int k = 0; k < d->g.C; k++) put(d, "%s%s:%.4f", k ? "," : "", d->g.jclass[k], p[k]);
  put(d, "}");
}

/* Below min_confidence a decision is "not sure": no genre, the three most
 * probable candidates instead, so a client never shows a guess as an answer. */
static void put_decision(mgcd *d, const mgc_decision *dec) {
  int unsure = dec->genre >= 0 && dec->confidence < d->cfg.min_confidence;
  put(d, ",\"decision\":{\"genre\":%s,\"confidence\":%.4f,\"uncertain\":%s",
      dec->genre >= 0 && !unsure ? d->g.jclass[dec->genre] : "null",
      dec->genre >= 0 ? dec->confidence : 0.0, unsure ? "true" : "false");
  if (unsure && dec->probs) {
    int top[3] = {-1, -1, -1};
    for (int r = 0; r < 3 && r < d->g.C; r++)
      for (int k = 0; k < d->g.C; k++) {
        if (k == top[0] || k == top[1]) continue; /* taken by an earlier rank */
        if (top[r] < 0 || dec->probs[k] > dec->probs[top[r]]) top[r] = k;
      }
    put(d, ",\"candidates\":[");
    for (int r = 0; r < 3 && r < d->g.C; r++)
      put(d, "%s[%s,%.4f]", r ? "," : "", d->g.jclass[top[r]], dec->probs[top[r]]);
    put(d, "]");
  }
  if (dec->genre >= 0 && dec->probs) put_probs(d, "probs", dec->probs);
  put(d, ",\"windows\":%d,\"track\":%llu}", dec->windows, (unsigned long long)dec->track);
}

/* "ensemble": the rule, the members and how the context members' answers
 * are coming (for each: runs, whether in the decision, audio it rests on;
 * the table_* keys repeat the first one's, as before there could be several). */
static void put_members(mgcd *d) {
  const mgc_ensemble *e = d->g.ens;
  put(d, ",\"ensemble\":{\"rule\":\"%s\",\"members\":[", mgc_comb_rule_name(e->rule));
  for (int m = 0; m < e->n_members; m++) {
    char q[300];
    mgc_json_quote(q, sizeof q, e->members[m].name);
    put(d, "%s{\"name\":%s,\"input\":\"%s\"}", m ? "," : "", q,
        e->members[m].input == MGC_ENS_INPUT_CONTEXT ? "context" : "window");
  }
  put(d, "]");
  int n = mgc_ensemble_stream_contexts(d->g.s);
  if (n > 0) {
    put(d, ",\"table_runs\":%u,\"table_in_decision\":%s,\"table_audio_s\":%.1f",
        mgc_ensemble_stream_table_runs(d->g.s), mgc_ensemble_stream_table_active(d->g.s) ? "true" : "false",
        mgc_ensemble_stream_table_audio_s(d->g.s));
    put(d, ",\"context\":[");
    for (int i = 0; i < n; i++) {
      mgc_context_info ci;
      mgc_ensemble_stream_context_info(d->g.s, i, &ci);
      char q[300];
      mgc_json_quote(q, sizeof q, e->members[ci.member].name);
      put(d, "%s{\"name\":%s,\"runs\":%u,\"in_decision\":%s,\"audio_s\":%.1f", i ? "," : "", q,
          ci.runs, ci.in_decision ? "true" : "false", ci.audio_s);
      if (ci.error) {
        char em[600];
        mgc_json_quote(em, sizeof em, ci.error);
        put(d, ",\"error\":%s", em);
      }
      put(d, "}");
    }
    put(d, "]");
  }
  put(d, "}");
}

/* "detector": the music detector's file, or null without one. */
static void put_detector(mgcd *d) {
  if (d->g.ens->detector_path) put_str(d, "detector", d->g.ens->detector_path);
  else put(d, ",\"detector\":null");
}

static void send_event(mgcd *d) {
  put(d, "}");
  mgc_server_broadcast(d->srv, d->ev, d->ev_len, mono_now());
}

static const char *reason_name(mgc_track_reason r) {
  switch (r) {
  case MGC_TRACK_GAP: return "gap";
  case MGC_TRACK_CHANGE: return "change";
  case MGC_TRACK_RESET: return "reset";
  case MGC_TRACK_NO_MUSIC: return "no_music";
  default: return "start";
  }
}

static const char *state_name(mgc_input_state s) {
  return s == MGC_INPUT_RUNNING ? "running" : s == MGC_INPUT_LOST ? "lost" : "ended";
}

/* ---- the pipeline's events ---- */

/* The detector's P(music) when it ran on the window. */
static void put_music(mgcd *d, float music) {
  if (!isnan(music)) put(d, ",\"music\":%.4f", music);
}

static int on_window(void *user, const mgc_window_event *e) {
  mgcd *d = user;
  const mgc_decision *dec = &e->decision;
  if (e->sound_changed) {
    begin(d, "sound");
    put(d, ",\"sound\":\"%s\",\"t\":%.3f", mgc_sound_name(e->sound), e->t);
    put_music(d, e->music);
    send_event(d);
    mgc_log(MGC_LOG_INFO, "%s at %.1f s", mgc_sound_name(e->sound), e->t);
  }
  if (dec->new_track && e->index > 0) {
    begin(d, "new_track");
    put(d, ",\"track\":%llu,\"reason\":\"%s\",\"t\":%.3f", (unsigned long long)dec->track,
        reason_name(dec->reason), e->t);
    send_event(d);
    mgc_log(MGC_LOG_INFO, "new track %llu at %.1f s (%s)", (unsigned long long)dec->track, e->t,
            reason_name(dec->reason));
  }
  if (dec->silent && !d->prev_silent) {
    begin(d, "silence");
    put(d, ",\"t\":%.3f,\"rms_db\":%.1f", e->t, e->rms_db);
    send_event(d);
  }
  d->prev_silent = dec->silent;
  begin(d, "window");
  put(d, ",\"index\":%llu,\"t\":%.3f,\"t_end\":%.3f,\"track\":%llu,\"rms_db\":%.1f,\"silent\":%s",
      (unsigned long long)e->index, e->t, e->t_end, (unsigned long long)dec->track, e->rms_db,
      dec->silent ? "true" : "false");
  put(d, ",\"sound\":\"%s\"", mgc_sound_name(e->sound));
  put_music(d, e->music);
  if (e->probs) put_probs(d, "probs", e->probs);
  put_decision(d, dec);
  send_event(d);
  if (dec->genre >= 0)
    mgc_log(MGC_LOG_DEBUG, "window %llu [%.1f-%.1f s] %s %.0f%% (%d windows)", (unsigned long long)e->index,
            e->t, e->t_end, d->g.classes[dec->genre], 100 * dec->confidence, dec->windows);
  return 0;
}

/* ---- commands ---- */

static size_t on_command(void *user, const char *cmd, char *reply, size_t cap) {
  mgcd *d = user;
  d->ev_len = 0;
  if (!strcmp(cmd, "hello")) {
    put(d, "{\"event\":\"hello\",\"time\":%.3f,\"version\":\"%s\",\"protocol\":%d", wall_now(), MGC_VERSION,
        PROTOCOL);
    put_str(d, "model", d->cfg.model);
    put(d, ",\"classes\":[");
    for (int k = 0; k < d->g.C; k++) put(d, "%s%s", k ? "," : "", d->g.jclass[k]);
    put(d, "]");
    put_members(d);
    put_detector(d);
    put(d, ",\"rate\":%d,\"window_s\":%.3f,\"hop_s\":%.3f", d->g.rate,
        mgc_ensemble_stream_window_s(d->g.s), mgc_ensemble_stream_hop_s(d->g.s));
    put_str(d, "input", d->in ? mgc_input_describe(d->in) : "waiting for clients");
    put(d, ",\"sound\":\"%s\"", mgc_sound_name(mgc_ensemble_stream_sound(d->g.s, NULL)));
    put(d, ",\"state\":\"%s\"}", d->in ? state_name(d->state) : "waiting");
  } else if (!strcmp(cmd, "version")) {
    put(d, "{\"reply\":\"version\",\"version\":\"%s\",\"protocol\":%d", MGC_VERSION, PROTOCOL);
    put_str(d, "model", d->cfg.model);
    put(d, "}");
  } else if (!strcmp(cmd, "reset")) {
    mgc_ensemble_stream_reset_track(d->g.s);
    mgc_decision dec;
    mgc_ensemble_stream_current(d->g.s, &dec);
    put(d, "{\"reply\":\"reset\",\"track\":%llu}", (unsigned long long)dec.track + 1);
    mgc_log(MGC_LOG_INFO, "track reset by a client");
  } else if (!strcmp(cmd, "status")) {
    mgc_decision dec;
    mgc_ensemble_stream_current(d->g.s, &dec);
    put(d, "{\"reply\":\"status\",\"state\":\"%s\"", d->in ? state_name(d->state) : "waiting");
    put_str(d, "input", d->in ? mgc_input_describe(d->in) : "waiting for clients");
    if (d->state == MGC_INPUT_LOST && d->in) {
      put_str(d, "error", mgc_input_last_error(d->in));
      put(d, ",\"retry_in\":%.2f", mgc_input_retry_in(d->in));
    }
    put_str(d, "model", d->cfg.model);
    put(d, ",\"uptime\":%.1f,\"audio_s\":%.2f,\"windows\":%llu,\"track\":%llu,\"rms_db\":%.1f",
        mono_now() - d->start_mono, mgc_ensemble_stream_audio_s(d->g.s),
        (unsigned long long)mgc_ensemble_stream_windows(d->g.s), (unsigned long long)dec.track,
        mgc_ensemble_stream_rms_db(d->g.s));
    float music;
    put(d, ",\"sound\":\"%s\"", mgc_sound_name(mgc_ensemble_stream_sound(d->g.s, &music)));
    put_music(d, music);
    put_decision(d, &dec);
    put_detector(d);
    put_members(d);
    put(d, ",\"overruns\":%llu,\"reconnects\":%u,\"clients\":%d,\"clients_cut\":%lu,",
        (unsigned long long)(d->in ? mgc_input_overruns(d->in) : 0), d->in ? mgc_input_reconnects(d->in) : 0,
        mgc_server_clients(d->srv), mgc_server_cut(d->srv));
    put(d, "\"clients_refused\":%lu,\"events_skipped\":%lu}", mgc_server_refused(d->srv),
        mgc_server_skipped(d->srv));
  } else {
    return 0;
  }
  if (d->ev_len >= cap) d->ev_len = 0;
  memcpy(reply, d->ev, d->ev_len);
  return d->ev_len;
}

/* ---- configuration, model, reload ---- */

static const char *default_model(void) {
  return access(MGC_REPO_MODEL, R_OK) == 0 ? MGC_REPO_MODEL : MGC_INSTALLED_MODEL;
}

/* Defaults, the file, then the command line. */
static int build_config(const overrides *ov, mgc_config *c) {
  mgc_config_default(c, default_model());
  const char *path = ov->config;
  if (!path && access(MGC_CONFIG_DEFAULT_PATH, F_OK) == 0) path = MGC_CONFIG_DEFAULT_PATH;
  if (path && mgc_config_load(path, c)) return -1;
  if (ov->input) mgc_config_set_input(c, ov->input);
  if (ov->socket) snprintf(c->socket_path, sizeof c->socket_path, "%s", ov->socket);
  if (ov->model) snprintf(c->model, sizeof c->model, "%s", ov->model);
  if (ov->detector) {
    snprintf(c->detector, sizeof c->detector, "%s", ov->detector);
    c->detector_at[0] = 0;
  }
  if (ov->fast) c->fast = 1;
  if (ov->raw) {
    long rate, ch = 1;
    char fmt[8] = "s16";
    char spec[64];
    snprintf(spec, sizeof spec, "%s", ov->raw);
    char *a = strtok(spec, ":"), *b = strtok(NULL, ":"), *f = strtok(NULL, ":");
    if (!a || mgc_parse_int("--raw rate", a, 1000, 384000, &rate) ||
        (b && mgc_parse_int("--raw channels", b, 1, 32, &ch))) {
      if (!a) mgc_error_set(MGC_EINVAL, "--raw: expected RATE[:CHANNELS[:s16|f32]]");
      return -1;
    }
    if (f) snprintf(fmt, sizeof fmt, "%s", f);
    if (strcmp(fmt, "s16") && strcmp(fmt, "f32")) {
      mgc_error_set(MGC_EINVAL, "--raw: sample format '%s' is not s16 or f32", fmt);
      return -1;
    }
    c->raw = 1;
    c->raw_rate = (int)rate;
    c->raw_channels = (int)ch;
    c->raw_format = fmt[0] == 'f' ? MGC_SAMPLE_F32 : MGC_SAMPLE_S16;
  }
  if (!isnan(ov->min_confidence)) c->min_confidence = ov->min_confidence;
  if (ov->log_level) {
    static const char *names[] = {"error", "warn", "info", "debug"};
    int ok = 0;
    for (int i = 0; i < 4; i++)
      if (!strcmp(ov->log_level, names[i])) c->log_level = (mgc_log_level)i, ok = 1;
    if (!ok) {
      mgc_error_set(MGC_EINVAL, "--log-level: '%s' is not error, warn, info or debug", ov->log_level);
      return -1;
    }
  }
  return 0;
}

static void engine_free(engine *g) {
  if (g->jclass)
    for (int k = 0; k < g->C; k++) free(g->jclass[k]);
  free(g->jclass);
  mgc_ensemble_stream_free(g->s);
  mgc_ensemble_free(g->ens);
  memset(g, 0, sizeof *g);
}

/* The model or ensemble c names, listening; or nothing (message set). A
 * model file is an ensemble of one window member, so mgcd has one path. */
static int engine_load(const mgc_config *c, engine *g) {
  memset(g, 0, sizeof *g);
  mgc_status st;
  if (mgc_ensemble_is_path(c->model)) {
    st = mgc_ensemble_load(c->model, MGC_ENSEMBLE_LOAD_MODELS, &g->ens);
  } else {
    st = mgc_ensemble_single(c->model, NULL, MGC_ENSEMBLE_LOAD_MODELS, &g->ens);
  }
  /* music.detector: the ensemble's own unless the configuration names one
   * (or "off"). */
  if (!st && c->detector[0] &&
      (st = mgc_ensemble_set_detector(g->ens, strcmp(c->detector, "off") ? c->detector : NULL)))
    mgc_error_prefix(st, "%s", c->detector_at);
  mgc_pipeline_params pp;
  mgc_pipeline_params_default(&pp);
  pp.window_frames = c->window_frames;
  pp.window_hop = c->window_hop;
  pp.agg = c->agg;
  pp.music = c->music;
  if (!st && (st = mgc_ensemble_stream_new(g->ens, &pp, &g->s))) mgc_error_prefix(st, "%s: ", c->model);
  if (st) {
    engine_free(g);
    return -1;
  }
  g->C = mgc_ensemble_stream_classes(g->s, &g->classes);
  g->rate = mgc_ensemble_stream_rate(g->s);
  g->jclass = calloc((size_t)g->C, sizeof *g->jclass);
  for (int k = 0; g->jclass && k < g->C; k++) {
    char q[512];
    mgc_json_quote(q, sizeof q, g->classes[k]);
    g->jclass[k] = strdup(q);
  }
  return 0;
}

static mgc_server_params server_params(const mgc_config *c) {
  return (mgc_server_params){.path = c->socket_path, .mode = c->socket_mode, .group = c->socket_group,
                             .max_clients = c->max_clients, .client_buffer = c->client_buffer,
                             .max_line = c->max_line, .client_timeout_s = c->client_timeout_s};
}

static int same_input(const mgc_config *a, const mgc_config *b) {
  return a->input_kind == b->input_kind && !strcmp(a->device, b->device) && !strcmp(a->file, b->file) &&
         a->fast == b->fast && a->raw == b->raw && a->raw_rate == b->raw_rate &&
         a->raw_channels == b->raw_channels && a->raw_format == b->raw_format &&
         a->device_rate == b->device_rate && a->device_channels == b->device_channels &&
         a->latency_s == b->latency_s && a->retry_min_s == b->retry_min_s && a->retry_max_s == b->retry_max_s;
}

static void reload_failed(mgcd *d, const char *why) {
  mgc_log(MGC_LOG_ERROR, "reload refused, keeping the running configuration: %s", why);
  begin(d, "reload_failed");
  put_str(d, "error", why);
  send_event(d);
}

/* For a while a reload holds two engines. What the old one freed stays in
 * malloc's heap, scattered, and reloads left the daemon bigger each time
 * (bench/soak: RSS 53 MB, then 77, 81 and 98 MB after four reloads). Two
 * glibc settings keep it flat: a fixed mmap threshold, so that the large
 * buffers of an engine are mapped on their own and unmapped when freed
 * (glibc otherwise raises the threshold after such a free, and the next
 * engine's buffers land in the heap), and a trim after each reload for the
 * rest. The same soak then stays within about 1 MB. */
static void memory_settings(void) {
#ifdef __GLIBC__
  mallopt(M_MMAP_THRESHOLD, 128 * 1024);
#endif
}

static void give_back_memory(void) {
#ifdef __GLIBC__
  malloc_trim(0);
#endif
}

/* SIGHUP: everything new is built before anything old is let go, so a
 * bad file or model leaves the daemon exactly as it was. */
static void reload(mgcd *d) {
  mgc_notify("RELOADING=1");
  mgc_config nc;
  engine ng;
  if (build_config(&d->ov, &nc) || engine_load(&nc, &ng)) {
    char why[1024];
    snprintf(why, sizeof why, "%s", mgc_error_message());
    reload_failed(d, why);
    mgc_notify("READY=1");
    return;
  }
  if (strcmp(nc.socket_path, d->cfg.socket_path) || nc.socket_mode != d->cfg.socket_mode ||
      strcmp(nc.socket_group, d->cfg.socket_group))
    mgc_log(MGC_LOG_WARN, "socket path, mode and group changes take effect at restart");
  int new_rate = ng.rate != d->g.rate;
  if (d->in && (!same_input(&nc, &d->cfg) || new_rate)) {
    /* A new input. A file is opened before the old input is let go, so a
     * bad path is refused with the old one still running. A device is
     * closed first: PortAudio 19.6 can abort on an assert when a stream
     * fails to open while another of its streams runs; and a device that
     * does not open is no error anyway (it is retried). */
    mgc_input *ni = NULL;
    if (nc.input_kind == MGC_INPUT_DEVICE) {
      mgc_input_free(d->in);
      d->in = NULL;
    }
    if (mgc_input_new(&nc, ng.rate, &ni)) {
      char why[1024];
      snprintf(why, sizeof why, "%s", mgc_error_message());
      engine_free(&ng);
      if (!d->in) /* cannot happen for a device; keep the loop's invariant anyway */
        mgc_input_new(&d->cfg, d->g.rate, &d->in);
      reload_failed(d, why);
      mgc_notify("READY=1");
      return;
    }
    mgc_input_free(d->in);
    d->in = ni;
    d->state = mgc_input_get_state(ni);
    d->overruns = 0;
    if (new_rate) mgc_log(MGC_LOG_INFO, "the new model wants %d Hz: input reopened", ng.rate);
  }
  /* Audio time continues across the swap. */
  double t = mgc_ensemble_stream_audio_s(d->g.s);
  mgc_ensemble_stream_restart(ng.s, t);
  engine_free(&d->g);
  d->g = ng;
  mgc_server_params sp = server_params(&nc);
  mgc_server_set_limits(d->srv, &sp);
  char keep_sock[sizeof d->cfg.socket_path];
  snprintf(keep_sock, sizeof keep_sock, "%s", d->cfg.socket_path);
  d->cfg = nc;
  snprintf(d->cfg.socket_path, sizeof d->cfg.socket_path, "%s", keep_sock);
  mgc_log_set_level(nc.log_level);
  give_back_memory();
  mgc_log(MGC_LOG_INFO, "reloaded: model %s", nc.model);
  begin(d, "reloaded");
  put_str(d, "model", nc.model);
  put(d, ",\"classes\":[");
  for (int k = 0; k < d->g.C; k++) put(d, "%s%s", k ? "," : "", d->g.jclass[k]);
  put(d, "]");
  send_event(d);
  mgc_notify("READY=1");
}

/* ---- input ---- */

static void check_input(mgcd *d) {
  mgc_input_state s = mgc_input_get_state(d->in);
  if (s != d->state) {
    if (s == MGC_INPUT_LOST) {
      begin(d, "input_lost");
      put_str(d, "reason", mgc_input_last_error(d->in));
      put(d, ",\"retry_in\":%.2f", mgc_input_retry_in(d->in));
      send_event(d);
      mgc_log(MGC_LOG_WARN, "input lost: %s (retrying)", mgc_input_last_error(d->in));
      d->lost_at = mono_now();
      mgc_notify("STATUS=input lost, retrying");
    } else if (s == MGC_INPUT_RUNNING && d->state == MGC_INPUT_LOST) {
      /* Audio before and after the loss must not share a window. */
      mgc_ensemble_stream_restart(d->g.s, d->lost_at > 0 ? mono_now() - d->lost_at : 0);
      begin(d, "input_regained");
      put_str(d, "input", mgc_input_describe(d->in));
      send_event(d);
      mgc_log(MGC_LOG_INFO, "input regained: %s", mgc_input_describe(d->in));
      mgc_notify("STATUS=listening");
    }
    d->state = s;
  }
  uint64_t o = mgc_input_overruns(d->in);
  if (o > d->overruns) {
    begin(d, "overrun");
    put(d, ",\"samples\":%llu", (unsigned long long)(o - d->overruns));
    send_event(d);
    mgc_log(MGC_LOG_WARN, "%llu samples dropped: the worker fell behind", (unsigned long long)(o - d->overruns));
    d->overruns = o;
  }
}

/* How long the loop may sleep when the input has nothing more: while it
 * runs, until the audio that completes the next window has had time to
 * arrive (plus 2 ms), at most SLEEP_MAX_MS. Waking once per window rather
 * than every 20 ms is most of the CPU an idle-looking daemon spends:
 * each wake-up is a trip through the scheduler. Clients and signals wake
 * poll() on their own. */
static int sleep_ms(const mgcd *d) {
  if (!d->in || d->state != MGC_INPUT_RUNNING) return POLL_MS;
  double ms = mgc_ensemble_stream_until_window_s(d->g.s) * 1000 + 2;
  return ms > SLEEP_MAX_MS ? SLEEP_MAX_MS : (int)ms;
}

/* Classify what the input has; returns 1 when more may be waiting. */
static int pump(mgcd *d) {
  static float buf[8192];
  double budget = CHUNK_S * d->g.rate;
  size_t n;
  while (budget > 0) {
    if (mgc_input_read(d->in, buf, sizeof buf / sizeof buf[0], &n)) {
      mgc_log(MGC_LOG_ERROR, "input: %s", mgc_error_message());
      return 0;
    }
    if (!n) break;
    budget -= (double)n;
    if (mgc_ensemble_stream_process(d->g.s, buf, n, on_window, d))
      mgc_log(MGC_LOG_ERROR, "classification failed: %s", mgc_error_message());
  }
  check_input(d);
  if (d->state == MGC_INPUT_ENDED && !d->ended) {
    mgc_ensemble_stream_flush(d->g.s, on_window, d);
    /* The final decision: with a table member, its answer on the track's
     * last 30 s (a run waited for here: the input is over). */
    mgc_decision fin;
    mgc_ensemble_stream_finish(d->g.s, &fin);
    d->ended = 1;
    begin(d, "end");
    put(d, ",\"t\":%.3f,\"windows\":%llu", mgc_ensemble_stream_audio_s(d->g.s),
        (unsigned long long)mgc_ensemble_stream_windows(d->g.s));
    put_decision(d, &fin);
    if (*mgc_input_last_error(d->in)) put_str(d, "error", mgc_input_last_error(d->in));
    send_event(d);
    mgc_log(MGC_LOG_INFO, "input ended after %.1f s of audio, %llu windows", mgc_ensemble_stream_audio_s(d->g.s),
            (unsigned long long)mgc_ensemble_stream_windows(d->g.s));
  }
  return budget <= 0;
}

/* ---- main ---- */

static void usage(FILE *f) {
  fprintf(f,
          "usage: mgcd [options]\n"
          "  --config FILE     configuration (default " MGC_CONFIG_DEFAULT_PATH " if it exists)\n"
          "  --input SRC       capture device name or index, 'device:NAME', an audio file, or '-' for stdin\n"
          "  --raw R[:C[:F]]   file/stdin is headerless PCM: rate, channels (1), s16|f32 (s16)\n"
          "  --fast            file/stdin as fast as possible instead of real time\n"
          "  --socket PATH     Unix socket (default " MGC_SOCKET_DEFAULT_PATH ")\n"
          "  --model FILE      model file (default " MGC_REPO_MODEL " here, else\n"
          "                    " MGC_INSTALLED_MODEL ")\n"
          "  --wait-clients N  start reading the input once N clients are connected (scripts)\n"
          "  --log-level L     error, warn, info or debug\n"
          "  --min-confidence P  decisions below P (0-1) are 'not sure' (aggregate.min_confidence)\n"
          "  --detector FILE   the music detector, or 'off' (music.detector; default: the ensemble's)\n"
          "  --foreground      stay in the foreground, log to stderr (systemd runs it so)\n"
          "  --check-config    load the configuration and the model, report, and exit\n"
          "  --version\n"
          "Signals: SIGTERM/SIGINT stop, SIGHUP reloads configuration and model.\n"
          "Protocol: see PROTOCOL.md; try 'mgcctl watch'.\n");
}

/* Signals are written into a pipe the main loop polls. A handler rather
 * than a blocked mask and signalfd, because OpenBLAS starts its threads
 * before main runs, with every signal unblocked: any of them may take the
 * signal, and the handler works whichever does. */
static int g_sig_pipe[2] = {-1, -1};
static void on_signal(int sig) {
  int saved = errno;
  unsigned char b = (unsigned char)sig;
  (void)!write(g_sig_pipe[1], &b, 1);
  errno = saved;
}

static int install_signals(void) {
  if (pipe2(g_sig_pipe, O_NONBLOCK | O_CLOEXEC) != 0) return -1;
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGHUP, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);
  return 0;
}

/* Detach once the socket is ready, so that `mgcd && mgcctl watch` works:
 * the parent exits 0 only when the child reports readiness. */
static int g_ready_fd = -1;
static void detach(void) {
  int pfd[2];
  if (pipe(pfd) != 0) return;
  pid_t pid = fork();
  if (pid < 0) return;
  if (pid > 0) {
    close(pfd[1]);
    char b;
    ssize_t r = read(pfd[0], &b, 1);
    _exit(r == 1 ? 0 : 1);
  }
  close(pfd[0]);
  setsid();
  g_ready_fd = pfd[1];
}

static void ready(mgcd *d) {
  mgc_notify("READY=1\nSTATUS=listening");
  if (g_ready_fd >= 0) {
    (void)!write(g_ready_fd, "1", 1);
    close(g_ready_fd);
    g_ready_fd = -1;
    mgc_log_to_syslog();
    int null = open("/dev/null", O_RDWR);
    if (null >= 0) {
      if (d->cfg.input_kind != MGC_INPUT_STDIN) dup2(null, 0);
      dup2(null, 1);
      dup2(null, 2);
      close(null);
    }
  }
}

/* The command line into ov (and --check-config into *check); returns -1
 * to go on, else the exit status (--help, --version, a usage error). */
static int parse_options(int argc, char **argv, overrides *ov, int *check) {
  static const struct option lo[] = {
      {"config", 1, 0, 'c'},      {"input", 1, 0, 'i'},     {"socket", 1, 0, 's'},
      {"model", 1, 0, 'm'},       {"fast", 0, 0, 'f'},      {"foreground", 0, 0, 'F'},
      {"raw", 1, 0, 'r'},         {"log-level", 1, 0, 'l'}, {"wait-clients", 1, 0, 'w'},
      {"check-config", 0, 0, 'C'}, {"version", 0, 0, 'V'},  {"help", 0, 0, 'h'},
      {"min-confidence", 1, 0, 'n'}, {"detector", 1, 0, 'D'}, {0, 0, 0, 0}};
  ov->min_confidence = NAN;
  int ch;
  while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
    switch (ch) {
    case 'c': ov->config = optarg; break;
    case 'i': ov->input = optarg; break;
    case 's': ov->socket = optarg; break;
    case 'm': ov->model = optarg; break;
    case 'D': ov->detector = optarg; break;
    case 'f': ov->fast = 1; break;
    case 'F': ov->foreground = 1; break;
    case 'r': ov->raw = optarg; break;
    case 'l': ov->log_level = optarg; break;
    case 'w': {
      long v;
      if (mgc_parse_int("--wait-clients", optarg, 0, 1000, &v)) {
        fprintf(stderr, "mgcd: %s\n", mgc_error_message());
        return 2;
      }
      ov->wait_clients = (int)v;
      break;
    }
    case 'n': {
      char *end;
      double v = strtod(optarg, &end);
      if (end == optarg || *end || !(v >= 0 && v <= 1)) {
        fprintf(stderr, "mgcd: --min-confidence: '%s' is not a number in [0, 1]\n", optarg);
        return 2;
      }
      ov->min_confidence = v;
      break;
    }
    case 'C': *check = 1; break;
    case 'V': printf("mgcd %s (protocol %d)\n", MGC_VERSION, PROTOCOL); return 0;
    case 'h': usage(stdout); return 0;
    default: usage(stderr); return 2;
    }
  }
  if (optind != argc) {
    usage(stderr);
    return 2;
  }
  return -1;
}

int main(int argc, char **argv) {
  mgcd d;
  memset(&d, 0, sizeof d);
  int check = 0, rc0 = parse_options(argc, argv, &d.ov, &check);
  if (rc0 >= 0) return rc0;
  memory_settings();
  if (d.ov.config && access(d.ov.config, R_OK) != 0) {
    fprintf(stderr, "mgcd: cannot read %s: %s\n", d.ov.config, strerror(errno));
    return 1;
  }
  if (install_signals() != 0) {
    fprintf(stderr, "mgcd: cannot create the signal pipe: %s\n", strerror(errno));
    return 1;
  }
  int sfd = g_sig_pipe[0];
  /* One BLAS thread: a window's products are small (more threads measured
   * no faster), and idle BLAS threads spinning would cost the CPU budget. */
  openblas_set_num_threads(1);

  if (build_config(&d.ov, &d.cfg) || engine_load(&d.cfg, &d.g)) {
    fprintf(stderr, "mgcd: %s\n", mgc_error_message());
    return 1;
  }
  mgc_log_set_level(d.cfg.log_level);
  if (check) {
    const mgc_ensemble *e = d.g.ens;
    printf("%s: ok; %s: %d member%s (", *d.cfg.config_path ? d.cfg.config_path : "built-in defaults", d.cfg.model,
           e->n_members, e->n_members > 1 ? "s" : "");
    for (int m = 0; m < e->n_members; m++)
      printf("%s%s: %s", m ? ", " : "", e->members[m].name, e->members[m].loaded->arch->feature);
    printf("), rule %s, %d classes, window %.2f s every %.2f s, music detector %s, socket %s\n",
           mgc_comb_rule_name(e->rule), d.g.C, mgc_ensemble_stream_window_s(d.g.s), mgc_ensemble_stream_hop_s(d.g.s),
           e->detector_path ? e->detector_path : "none", d.cfg.socket_path);
    engine_free(&d.g);
    return 0;
  }
  if (!d.ov.foreground && !getenv("NOTIFY_SOCKET")) detach();
  mgc_server_params sp = server_params(&d.cfg);
  if (mgc_server_new(&sp, on_command, &d, &d.srv)) {
    mgc_log(MGC_LOG_ERROR, "%s", mgc_error_message());
    return 1;
  }
  d.start_mono = mono_now();
  int rc = 0;
  if (d.ov.wait_clients == 0 && mgc_input_new(&d.cfg, d.g.rate, &d.in)) {
    mgc_log(MGC_LOG_ERROR, "%s", mgc_error_message());
    rc = 1;
    goto out;
  }
  if (d.in) d.state = mgc_input_get_state(d.in);
  mgc_log(MGC_LOG_INFO, "listening on %s; input %s; model %s", d.cfg.socket_path,
          d.in ? mgc_input_describe(d.in) : "(after clients connect)", d.cfg.model);
  if (d.in && d.state == MGC_INPUT_LOST)
    mgc_log(MGC_LOG_WARN, "input not available yet: %s (retrying)", mgc_input_last_error(d.in));
  ready(&d);
  uint64_t wd_usec = mgc_notify_watchdog_usec();
  double next_ping = 0;
  int running = 1, more = 0;
  while (running && !d.ended) {
    struct pollfd fds[2 + MGC_SERVER_MAX_CLIENTS];
    fds[0] = (struct pollfd){.fd = sfd, .events = POLLIN};
    int n = 1 + mgc_server_pollfds(d.srv, fds + 1, (int)(sizeof fds / sizeof fds[0]) - 1);
    int pr = poll(fds, (nfds_t)n, more ? 0 : sleep_ms(&d));
    double now = mono_now();
    if (pr > 0 && (fds[0].revents & POLLIN)) {
      unsigned char sig;
      while (read(sfd, &sig, 1) == 1) {
        if (sig == SIGHUP) {
          mgc_log(MGC_LOG_INFO, "SIGHUP: reloading");
          reload(&d);
        } else {
          mgc_log(MGC_LOG_INFO, "%s: stopping", sig == SIGTERM ? "SIGTERM" : "SIGINT");
          running = 0;
        }
      }
    }
    mgc_server_service(d.srv, fds + 1, pr > 0 ? n - 1 : 0, now); /* also times out clients */
    if (!d.in && mgc_server_clients(d.srv) >= d.ov.wait_clients) {
      if (mgc_input_new(&d.cfg, d.g.rate, &d.in)) {
        mgc_log(MGC_LOG_ERROR, "%s", mgc_error_message());
        rc = 1;
        break;
      }
      d.state = mgc_input_get_state(d.in);
    }
    more = d.in && running ? pump(&d) : 0;
    if (wd_usec && now >= next_ping) {
      mgc_notify("WATCHDOG=1");
      next_ping = now + (double)wd_usec * 0.5e-6;
    }
  }
  mgc_notify("STOPPING=1");
  if (!running) {
    begin(&d, "stopping");
    send_event(&d);
  }
  mgc_server_drain(d.srv, d.ended ? 2.0 : 0.3);
out:
  mgc_input_free(d.in);
  mgc_server_free(d.srv);
  engine_free(&d.g);
  close(g_sig_pipe[0]);
  close(g_sig_pipe[1]);
  return rc;
}
