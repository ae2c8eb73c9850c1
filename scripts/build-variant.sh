#!/usr/bin/env bash
# Builds the addon into build-variants/<name> with the given environment
# (COREWS_POLLER=libuv, COREWS_SANITIZE=1, …), leaving build/ as it is, and
# prints the path of the binary.
#   scripts/build-variant.sh <name> [VAR=value …]
set -euo pipefail
cd "$(dirname "$0")/.."
name=$1
shift
dir=build-variants/$name
rm -rf "$dir" && mkdir -p "$dir"
cp -r binding.gyp native "$dir/"
rm -rf "$dir/native/build" "$dir/native/fuzz"
ln -s "$PWD/node_modules" "$dir/node_modules"
(cd "$dir" && env "$@" node-gyp rebuild > build.log 2>&1) || { tail -40 "$dir/build.log" >&2; exit 1; }
echo "$PWD/$dir/build/Release/corews.node"
