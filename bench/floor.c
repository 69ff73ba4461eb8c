/*
 * The floor of open-loop probing on this machine: the least a prober can do
 * to send one HTTP request per target every interval, on time, and know when
 * each answer arrived. bench/sidebyside.py builds it (cc -O2) and measures it
 * beside wrk and loopcanary, so "how far is loopcanary from the physical
 * limit" is a figure of the same run, not an estimate (issue 15).
 *
 *   floor HOST:PORT INTERVAL_US TARGETS
 *
 * One thread, keep-alive connections (one per target, TCP_NODELAY), target i
 * due i/TARGETS into the interval. Per wake-up: one clock_nanosleep to the
 * next due time (the only wake-up: the sockets are in no epoll set, so an
 * answer never wakes it), then for every target due (within the next
 * millisecond, at intervals of 5 ms or more) one recvmsg(MSG_DONTWAIT) of what arrived since its
 * last request, with the kernel's arrival time (SO_TIMESTAMPNS), and one send of the next request.
 * No parsing beyond counting the answers' status lines, no statistics, no metrics: what is left is
 * the wake-up and the two system calls every such prober pays.
 *
 * Runs until SIGTERM or SIGINT; then reads the answers still on their way
 * (100 ms), prints "sent N answered M" and exits 0.
 * Exits 2 with a message on bad arguments or a connection that fails.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_TARGETS 1000

static volatile sig_atomic_t stopping;

static void on_signal(int sig) {
  (void)sig;
  stopping = 1;
}

static int64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void die(const char* what) {
  fprintf(stderr, "floor: %s: %s\n", what, strerror(errno));
  exit(2);
}

/* Counts "HTTP/1.1 " status lines in buf; `carry` keeps a prefix split across reads. */
static long count_answers(const char* buf, size_t n, size_t* carry) {
  static const char mark[] = "HTTP/1.1 ";
  const size_t m = sizeof mark - 1;
  long found = 0;
  for (size_t i = 0; i < n; i++) {
    *carry = (buf[i] == mark[*carry]) ? *carry + 1 : (buf[i] == mark[0] ? 1 : 0);
    if (*carry == m) {
      found++;
      *carry = 0;
    }
  }
  return found;
}

int main(int argc, char** argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: floor HOST:PORT INTERVAL_US TARGETS\n");
    return 2;
  }
  char host[64];
  const char* colon = strrchr(argv[1], ':');
  if (!colon || colon - argv[1] >= (long)sizeof host) {
    fprintf(stderr, "floor: HOST:PORT expected, got '%s'\n", argv[1]);
    return 2;
  }
  memcpy(host, argv[1], colon - argv[1]);
  host[colon - argv[1]] = 0;
  const int port = atoi(colon + 1);
  const long interval_us = atol(argv[2]);
  const int targets = atoi(argv[3]);
  if (port <= 0 || interval_us <= 0 || targets <= 0 || targets > MAX_TARGETS) {
    fprintf(stderr, "floor: need a port, an interval > 0 µs and 1..%d targets\n", MAX_TARGETS);
    return 2;
  }
  struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(port)};
  if (inet_pton(AF_INET, host, &addr.sin_addr) != 1) {
    fprintf(stderr, "floor: not an IPv4 address: '%s'\n", host);
    return 2;
  }

  static int fd[MAX_TARGETS];
  static char request[MAX_TARGETS][96];
  static size_t request_len[MAX_TARGETS], carry[MAX_TARGETS];
  static int64_t due[MAX_TARGETS];
  const int64_t interval = interval_us * 1000;
  const int64_t start = now_ns() + 10000000;
  for (int i = 0; i < targets; i++) {
    fd[i] = socket(AF_INET, SOCK_STREAM, 0);
    if (fd[i] < 0) die("socket");
    int one = 1;
    setsockopt(fd[i], IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    setsockopt(fd[i], SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof one);
    if (connect(fd[i], (struct sockaddr*)&addr, sizeof addr) != 0) die("connect");
    request_len[i] = snprintf(request[i], sizeof request[i],
                              "GET /t%d HTTP/1.1\r\nHost: %s\r\n\r\n", i + 1, argv[1]);
    due[i] = start + interval * i / targets;
  }
  signal(SIGTERM, on_signal);
  signal(SIGINT, on_signal);

  long sent = 0, answered = 0;
  int64_t last_arrival = 0; /* kept so the timestamp is read, as a prober would */
  char buf[16384], control[256];
  int next = 0; /* targets come due in a fixed round-robin order */
  while (!stopping) {
    struct timespec ts = {.tv_sec = due[next] / 1000000000, .tv_nsec = due[next] % 1000000000};
    if (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR) continue;
    /* Batching as loopcanary does it: a target due within a millisecond of
     * this wake-up is sent now, if its interval is at least 5 ms (at a shorter
     * interval that would send its own next request early). */
    const int64_t horizon = now_ns() + (interval >= 5000000 ? 1000000 : 0);
    while (due[next] <= horizon) {
      const int i = next;
      for (;;) {
        struct iovec iov = {.iov_base = buf, .iov_len = sizeof buf};
        struct msghdr msg = {.msg_iov = &iov,
                             .msg_iovlen = 1,
                             .msg_control = control,
                             .msg_controllen = sizeof control};
        ssize_t n = recvmsg(fd[i], &msg, MSG_DONTWAIT);
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) break;
        if (n <= 0) die("recvmsg (nginx closed the connection?)");
        for (struct cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c))
          if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS) {
            struct timespec at;
            memcpy(&at, CMSG_DATA(c), sizeof at);
            last_arrival = (int64_t)at.tv_sec * 1000000000 + at.tv_nsec;
          }
        answered += count_answers(buf, (size_t)n, &carry[i]);
        if ((size_t)n < sizeof buf) break;
      }
      if (send(fd[i], request[i], request_len[i], MSG_NOSIGNAL) != (ssize_t)request_len[i])
        die("send");
      sent++;
      due[i] += interval;
      next = (next + 1) % targets;
    }
  }
  /* The answers still on their way: 100 ms is plenty on loopback. */
  struct timespec drain = {.tv_sec = 0, .tv_nsec = 100000000};
  nanosleep(&drain, NULL);
  for (int i = 0; i < targets; i++) {
    ssize_t n;
    while ((n = recv(fd[i], buf, sizeof buf, MSG_DONTWAIT)) > 0)
      answered += count_answers(buf, (size_t)n, &carry[i]);
  }
  printf("sent %ld answered %ld last_arrival %lld\n", sent, answered, (long long)last_arrival);
  return 0;
}
