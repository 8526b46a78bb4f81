/**
 * The store's TLS material, made as docker-machine made it: one CA and one client cert shared
 * by every machine (certs/), and per machine a server cert whose SAN is the machine's IP, next
 * to copies of the CA and the client cert (machines/NAME/) so that directory alone is a
 * complete DOCKER_CERT_PATH.
 */
import { copyFile, mkdir } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { createCa, createSignedCert } from '../../sys/openssl.js';

export interface StoreCerts {
  caCert: string;
  caKey: string;
  clientCert: string;
  clientKey: string;
}

export function storeCertPaths(certDir: string): StoreCerts {
  return {
    caCert: join(certDir, 'ca.pem'),
    caKey: join(certDir, 'ca-key.pem'),
    clientCert: join(certDir, 'cert.pem'),
    clientKey: join(certDir, 'key.pem'),
  };
}

/** Makes the CA and the client cert on first use; later calls keep what is there. */
export async function ensureStoreCerts(certDir: string): Promise<StoreCerts> {
  const paths = storeCertPaths(certDir);
  await mkdir(certDir, { recursive: true, mode: 0o700 });
  if (!existsSync(paths.caCert) || !existsSync(paths.caKey)) {
    await createCa(paths.caKey, paths.caCert, 'berth-machine');
  }
  if (!existsSync(paths.clientCert) || !existsSync(paths.clientKey)) {
    await createSignedCert({ caCert: paths.caCert, caKey: paths.caKey, keyPath: paths.clientKey, certPath: paths.clientCert, organization: 'berth-machine.client', usage: 'client' });
  }
  return paths;
}

export interface MachineCertPaths {
  ca: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
}

export function machineCertPaths(machineDir: string): MachineCertPaths {
  return {
    ca: join(machineDir, 'ca.pem'),
    serverCert: join(machineDir, 'server.pem'),
    serverKey: join(machineDir, 'server-key.pem'),
    clientCert: join(machineDir, 'cert.pem'),
    clientKey: join(machineDir, 'key.pem'),
  };
}

/** The machine's server cert (SAN: its IP, localhost) and copies of the CA and client cert. */
export async function createMachineCerts(store: StoreCerts, machineDir: string, name: string, ip: string): Promise<MachineCertPaths> {
  const paths = machineCertPaths(machineDir);
  await mkdir(machineDir, { recursive: true, mode: 0o700 });
  await createSignedCert({
    caCert: store.caCert,
    caKey: store.caKey,
    keyPath: paths.serverKey,
    certPath: paths.serverCert,
    organization: `berth-machine.${name}`,
    usage: 'server',
    ips: [ip, '127.0.0.1'],
    dnsNames: [name, 'localhost'],
  });
  await copyFile(store.caCert, paths.ca);
  await copyFile(store.clientCert, paths.clientCert);
  await copyFile(store.clientKey, paths.clientKey);
  return paths;
}
