#!/usr/bin/env bash
# Builds the addon into build-variants/<name> with the given environment
# (COREWS_POLLER=libuv, COREWS_SANITIZE=1, …), leaving build/ as it is, and
# prints the path of the binary.
#   scripts/build-variant.sh <name> [VAR=value …]
set -euo pipefail
cd "$(dirname "$0")/.."
# npm run puts its node-gyp on PATH, with npm's settings (e.g. nodedir) in
# the environment: run this through an npm script.
if [ -z "${npm_config_node_gyp:-}" ]; then
  echo "build-variant.sh: run it through npm (npm run test:variants, npm run prebuild:arm64, …)" >&2
  exit 1
fi
name=$1
shift
dir=build-variants/$name
rm -rf "$dir" && mkdir -p "$dir"
cp -r binding.gyp native "$dir/"
rm -rf "$dir/native/build" "$dir/native/fuzz"
ln -s "$PWD/node_modules" "$dir/node_modules"
(cd "$dir" && env JOBS=max "$@" node-gyp rebuild > build.log 2>&1) || { tail -40 "$dir/build.log" >&2; exit 1; }
echo "$PWD/$dir/build/Release/corews.node"
