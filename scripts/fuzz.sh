#!/bin/sh
# Runs the libFuzzer harnesses of the protocol core (native/fuzz), each for
# FUZZ_SECONDS (default 60), via `make -C native fuzz`. Installs nothing: it
# needs clang++ with the libFuzzer and sanitizer runtimes, on Debian 12
#   apt-get install -y clang libclang-rt-14-dev
# Extra arguments go to make, e.g.  scripts/fuzz.sh FUZZ_SECONDS=10 H=utf8
set -eu
cd "$(dirname "$0")/.."

if ! command -v clang++ >/dev/null 2>&1; then
  echo "scripts/fuzz.sh: clang++ not found; on Debian 12: apt-get install -y clang libclang-rt-14-dev" >&2
  exit 2
fi

exec make -s -C native fuzz "$@"
