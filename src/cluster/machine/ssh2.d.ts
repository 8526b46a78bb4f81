/** The few parts of the ssh2 package (which ships no types) that the ssh driver uses. */
declare module 'ssh2' {
  import type { EventEmitter } from 'node:events';
  import type { Readable, Writable } from 'node:stream';

  export interface ConnectConfig {
    host: string;
    port?: number;
    username: string;
    privateKey: Buffer | string;
    readyTimeout?: number;
  }

  export interface ClientChannel extends Readable {
    stderr: Readable;
    stdin: Writable;
    on(event: 'close', listener: (code: number | null, signal?: string) => void): this;
    on(event: string, listener: (...args: any[]) => void): this;
  }

  export interface SFTPWrapper {
    fastPut(localPath: string, remotePath: string, callback: (err: Error | undefined | null) => void): void;
    end(): void;
  }

  export class Client extends EventEmitter {
    connect(config: ConnectConfig): this;
    exec(command: string, callback: (err: Error | undefined, channel: ClientChannel) => void): boolean;
    sftp(callback: (err: Error | undefined, sftp: SFTPWrapper) => void): boolean;
    end(): this;
  }
}
