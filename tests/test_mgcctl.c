/* mgcctl against a fake mgcd: a forked process serving canned protocol
 * lines (daemon/PROTOCOL.md) on a Unix socket in the test's temp dir. */
#include "test_util.h"

#include <errno.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#ifndef MGCCTL_BIN
#error "MGCCTL_BIN must name the mgcctl binary"
#endif

#define HELLO                                                                                  \
  "{\"event\":\"hello\",\"version\":\"0.1.0\",\"protocol\":1,"                                 \
  "\"model\":\"/usr/share/mgc/models/crnn.safetensors\","                                      \
  "\"classes\":[\"blues\",\"classical\",\"country\",\"disco\",\"hiphop\",\"jazz\",\"metal\","  \
  "\"pop\",\"reggae\",\"rock\"],\"rate\":22050,\"window_s\":3.019,\"hop_s\":1.509,"            \
  "\"input\":\"file song.wav (22050 Hz, 1 channel)\",\"state\":\"running\"}\n"
#define PROBS                                                                                  \
  "{\"blues\":0.02,\"classical\":0.01,\"country\":0.03,\"disco\":0.02,\"hiphop\":0.01,"        \
  "\"jazz\":0.02,\"metal\":0.25,\"pop\":0.02,\"reggae\":0.01,\"rock\":0.61}"
#define WPROBS                                                                                 \
  "{\"blues\":0.01,\"classical\":0.01,\"country\":0.02,\"disco\":0.01,\"hiphop\":0.01,"        \
  "\"jazz\":0.01,\"metal\":0.46,\"pop\":0.02,\"reggae\":0.01,\"rock\":0.44}"
#define DECISION                                                                               \
  "{\"genre\":\"rock\",\"confidence\":0.61,\"probs\":" PROBS ",\"windows\":12,\"track\":3}"
#define WINDOW1                                                                                \
  "{\"event\":\"window\",\"time\":1700000000.5,\"index\":40,\"t\":60.36,\"t_end\":63.379,"     \
  "\"track\":3,\"rms_db\":-18.5,\"silent\":false,\"probs\":" WPROBS ",\"decision\":" DECISION  \
  "}\n"
#define WINDOW2                                                                                \
  "{\"event\":\"window\",\"time\":1700000002.0,\"index\":41,\"t\":61.869,\"t_end\":64.888,"    \
  "\"track\":3,\"rms_db\":-62.25,\"silent\":true,\"decision\":" DECISION "}\n"
#define NEW_TRACK "{\"event\":\"new_track\",\"time\":1700000003.5,\"track\":4,\"reason\":\"gap\",\"t\":63.4}\n"
#define WINDOW3                                                                                \
  "{\"event\":\"window\",\"time\":1700000003.5,\"index\":42,\"t\":63.378,\"t_end\":66.397,"    \
  "\"track\":4,\"rms_db\":-60.0,\"silent\":true,"                                              \
  "\"decision\":{\"genre\":null,\"confidence\":0,\"probs\":{},\"windows\":0,\"track\":4}}\n"
#define SOUND_NO_MUSIC "{\"event\":\"sound\",\"time\":1700000003.9,\"sound\":\"no_music\",\"t\":64.887,\"music\":0.0412}\n"
#define NEW_TRACK_NM "{\"event\":\"new_track\",\"time\":1700000003.9,\"track\":5,\"reason\":\"no_music\",\"t\":64.887}\n"
#define WINDOW4                                                                                \
  "{\"event\":\"window\",\"time\":1700000003.9,\"index\":43,\"t\":64.887,\"t_end\":67.906,"    \
  "\"track\":5,\"rms_db\":-25.0,\"silent\":false,\"sound\":\"no_music\",\"music\":0.0412,"         \
  "\"decision\":{\"genre\":null,\"confidence\":0,\"uncertain\":false,\"windows\":0,\"track\":5}}\n"
