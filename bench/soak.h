/* The clients of bench_soak: the ones that come and go during a soak, and
 * the hostile ones. Each works on its own sockets and never blocks for long,
 * so a daemon that stops answering shows up as a stall, not a hung driver. */
#ifndef MGC_BENCH_SOAK_H
#define MGC_BENCH_SOAK_H

#include <stddef.h>
#include <stdint.h>

typedef struct soak_rng {
  uint64_t s;
} soak_rng;

uint64_t soak_rand(soak_rng *r);
/* Uniform in [lo, hi]. */
double soak_uniform(soak_rng *r, double lo, double hi);

/* A blocking connection to the Unix socket at path; -1 on failure. */
int soak_connect(const char *path);

/* What churning clients do. */
enum {
  SOAK_HELLO_AND_LEAVE, /* read the hello, hang up */
  SOAK_COMMANDS,        /* valid commands, words and JSON, replies read */
  SOAK_GARBAGE,         /* random bytes, newlines among them, replies read */
  SOAK_LONG_LINE,       /* 1 MB without a newline, then a command */
  SOAK_NEVER_READS,     /* subscribed, a small receive buffer, never reads */
  SOAK_HALF_LINE,       /* half a command, then hangs up */
  SOAK_CONNECT_CLOSE,   /* connects and closes at once */
  SOAK_KINDS
};

typedef struct soak_burst_stats {
  int clients;               /* connected */
  int refused;               /* connect failed, or "too many clients" */
  int kinds[SOAK_KINDS];
  long long bytes_sent, bytes_read;
} soak_burst_stats;

/* n clients with random behaviours, all at once, for dur_s; then every one
 * is closed. Adds to st. */
void soak_burst(const char *sock, soak_rng *r, int n, double dur_s, soak_burst_stats *st);

/* Hostile clients. */
typedef struct soak_flood_result {
  int attempted;      /* connection attempts */
  int connected;      /* accepted by the kernel */
  int kernel_refused; /* the listen queue was full (EAGAIN) until the deadline */
  int hello;          /* served: got the hello */
  int turned_away;    /* got "too many clients" */
  int silent;         /* got nothing before the deadline */
} soak_flood_result;

/* n non-blocking connection attempts at once (retried while the listen
 * queue is full, for up to 5 s), then each one's first line read, then all
 * closed. */
void soak_flood(const char *sock, int n, soak_flood_result *out);

/* One client sends `bytes` bytes (a line with no newline when random is 0,
 * else random bytes) as fast as the daemon takes them; returns the bytes
 * sent (less when the daemon cut the client). */
long long soak_stream(const char *sock, size_t bytes, int random, soak_rng *r);

#endif
