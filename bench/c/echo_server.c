/* A minimal single-threaded WebSocket echo server in C (epoll, level-triggered).
 * It is the fixed point against which `corews bench` and loadgen.c are compared:
 * as little work per message as a correct server can do.
 * It also fans out as the servers of bench/servers do: a `?role=subscriber` connection
 * is subscribed, and whatever a `?role=publisher` connection sends goes to
 * every subscriber (framed once per read, the same bytes written to each).
 *   echo_server PORT        (PORT 0: any free one; prints `listening <port>`,
 *                            runs until killed)
 * On stdin it serves bench/servers/control.mjs's control channel (`stats`,
 * `gc`), so bench/run.mjs can run it as one of its servers. */
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

enum { ROLE_ECHO, ROLE_PUBLISHER, ROLE_SUBSCRIBER };

typedef struct conn_s {
  int fd;
  int open;           /* handshake done */
  int role;
  size_t sub_at;      /* a subscriber's index in subs */
  uint8_t *in;        /* unparsed input */
  size_t in_len, in_cap;
  uint8_t *out;       /* unwritten output */
  size_t out_len, out_cap, out_head;
} conn_t;

static int ep;

/* Subscribers, contiguous; each knows its index, so removal is a swap. */
static struct conn_s **subs;
static size_t subs_len, subs_cap;
/* A publisher's messages of one read, framed once, for every subscriber. */
static uint8_t *pub;
static size_t pub_len, pub_cap;
/* The control channel's counters (bench/servers/control.mjs). */
static unsigned long long n_messages, n_deliveries, n_opened, n_open;

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

static void subscribe(conn_t *c) {
  if (subs_len == subs_cap) {
    subs_cap = subs_cap ? subs_cap * 2 : 1024;
    subs = realloc(subs, subs_cap * sizeof *subs);
  }
  c->sub_at = subs_len;
  subs[subs_len++] = c;
}

static void unsubscribe(conn_t *c) {
  conn_t *last = subs[--subs_len];
  subs[c->sub_at] = last;
  last->sub_at = c->sub_at;
}

static void drop(conn_t *c) {
  if (c->open) n_open--;
  if (c->open && c->role == ROLE_SUBSCRIBER) unsubscribe(c);
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
  /* The role is in the request target: GET /?role=publisher HTTP/1.1 */
  size_t line = strcspn((char *)c->in, "\r\n");
  char saved = c->in[line];
  c->in[line] = 0;
  if (strstr((char *)c->in, "role=publisher")) c->role = ROLE_PUBLISHER;
  else if (strstr((char *)c->in, "role=subscriber")) c->role = ROLE_SUBSCRIBER;
  c->in[line] = (uint8_t)saved;
  if (c->role == ROLE_SUBSCRIBER) subscribe(c);
  c->open = 1;
  n_opened++;
  n_open++;
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
    if (op < 8) n_messages++;
    if (op < 8 && c->role == ROLE_PUBLISHER) {
      /* Framed once here; fan_out writes these bytes to every subscriber. */
      append(&pub, &pub_len, &pub_cap, hdr, hl);
      append(&pub, &pub_len, &pub_cap, d, len);
      n_deliveries += subs_len;
    } else if (op != 10) {
      append(&c->out, &c->out_len, &c->out_cap, hdr, hl);
      append(&c->out, &c->out_len, &c->out_cap, d, len);
    }
    pos += h + 4 + len;
    if (op == 8) return -1;
  }
  return (long)pos;
}

/* One subscriber's copy of a read's publishes: written at once when nothing
 * waits (the usual case), queued behind what does, EPOLLOUT only then. */
static void deliver(conn_t *c, const uint8_t *p, size_t n) {
  if (c->out_head < c->out_len) {
    append(&c->out, &c->out_len, &c->out_cap, p, n);
    return;
  }
  ssize_t w = send(c->fd, p, n, MSG_NOSIGNAL);
  if (w < 0) {
    if (errno != EAGAIN) return; /* gone: epoll reports it, and the read drops it */
    w = 0;
  }
  if ((size_t)w == n) return;
  c->out_len = c->out_head = 0;
  append(&c->out, &c->out_len, &c->out_cap, p + w, n - (size_t)w);
  struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.ptr = c};
  epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
}

static void fan_out(void) {
  for (size_t i = 0; i < subs_len; i++) deliver(subs[i], pub, pub_len);
  pub_len = 0;
}

/* bench/servers/control.mjs's control channel: `stats` and `gc`, one a line. */
static void control(int *fd) {
  static char line[256];
  static size_t have;
  ssize_t r = read(*fd, line + have, sizeof line - 1 - have);
  if (r <= 0) { /* no control channel (stdin closed or /dev/null) */
    epoll_ctl(ep, EPOLL_CTL_DEL, *fd, NULL);
    *fd = -1;
    return;
  }
  have += (size_t)r;
  char *nl;
  while ((nl = memchr(line, '\n', have)) != NULL) {
    *nl = 0;
    if (strncmp(line, "stats", 5) == 0) {
      printf("stats {\"messages\":%llu,\"deliveries\":%llu,\"opened\":%llu,\"open\":%llu}\n",
             n_messages, n_deliveries, n_opened, n_open);
    } else if (strncmp(line, "gc", 2) == 0) {
      printf("gc done\n");
    }
    fflush(stdout);
    have -= (size_t)(nl + 1 - line);
    memmove(line, nl + 1, have);
  }
  if (have == sizeof line - 1) have = 0; /* a line too long to be a command */
}

int main(int argc, char **argv) {
  int port = argc > 1 ? atoi(argv[1]) : 9001;
  int ls = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0), one = 1;
  setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  if (bind(ls, (struct sockaddr *)&a, sizeof a) || listen(ls, 1024)) { perror("listen"); return 1; }
  socklen_t alen = sizeof a;
  getsockname(ls, (struct sockaddr *)&a, &alen);
  printf("listening %d\n", ntohs(a.sin_port));
  fflush(stdout);
  ep = epoll_create1(0);
  struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
  epoll_ctl(ep, EPOLL_CTL_ADD, ls, &ev);
  static conn_t control_tag;
  int control_fd = 0;
  struct epoll_event cev = {.events = EPOLLIN, .data.ptr = &control_tag};
  if (epoll_ctl(ep, EPOLL_CTL_ADD, control_fd, &cev) < 0) control_fd = -1; /* a regular file: no channel */
  static uint8_t rbuf[RBUF];
  struct epoll_event evs[256];
  for (;;) {
    int n = epoll_wait(ep, evs, 256, -1);
    for (int i = 0; i < n; i++) {
      conn_t *c = evs[i].data.ptr;
      if (c == &control_tag) {
        control(&control_fd);
        continue;
      }
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
      if (pub_len) fan_out(); /* also before a Close from the publisher drops it */
      if (used < 0) { flush_out(c); drop(c); continue; }
      consume(c, (size_t)used);
      if (flush_out(c) < 0) drop(c);
    }
  }
}