#define SILENCE "{\"event\":\"silence\",\"time\":1700000002.0,\"t\":61.869,\"rms_db\":-62.25}\n"
#define LOST "{\"event\":\"input_lost\",\"time\":1700000004.0,\"reason\":\"device gone\",\"retry_in\":0.5}\n"
#define REGAINED "{\"event\":\"input_regained\",\"time\":1700000005.0,\"input\":\"device 'x'\"}\n"
#define END "{\"event\":\"end\",\"time\":1700000006.0,\"t\":66.397,\"windows\":43}\n"
#define STATUS_REPLY                                                                           \
  "{\"reply\":\"status\",\"state\":\"running\",\"input\":\"file song.wav (22050 Hz, 1 "        \
  "channel)\",\"model\":\"/usr/share/mgc/models/crnn.safetensors\",\"uptime\":3723.4,"         \
  "\"audio_s\":64.888,\"windows\":42,\"track\":3,\"decision\":" DECISION ",\"rms_db\":-18.5,"  \
  "\"overruns\":0,\"clients\":2,\"reconnects\":1}\n"
#define RESET_EVENT "{\"event\":\"new_track\",\"time\":1700000007.0,\"track\":4,\"reason\":\"reset\",\"t\":64.9}\n"
#define RESET_REPLY "{\"reply\":\"reset\",\"track\":4}\n"
#define VERSION_REPLY                                                                          \
  "{\"reply\":\"version\",\"version\":\"0.1.0\",\"protocol\":1,"                               \
  "\"model\":\"/usr/share/mgc/models/crnn.safetensors\"}\n"

/* The whole event stream a `watch` sees (after the hello). */
#define STREAM WINDOW1 WINDOW2 SILENCE NEW_TRACK WINDOW3 SOUND_NO_MUSIC NEW_TRACK_NM WINDOW4 LOST REGAINED END

typedef enum {
  SC_REPLY,   /* hello, two windows, then answer commands */
  SC_STREAM,  /* hello, the whole stream, `end`, close */
  SC_ERROR,   /* every command gets an error reply */
  SC_CLOSE,   /* hello, then close without a reply */
  SC_GARBAGE, /* hello, then a line that is not JSON */
  SC_MUTE,    /* accept and say nothing */
  SC_EOF,     /* hello and two windows, then close (no `end`) */
} scenario;

static char g_sock[300];
static pid_t g_daemon = -1;

static void put(int fd, const char *s) {
  size_t n = strlen(s), off = 0;
  while (off < n) {
    ssize_t w = send(fd, s + off, n - off, MSG_NOSIGNAL);
    if (w <= 0) return;
    off += (size_t)w;
  }
}

/* Each command line the fake daemon receives is appended to commands.log. */
static void log_command(const char *line) {
  char p[300];
  snprintf(p, sizeof p, "%s/commands.log", g_dir);
  FILE *f = fopen(p, "a");
  if (f) {
    fprintf(f, "%s\n", line);
    fclose(f);
  }
}

static void serve(int cfd, scenario sc) {
  if (sc == SC_MUTE) {
    char b[256];
    while (read(cfd, b, sizeof b) > 0) {
    }
    return;
  }
  put(cfd, HELLO);
  switch (sc) {
  case SC_STREAM:
    put(cfd, STREAM);
    return;
  case SC_CLOSE:
    return;
  case SC_GARBAGE:
    put(cfd, "this is not json\n");
    break;
  case SC_EOF:
    put(cfd, WINDOW1 WINDOW2);
    return;
  default:
    put(cfd, WINDOW1 WINDOW2);
    break;
  }
  char buf[4096];
  size_t len = 0;
  for (;;) {
    ssize_t n = read(cfd, buf + len, sizeof buf - 1 - len);
    if (n <= 0) return;
    len += (size_t)n;
    buf[len] = 0;
    char *nl;
    while ((nl = strchr(buf, '\n'))) {
      *nl = 0;
      log_command(buf);
      if (sc == SC_ERROR)
        put(cfd, "{\"reply\":\"error\",\"error\":\"not now: the input is being reopened\"}\n");
      else if (!strcmp(buf, "status"))
        put(cfd, STATUS_REPLY);
      else if (!strcmp(buf, "reset"))
        put(cfd, RESET_EVENT RESET_REPLY); /* the broadcast goes out first */
      else if (!strcmp(buf, "version"))
        put(cfd, VERSION_REPLY);
      else
        put(cfd, "{\"reply\":\"error\",\"error\":\"unknown command\"}\n");
      size_t used = (size_t)(nl - buf) + 1;
      memmove(buf, buf + used, len - used + 1);
      len -= used;
    }
  }
}

