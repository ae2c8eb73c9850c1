#!/usr/bin/env bash
# The integration and conformance suites on the other engine variants:
#   - the libuv poller backend (what macOS/BSD/Windows use), built beside the
#     default build in build-variants/libuv so build/ stays the epoll one;
#   - the acceptor hand-off (one worker accepts and hands out connections),
#     forced on Linux where SO_REUSEPORT would otherwise balance.
#   npm run test:variants
set -euo pipefail
cd "$(dirname "$0")/.."
SUITES=(test/conformance test/interop.test.ts test/api.test.ts test/hooks.test.ts test/lifecycle.test.ts test/topics.test.ts)

dir=build-variants/libuv
rm -rf "$dir" && mkdir -p "$dir"
cp -r binding.gyp native "$dir/"
rm -rf "$dir/native/build"
ln -s "$PWD/node_modules" "$dir/node_modules"
(cd "$dir" && COREWS_POLLER=libuv node-gyp rebuild > build.log 2>&1) || { tail -40 "$dir/build.log"; exit 1; }
echo "== libuv poller backend"
COREWS_ADDON="$dir/build/Release/corews.node" npx vitest run "${SUITES[@]}"

echo "== acceptor hand-off forced"
COREWS_ACCEPTOR=handoff npx vitest run "${SUITES[@]}"
