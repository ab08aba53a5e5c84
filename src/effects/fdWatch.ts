import type { Syscalls } from './syscalls.js';

export type WatchFn = (fd: number, onReady: () => void) => () => void;

/**
 * One native watch per fd, many listeners. libuv allows a single poll handle per fd: a second
 * one on the same pidfd (the exit watcher and the start handshake both wait on it)
 * malfunctions and fires at once. A pidfd stays readable once its process has exited, so a
 * listener added after that fires on the next poll.
 */
export function fdWatchHub(sys: Syscalls): WatchFn {
  const watches = new Map<number, { stop: () => void; listeners: Set<() => void> }>();
  return (fd, onReady) => {
    let w = watches.get(fd);
    if (!w) {
      const listeners = new Set<() => void>();
      const stop = sys.watchFd(fd, () => {
        if (watches.get(fd)?.listeners === listeners) watches.delete(fd);
        for (const l of [...listeners]) l();
        listeners.clear();
      });
      w = { stop, listeners };
      watches.set(fd, w);
    }
    const entry = w;
    entry.listeners.add(onReady);
    return () => {
      if (!entry.listeners.delete(onReady) || entry.listeners.size > 0) return;
      if (watches.get(fd) === entry) watches.delete(fd);
      entry.stop();
    };
  };
}
