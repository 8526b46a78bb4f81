/**
 * Sizes as the docker CLI reads them (go-units): RAMInBytes for memory flags ("512m", "1g",
 * binary multiples, case-insensitive, optional "b"/"ib" suffix) and the binary/decimal human
 * forms `docker stats` prints.
 */

const BINARY_MULTIPLIERS: Record<string, number> = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4, p: 1024 ** 5 };

/** go-units RAMInBytes: "512m" -> 536870912. Throws docker's "invalid size: '...'" otherwise. */
export function ramInBytes(text: string): number {
  const match = /^(\d+(?:\.\d+)?)\s*([kKmMgGtTpP]?)(?:[iI]?[bB])?$/.exec(text.trim());
  if (!match) throw new Error(`invalid size: '${text}'`);
  const value = Number(match[1]) * BINARY_MULTIPLIERS[match[2]!.toLowerCase()]!;
  return Math.trunc(value);
}

const BINARY_UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB', 'EiB'];
const DECIMAL_UNITS = ['B', 'kB', 'MB', 'GB', 'TB', 'PB', 'EB'];

/** Go's %.4g for the magnitudes sizes take: 4 significant digits, no trailing zeros. */
function fourDigits(value: number): string {
  return String(Number(value.toPrecision(4)));
}

/** go-units BytesSize: "1.523MiB". */
export function binarySize(bytes: number): string {
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < BINARY_UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${fourDigits(value)}${BINARY_UNITS[unit]}`;
}

/** go-units HumanSizeWithPrecision(bytes, 3): "4.1kB", the form stats uses for NET and BLOCK I/O. */
export function decimalSize(bytes: number, precision = 3): string {
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < DECIMAL_UNITS.length - 1) {
    value /= 1000;
    unit++;
  }
  return `${Number(value.toPrecision(precision))}${DECIMAL_UNITS[unit]}`;
}
