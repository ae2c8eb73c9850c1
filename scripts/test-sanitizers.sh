#!/usr/bin/env bash
# The integration and conformance suites on an addon built with
# AddressSanitizer and UndefinedBehaviorSanitizer, leak checking on; Node is not
# instrumented, so the sanitizer runtimes are preloaded. Any report fails the
# run (see scripts/check-sanitizer-logs.mjs).
#   npm run test:sanitizers
set -euo pipefail
cd "$(dirname "$0")/.."
SUITES=(test/conformance test/interop.test.ts test/api.test.ts test/hooks.test.ts test/lifecycle.test.ts test/topics.test.ts test/tls.test.ts test/deflate.test.ts test/attach.test.ts test/https-bridge.test.ts test/cli-bench.test.ts test/pause-reports.test.ts test/http-hook.test.ts test/inline.test.ts)

addon=$(bash scripts/build-variant.sh asan COREWS_SANITIZE=1)

logs="$PWD/build-variants/sanitizer-logs"
rm -rf "$logs" && mkdir -p "$logs"
export LD_PRELOAD="$(g++ -print-file-name=libasan.so):$(g++ -print-file-name=libubsan.so)"
# A small quarantine: use-after-free is still caught, and the memory-bound
# tests still see freed memory come back.
export ASAN_OPTIONS="detect_leaks=1:quarantine_size_mb=8:log_path=$logs/asan"
export UBSAN_OPTIONS="print_stacktrace=1:log_path=$logs/ubsan"
# Leaks are judged from the logs (Node's own are not ours): they must not turn
# a child process's exit code into 23.
export LSAN_OPTIONS="exitcode=0"
export COREWS_ADDON="$addon"
status=0
npx vitest run "${SUITES[@]}" || status=$?
unset LD_PRELOAD
node scripts/check-sanitizer-logs.mjs "$logs" || status=1
exit $status
