/**
 * The cgroup v2 device controller: OCI device rules → an eBPF program of type
 * BPF_PROG_TYPE_CGROUP_DEVICE, as 8-byte `struct bpf_insn`s ready for bpf(BPF_PROG_LOAD).
 * Pure: v2.ts loads and attaches the result through the Syscalls seam.
 *
 * The program's context is `struct bpf_cgroup_dev_ctx { u32 access_type; u32 major; u32 minor; }`
 * where `access_type` is `type | access << 16` (type: BPF_DEVCG_DEV_BLOCK 1, CHAR 2; access:
 * BPF_DEVCG_ACC_MKNOD 1, READ 2, WRITE 4, several at once for an O_RDWR open). It returns 1 to
 * allow, 0 to deny.
 *
 * Meaning of the rules: **the last matching rule wins, for each access letter on its own**; a
 * request is allowed when every letter it asks for is; nothing matching is a deny (runc's
 * emulator also starts from deny-all). A rule of type `a` matches every device (major and minor
 * ignored, as v1's `a`), so it decides alone for its letters and hides every rule before it.
 * This is cgroup v1's outcome for well-formed lists, without runc's emulator
 * (libcontainer/cgroups/devices): `allow c 1:3 r` then `allow c 1:3 w` allows an `rw` open, and
 * `deny c 1:3 w` after `allow c *:* rwm` denies writes to 1:3 (v1 would keep the wildcard's
 * write; runc refuses such a list instead).
 *
 * The code follows runc's devicefilter.go (itself from crun's ebpf.c): the same preamble
 * (R2 type, R3 access, R4 major, R5 minor) and one block per rule of `if (R != x) goto next`
 * tests; here there is one section per access letter (m, r, w), each opened by
 * `if (!(R3 & letter)) goto next section` and holding the rules with that letter, newest first.
 * An allowing rule jumps to the next section, a denying one returns 0; past the last section
 * the program returns 1. Every instruction is reachable (the verifier rejects dead code): code
 * after a rule of type `a` is not emitted.
 */
import type { DeviceRule } from './validate.js';

export type { DeviceRule };

/** What the kernel's license check wants (nothing here calls a GPL-only helper). */
export const DEVICE_FILTER_LICENSE = 'Apache-2.0';
/** bpf(2) attach flag: other programs may be attached beside this one (runc's choice, so nested runtimes can attach too). */
export const BPF_F_ALLOW_MULTI = 2;

export const BPF_DEVCG_DEV_BLOCK = 1;
export const BPF_DEVCG_DEV_CHAR = 2;
export const BPF_DEVCG_ACC_MKNOD = 1;
export const BPF_DEVCG_ACC_READ = 2;
export const BPF_DEVCG_ACC_WRITE = 4;

/** One `struct bpf_insn`. */
export interface Insn {
  code: number;
  dst: number;
  src: number;
  off: number;
  imm: number;
}

// Opcodes (include/uapi/linux/bpf.h, bpf_common.h).
export const OP = {
  LDXW: 0x61, // BPF_LDX | BPF_MEM | BPF_W: dst = *(u32 *)(src + off)
  AND32_K: 0x54, // BPF_ALU | BPF_AND | BPF_K: w(dst) &= imm
  RSH32_K: 0x74, // BPF_ALU | BPF_RSH | BPF_K: w(dst) >>= imm
  MOV32_K: 0xb4, // BPF_ALU | BPF_MOV | BPF_K: w(dst) = imm
  JA: 0x05, // BPF_JMP | BPF_JA: pc += off
  JNE_K: 0x55, // BPF_JMP | BPF_JNE | BPF_K: if (dst != imm) pc += off
  JSET_K: 0x45, // BPF_JMP | BPF_JSET | BPF_K: if (dst & imm) pc += off
  EXIT: 0x95, // BPF_JMP | BPF_EXIT: return R0
} as const;

const R0 = 0;
const R1 = 1;
const R2 = 2; // device type
const R3 = 3; // access bits
const R4 = 4; // major
const R5 = 5; // minor

const LETTERS: [string, number][] = [['m', BPF_DEVCG_ACC_MKNOD], ['r', BPF_DEVCG_ACC_READ], ['w', BPF_DEVCG_ACC_WRITE]];
const MAX_ID = 0x7fffffff; // immediates are s32 (real majors are < 4096, minors < 2^20)

