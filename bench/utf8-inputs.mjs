// The UTF-8 inputs of the validation benchmarks (bench/micro.mjs) and their
// instruction counts (bench/profile-utf8.mjs), one definition for both.

/** Printable ASCII of `size` bytes. */
export function ascii(size) {
  const b = Buffer.alloc(size);
  for (let i = 0; i < size; i++) b[i] = 32 + ((i * 7) % 95);
  return b;
}

/** Valid UTF-8 of `size` bytes or a little less: 1-, 2-, 3- and 4-byte sequences mixed. */
export function multiByte(size) {
  const unit = Buffer.from('Grüße, мир — 日本語のテキスト 😀 ');
  const b = Buffer.alloc(size + unit.length);
  let n = 0;
  while (n < size) n += unit.copy(b, n);
  let end = size;
  while (end > 0 && (b[end] & 0xc0) === 0x80) end--; // do not cut a sequence
  return b.subarray(0, end);
}
