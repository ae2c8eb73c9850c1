// Reads the ASan/UBSan/LSan logs of a sanitizer run (ASAN_OPTIONS=log_path=…)
// and fails on any memory error, any undefined behaviour, and any leak whose
// allocation site is in the addon. Node and V8 keep some memory until exit
// (and leak more at process.exit()); those leaks are not ours and are only
// counted: a leak is ours when the first frame past the allocator and the C++
// standard library is in corews.node.
//   node scripts/check-sanitizer-logs.mjs <log dir>
import fs from 'node:fs';
import path from 'node:path';

const dir = process.argv[2];
const files = fs.existsSync(dir) ? fs.readdirSync(dir).map((f) => path.join(dir, f)) : [];
let errors = 0;
let ours = 0;
let theirs = 0;
const ALLOCATOR = /libsanitizer|asan_|operator new|malloc|calloc|realloc|libstdc\+\+|\/c\+\+\/\d+\/|std::|__gnu_cxx/;

for (const file of files) {
  const text = fs.readFileSync(file, 'utf8');
  for (const m of text.matchAll(/ERROR: AddressSanitizer: [^\n]*|runtime error: [^\n]*/g)) {
    errors++;
    console.log(`${path.basename(file)}: ${m[0]}`);
  }
  for (const block of text.split(/\n(?=(?:Direct|Indirect) leak)/).filter((b) => /^(Direct|Indirect) leak/.test(b))) {
    const frames = block.split('\n').filter((l) => /^\s+#\d+/.test(l));
    const site = frames.find((f) => !ALLOCATOR.test(f));
    if (site && site.includes('corews.node')) {
      ours++;
      console.log(`${path.basename(file)}: leak in the addon:\n${block.split('\n').slice(0, 12).join('\n')}`);
    } else {
      theirs++;
    }
  }
}
console.log(`sanitizer logs: ${files.length} files, ${errors} errors, ${ours} addon leaks, ${theirs} leaks of Node/V8 (not ours)`);
process.exitCode = errors + ours > 0 ? 1 : 0;
