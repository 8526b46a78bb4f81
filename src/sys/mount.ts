/** Plain mount(8) calls for volumes with driver options (-o type=tmpfs, device=..., o=...). */
import { execToolChecked } from './exec.js';

export async function mountDevice(type: string, device: string, options: string, target: string): Promise<void> {
  const args = ['-t', type];
  if (options) args.push('-o', options);
  args.push('--', device, target);
  await execToolChecked('mount', args);
}
