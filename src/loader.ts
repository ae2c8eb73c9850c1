// Loads the addon: a prebuilt binary from prebuilds/ when one fits this
// platform, else the local build in build/Release. COREWS_ADDON names a
// binary explicitly (CI runs the suites on other builds of it: the libuv
// poller backend, the sanitizer build).
import os from 'node:os';
import path from 'node:path';
import type { NativeBinding } from './native';

// node-gyp-build ships no types; of it we use the lookup alone.
interface NodeGypBuild {
  /** The binary that fits this platform and Node, prebuilt or local; throws when none does. */
  path(dir: string): string;
}

/**
 * Opens the binary with every symbol bound now (RTLD_NOW): one this node does not export (its
 * OpenSSL or zlib) then fails here, with the loader's message, rather than killing the process
 * at its first call, which is what require()'s lazy binding would do.
 */
function open(file: string): NativeBinding {
  const module = { exports: {} };
  process.dlopen(module, file, os.constants.dlopen.RTLD_NOW);
  return module.exports as NativeBinding;
}

function load(): NativeBinding {
  const explicit = process.env.COREWS_ADDON;
  if (explicit) return open(path.resolve(explicit));
  const root = path.join(__dirname, '..');
  const nodeGypBuild = require('node-gyp-build') as NodeGypBuild;
  let file: string;
  try {
    file = nodeGypBuild.path(root);
  } catch (err) {
    const platform = `${process.platform}-${process.arch} (node ${process.versions.node}, N-API ${process.versions.napi})`;
    throw new Error(
      `corews: no native binary for ${platform}: no prebuilt binary fits and no local build exists. ` +
        `Build one with 'npm rebuild corews' (needs python3, make and a C++20 compiler).`,
      { cause: err },
    );
  }
  return open(file);
}

export const binding: NativeBinding = load();
