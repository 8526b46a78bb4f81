/**
 * Minimal ustar archives of regular files, for tests and benchmarks whose layers only need
 * content that can be checked (no owners, links or directories).
 */

/** The 512-byte ustar header of a regular file, mode 0644, owned by root, with its checksum. */
export function ustarFileHeader(name: string, size: number): Buffer {
  const header = Buffer.alloc(512);
  header.write(name, 0);
  header.write('0000644\0', 100);
  header.write('0000000\0', 108);
  header.write('0000000\0', 116);
  header.write(`${size.toString(8).padStart(11, '0')}\0`, 124);
  header.write('00000000000\0', 136);
  header.write('        ', 148);
  header.write('0', 156);
  header.write('ustar\0', 257);
  header.write('00', 263);
  let sum = 0;
  for (const b of header) sum += b;
  header.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148);
  return header;
}

/** Zero bytes that round `size` up to the next 512-byte record. */
export const ustarPadding = (size: number): Buffer => Buffer.alloc((512 - (size % 512)) % 512);

/** A whole archive: each file's header, body and padding, then the two zero records that end it. */
export function ustarOf(files: Array<{ name: string; body: Buffer }>): Buffer {
  const parts: Buffer[] = [];
  for (const { name, body } of files) parts.push(ustarFileHeader(name, body.length), body, ustarPadding(body.length));
  return Buffer.concat([...parts, Buffer.alloc(1024)]);
}
