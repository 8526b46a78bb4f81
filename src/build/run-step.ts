/**
 * A RUN step: a real container from the step's parent image, through the ContainerManager
 * like any `docker run`, its output streamed into the build progress as it is written, and
 * its changes (the overlay upper dir) turned into the step's layer.
 */
import { LogReader } from '../container/logs.js';
import type { ContainerManager } from '../container/manager.js';
import { readUpperDir, upperDirToLayerTar } from '../snapshot/diff.js';
import type { ApplyLayerResult } from '../snapshot/layer-store.js';
import { BerthError } from '../util/errors.js';
import type { Progress } from './progress.js';

export interface RunStepDeps {
  containers: ContainerManager;
  upperDirOf: (containerId: string) => string;
  applyLayer: (parentChainId: string | undefined, tar: AsyncIterable<Uint8Array | string>) => Promise<ApplyLayerResult>;
}

export interface RunStepInput {
  imageId: string;
  argv: string[];
  env: string[];
  user: string;
  workingDir: string;
  networkMode: string;
  parentChainId: string | undefined;
  /** Remove the container after a successful step / after a failed one. */
  removeOnSuccess: boolean;
  removeOnFailure: boolean;
}

/** A RUN that exited non-zero: the message and the exit code docker reports. */
export class RunFailedError extends BerthError {
  constructor(
    readonly command: string,
    readonly exitCode: number,
  ) {
    super('invalidParameter', `The command '${command}' returned a non-zero code: ${exitCode}`);
  }
}

export async function runStep(deps: RunStepDeps, input: RunStepInput, progress: Progress): Promise<{ containerId: string; layer?: ApplyLayerResult }> {
  const { containers } = deps;
  const body: Record<string, unknown> = {
    Image: input.imageId,
    Cmd: input.argv,
    // RUN never goes through the image's entrypoint.
    Entrypoint: [''],
    Env: input.env,
    User: input.user,
    WorkingDir: input.workingDir,
    HostConfig: { NetworkMode: input.networkMode || 'default' },
  };
  const { Id: id } = await containers.create(body, undefined);
  const short = id.slice(0, 12);
  progress.line(` ---> Running in ${short}`);
  let succeeded = false;
  try {
    const record = containers.store.get(id);
    const exited = containers.wait(id, 'next-exit').ready;
    const reader = new LogReader(record.logPath);
    const streaming = (async () => {
      for await (const entry of reader.entries(true)) progress.output(entry.data);
    })();
    let exitCode: number;
    try {
      await containers.start(id);
      exitCode = await exited;
    } finally {
      reader.stop();
      await streaming.catch(() => undefined);
    }
    if (exitCode !== 0) throw new RunFailedError(input.argv.join(' '), exitCode);
    const upperDir = deps.upperDirOf(id);
    let layer: ApplyLayerResult | undefined;
    // docker adds no layer for a RUN that changed nothing (an empty diff).
    if ((await readUpperDir(upperDir)).length > 0) layer = await deps.applyLayer(input.parentChainId, upperDirToLayerTar(upperDir));
    succeeded = true;
    return { containerId: id, layer };
  } finally {
    if (succeeded ? input.removeOnSuccess : input.removeOnFailure) {
      await containers.remove(id, { force: true, removeVolumes: true }).catch(() => undefined);
      progress.line(`Removing intermediate container ${short}`);
    }
  }
}
