import { BerthError } from '../util/errors.js';
import { classifyStartError } from './start-error.js';

/**
 * The runtime could not create or start the container process. `exitCode` is what `docker run`
 * exits with (and what dockerd stores as the container's ExitCode for 126/127); the kind makes
 * the API answer 400 for a bad command and 500 otherwise, as dockerd does.
 */
export class RuntimeStartError extends BerthError {
  readonly exitCode: 125 | 126 | 127;
  constructor(message: string) {
    const exitCode = classifyStartError(message);
    super(exitCode === 125 ? 'system' : 'invalidParameter', message);
    this.name = 'RuntimeStartError';
    this.exitCode = exitCode;
  }
}
