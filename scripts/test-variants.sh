#!/usr/bin/env bash
# The integration and conformance suites on the other engine variants:
#   - the build macOS and the BSDs compile: the libuv poller backend and the
#     portable socket calls (accept + fcntl, a pipe for the wakeup, no
#     MSG_NOSIGNAL: native/core/socket_calls.h), built beside the default build
#     in build-variants/portable so build/ stays the epoll one;
#   - the acceptor hand-off (one worker accepts and hands out connections),
#     forced on Linux where SO_REUSEPORT would otherwise balance;
#   - inline mode (threads: 0, the loop on the JS thread): the suites' one-thread
#     servers (test/helpers/server.ts, COREWS_TEST_INLINE=1) become inline ones,
#     on the epoll and on the libuv backend.
#   npm run test:variants
set -euo pipefail
cd "$(dirname "$0")/.."
SUITES=(test/conformance test/interop.test.ts test/api.test.ts test/hooks.test.ts test/lifecycle.test.ts test/topics.test.ts test/tls.test.ts test/cli-bench.test.ts test/deflate.test.ts test/attach.test.ts test/https-bridge.test.ts test/pause-reports.test.ts test/http-hook.test.ts test/inline.test.ts)

portable=$(bash scripts/build-variant.sh portable COREWS_POLLER=libuv COREWS_PORTABLE=1)
echo "== libuv poller backend, portable socket calls"
COREWS_ADDON="$portable" npx vitest run "${SUITES[@]}"

echo "== acceptor hand-off forced"
COREWS_ACCEPTOR=handoff npx vitest run "${SUITES[@]}"

echo "== inline mode (threads: 0)"
COREWS_TEST_INLINE=1 npx vitest run "${SUITES[@]}"

echo "== inline mode on the libuv poller backend, portable socket calls"
COREWS_ADDON="$portable" COREWS_TEST_INLINE=1 npx vitest run "${SUITES[@]}"
