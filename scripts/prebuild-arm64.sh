#!/usr/bin/env bash
# Cross-compiles prebuilds/linux-arm64/corews.node with Debian's
# g++-aarch64-linux-gnu. Node's headers are the same for every architecture,
# and the addon links no library of its own (OpenSSL and zlib come from the
# node binary), so nothing of arm64 but the compiler is needed. Built out of
# tree (build-variants/linux-arm64), so build/ keeps the host's binary.
#   npm run prebuild:arm64
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v aarch64-linux-gnu-g++ > /dev/null; then
  echo "prebuild:arm64: aarch64-linux-gnu-g++ is missing (Debian: apt-get install g++-aarch64-linux-gnu)" >&2
  exit 1
fi
bin=$(bash scripts/build-variant.sh linux-arm64 CC=aarch64-linux-gnu-gcc CXX=aarch64-linux-gnu-g++ \
  LINK=aarch64-linux-gnu-g++ npm_config_arch=arm64)
mkdir -p prebuilds/linux-arm64
aarch64-linux-gnu-strip --strip-all -o prebuilds/linux-arm64/corews.node "$bin"
echo "prebuilds/linux-arm64/corews.node: $(wc -c < prebuilds/linux-arm64/corews.node) bytes"
