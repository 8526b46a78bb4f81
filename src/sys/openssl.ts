/**
 * Certificates through the openssl CLI: a CA, and certs it signs for servers (with IP/DNS
 * subject alternative names) and clients (clientAuth), as docker-machine kept them. Keys are
 * ECDSA P-256: fast to make, and every TLS stack docker's clients use accepts them.
 */
import { mkdtemp, rm, writeFile, chmod } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { execToolChecked } from './exec.js';

const KEY_ARGS = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

/** A self-signed CA: key and cert written to the given paths (key mode 0600). */
export async function createCa(keyPath: string, certPath: string, organization: string, days = 3650): Promise<void> {
  await execToolChecked('openssl', [
    'req', '-x509', ...KEY_ARGS, '-keyout', keyPath, '-out', certPath, '-days', String(days), '-sha256',
    '-subj', `/O=${organization}`,
    '-addext', 'basicConstraints=critical,CA:TRUE',
    '-addext', 'keyUsage=critical,keyCertSign,cRLSign,digitalSignature',
  ]);
  await chmod(keyPath, 0o600);
}

export interface SignedCertOptions {
  caCert: string;
  caKey: string;
  keyPath: string;
  certPath: string;
  organization: string;
  usage: 'server' | 'client';
  /** Subject alternative names of a server cert. */
  ips?: string[];
  dnsNames?: string[];
  days?: number;
}

/** A key and a cert signed by the CA, for a server (serverAuth, SANs) or a client (clientAuth). */
export async function createSignedCert(o: SignedCertOptions): Promise<void> {
  const work = await mkdtemp(join(tmpdir(), 'berth-openssl-'));
  try {
    const csr = join(work, 'req.csr');
    const ext = join(work, 'ext.cnf');
    const sans = [...(o.ips ?? []).map((ip) => `IP:${ip}`), ...(o.dnsNames ?? []).map((n) => `DNS:${n}`)];
    await writeFile(
      ext,
      [
        'basicConstraints=critical,CA:FALSE',
        'keyUsage=critical,digitalSignature,keyEncipherment,keyAgreement',
        `extendedKeyUsage=${o.usage === 'server' ? 'serverAuth' : 'clientAuth'}`,
        ...(sans.length ? [`subjectAltName=${sans.join(',')}`] : []),
      ].join('\n') + '\n',
    );
    await execToolChecked('openssl', ['req', '-new', ...KEY_ARGS, '-keyout', o.keyPath, '-out', csr, '-subj', `/O=${o.organization}`]);
    await chmod(o.keyPath, 0o600);
    await execToolChecked('openssl', [
      'x509', '-req', '-in', csr, '-CA', o.caCert, '-CAkey', o.caKey, '-set_serial', `0x${randomBytes(16).toString('hex')}`,
      '-days', String(o.days ?? 1095), '-sha256', '-extfile', ext, '-out', o.certPath,
    ]);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** `openssl verify`: whether the CA signed the cert; the tool's message otherwise. */
export async function verifyCert(caCert: string, certPath: string): Promise<void> {
  await execToolChecked('openssl', ['verify', '-CAfile', caCert, certPath]);
}
