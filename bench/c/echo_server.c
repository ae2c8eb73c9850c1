/* A minimal single-threaded WebSocket echo server in C (epoll, level-triggered).
 * It is the fixed point against which `corews bench` and loadgen.c are compared:
 * as little work per message as a correct server can do.
 *   echo_server PORT        (prints nothing; runs until killed) */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/sha.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define RBUF (256 * 1024)

typedef struct {
  int fd;
  int open;           /* handshake done */
  uint8_t *in;        /* unparsed input */
  size_t in_len, in_cap;
  uint8_t *out;       /* unwritten output */
  size_t out_len, out_cap, out_head;
} conn_t;

static int ep;

static void append(uint8_t **buf, size_t *len, size_t *cap, const void *p, size_t n) {
  if (*len + n > *cap) {
    size_t c = *cap ? *cap : 4096;
    while (c < *len + n) c *= 2;
    *buf = realloc(*buf, c);
    *cap = c;
  }
  memcpy(*buf + *len, p, n);
  *len += n;
}

static void consume(conn_t *c, size_t n) {
  memmove(c->in, c->in + n, c->in_len - n);
  c->in_len -= n;
}

static void drop(conn_t *c) {
  close(c->fd);
  free(c->in);
  free(c->out);
  free(c);
}

static int flush_out(conn_t *c) {
  while (c->out_head < c->out_len) {
    ssize_t n = send(c->fd, c->out + c->out_head, c->out_len - c->out_head, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EAGAIN) break;
      return -1;
    }
    c->out_head += (size_t)n;
  }
  struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
  if (c->out_head == c->out_len) {
    c->out_len = c->out_head = 0;
  } else {
    ev.events |= EPOLLOUT;
  }
  epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
  return 0;
}

static void b64(const uint8_t *in, size_t n, char *out) {
  static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  size_t i, o = 0;
  for (i = 0; i + 3 <= n; i += 3) {
    uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
    out[o++] = t[v >> 18]; out[o++] = t[(v >> 12) & 63]; out[o++] = t[(v >> 6) & 63]; out[o++] = t[v & 63];
  }
  if (n - i == 2) {
    uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
    out[o++] = t[v >> 18]; out[o++] = t[(v >> 12) & 63]; out[o++] = t[(v >> 6) & 63]; out[o++] = '=';
  } else if (n - i == 1) {
    uint32_t v = (uint32_t)in[i] << 16;
    out[o++] = t[v >> 18]; out[o++] = t[(v >> 12) & 63]; out[o++] = '='; out[o++] = '=';
  }
  out[o] = 0;
}

/* Returns bytes consumed, 0 if incomplete, -1 to drop. */
static long handshake(conn_t *c) {
  uint8_t *end = memmem(c->in, c->in_len, "\r\n\r\n", 4);
  if (!end) return c->in_len > 16384 ? -1 : 0;
  *end = 0;
  char *k = strcasestr((char *)c->in, "sec-websocket-key:");
  if (!k) return -1;
  k += 18;
  while (*k == ' ') k++;
  char key[128];
  size_t kl = strcspn(k, "\r\n");
  if (kl > 60) return -1;
  memcpy(key, k, kl);
  memcpy(key + kl, "258EAFA5-E914-47DA-95CA-C5AB0DC85B11", 36);
  uint8_t dig[20];
  SHA1((uint8_t *)key, kl + 36, dig);
  char acc[32], res[256];
  b64(dig, 20, acc);
  int n = snprintf(res, sizeof res, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n", acc);
  append(&c->out, &c->out_len, &c->out_cap, res, (size_t)n);
  c->open = 1;
  return (end - c->in) + 4;
}

/* Parses whole frames from c->in and queues their echoes. Returns bytes consumed, -1 to drop. */
static long frames(conn_t *c) {
  size_t pos = 0;
  while (c->in_len - pos >= 2) {
    uint8_t *p = c->in + pos;
    uint8_t op = p[0] & 15;
    uint64_t len = p[1] & 127;
    size_t h = 2;
    if (!(p[1] & 128)) return -1;
    if (len == 126) {
      if (c->in_len - pos < 4) break;
      len = (uint64_t)p[2] << 8 | p[3];
      h = 4;
    } else if (len == 127) {
      if (c->in_len - pos < 10) break;
      len = 0;
      for (int i = 0; i < 8; i++) len = len << 8 | p[2 + i];
      h = 10;
    }
    if (c->in_len - pos < h + 4 + len) break;
    uint8_t *m = p + h, *d = p + h + 4;
    for (uint64_t i = 0; i < len; i++) d[i] ^= m[i & 3];
    uint8_t hdr[10];
    size_t hl;
    hdr[0] = 0x80 | (op == 9 ? 10 : op);
    if (len < 126) { hdr[1] = (uint8_t)len; hl = 2; }
    else if (len < 65536) { hdr[1] = 126; hdr[2] = (uint8_t)(len >> 8); hdr[3] = (uint8_t)len; hl = 4; }
    else { hdr[1] = 127; for (int i = 0; i < 8; i++) hdr[2 + i] = (uint8_t)(len >> (56 - 8 * i)); hl = 10; }
    if (op != 10) {
      append(&c->out, &c->out_len, &c->out_cap, hdr, hl);
      append(&c->out, &c->out_len, &c->out_cap, d, len);
    }
    pos += h + 4 + len;
    if (op == 8) return -1;
  }
  return (long)pos;
}

int main(int argc, char **argv) {
  int port = argc > 1 ? atoi(argv[1]) : 9001;
  int ls = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0), one = 1;
  setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  if (bind(ls, (struct sockaddr *)&a, sizeof a) || listen(ls, 1024)) { perror("listen"); return 1; }
  ep = epoll_create1(0);
  struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
  epoll_ctl(ep, EPOLL_CTL_ADD, ls, &ev);
  static uint8_t rbuf[RBUF];
  struct epoll_event evs[256];
  for (;;) {
    int n = epoll_wait(ep, evs, 256, -1);
    for (int i = 0; i < n; i++) {
      conn_t *c = evs[i].data.ptr;
      if (!c) {
        int fd;
        while ((fd = accept4(ls, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
          setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
          conn_t *nc = calloc(1, sizeof *nc);
          nc->fd = fd;
          struct epoll_event e = {.events = EPOLLIN, .data.ptr = nc};
          epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e);
        }
        continue;
      }
      if (evs[i].events & EPOLLOUT && flush_out(c) < 0) { drop(c); continue; }
      if (!(evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))) continue;
      ssize_t r = recv(c->fd, rbuf, RBUF, 0);
      if (r < 0 && errno == EAGAIN) continue;
      if (r <= 0) { drop(c); continue; }
      append(&c->in, &c->in_len, &c->in_cap, rbuf, (size_t)r);
      long used;
      if (!c->open) {
        used = handshake(c);
        if (used > 0) { /* frames may follow the request in the same read */
          consume(c, (size_t)used);
          used = frames(c);
        }
      } else {
        used = frames(c);
      }
      if (used < 0) { flush_out(c); drop(c); continue; }
      consume(c, (size_t)used);
      if (flush_out(c) < 0) drop(c);
    }
  }
}
