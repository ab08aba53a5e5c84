/**
 * Recursive mount attributes and idmapped mounts: the mount options that go through
 * mount_setattr(2) instead of mount(2) flags. Numbers from /usr/include/linux/mount.h and
 * fcntl.h. https://man7.org/linux/man-pages/man2/mount_setattr.2.html
 */
export const MOUNT_ATTR_RDONLY = 0x1;
export const MOUNT_ATTR_NOSUID = 0x2;
export const MOUNT_ATTR_NODEV = 0x4;
export const MOUNT_ATTR_NOEXEC = 0x8;
export const MOUNT_ATTR__ATIME = 0x70;
export const MOUNT_ATTR_RELATIME = 0x0;
export const MOUNT_ATTR_NOATIME = 0x10;
export const MOUNT_ATTR_STRICTATIME = 0x20;
export const MOUNT_ATTR_NODIRATIME = 0x80;
export const MOUNT_ATTR_IDMAP = 0x100000;
export const MOUNT_ATTR_NOSYMFOLLOW = 0x200000;
export const AT_RECURSIVE = 0x8000;
export const OPEN_TREE_CLONE = 1;

/** runc's recAttrFlags (libcontainer/specconv): option → the attribute it sets or clears. */
const RECURSIVE_OPTIONS = new Map<string, { clear: boolean; flag: number }>([
  ['rro', { clear: false, flag: MOUNT_ATTR_RDONLY }], ['rrw', { clear: true, flag: MOUNT_ATTR_RDONLY }],
  ['rnosuid', { clear: false, flag: MOUNT_ATTR_NOSUID }], ['rsuid', { clear: true, flag: MOUNT_ATTR_NOSUID }],
  ['rnodev', { clear: false, flag: MOUNT_ATTR_NODEV }], ['rdev', { clear: true, flag: MOUNT_ATTR_NODEV }],
  ['rnoexec', { clear: false, flag: MOUNT_ATTR_NOEXEC }], ['rexec', { clear: true, flag: MOUNT_ATTR_NOEXEC }],
  ['rnodiratime', { clear: false, flag: MOUNT_ATTR_NODIRATIME }], ['rdiratime', { clear: true, flag: MOUNT_ATTR_NODIRATIME }],
  ['rrelatime', { clear: false, flag: MOUNT_ATTR_RELATIME }], ['rnorelatime', { clear: true, flag: MOUNT_ATTR_RELATIME }],
  ['rnoatime', { clear: false, flag: MOUNT_ATTR_NOATIME }], ['ratime', { clear: true, flag: MOUNT_ATTR_NOATIME }],
  ['rstrictatime', { clear: false, flag: MOUNT_ATTR_STRICTATIME }], ['rnostrictatime', { clear: true, flag: MOUNT_ATTR_STRICTATIME }],
  ['rnosymfollow', { clear: false, flag: MOUNT_ATTR_NOSYMFOLLOW }], ['rsymfollow', { clear: true, flag: MOUNT_ATTR_NOSYMFOLLOW }],
]);

/** The recursive options, for `berth features`. */
export const RECURSIVE_OPTION_NAMES: readonly string[] = [...RECURSIVE_OPTIONS.keys()];

/** The idmap options: not mount(2) data (runtime-spec), they select an idmapped mount. */
export const IDMAP_OPTIONS = new Set(['idmap', 'ridmap']);

export interface RecAttr {
  set: number;
  clr: number;
}

export function isRecursiveOption(o: string): boolean {
  return RECURSIVE_OPTIONS.has(o);
}

/**
 * The attr_set/attr_clr of mount_setattr(AT_RECURSIVE) for the recursive options among
 * `options`, or null when there are none. An access-time setting must also clear
 * MOUNT_ATTR__ATIME (mount_setattr(2)); RELATIME is 0, so `rnorelatime` changes nothing, as in runc.
 * `rrelatime` after `rnoatime` leaves NOATIME set, also as in runc.
 */
export function recursiveAttrs(options: readonly string[]): RecAttr | null {
  let set = 0;
  let clr = 0;
  let any = false;
  for (const o of options) {
    const f = RECURSIVE_OPTIONS.get(o);
    if (f === undefined) continue;
    any = true;
    // the last of two opposite options wins (runc)
    if (f.clear) {
      clr |= f.flag;
      set &= ~f.flag;
    } else {
      set |= f.flag;
      clr &= ~f.flag;
      if ((f.flag & MOUNT_ATTR__ATIME) === f.flag) clr |= MOUNT_ATTR__ATIME;
    }
  }
  return any ? { set, clr } : null;
}
