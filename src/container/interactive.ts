/** The interactive services the API's attach, resize and exec endpoints use. */
import type { AttachService } from './attach.js';
import type { ExecService } from './exec.js';

export interface InteractiveServices {
  attach: AttachService;
  execs: ExecService;
  /** The container monitor's resize fifo, while it runs. */
  controlFifo(containerId: string): Promise<string | undefined>;
}