/* Listen before forking, so that the client never races the bind. */
static void start_daemon(scenario sc) {
  snprintf(g_sock, sizeof g_sock, "%s/mgcd.sock", g_dir);
  unlink(g_sock);
  char p[300];
  snprintf(p, sizeof p, "%s/commands.log", g_dir);
  unlink(p);
  int lfd = socket(AF_UNIX, SOCK_STREAM, 0);
  assert_true(lfd >= 0);
  struct sockaddr_un sa;
  memset(&sa, 0, sizeof sa);
  sa.sun_family = AF_UNIX;
  assert_true(strlen(g_sock) < sizeof sa.sun_path);
  strcpy(sa.sun_path, g_sock);
  assert_int_equal(bind(lfd, (struct sockaddr *)&sa, sizeof sa), 0);
  assert_int_equal(listen(lfd, 8), 0);
  fflush(NULL);
  g_daemon = fork();
  assert_true(g_daemon >= 0);
  if (g_daemon == 0) {
    for (;;) {
      int cfd = accept(lfd, NULL, NULL);
      if (cfd < 0) _exit(errno == EINTR ? 0 : 1);
      serve(cfd, sc);
      close(cfd);
    }
  }
  close(lfd);
}

static void stop_daemon(void) {
  if (g_daemon > 0) {
    kill(g_daemon, SIGKILL);
    waitpid(g_daemon, NULL, 0);
    g_daemon = -1;
  }
  unlink(g_sock);
}

static int mgcctl(const char *args, char *out, size_t cap) {
  char cmd[1024];
  snprintf(cmd, sizeof cmd, "%s --socket '%s' %s", MGCCTL_BIN, g_sock, args);
  return run(cmd, out, cap);
}

static char *commands_seen(void) {
  char p[300];
  size_t len;
  snprintf(p, sizeof p, "%s/commands.log", g_dir);
  return (char *)read_file(p, &len);
}

static void test_status(void **st) {
  (void)st;
  char out[8192];
  start_daemon(SC_REPLY);
  int rc = mgcctl("status", out, sizeof out);
  stop_daemon();
  assert_int_equal(rc, 0);
  /* The hello and the window events before the reply are skipped. */
  assert_non_null(strstr(out, "state       running\n"));
  assert_non_null(strstr(out, "input       file song.wav (22050 Hz, 1 channel)\n"));
  assert_non_null(strstr(out, "uptime      1h 02m 03s\n"));
  assert_non_null(strstr(out, "audio       64.9 s in 42 windows\n"));
  assert_non_null(strstr(out, "decision    rock 61% (12 windows, track 3)\n"));
  assert_non_null(strstr(out, "rock 61% metal 25% country 3%"));
  assert_non_null(strstr(out, "level       -18.5 dB\n"));
  assert_non_null(strstr(out, "reconnects  1\n"));
  assert_null(strchr(out, '{')); /* text, not the JSON */
  char *seen = commands_seen();
  assert_string_equal(seen, "status\n");
  free(seen);
}

static void test_status_json(void **st) {
  (void)st;
  char out[8192];
  start_daemon(SC_REPLY);
  int rc = mgcctl("--json status", out, sizeof out);
  stop_daemon();
  assert_int_equal(rc, 0);
  assert_string_equal(out, STATUS_REPLY); /* verbatim, nothing else */
}

static void test_reset_and_version(void **st) {
  (void)st;
  char out[8192];
  start_daemon(SC_REPLY);
  assert_int_equal(mgcctl("reset", out, sizeof out), 0);
  assert_string_equal(out, "new track 4\n");
  assert_int_equal(mgcctl("--json reset", out, sizeof out), 0);
  assert_string_equal(out, RESET_REPLY);
  assert_int_equal(mgcctl("version", out, sizeof out), 0);
  stop_daemon();
  assert_string_equal(out, "mgcctl 0.1.0\nmgcd 0.1.0 (protocol 1)\n"
                           "model /usr/share/mgc/models/crnn.safetensors\n");
}

static void test_socket_from_environment(void **st) {
  (void)st;
  char out[8192], cmd[1024];
  start_daemon(SC_REPLY);
  snprintf(cmd, sizeof cmd, "MGCD_SOCKET='%s' %s --json version", g_sock, MGCCTL_BIN);
  int rc = run(cmd, out, sizeof out);
  stop_daemon();
  assert_int_equal(rc, 0);
  assert_string_equal(out, VERSION_REPLY);
}

