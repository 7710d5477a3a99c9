/**
 * The backend that tensor creation uses when none is given: the process's CPU backend unless a program
 * (the CLI, once, from --backend) sets another. Everything else receives its backend from its inputs.
 */
import type { Backend } from './backend.ts';
import { cpuBackend } from './cpu/index.ts';

let current: Backend | null = null;

export function defaultBackend(): Backend {
  return current ?? cpuBackend();
}

export function setDefaultBackend(backend: Backend): void {
  current = backend;
}
