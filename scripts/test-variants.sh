#!/usr/bin/env bash
# The integration and conformance suites on the other engine variants:
#   - the libuv poller backend (what macOS/BSD/Windows use), built beside the
#     default build in build-variants/libuv so build/ stays the epoll one;
#   - the acceptor hand-off (one worker accepts and hands out connections),
#     forced on Linux where SO_REUSEPORT would otherwise balance;
#   - inline mode (threads: 0, the loop on the JS thread): the suites' one-thread
#     servers (test/helpers/server.ts, COREWS_TEST_INLINE=1) become inline ones,
#     on the epoll and on the libuv backend.
#   npm run test:variants
set -euo pipefail
cd "$(dirname "$0")/.."
SUITES=(test/conformance test/interop.test.ts test/api.test.ts test/hooks.test.ts test/lifecycle.test.ts test/topics.test.ts test/tls.test.ts test/cli-bench.test.ts test/deflate.test.ts test/attach.test.ts test/inline.test.ts)

libuv=$(bash scripts/build-variant.sh libuv COREWS_POLLER=libuv)
echo "== libuv poller backend"
COREWS_ADDON="$libuv" npx vitest run "${SUITES[@]}"

echo "== acceptor hand-off forced"
COREWS_ACCEPTOR=handoff npx vitest run "${SUITES[@]}"

echo "== inline mode (threads: 0)"
COREWS_TEST_INLINE=1 npx vitest run "${SUITES[@]}"

echo "== inline mode on the libuv poller backend"
COREWS_ADDON="$libuv" COREWS_TEST_INLINE=1 npx vitest run "${SUITES[@]}"
