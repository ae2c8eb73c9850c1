// Loads the addon: a prebuilt binary from prebuilds/ when one fits this
// platform, else the local build in build/Release. COREWS_ADDON names a
// binary explicitly (CI runs the suites on other builds of it: the libuv
// poller backend, the sanitizer build).
import path from 'node:path';
import type { NativeBinding } from './native';

// node-gyp-build ships no types; this is its one entry point.
type NodeGypBuild = (dir: string) => unknown;

function load(): NativeBinding {
  const explicit = process.env.COREWS_ADDON;
  if (explicit) return require(path.resolve(explicit)) as NativeBinding;
  const root = path.join(__dirname, '..');
  const nodeGypBuild = require('node-gyp-build') as NodeGypBuild;
  try {
    return nodeGypBuild(root) as NativeBinding;
  } catch (err) {
    const platform = `${process.platform}-${process.arch} (node ${process.versions.node}, N-API ${process.versions.napi})`;
    throw new Error(
      `corews: no native binary for ${platform}: no prebuilt binary fits and no local build exists. ` +
        `Build one with 'npm rebuild corews' (needs python3, make and a C++20 compiler).`,
      { cause: err },
    );
  }
}

export const binding: NativeBinding = load();
