/**
 * Doing an operation's effect on the kernel without berth, to leave the host as a runtime
 * killed between the effect and logging its outcome would (crash.ts): the container's init
 * and cgroup, found from the log's Created event.
 */
import { closeSync, constants as fsc, existsSync, openSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CgroupLayout } from '../../../src/effects/cgroupLayout.js';
import { cgroupDirs } from './kernel.js';

export interface InitHandle {
  pid: number;
  startTime: string;
  /** Every process in the container's cgroup. */
  procs(): number[];
  freezer(state: 'FROZEN' | 'THAWED'): void;
  freezerState(): string;
  /** Write a v1 controller file of the container's cgroup. */
  write(ctrl: string, file: string, value: string): void;
  /** rmdir the cgroup in every hierarchy (it must be empty). */
  removeCgroup(): Promise<void>;
}

export function initHandle(layout: CgroupLayout, created: { pid: number; startTime: string; cgroup: string }): InitHandle {
  const at = (ctrl: string, file: string) => join(layout.v1[ctrl] ?? '/nonexistent', created.cgroup, file);
  const read = (f: string) => {
    try {
      return readFileSync(f, 'utf8').trim();
    } catch {
      return '';
    }
  };
  return {
    pid: created.pid,
    startTime: created.startTime,
    procs: () => read(at('pids', 'cgroup.procs')).split('\n').filter(Boolean).map(Number),
    freezer: (state) => writeFileSync(at('freezer', 'freezer.state'), state),
    freezerState: () => read(at('freezer', 'freezer.state')),
    write: (ctrl, file, value) => writeFileSync(at(ctrl, file), value),
    async removeCgroup() {
      for (const dir of cgroupDirs(layout, created.cgroup)) {
        for (let i = 0; i < 100 && existsSync(dir); i++) {
          try {
            rmdirSync(dir);
          } catch {
            await new Promise((res) => setTimeout(res, 10)); // the last tasks are still leaving
          }
        }
      }
    },
  };
}

function nameOf(pid: number): string {
  try {
    return /^Name:\s*(.*)$/m.exec(readFileSync(`/proc/${pid}/status`, 'latin1'))?.[1] ?? '';
  } catch {
    return '';
  }
}

/**
 * start's handshake on the exec fifo: our read end completes the init's open for writing; it
 * writes its byte and execs the program. The byte is never read and the fifo stays.
 */
export async function releaseFifo(fifo: string, init: InitHandle): Promise<void> {
  const fd = openSync(fifo, fsc.O_RDWR | fsc.O_NONBLOCK);
  try {
    for (let i = 0; i < 500 && nameOf(init.pid) === 'berth-init'; i++) await new Promise((res) => setTimeout(res, 10));
  } finally {
    closeSync(fd);
  }
}
