// The socket calls that have a Linux-only form: a non-blocking, close-on-exec
// socket made or accepted in one call (SOCK_NONBLOCK, accept4), and a send
// that cannot raise SIGPIPE (MSG_NOSIGNAL). Elsewhere each takes its portable
// form: the plain call and fcntl, and SO_NOSIGPIPE on the socket where the
// system has it. Linux builds use the portable forms too with
// COREWS_PORTABLE=1 (binding.gyp), so that the code macOS and the BSDs compile
// is the code `npm run test:variants` runs here.
#pragma once

namespace corews::core {

// A TCP (or any SOCK_STREAM) socket of `family`, non-blocking and
// close-on-exec; -errno on failure.
int open_stream_socket(int family);
// The next connection on `listen_fd`, non-blocking and close-on-exec; -errno
// when there is none (-EAGAIN) or on failure.
int accept_stream(int listen_fd);
// A connected pair of AF_UNIX stream sockets, both non-blocking and
// close-on-exec; 0, or -errno on failure.
int open_stream_pair(int fds[2]);
// Sets O_NONBLOCK and FD_CLOEXEC on `fd`; -errno on failure.
int make_nonblocking_cloexec(int fd);
// A send to a peer that has gone must be an EPIPE, never a SIGPIPE that kills
// the process: per socket (SO_NOSIGPIPE) where that exists, and otherwise by
// the flags below. On Linux's portable build neither exists, and Node's
// process ignores SIGPIPE (it does so at start-up), which covers the addon.
void no_sigpipe(int fd);
// Flags for send()/sendmsg() on a connection.
int send_flags();

}  // namespace corews::core
