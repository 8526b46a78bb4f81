/**
 * Human-readable durations, sizes and times, following the rules of docker's go-units
 * (HumanDuration, HumanSizeWithPrecision, BytesSize) and Go's time formats, so columns
 * read exactly as docker's do.
 */

/** go-units HumanDuration; `seconds` is the elapsed time. */
export function humanDuration(seconds: number): string {
  const s = Math.floor(seconds);
  if (s < 1) return 'Less than a second';
  if (s === 1) return '1 second';
  if (s < 60) return `${s} seconds`;
  const minutes = Math.floor(seconds / 60);
  if (minutes === 1) return 'About a minute';
  if (minutes < 60) return `${minutes} minutes`;
  const hours = Math.round(seconds / 3600);
  if (hours === 1) return 'About an hour';
  if (hours < 48) return `${hours} hours`;
  if (hours < 24 * 7 * 2) return `${Math.floor(hours / 24)} days`;
  if (hours < 24 * 30 * 2) return `${Math.floor(hours / 24 / 7)} weeks`;
  if (hours < 24 * 365 * 2) return `${Math.floor(hours / 24 / 30)} months`;
  return `${Math.floor(Math.floor(seconds / 3600) / 24 / 365)} years`;
}

/** "5 seconds ago" for a unix-seconds timestamp. */
export function humanSince(unixSeconds: number, nowMs: number = Date.now()): string {
  return `${humanDuration(nowMs / 1000 - unixSeconds)} ago`;
}

/** Go's fmt "%.{p}g": shortest of fixed/exponent, trailing zeros dropped, exponent as e+03. */
export function formatG(x: number, precision: number): string {
  if (x === 0) return '0';
  const exp = Math.floor(Math.log10(Math.abs(Number(x.toPrecision(precision)))));
  if (exp < -4 || exp >= precision) {
    const [mant, e] = x.toExponential(precision - 1).split('e') as [string, string];
    const m = mant.includes('.') ? mant.replace(/\.?0+$/, '') : mant;
    const n = Number(e);
    return `${m}e${n < 0 ? '-' : '+'}${String(Math.abs(n)).padStart(2, '0')}`;
  }
  const fixed = x.toFixed(Math.max(0, precision - 1 - exp));
  return fixed.includes('.') ? fixed.replace(/\.?0+$/, '') : fixed;
}

const DECIMAL_UNITS = ['B', 'kB', 'MB', 'GB', 'TB', 'PB', 'EB', 'ZB', 'YB'];
const BINARY_UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB', 'EiB', 'ZiB', 'YiB'];

function scaled(size: number, base: number, units: string[], precision: number): string {
  let i = 0;
  while (size >= base && i < units.length - 1) {
    size /= base;
    i++;
  }
  return `${formatG(size, precision)}${units[i]}`;
}

/** go-units HumanSizeWithPrecision: decimal units ("4.26MB"); tables use precision 3. */
export function humanSize(bytes: number, precision = 4): string {
  return scaled(bytes, 1000, DECIMAL_UNITS, precision);
}

/** go-units BytesSize: binary units ("7.748GiB"). */
export function bytesSize(bytes: number): string {
  return scaled(bytes, 1024, BINARY_UNITS, 4);
}

const pad2 = (n: number): string => String(n).padStart(2, '0');

function offsetParts(d: Date): { sign: string; hh: string; mm: string; zero: boolean } {
  const off = -d.getTimezoneOffset();
  const abs = Math.abs(off);
  return { sign: off < 0 ? '-' : '+', hh: pad2(Math.floor(abs / 60)), mm: pad2(abs % 60), zero: off === 0 };
}

function localDateTime(d: Date): string {
  return `${d.getFullYear()}-${pad2(d.getMonth() + 1)}-${pad2(d.getDate())}T${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())}`;
}

function zoneAbbrev(d: Date): string {
  if (d.getTimezoneOffset() === 0 && !process.env.TZ?.length) return 'UTC';
  const part = new Intl.DateTimeFormat('en-US', { timeZoneName: 'short' }).formatToParts(d).find((p) => p.type === 'timeZoneName');
  return part?.value ?? 'UTC';
}

/** Go's time.Time.String() without the monotonic part: "2006-01-02 15:04:05 -0700 MST". */
export function goTimeString(d: Date): string {
  const o = offsetParts(d);
  return `${localDateTime(d).replace('T', ' ')} ${o.sign}${o.hh}${o.mm} ${zoneAbbrev(d)}`;
}

/** time.RFC3339 in local time: "2006-01-02T15:04:05Z07:00". */
export function rfc3339(d: Date): string {
  const o = offsetParts(d);
  return `${localDateTime(d)}${o.zero ? 'Z' : `${o.sign}${o.hh}:${o.mm}`}`;
}

/** docker's RFC3339NanoFixed, always 9 fractional digits; `nanos` is a unix time in ns. */
export function rfc3339NanoFixed(nanos: bigint): string {
  const ms = Number(nanos / 1_000_000n);
  const frac = String(((nanos % 1_000_000_000n) + 1_000_000_000n) % 1_000_000_000n).padStart(9, '0');
  const d = new Date(ms);
  const o = offsetParts(d);
  return `${localDateTime(d)}.${frac}${o.zero ? 'Z' : `${o.sign}${o.hh}:${o.mm}`}`;
}

/**
 * docker's timetypes.GetTimestamp: a relative duration ("10m") is taken back from now, an
 * RFC3339 date or a unix timestamp is passed as "seconds[.nanos]" the daemon understands.
 */
export function apiTimestamp(value: string, nowMs: number = Date.now(), parseDuration?: (s: string) => number): string {
  if (/^\d+(\.\d+)?$/.test(value)) return value;
  const secs = parseDuration ? parseDuration(value) : NaN;
  if (!Number.isNaN(secs)) {
    const t = nowMs / 1000 - secs;
    return t.toFixed(9).replace(/\.?0+$/, '') || '0';
  }
  const ms = Date.parse(/^\d{4}-\d{2}-\d{2}$/.test(value) ? `${value}T00:00:00` : value);
  if (Number.isNaN(ms)) throw new Error(`invalid value for "since/until": "${value}"`);
  const whole = Math.floor(ms / 1000);
  const fracMs = ms - whole * 1000;
  return fracMs ? `${whole}.${String(fracMs * 1_000_000).padStart(9, '0')}` : String(whole);
}

/** docker's stringutils.Ellipsis: at most `max` runes, the last being "…" when cut. */
export function ellipsis(s: string, max: number): string {
  const runes = [...s];
  if (runes.length <= max) return s;
  if (max <= 1) return runes.slice(0, max).join('');
  return `${runes.slice(0, max - 1).join('')}…`;
}

/** stringid.TruncateID: drop the algorithm prefix and keep 12 hex digits. */
export function shortId(id: string): string {
  const i = id.indexOf(':');
  return (i >= 0 ? id.slice(i + 1) : id).slice(0, 12);
}