static void test_error_reply(void **st) {
  (void)st;
  char out[8192];
  start_daemon(SC_ERROR);
  int rc = mgcctl("status", out, sizeof out);
  assert_int_equal(rc, 1);
  assert_non_null(strstr(out, "mgcd refused 'status': not now: the input is being reopened"));
  rc = mgcctl("--json reset", out, sizeof out);
  stop_daemon();
  assert_int_equal(rc, 1);
  assert_string_equal(out,
                      "{\"reply\":\"error\",\"error\":\"not now: the input is being reopened\"}\n");
}

static void test_watch_plain(void **st) {
  (void)st;
  char out[16384];
  start_daemon(SC_STREAM);
  int rc = mgcctl("watch", out, sizeof out); /* popen: stdout is a pipe */
  stop_daemon();
  assert_int_equal(rc, 0); /* ended by the `end` event */
  const char *want[] = {
      ("mgcd 0.1.0: file song.wav (22050 Hz, 1 channel); model "
       "/usr/share/mgc/models/crnn.safetensors\n"),
      "   60.4-63.4    rock 61% (12 windows, track 3) | window: metal 46% | level -18.5 dB\n",
      "   61.9-64.9    rock 61% (12 windows, track 3) | window: silent | level -62.2 dB\n",
      "silence at 61.9 s (-62.2 dB)\n",
      "new track 4 (gap) at 63.4 s\n",
      "   63.4-66.4    no decision yet (track 4) | window: silent | level -60.0 dB\n",
      "no music at 64.9 s (music 4%)\n",
      "new track 5 (no_music) at 64.9 s\n",
      "   64.9-67.9    no music | window: not music (music 4%) | level -25.0 dB\n",
      "input lost: device gone (retrying in 0.5 s)\n",
      "input regained: device 'x'\n",
      "input ended at 66.4 s after 43 windows\n",
  };
  char expect[4096] = "";
  for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) strcat(expect, want[i]);
  assert_string_equal(out, expect);
  /* No escape sequences when stdout is not a terminal. */
  assert_null(strchr(out, '\x1b'));
}

static void test_events_verbatim(void **st) {
  (void)st;
  char out[16384];
  start_daemon(SC_STREAM);
  int rc = mgcctl("events", out, sizeof out);
  assert_int_equal(rc, 0);
  assert_string_equal(out, HELLO STREAM);
  rc = mgcctl("--json watch", out, sizeof out);
  stop_daemon();
  assert_int_equal(rc, 0);
  assert_string_equal(out, HELLO STREAM);
}

static void test_watch_eof(void **st) {
  (void)st;
  char out[16384];
  start_daemon(SC_EOF);
  int rc = mgcctl("watch", out, sizeof out);
  stop_daemon();
  /* The daemon going away ends a watch normally, with a note. */
  assert_int_equal(rc, 0);
  assert_non_null(strstr(out, "rock 61% (12 windows, track 3) | window: silent"));
  assert_non_null(strstr(out, "mgcd at "));
  assert_non_null(strstr(out, "closed the connection"));
}

static void test_daemon_misbehaves(void **st) {
  (void)st;
  char out[8192];
  start_daemon(SC_CLOSE);
  int rc = mgcctl("status", out, sizeof out);
  stop_daemon();
  assert_int_equal(rc, 1);
  assert_non_null(strstr(out, "closed the connection"));

  start_daemon(SC_GARBAGE);
  rc = mgcctl("status", out, sizeof out);
  stop_daemon();
  assert_int_equal(rc, 1);
  assert_non_null(strstr(out, "malformed line from mgcd"));
  assert_non_null(strstr(out, "this is not json"));

  start_daemon(SC_MUTE);
  rc = mgcctl("--timeout 0.3 status", out, sizeof out);
  assert_int_equal(rc, 1);
  assert_non_null(strstr(out, "no reply from mgcd"));
  assert_non_null(strstr(out, "within 0.3 s"));
  rc = mgcctl("--timeout 0.3 watch", out, sizeof out);
  stop_daemon();
  assert_int_equal(rc, 1);
  assert_non_null(strstr(out, "no reply from mgcd"));
}