/** An instruction whose `off` is still a label, resolved by `link`. */
type Pending = Insn & { to?: number };

/** The program's instructions, jumps resolved. Throws RangeError for a major/minor beyond 2^31-1 or a program too long for 16-bit jumps. */
export function deviceFilterInsns(rules: readonly DeviceRule[]): Insn[] {
  for (const r of rules) {
    for (const n of [r.major, r.minor]) {
      if (!Number.isInteger(n) || n < -1 || n > MAX_ID) throw new RangeError(`device number ${n} is out of range`);
    }
  }
  const out: Pending[] = [];
  const labels: number[] = [];
  const newLabel = () => labels.push(-1) - 1;
  const place = (l: number) => { labels[l] = out.length; };
  const ins = (code: number, dst: number, src: number, off: number, imm: number) => out.push({ code, dst, src, off, imm });
  const jump = (code: number, dst: number, imm: number, to: number) => out.push({ code, dst, src: 0, off: 0, imm, to });
  const ret = (v: 0 | 1) => { ins(OP.MOV32_K, R0, 0, 0, v); ins(OP.EXIT, 0, 0, 0, 0); };

  // runc's preamble: R2 <- type (low 16 bits), R3 <- access (high 16), R4 <- major, R5 <- minor.
  ins(OP.LDXW, R2, R1, 0, 0);
  ins(OP.AND32_K, R2, 0, 0, 0xffff);
  ins(OP.LDXW, R3, R1, 0, 0);
  ins(OP.RSH32_K, R3, 0, 0, 16);
  ins(OP.LDXW, R4, R1, 4, 0);
  ins(OP.LDXW, R5, R1, 8, 0);

  for (const [letter, bit] of LETTERS) {
    const next = newLabel(); // the next section: this letter is allowed (or not asked for)
    ins(OP.JSET_K, R3, 0, 1, bit); // asked for: skip the jump below
    jump(OP.JA, 0, 0, next);
    let decided = false;
    for (let i = rules.length - 1; i >= 0 && !decided; i--) {
      const r = rules[i]!;
      if (!r.access.includes(letter)) continue;
      const skip = newLabel();
      if (r.type === 'a') {
        decided = true;
      } else {
        jump(OP.JNE_K, R2, r.type === 'c' ? BPF_DEVCG_DEV_CHAR : BPF_DEVCG_DEV_BLOCK, skip);
        if (r.major >= 0) jump(OP.JNE_K, R4, r.major, skip);
        if (r.minor >= 0) jump(OP.JNE_K, R5, r.minor, skip);
      }
      if (r.allow) jump(OP.JA, 0, 0, next);
      else ret(0);
      place(skip);
    }
    if (!decided) ret(0); // no rule matched: deny
    place(next);
  }
  ret(1);

  return out.map((p, pc) => {
    const { to, ...insn } = p;
    if (to === undefined) return insn;
    const off = labels[to]! - pc - 1;
    if (off > 0x7fff) throw new RangeError(`device filter too long (${out.length} instructions) for 16-bit jumps`);
    return { ...insn, off };
  });
}

/** `struct bpf_insn`s as the kernel reads them on a host of that byte order. */
export function encodeInsns(insns: readonly Insn[], endian: 'LE' | 'BE' = 'LE'): Buffer {
  const b = Buffer.alloc(insns.length * 8);
  insns.forEach((x, i) => {
    const o = i * 8;
    b.writeUInt8(x.code, o);
    // u8 dst_reg:4, src_reg:4 — bitfields are allocated from the low bits on little-endian hosts.
    b.writeUInt8(endian === 'LE' ? (x.src << 4) | x.dst : (x.dst << 4) | x.src, o + 1);
    if (endian === 'LE') {
      b.writeInt16LE(x.off, o + 2);
      b.writeInt32LE(x.imm, o + 4);
    } else {
      b.writeInt16BE(x.off, o + 2);
      b.writeInt32BE(x.imm, o + 4);
    }
  });
  return b;
}

/** The program for `rules`, ready for `Syscalls.bpfProgLoadDevice(insns, DEVICE_FILTER_LICENSE)`. */
export function deviceFilter(rules: readonly DeviceRule[], endian: 'LE' | 'BE' = 'LE'): Buffer {
  return encodeInsns(deviceFilterInsns(rules), endian);
}
