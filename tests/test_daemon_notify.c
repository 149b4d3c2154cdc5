/* daemon/notify.c: the sd_notify datagram and the watchdog variables. */
#include "test_util.h"

#include <errno.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "notify.h"

/* A datagram socket standing in for systemd's; returns its fd. path starts
 * with '@' for the abstract namespace, as NOTIFY_SOCKET writes it. */
static int bind_notify_socket(const char *path) {
  int fd = socket(AF_UNIX, SOCK_DGRAM, 0);
  assert_true(fd >= 0);
  struct sockaddr_un sa;
  memset(&sa, 0, sizeof sa);
  sa.sun_family = AF_UNIX;
  size_t len = strlen(path);
  assert_true(len < sizeof sa.sun_path);
  memcpy(sa.sun_path, path, len);
  socklen_t salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
  if (path[0] == '@')
    sa.sun_path[0] = 0;
  else
    salen++;
  assert_int_equal(bind(fd, (struct sockaddr *)&sa, salen), 0);
  /* A test that fails to send must fail, not hang. */
  struct timeval tv = {2, 0};
  assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv), 0);
  return fd;
}

/* Receive one datagram and check it is exactly `want` (no terminator). */
static void expect_datagram(int fd, const char *want) {
  char buf[512];
  ssize_t n = recv(fd, buf, sizeof buf, 0);
  assert_int_equal(n, (ssize_t)strlen(want));
  assert_memory_equal(buf, want, strlen(want));
}

static void test_ready_to_path_socket(void **st) {
  (void)st;
  char path[300];
  snprintf(path, sizeof path, "%s/notify", g_dir);
  int fd = bind_notify_socket(path);
  assert_int_equal(setenv("NOTIFY_SOCKET", path, 1), 0);

  assert_int_equal(mgc_notify("READY=1"), 1);
  expect_datagram(fd, "READY=1");
  assert_int_equal(mgc_notify("STATUS=listening on /run/mgcd/mgcd.sock"), 1);
  expect_datagram(fd, "STATUS=listening on /run/mgcd/mgcd.sock");
  assert_int_equal(mgc_notify("WATCHDOG=1"), 1);
  expect_datagram(fd, "WATCHDOG=1");
  /* Several assignments in one datagram, newline-separated, as sd_notify. */
  assert_int_equal(mgc_notify("RELOADING=1\nSTATUS=reloading"), 1);
  expect_datagram(fd, "RELOADING=1\nSTATUS=reloading");

  close(fd);
  unlink(path);
  unsetenv("NOTIFY_SOCKET");
}

static void test_ready_to_abstract_socket(void **st) {
  (void)st;
  char name[64];
  snprintf(name, sizeof name, "@mgc-test-notify-%ld", (long)getpid());
  int fd = bind_notify_socket(name);
  assert_int_equal(setenv("NOTIFY_SOCKET", name, 1), 0);
  assert_int_equal(mgc_notify("STOPPING=1"), 1);
  expect_datagram(fd, "STOPPING=1");
  close(fd);
  unsetenv("NOTIFY_SOCKET");
}

static void test_no_socket(void **st) {
  (void)st;
  unsetenv("NOTIFY_SOCKET");
  assert_int_equal(mgc_notify("READY=1"), 0);
  assert_int_equal(setenv("NOTIFY_SOCKET", "", 1), 0);
  assert_int_equal(mgc_notify("READY=1"), 0);
  unsetenv("NOTIFY_SOCKET");
}

static void test_socket_gone(void **st) {
  (void)st;
  char path[300];
  snprintf(path, sizeof path, "%s/nobody-listens", g_dir);
  assert_int_equal(setenv("NOTIFY_SOCKET", path, 1), 0);
  errno = 0;
  assert_int_equal(mgc_notify("READY=1"), -1);
  assert_int_equal(errno, ENOENT);
  /* Neither a path nor an abstract name (e.g. systemd's vsock: form). */
  assert_int_equal(setenv("NOTIFY_SOCKET", "vsock:2:1234", 1), 0);
  assert_int_equal(mgc_notify("READY=1"), -1);
  assert_int_equal(errno, EAFNOSUPPORT);
  unsetenv("NOTIFY_SOCKET");
}

static void test_watchdog(void **st) {
  (void)st;
  char pid[32];
  snprintf(pid, sizeof pid, "%ld", (long)getpid());

  unsetenv("WATCHDOG_USEC");
  unsetenv("WATCHDOG_PID");
  assert_true(mgc_notify_watchdog_usec() == 0);

  /* WatchdogSec=10 arrives as 10000000; no WATCHDOG_PID means "you". */
  setenv("WATCHDOG_USEC", "10000000", 1);
  assert_true(mgc_notify_watchdog_usec() == UINT64_C(10000000));

  setenv("WATCHDOG_PID", pid, 1);
  assert_true(mgc_notify_watchdog_usec() == UINT64_C(10000000));

  /* Meant for another process (we are a child that inherited it). */
  snprintf(pid, sizeof pid, "%ld", (long)getpid() + 1);
  setenv("WATCHDOG_PID", pid, 1);
  assert_true(mgc_notify_watchdog_usec() == 0);
  setenv("WATCHDOG_PID", "12x", 1);
  assert_true(mgc_notify_watchdog_usec() == 0);
  unsetenv("WATCHDOG_PID");

  /* Values systemd never sends are refused rather than guessed at. */
  setenv("WATCHDOG_USEC", "0", 1);
  assert_true(mgc_notify_watchdog_usec() == 0);
  setenv("WATCHDOG_USEC", "-1", 1);
  assert_true(mgc_notify_watchdog_usec() == 0);
  setenv("WATCHDOG_USEC", "10s", 1);
  assert_true(mgc_notify_watchdog_usec() == 0);
  setenv("WATCHDOG_USEC", "", 1);
  assert_true(mgc_notify_watchdog_usec() == 0);
  setenv("WATCHDOG_USEC", "99999999999999999999999", 1);
  assert_true(mgc_notify_watchdog_usec() == 0);
  setenv("WATCHDOG_USEC", "18446744073709551615", 1);
  assert_true(mgc_notify_watchdog_usec() == UINT64_MAX);
  unsetenv("WATCHDOG_USEC");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_ready_to_path_socket),
      cmocka_unit_test(test_ready_to_abstract_socket),
      cmocka_unit_test(test_no_socket),
      cmocka_unit_test(test_socket_gone),
      cmocka_unit_test(test_watchdog),
  };
  return cmocka_run_group_tests(tests, tmpdir_setup, tmpdir_teardown);
}
