import { randomBytes } from 'node:crypto';

export function newId(): string {
  return randomBytes(32).toString('hex');
}

export function shortId(id: string): string {
  return id.replace(/^sha256:/, '').slice(0, 12);
}

// Docker names unnamed containers adjective_surname; the words are ours, the shape is docker's.
const ADJECTIVES = ['agile', 'bold', 'brave', 'calm', 'clever', 'cool', 'eager', 'fair', 'fond', 'gentle', 'happy', 'keen', 'kind', 'lucid', 'merry', 'nimble', 'proud', 'quick', 'quiet', 'sharp', 'steady', 'sunny', 'swift', 'tender', 'vivid', 'warm', 'wise', 'witty', 'zen', 'zesty'];
const NAMES = ['archimedes', 'babbage', 'bohr', 'curie', 'darwin', 'euler', 'faraday', 'fermi', 'galileo', 'gauss', 'hopper', 'hypatia', 'kepler', 'lamarr', 'lovelace', 'maxwell', 'meitner', 'newton', 'noether', 'pascal', 'planck', 'ritchie', 'shannon', 'tesla', 'thompson', 'turing', 'volta', 'wozniak', 'yalow', 'zuse'];

export function randomName(taken: (name: string) => boolean): string {
  for (let attempt = 0; ; attempt++) {
    const a = ADJECTIVES[randomBytes(1)[0]! % ADJECTIVES.length]!;
    const n = NAMES[randomBytes(1)[0]! % NAMES.length]!;
    const name = attempt < 10 ? `${a}_${n}` : `${a}_${n}${attempt}`;
    if (!taken(name)) return name;
  }
}
