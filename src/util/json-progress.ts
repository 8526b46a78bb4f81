/**
 * docker's JSONProgress.String(): the "[====>   ]  1.2MB/3.4MB 5s" text of a progress line.
 * The daemon fills the "progress" field with it (for a 200-column reader) and the CLI redraws it
 * from progressDetail at the terminal's width, so both sides share this one formula.
 */
import { humanSize } from './units.js';

export interface ProgressDetail {
  current?: number;
  total?: number;
  /** Unix seconds when the transfer began; with it the text ends in the time left. */
  start?: number;
}

/** Go's time.Duration.String() for whole seconds: "0s", "45s", "1m5s", "2h0m3s". */
export function goSeconds(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const rest = s % 60;
  if (h > 0) return `${h}h${m}m${rest}s`;
  if (m > 0) return `${m}m${rest}s`;
  return `${rest}s`;
}

/** `width` is the reader's terminal width (docker assumes 200 when it has none). */
export function formatProgress(detail: ProgressDetail, width = 200, nowMs = Date.now()): string {
  const current = detail.current ?? 0;
  const total = detail.total ?? 0;
  if (current <= 0 && total <= 0) return '';
  if (total <= 0) return humanSize(current).padStart(8);
  const percentage = Math.min(50, Math.floor(Math.floor((current / total) * 100) / 2));
  const bar = width > 110 ? `[${'='.repeat(percentage)}>${' '.repeat(Math.max(0, 50 - percentage))}] ` : '';
  const numbers = current > total ? humanSize(current).padStart(8) : `${humanSize(current).padStart(8)}/${humanSize(total)}`;
  let left = '';
  if (current > 0 && detail.start && detail.start > 0 && percentage < 50 && width > 50) {
    const elapsed = nowMs / 1000 - detail.start;
    left = ` ${goSeconds(((total - current) * elapsed) / current)}`;
  }
  return bar + numbers + left;
}
