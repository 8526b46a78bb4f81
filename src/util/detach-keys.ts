/**
 * docker's detach keys: parsed by the daemon (attach, exec) and watched by the CLI too, so a
 * client knows it detached rather than saw the container end.
 */
import { invalidParameter } from './errors.js';

/** ctrl-p, ctrl-q: docker's default detach sequence. */
export const DEFAULT_DETACH_KEYS = 'ctrl-p,ctrl-q';


/**
 * docker's detach-key syntax: comma-separated keys, each a single character or `ctrl-X` with X
 * in a-z, @, [, \, ], ^, _ (and "DEL"). Returns the byte sequence to watch for.
 */
export function parseDetachKeys(spec: string | undefined | null): Buffer {
  const text = spec === undefined || spec === null || spec === '' ? DEFAULT_DETACH_KEYS : spec;
  const bytes: number[] = [];
  for (const key of text.split(',')) {
    if (key.length === 1) {
      bytes.push(key.charCodeAt(0));
      continue;
    }
    const ctrl = /^ctrl-([a-z@[\\\]^_])$/.exec(key);
    if (ctrl) {
      const c = ctrl[1]!;
      bytes.push(c >= 'a' && c <= 'z' ? c.charCodeAt(0) - 96 : c.charCodeAt(0) - 64);
    } else if (key === 'DEL') {
      bytes.push(127);
    } else {
      throw invalidParameter(`Invalid detach keys (${text}) provided`);
    }
  }
  return Buffer.from(bytes);
}

/**
 * Watches input for the detach sequence. Bytes that might start it are held back until the
 * next byte decides; a mismatch releases them, as docker's escape proxy does.
 */
export class DetachScanner {
  private held = 0;

  constructor(private readonly keys: Buffer) {}

  /** Returns what to forward; `detached` once the whole sequence was typed. */
  push(chunk: Buffer): { forward: Buffer; detached: boolean } {
    if (this.keys.length === 0) return { forward: chunk, detached: false };
    const out: number[] = [];
    for (const byte of chunk) {
      if (byte === this.keys[this.held]) {
        this.held++;
        if (this.held === this.keys.length) return { forward: Buffer.from(out), detached: true };
        continue;
      }
      for (let i = 0; i < this.held; i++) out.push(this.keys[i]!);
      this.held = 0;
      if (byte === this.keys[0]) this.held = 1;
      else out.push(byte);
    }
    return { forward: Buffer.from(out), detached: false };
  }
}

