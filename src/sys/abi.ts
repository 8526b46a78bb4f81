/**
 * What the running kernel's system-call ABIs are, for the seccomp filter: each architecture a
 * filter lists costs runc a compiled branch at every container start (libseccomp resolves the
 * whole profile once per architecture), so one the kernel cannot run at all is left out.
 */
import { findAddon } from './addon.js';

interface AbiAddon {
  x32Syscalls?(): boolean | undefined;
}

/**
 * False when the kernel has no x32 ABI (CONFIG_X86_X32_ABI unset, as in Debian's and most
 * distributions' kernels): no x32 program can run there, with or without a filter. True when it
 * has one, undefined when unknown (not x86-64, or the native addon was not built).
 */
export function kernelRunsX32Syscalls(): boolean | undefined {
  return findAddon<AbiAddon>('sysmount')?.x32Syscalls?.();
}