static void test_cannot_connect(void **st) {
  (void)st;
  char out[8192], want[512];
  snprintf(g_sock, sizeof g_sock, "%s/no-such.sock", g_dir);
  int rc = mgcctl("status", out, sizeof out);
  assert_int_equal(rc, 1);
  snprintf(want, sizeof want, "cannot connect to %s: it does not exist", g_sock);
  assert_non_null(strstr(out, want));
  assert_non_null(strstr(out, "MGCD_SOCKET"));

  /* A socket file nobody listens on (an mgcd that died). */
  snprintf(g_sock, sizeof g_sock, "%s/stale.sock", g_dir);
  int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  struct sockaddr_un sa;
  memset(&sa, 0, sizeof sa);
  sa.sun_family = AF_UNIX;
  strcpy(sa.sun_path, g_sock);
  assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
  close(fd);
  rc = mgcctl("status", out, sizeof out);
  assert_int_equal(rc, 1);
  assert_non_null(strstr(out, "nobody is listening"));
  unlink(g_sock);

  /* A plain file. */
  snprintf(g_sock, sizeof g_sock, "%s/plain", g_dir);
  FILE *f = fopen(g_sock, "w");
  assert_non_null(f);
  fclose(f);
  rc = mgcctl("status", out, sizeof out);
  assert_int_equal(rc, 1);
  assert_non_null(strstr(out, "not a socket"));
  unlink(g_sock);
}

static void test_permission_denied(void **st) {
  (void)st;
  char out[8192], cmd[1024];
  start_daemon(SC_REPLY);
  assert_int_equal(chmod(g_sock, 0660), 0);
  if (geteuid() == 0) {
    /* Root connects whatever the mode: ask as nobody, in no group. */
    if (system("setpriv --version >/dev/null 2>&1") != 0) {
      stop_daemon();
      skip();
    }
    assert_int_equal(chmod(g_dir, 0711), 0);
    snprintf(cmd, sizeof cmd,
             "setpriv --reuid=65534 --regid=65534 --clear-groups %s --socket '%s' status",
             MGCCTL_BIN, g_sock);
  } else {
    assert_int_equal(chmod(g_sock, 0), 0);
    snprintf(cmd, sizeof cmd, "%s --socket '%s' status", MGCCTL_BIN, g_sock);
  }
  int rc = run(cmd, out, sizeof out);
  stop_daemon();
  chmod(g_dir, 0700);
  assert_int_equal(rc, 1);
  assert_non_null(strstr(out, "permission denied"));
  assert_non_null(strstr(out, "add yourself to that group"));
  assert_non_null(strstr(out, "socket.group"));
}

static void test_usage(void **st) {
  (void)st;
  char out[8192];
  snprintf(g_sock, sizeof g_sock, "%s/unused.sock", g_dir);
  assert_int_equal(mgcctl("", out, sizeof out), 2);
  assert_non_null(strstr(out, "no command given"));
  assert_int_equal(mgcctl("frobnicate", out, sizeof out), 2);
  assert_non_null(strstr(out, "unknown command 'frobnicate'"));
  assert_int_equal(mgcctl("status reset", out, sizeof out), 2);
  assert_int_equal(mgcctl("--timeout 3x status", out, sizeof out), 2);
  assert_non_null(strstr(out, "--timeout"));
  assert_int_equal(mgcctl("--bogus status", out, sizeof out), 2);
  assert_int_equal(mgcctl("--help", out, sizeof out), 0);
  assert_non_null(strstr(out, "usage: mgcctl"));
}

int main(void) {
  signal(SIGPIPE, SIG_IGN);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_status),
      cmocka_unit_test(test_status_json),
      cmocka_unit_test(test_reset_and_version),
      cmocka_unit_test(test_socket_from_environment),
      cmocka_unit_test(test_error_reply),
      cmocka_unit_test(test_watch_plain),
      cmocka_unit_test(test_events_verbatim),
      cmocka_unit_test(test_watch_eof),
      cmocka_unit_test(test_daemon_misbehaves),
      cmocka_unit_test(test_cannot_connect),
      cmocka_unit_test(test_permission_denied),
      cmocka_unit_test(test_usage),
  };
  return cmocka_run_group_tests(tests, tmpdir_setup, tmpdir_teardown);
}
