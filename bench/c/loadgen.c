/* A hand-written single-threaded WebSocket echo load generator in C, the peer
 * `corews bench echo` is measured against: epoll, one read and one write per
 * connection per wakeup, masked frames with a fresh key each (RFC 6455 §5.3).
 *   loadgen PORT CONNECTIONS DEPTH SIZE SECONDS WARMUP
 * prints: {"msgsPerSec":N,"messages":N,"seconds":S} */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define RBUF (256 * 1024)

typedef struct {
  int fd, open;
  uint8_t *in;
  size_t in_len, in_cap;
  uint8_t *out;
  size_t out_len, out_cap;
} conn_t;

static uint64_t rng = 88172645463325252ull;
static uint32_t next_key(void) {
  rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17;
  return (uint32_t)rng;
}

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void reserve(uint8_t **b, size_t *cap, size_t need) {
  if (need <= *cap) return;
  size_t c = *cap ? *cap : 4096;
  while (c < need) c *= 2;
  *b = realloc(*b, c);
  *cap = c;
}

static size_t size;
static uint8_t *payload;

static void queue_message(conn_t *c) {
  reserve(&c->out, &c->out_cap, c->out_len + 14 + size);
  uint8_t *p = c->out + c->out_len;
  size_t h;
  p[0] = 0x82;
  if (size < 126) { p[1] = 0x80 | (uint8_t)size; h = 2; }
  else if (size < 65536) { p[1] = 0x80 | 126; p[2] = (uint8_t)(size >> 8); p[3] = (uint8_t)size; h = 4; }
  else { p[1] = 0x80 | 127; for (int i = 0; i < 8; i++) p[2 + i] = (uint8_t)((uint64_t)size >> (56 - 8 * i)); h = 10; }
  uint32_t key = next_key();
  memcpy(p + h, &key, 4);
  uint8_t *m = p + h, *d = p + h + 4;
  for (size_t i = 0; i < size; i++) d[i] = payload[i] ^ m[i & 3];
  c->out_len += h + 4 + size;
}

static int flush_out(conn_t *c) {
  size_t off = 0;
  while (off < c->out_len) {
    ssize_t n = send(c->fd, c->out + off, c->out_len - off, MSG_NOSIGNAL);
    if (n < 0) { if (errno == EAGAIN) break; return -1; }
    off += (size_t)n;
  }
  memmove(c->out, c->out + off, c->out_len - off);
  c->out_len -= off;
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 7) { fprintf(stderr, "usage: loadgen PORT CONNECTIONS DEPTH SIZE SECONDS WARMUP\n"); return 2; }
  int port = atoi(argv[1]), conns = atoi(argv[2]), depth = atoi(argv[3]);
  size = (size_t)atol(argv[4]);
  double seconds = atof(argv[5]), warmup = atof(argv[6]);
  payload = malloc(size + 1);
  for (size_t i = 0; i < size; i++) payload[i] = (uint8_t)(i * 31 + 7);
  int ep = epoll_create1(0), one = 1;
  conn_t *cs = calloc((size_t)conns, sizeof *cs);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  const char *req = "GET / HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
  for (int i = 0; i < conns; i++) {
    conn_t *c = &cs[i];
    c->fd = socket(AF_INET, SOCK_STREAM, 0);
    if (connect(c->fd, (struct sockaddr *)&a, sizeof a)) { perror("connect"); return 1; }
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (send(c->fd, req, strlen(req), 0) < 0) { perror("send"); return 1; }
  }
  for (int i = 0; i < conns; i++) { /* blocking: read the 101 head, then go non-blocking */
    conn_t *c = &cs[i];
    char head[1024];
    size_t got = 0;
    while (!memmem(head, got, "\r\n\r\n", 4)) {
      ssize_t n = recv(c->fd, head + got, 1, 0);
      if (n <= 0 || ++got == sizeof head) { fprintf(stderr, "handshake failed\n"); return 1; }
    }
    if (strncmp(head, "HTTP/1.1 101", 12)) { fprintf(stderr, "not 101\n"); return 1; }
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
    epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
    for (int d = 0; d < depth; d++) queue_message(c);
    flush_out(c);
  }
  static uint8_t rbuf[RBUF];
  struct epoll_event evs[256];
  double start = now() + warmup, end = start + seconds;
  unsigned long long counted = 0;
  for (;;) {
    int n = epoll_wait(ep, evs, 256, 10);
    double t = now();
    if (t >= end) break;
    int in_window = t >= start;
    for (int i = 0; i < n; i++) {
      conn_t *c = evs[i].data.ptr;
      ssize_t r = recv(c->fd, rbuf, RBUF, MSG_DONTWAIT);
      if (r <= 0) { if (r < 0 && errno == EAGAIN) continue; fprintf(stderr, "connection lost\n"); return 1; }
      reserve(&c->in, &c->in_cap, c->in_len + (size_t)r);
      memcpy(c->in + c->in_len, rbuf, (size_t)r);
      c->in_len += (size_t)r;
      size_t pos = 0;
      while (c->in_len - pos >= 2) {
        uint8_t *p = c->in + pos;
        uint64_t len = p[1] & 127;
        size_t h = 2;
        if (len == 126) { if (c->in_len - pos < 4) break; len = (uint64_t)p[2] << 8 | p[3]; h = 4; }
        else if (len == 127) { if (c->in_len - pos < 10) break; len = 0; for (int k = 0; k < 8; k++) len = len << 8 | p[2 + k]; h = 10; }
        if (c->in_len - pos < h + len) break;
        pos += h + len;
        if (in_window) counted++;
        queue_message(c);
      }
      memmove(c->in, c->in + pos, c->in_len - pos);
      c->in_len -= pos;
      if (flush_out(c) < 0) { fprintf(stderr, "write failed\n"); return 1; }
    }
  }
  printf("{\"msgsPerSec\":%.0f,\"messages\":%llu,\"seconds\":%.3f}\n", (double)counted / seconds, counted, seconds);
  return 0;
}
