import { createInterface } from 'node:readline';
import { StatusError, type CommandSpec } from '../command.js';
import { configPath, credentialKey, DOCKER_HUB_KEY, saveCredentials } from '../credentials.js';
import { readJson } from '../../client/transport.js';

async function readAllStdin(stdin: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stdin) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer));
  return Buffer.concat(chunks).toString('utf8');
}

/** Asks on the terminal; the password is read without echo. */
async function prompt(question: string, hidden: boolean): Promise<string> {
  const stdin = process.stdin;
  if (!stdin.isTTY) throw new StatusError('Error: Cannot perform an interactive login from a non TTY device', 1);
  process.stdout.write(question);
  if (!hidden) {
    const rl = createInterface({ input: stdin });
    const line = await new Promise<string>((resolve) => rl.once('line', resolve));
    rl.close();
    return line.trim();
  }
  stdin.setRawMode(true);
  stdin.resume();
  let value = '';
  try {
    await new Promise<void>((resolve, reject) => {
      const onData = (chunk: Buffer): void => {
        for (const ch of chunk.toString('utf8')) {
          if (ch === '\r' || ch === '\n') {
            stdin.off('data', onData);
            resolve();
            return;
          }
          if (ch === '\u0003') {
            stdin.off('data', onData);
            reject(new StatusError('', 130));
            return;
          }
          if (ch === '\u007f') value = value.slice(0, -1);
          else value += ch;
        }
      };
      stdin.on('data', onData);
    });
  } finally {
    stdin.setRawMode(false);
    stdin.pause();
    process.stdout.write('\n');
  }
  return value;
}

export const command: CommandSpec = {
  use: 'login [OPTIONS] [SERVER]',
  short: 'Log in to a registry',
  flags: [
    { name: 'password', short: 'p', type: 'string', help: 'Password' },
    { name: 'password-stdin', type: 'bool', help: 'Take the password from stdin' },
    { name: 'username', short: 'u', type: 'string', help: 'Username' },
  ],
  args: { max: 1 },
  async run(ctx, args) {
    const server = args.args[0] ?? DOCKER_HUB_KEY;
    let username = args.string('username');
    let password = args.string('password');
    if (args.bool('password-stdin')) {
      if (password !== undefined) throw new StatusError('--password and --password-stdin are mutually exclusive', 1);
      if (!username) throw new StatusError('Must provide --username with --password-stdin', 1);
      password = (await readAllStdin(ctx.stdin)).replace(/\r?\n$/, '');
    } else if (password !== undefined) {
      ctx.stderr.write('WARNING! Using --password via the CLI is insecure. Use --password-stdin.\n');
    }
    username ??= await prompt('Username: ', false);
    if (!username) throw new StatusError('Error: Non-null Username Required', 1);
    password ??= await prompt('Password: ', true);
    if (!password) throw new StatusError('Error: Non-null Password Required', 1);
    const key = credentialKey(server);
    const res = await ctx.client().raw({
      method: 'POST',
      path: '/auth',
      body: JSON.stringify({ username, password, serveraddress: key }),
      headers: { 'Content-Type': 'application/json' },
    });
    const answer = await readJson<{ Status?: string; IdentityToken?: string }>(res);
    await saveCredentials(answer?.IdentityToken ? { username, identitytoken: answer.IdentityToken, serveraddress: key } : { username, password, serveraddress: key });
    // docker 28's words: config.json is the only store berth writes, so the warning always applies.
    ctx.stderr.write(`WARNING! Your credentials are stored unencrypted in '${configPath()}'.\nConfigure a credential helper to remove this warning. See\nhttps://docs.docker.com/go/credential-store/\n`);
    ctx.stdout.write(`${answer?.Status ?? 'Login Succeeded'}\n`);
    return 0;
  },
};
