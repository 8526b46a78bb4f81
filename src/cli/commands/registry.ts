/**
 * `berth registry serve` runs an OCI Distribution registry in this process (not in berthd);
 * `berth registry gc` deletes blobs no manifest references.
 */
import { StatusError, type CommandSpec } from '../command.js';
import { DEFAULT_REGISTRY_CONFIG, readConfigFile, type RegistryConfig } from '../../registry/config.js';

export const serve: CommandSpec = {
  use: 'serve [OPTIONS]',
  short: 'Run an OCI Distribution registry',
  flags: [
    { name: 'config', short: 'c', type: 'string', help: 'JSON config file (keys as the flags: addr, root, htpasswd, token-realm, ...)' },
    { name: 'addr', type: 'string', help: 'Address to listen on', default: DEFAULT_REGISTRY_CONFIG.addr },
    { name: 'root', type: 'string', help: 'Storage directory', default: DEFAULT_REGISTRY_CONFIG.root },
    { name: 'tls-cert', type: 'string', help: 'TLS certificate file (serve https)' },
    { name: 'tls-key', type: 'string', help: 'TLS key file' },
    { name: 'htpasswd', type: 'string', help: 'htpasswd file (bcrypt) for basic auth, or for the token endpoint' },
    { name: 'token-realm', type: 'string', help: 'Use bearer tokens; URL of the token endpoint (default: this server\'s /token)' },
    { name: 'token-issuer', type: 'string', help: 'Use bearer tokens; issuer name put in and required of tokens' },
    { name: 'token-service', type: 'string', help: 'Service name of the token flow (default: HOST:PORT)' },
    { name: 'read-only', type: 'bool', help: 'Refuse pushes and deletes' },
    { name: 'delete-enabled', type: 'bool', help: 'Allow DELETE of manifests, tags and blobs' },
    { name: 'upload-ttl', type: 'duration', help: 'Drop upload sessions idle this long', default: '24h' },
    { name: 'quiet', short: 'q', type: 'bool', help: 'Do not log requests' },
  ],
  args: { max: 0 },
  async run(ctx, args) {
    const file = args.string('config');
    const config: RegistryConfig = { ...DEFAULT_REGISTRY_CONFIG, ...(file ? await readConfigFile(file) : {}) };
    const set = <K extends keyof RegistryConfig>(key: K, flag: string, value: RegistryConfig[K] | undefined): void => {
      if (args.changed.has(flag) && value !== undefined) config[key] = value;
    };
    set('addr', 'addr', args.string('addr'));
    set('root', 'root', args.string('root'));
    set('tlsCert', 'tls-cert', args.string('tls-cert'));
    set('tlsKey', 'tls-key', args.string('tls-key'));
    set('htpasswd', 'htpasswd', args.string('htpasswd'));
    set('tokenRealm', 'token-realm', args.string('token-realm'));
    set('tokenIssuer', 'token-issuer', args.string('token-issuer'));
    set('tokenService', 'token-service', args.string('token-service'));
    set('readOnly', 'read-only', args.bool('read-only'));
    set('deleteEnabled', 'delete-enabled', args.bool('delete-enabled'));
    set('uploadTtl', 'upload-ttl', args.int('upload-ttl'));
    const { startRegistry } = await import('../../registry/serve.js');
    const quiet = args.bool('quiet');
    const running = await startRegistry(config, quiet ? undefined : (line) => ctx.stderr.write(`${new Date().toISOString()} ${line}\n`)).catch((err: Error) => {
      throw new StatusError(`registry: ${err.message}`, 1);
    });
    ctx.stdout.write(`listening on ${running.address} (${config.tlsCert ? 'https' : 'http'}), storage ${config.root}\n`);
    await new Promise<void>((resolve) => {
      for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => resolve());
    });
    await running.close();
    return 0;
  },
};

export const gc: CommandSpec = {
  use: 'gc [OPTIONS]',
  short: 'Delete blobs no manifest references (run with the registry stopped)',
  flags: [
    { name: 'root', type: 'string', help: 'Storage directory', default: DEFAULT_REGISTRY_CONFIG.root },
    { name: 'dry-run', short: 'd', type: 'bool', help: 'Only list what would be deleted' },
    { name: 'delete-untagged', short: 'm', type: 'bool', help: 'Also delete manifests no tag points at' },
  ],
  args: { max: 0 },
  async run(ctx, args) {
    const { collectGarbage } = await import('../../registry/gc.js');
    const root = args.string('root') ?? DEFAULT_REGISTRY_CONFIG.root;
    const dryRun = args.bool('dry-run');
    const result = await collectGarbage(root, { dryRun, removeUntagged: args.bool('delete-untagged') });
    for (const digest of result.deleted) ctx.stdout.write(`${dryRun ? 'would delete' : 'deleted'} ${digest}\n`);
    ctx.stdout.write(`${result.kept} blobs kept, ${result.deleted.length} ${dryRun ? 'eligible for deletion' : 'deleted'} (${result.freedBytes} bytes)\n`);
    return 0;
  },
};
