/**
 * Sizes as the docker CLI reads them (go-units RAMInBytes) for memory flags: "512m", "1g",
 * binary multiples, case-insensitive, optional "b"/"ib" suffix.
 */

const BINARY_MULTIPLIERS: Record<string, number> = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4, p: 1024 ** 5 };

/** go-units RAMInBytes: "512m" -> 536870912. Throws docker's "invalid size: '...'" otherwise. */
export function ramInBytes(text: string): number {
  const match = /^(\d+(?:\.\d+)?)\s*([kKmMgGtTpP]?)(?:[iI]?[bB])?$/.exec(text.trim());
  if (!match) throw new Error(`invalid size: '${text}'`);
  const value = Number(match[1]) * BINARY_MULTIPLIERS[match[2]!.toLowerCase()]!;
  return Math.trunc(value);
}
