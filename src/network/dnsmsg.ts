/** The small part of the DNS wire format (RFC 1035) the embedded resolver needs. */

export const TYPE_A = 1;
export const TYPE_AAAA = 28;
export const RCODE_SERVFAIL = 2;
export const RCODE_NXDOMAIN = 3;

export interface DnsQuestion {
  id: number;
  flags: number;
  name: string;
  type: number;
  qclass: number;
  /** End offset of the first question, so a reply can echo it byte for byte. */
  questionEnd: number;
}

/** Parses the header and the first question; undefined for anything malformed or compressed. */
export function parseQuery(msg: Buffer): DnsQuestion | undefined {
  if (msg.length < 12) return undefined;
  const qdcount = msg.readUInt16BE(4);
  if (qdcount < 1) return undefined;
  const labels: string[] = [];
  let off = 12;
  for (;;) {
    if (off >= msg.length) return undefined;
    const len = msg[off]!;
    off += 1;
    if (len === 0) break;
    if (len > 63 || off + len > msg.length) return undefined;
    labels.push(msg.toString('latin1', off, off + len));
    off += len;
  }
  if (off + 4 > msg.length) return undefined;
  return {
    id: msg.readUInt16BE(0),
    flags: msg.readUInt16BE(2),
    name: labels.join('.').toLowerCase(),
    type: msg.readUInt16BE(off),
    qclass: msg.readUInt16BE(off + 2),
    questionEnd: off + 4,
  };
}

/** A reply carrying the question and `addresses` as A records (none for other types). */
export function buildReply(query: Buffer, q: DnsQuestion, rcode: number, addresses: string[], ttl = 600): Buffer {
  const answers = q.type === TYPE_A ? addresses : [];
  const header = Buffer.alloc(12);
  header.writeUInt16BE(q.id, 0);
  // QR, the query's opcode and RD, RA set; AA because these names are ours.
  const flags = 0x8000 | (q.flags & 0x7800) | 0x0400 | (q.flags & 0x0100) | 0x0080 | (rcode & 0xf);
  header.writeUInt16BE(flags, 2);
  header.writeUInt16BE(1, 4);
  header.writeUInt16BE(answers.length, 6);
  const parts = [header, query.subarray(12, q.questionEnd)];
  for (const ip of answers) {
    const rr = Buffer.alloc(16);
    rr.writeUInt16BE(0xc00c, 0); // pointer to the question's name
    rr.writeUInt16BE(TYPE_A, 2);
    rr.writeUInt16BE(1, 4);
    rr.writeUInt32BE(ttl, 6);
    rr.writeUInt16BE(4, 10);
    ip.split('.').forEach((b, i) => rr.writeUInt8(Number(b), 12 + i));
    parts.push(rr);
  }
  return Buffer.concat(parts);
}
