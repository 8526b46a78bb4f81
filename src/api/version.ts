/** The Engine API version berthd speaks, and the oldest it accepts (as dockerd 24 does). */
export const API_VERSION = '1.43';
export const MIN_API_VERSION = '1.24';
export const BERTH_VERSION = '0.1.0';

function versionParts(v: string): number[] {
  return v.split('.').map((p) => Number(p));
}

export function compareVersions(a: string, b: string): number {
  const [am = 0, an = 0] = versionParts(a);
  const [bm = 0, bn = 0] = versionParts(b);
  return am - bm || an - bn;
}
