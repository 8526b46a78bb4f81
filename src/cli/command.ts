import type { EngineClient } from '../client/client.js';
import type { DaemonAddress } from '../client/host.js';
import type { FlagSpec, ParsedArgs } from './flags.js';

/** What every command gets: output streams and a lazily built client. */
export interface CliContext {
  readonly stdout: NodeJS.WritableStream;
  readonly stderr: NodeJS.WritableStream;
  readonly stdin: NodeJS.ReadableStream;
  readonly host: string;
  readonly debug: boolean;
  /** "berth container ls": the words the user typed, for messages. */
  readonly commandPath: string;
  /** The daemon's address with TLS settled from the global flags and the environment. */
  address(): DaemonAddress;
  client(): EngineClient;
}

export interface ArgRule {
  min?: number;
  max?: number;
}

export interface CommandSpec {
  /** "ps [OPTIONS]": the usage line after "berth". */
  use: string;
  short: string;
  /** Full alias lines shown under "Aliases:" ("berth container ls, berth ps"). */
  aliases?: string[];
  flags: FlagSpec[];
  args?: ArgRule;
  /** pflag SetInterspersed(false): run/create/exec pass everything after IMAGE to the container. */
  stopAtPositional?: boolean;
  /** Returns the exit status. */
  run(ctx: CliContext, args: ParsedArgs): Promise<number>;
}

/** An error carrying docker's exit status; `message` is printed as-is (may be empty). */
export class StatusError extends Error {
  readonly status: number;
  constructor(message: string, status: number) {
    super(message);
    this.name = 'StatusError';
    this.status = status;
  }
}

export function write(stream: NodeJS.WritableStream, text: string): void {
  if (text) stream.write(text);
}
