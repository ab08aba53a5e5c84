/**
 * The v2 device filter generator (src/effects/cgroups/devices.ts): golden bytes for a small rule
 * set, instruction counts, and decisions of the encoded program run by a tiny eBPF interpreter
 * against a reference model of the rules (last match wins per access letter), on the default
 * rules and on random rule sets. The interpreter also checks what the kernel's verifier would:
 * every instruction reachable, jumps in range, R0 written before exit.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import {
  BPF_DEVCG_ACC_MKNOD, BPF_DEVCG_ACC_READ, BPF_DEVCG_ACC_WRITE, BPF_DEVCG_DEV_BLOCK, BPF_DEVCG_DEV_CHAR, BPF_F_ALLOW_MULTI,
  deviceFilter, deviceFilterInsns, OP, type DeviceRule,
} from '../../../src/effects/cgroups/devices.js';
import { validateResources } from '../../../src/effects/cgroups/validate.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { withDefaultDevices } from '../../../src/effects/cgroup.js';
import { v2Manager } from '../../../src/effects/cgroups/v2.js';
import { FakeSyscalls } from '../../../src/effects/fake.js';
import { isRuntimeError } from '../../../src/errors.js';

type Req = { type: 'b' | 'c'; major: number; minor: number; access: string };

/** Runs the encoded little-endian program on `struct bpf_cgroup_dev_ctx`; returns R0. */
function run(prog: Buffer, req: Req): number {
  const n = prog.length / 8;
  const acc = [...req.access].reduce((a, l) => a | ({ m: BPF_DEVCG_ACC_MKNOD, r: BPF_DEVCG_ACC_READ, w: BPF_DEVCG_ACC_WRITE }[l] ?? 0), 0);
  const ctx = [(req.type === 'c' ? BPF_DEVCG_DEV_CHAR : BPF_DEVCG_DEV_BLOCK) | (acc << 16), req.major, req.minor];
  const reg: (bigint | undefined)[] = new Array(11).fill(undefined);
  reg[1] = -1n; // the context pointer; only used as the base of LDXW
  const M = (1n << 64n) - 1n;
  const M32 = (1n << 32n) - 1n;
  for (let pc = 0, steps = 0; steps < 100_000; steps++) {
    assert.ok(pc >= 0 && pc < n, `pc ${pc} out of the program`);
    const o = pc * 8;
    const code = prog[o]!;
    const dst = prog[o + 1]! & 0xf;
    const src = prog[o + 1]! >> 4;
    const off = prog.readInt16LE(o + 2);
    const imm = BigInt(prog.readInt32LE(o + 4));
    const r = (i: number) => { const v = reg[i]; assert.ok(v !== undefined, `R${i} read before written at ${pc}`); return v; };
    pc++;
    switch (code) {
      case OP.LDXW: {
        assert.equal(src, 1);
        assert.ok(off % 4 === 0 && off >= 0 && off <= 8, `ctx offset ${off}`);
        reg[dst] = BigInt(ctx[off / 4]! >>> 0);
        break;
      }
      case OP.AND32_K: reg[dst] = (r(dst) & imm) & M32; break;
      case OP.RSH32_K: reg[dst] = (r(dst) & M32) >> imm; break;
      case OP.MOV32_K: reg[dst] = imm & M32; break;
      case OP.JA: pc += off; break;
      case OP.JNE_K: if (r(dst) !== (imm & M)) pc += off; break;
      case OP.JSET_K: if ((r(dst) & (imm & M)) !== 0n) pc += off; break;
      case OP.EXIT: return Number(r(0));
      default: assert.fail(`unknown opcode 0x${code.toString(16)}`);
    }
  }
  assert.fail('no exit');
}

/** What the kernel's verifier checks about the shape: every instruction reachable, jumps inside, ends in exit. */
function checkShape(prog: Buffer): void {
  const n = prog.length / 8;
  const seen = new Set<number>();
  const todo = [0];
  while (todo.length > 0) {
    const pc = todo.pop()!;
    if (seen.has(pc)) continue;
    assert.ok(pc >= 0 && pc < n, `jump to ${pc} outside the program`);
    seen.add(pc);
    const code = prog[pc * 8]!;
    const off = prog.readInt16LE(pc * 8 + 2);
    if (code === OP.EXIT) continue;
    if (code === OP.JA) { todo.push(pc + 1 + off); continue; }
    if (code === OP.JNE_K || code === OP.JSET_K) todo.push(pc + 1 + off);
    todo.push(pc + 1);
  }
  const dead = [...Array(n).keys()].filter((i) => !seen.has(i));
  assert.deepEqual(dead, [], 'unreachable instructions');
}

/** The reference meaning: per asked letter, the last rule that has the letter and matches decides; none → deny. */
function model(rules: readonly DeviceRule[], req: Req): number {
  for (const l of req.access) {
    let ok = false;
    for (let i = rules.length - 1; i >= 0; i--) {
      const x = rules[i]!;
      if (!x.access.includes(l)) continue;
      if (x.type !== 'a' && (x.type !== req.type || (x.major >= 0 && x.major !== req.major) || (x.minor >= 0 && x.minor !== req.minor))) continue;
      ok = x.allow;
      break;
    }
    if (!ok) return 0;
  }
  return 1;
}

const rule = (allow: boolean, type: DeviceRule['type'], major = -1, minor = -1, access = 'rwm'): DeviceRule => ({ allow, type, major, minor, access });
const DENY_ALL = rule(false, 'a');
const req = (type: 'b' | 'c', major: number, minor: number, access: string): Req => ({ type, major, minor, access });

/** berth's default: the spec's deny-all followed by runc's allowed list (src/effects/cgroup.ts). */
const DEFAULTS = validateResources(withDefaultDevices({ devices: [{ allow: false, access: 'rwm' }] }), 2).devices;

describe('deviceFilter', () => {
  test('golden bytes: deny all, allow c 1:3 rw', () => {
    const prog = deviceFilter([DENY_ALL, rule(true, 'c', 1, 3, 'rw')]);
    const hex = (prog.toString('hex').match(/.{16}/g) ?? []);
    assert.deepEqual(hex, [
      '6112000000000000', // r2 = *(u32 *)(r1 + 0)
      '54020000ffff0000', // w2 &= 0xffff
      '6113000000000000', // r3 = *(u32 *)(r1 + 0)
      '7403000010000000', // w3 >>= 16
      '6114040000000000', // r4 = *(u32 *)(r1 + 4)
      '6115080000000000', // r5 = *(u32 *)(r1 + 8)
      // m: only the deny-all has it
      '4503010001000000', // if r3 & 1 goto +1
      '0500020000000000', // goto +2 (r section)
      'b400000000000000', // w0 = 0
      '9500000000000000', // exit
      // r: allow c 1:3, then the deny-all
      '4503010002000000', // if r3 & 2 goto +1
      '0500060000000000', // goto +6 (w section)
      '5502030002000000', // if r2 != 2 (char) goto +3 (the next rule)
      '5504020001000000', // if r4 != 1 goto +2
      '5505010003000000', // if r5 != 3 goto +1
      '0500020000000000', // goto +2 (w section): allowed
      'b400000000000000', // w0 = 0 (the deny-all)
      '9500000000000000', // exit
      // w: the same
      '4503010004000000',
      '0500060000000000',
      '5502030002000000',
      '5504020001000000',
      '5505010003000000',
      '0500020000000000',
      'b400000000000000',
      '9500000000000000',
      // allowed
      'b400000001000000', // w0 = 1
      '9500000000000000', // exit
    ]);
    checkShape(prog);
    assert.equal(run(prog, req('c', 1, 3, 'rw')), 1);
    assert.equal(run(prog, req('c', 1, 3, 'w')), 1);
    assert.equal(run(prog, req('c', 1, 3, 'm')), 0);
    assert.equal(run(prog, req('c', 1, 5, 'r')), 0);
    assert.equal(run(prog, req('b', 1, 3, 'r')), 0);
  });

  test('berth\'s default rules: instruction count and decisions', () => {
    assert.equal(DEFAULTS.length, 13);
    const prog = deviceFilter(DEFAULTS);
    // 6 (preamble) + m 47 + r 43 + w 43 (2 letter test, 4 per c M:m rule, 3 for c 136:*, 2 per type-only rule, 2 for the deny-all) + 2
    assert.equal(prog.length / 8, 141);
    checkShape(prog);
    const cases: [Req, number][] = [
      [req('c', 1, 3, 'rw'), 1], // /dev/null
      [req('c', 1, 5, 'r'), 1], // /dev/zero
      [req('c', 5, 0, 'rw'), 1], // /dev/tty
      [req('c', 136, 7, 'rw'), 1], // a pty
      [req('c', 10, 200, 'rw'), 1], // tun
      [req('c', 10, 229, 'rw'), 0], // fuse
      [req('c', 4, 0, 'w'), 0], // tty0
      [req('b', 8, 0, 'r'), 0], // sda
      [req('b', 8, 0, 'm'), 1], // mknod of any block device
      [req('c', 250, 1, 'm'), 1], // mknod of any char device
      [req('c', 250, 1, 'rm'), 0],
    ];
    for (const [q, want] of cases) {
      assert.equal(run(prog, q), want, JSON.stringify(q));
      assert.equal(model(DEFAULTS, q), want, `model ${JSON.stringify(q)}`);
    }
  });

  test('letters decide separately; an `a` rule hides the rules before it', () => {
    const split = [DENY_ALL, rule(true, 'c', 1, 3, 'r'), rule(true, 'c', 1, 3, 'w')];
    assert.equal(run(deviceFilter(split), req('c', 1, 3, 'rw')), 1);
    const hole = [DENY_ALL, rule(true, 'c', -1, -1, 'rwm'), rule(false, 'c', 1, 3, 'w')];
    assert.equal(run(deviceFilter(hole), req('c', 1, 3, 'r')), 1);
    assert.equal(run(deviceFilter(hole), req('c', 1, 3, 'rw')), 0);
    assert.equal(run(deviceFilter(hole), req('c', 1, 4, 'rw')), 1);
    // Everything before the last `a` rule with a letter is dead for that letter.
    const reset = [rule(true, 'c', 1, 3), rule(true, 'c', 1, 5), DENY_ALL];
    assert.equal(deviceFilter(reset).length / 8, 6 + 3 * 4 + 2);
    // Allow-all: every section falls through to the allowing exit.
    const all = deviceFilter([rule(true, 'a')]);
    checkShape(all);
    assert.equal(run(all, req('b', 8, 0, 'rwm')), 1);
    // No rules at all: deny (runc's emulator starts from deny-all too).
    assert.equal(run(deviceFilter([]), req('c', 1, 3, 'r')), 0);
  });

  test('random rule sets agree with the model and pass the shape checks', () => {
    let seed = 12345;
    const rnd = (k: number) => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed % k; };
    const letters = ['m', 'r', 'w', 'rw', 'rm', 'wm', 'rwm'];
    const pick = <T>(xs: readonly T[]) => xs[rnd(xs.length)]!;
    for (let t = 0; t < 300; t++) {
      const rules = Array.from({ length: rnd(8) }, () => {
        const type = pick(['a', 'b', 'c', 'c', 'c'] as const);
        return rule(rnd(2) === 0, type, rnd(3) === 0 ? -1 : rnd(3), rnd(3) === 0 ? -1 : rnd(3), pick(letters));
      });
      const prog = deviceFilter(rules);
      checkShape(prog);
      for (let q = 0; q < 30; q++) {
        const r = req(pick(['b', 'c'] as const), rnd(3), rnd(3), pick(letters));
        assert.equal(run(prog, r), model(rules, r), `${JSON.stringify(rules)} ${JSON.stringify(r)}`);
      }
    }
  });

  test('device numbers beyond an s32 immediate are refused', () => {
    assert.throws(() => deviceFilterInsns([rule(true, 'c', 2 ** 31, 0)]), RangeError);
    assert.equal(deviceFilterInsns([rule(true, 'c', 2 ** 31 - 1, 0)]).length, 6 + 3 * 8 + 2);
  });
});

describe('v2 manager: the device program', () => {
  /** A v2 manager on a plain directory (no controller files: only devices are asked for). */
  function withManager(sys: FakeSyscalls | undefined, fn: (m: ReturnType<typeof v2Manager>) => void): void {
    const mount = mkdtempSync(join(tmpdir(), 'berth-devices-'));
    try {
      fn(v2Manager(mount, '/berth/c1', sys === undefined ? {} : { sys }));
    } finally {
      rmSync(mount, { recursive: true, force: true });
    }
  }
  const onlyNull = { devices: [{ allow: false, access: 'rwm' }, { allow: true, type: 'c', major: 1, minor: 3, access: 'rw' }] };

  test('create attaches the program with BPF_F_ALLOW_MULTI; apply replaces it (attach, then detach the old)', () => {
    const sys = new FakeSyscalls();
    withManager(sys, (m) => {
      m.create(onlyNull);
      assert.deepEqual(sys.bpfAttached, [1]);
      assert.deepEqual(sys.bpfLoaded.get(1), deviceFilter(validateResources(onlyNull, 2).devices));
      assert.deepEqual(sys.callsOf('bpfProgLoadDevice')[0]![1], 'Apache-2.0');
      assert.equal(sys.callsOf('bpfProgAttach')[0]![2], BPF_F_ALLOW_MULTI);
      m.apply(withDefaultDevices(onlyNull));
      assert.deepEqual(sys.bpfAttached, [2]);
      assert.deepEqual(sys.calls.map((c) => c.method).slice(-7), [
        'bpfProgQueryDevice', 'bpfProgLoadDevice', 'bpfProgAttach', 'close', 'bpfProgGetFdById', 'bpfProgDetach', 'close',
      ]);
      assert.equal(sys.openFds.size, 0, 'every program fd closed');
      // No devices in an update: the program in force stays.
      m.apply({ memory: {} });
      assert.deepEqual(sys.bpfAttached, [2]);
    });
  });

  test('a failed attach leaves the old program, closes the new fd, and names the field', () => {
    const sys = new FakeSyscalls();
    withManager(sys, (m) => {
      m.create(onlyNull);
      sys.failNext('bpfProgAttach', 'EPERM');
      assert.throws(() => m.apply(onlyNull), (e: unknown) => {
        assert.ok(isRuntimeError(e));
        assert.equal(e.code, 'SYSCALL');
        assert.equal(e.field, 'linux.resources.devices');
        assert.match(e.message, /^devices .*\/berth\/c1: bpfProgAttach: EPERM$/);
        return true;
      });
      assert.deepEqual(sys.bpfAttached, [1]);
      assert.equal(sys.openFds.size, 0);
    });
  });

  test('a program already gone is skipped; without sys nothing is loaded', () => {
    const sys = new FakeSyscalls();
    withManager(sys, (m) => {
      m.create(onlyNull);
      sys.failNext('bpfProgGetFdById', 'ENOENT');
      m.apply(onlyNull);
      assert.deepEqual(sys.bpfAttached, [1, 2]);
    });
    withManager(undefined, (m) => m.create(onlyNull));
  });

  test('a device number the program cannot hold is INVALID_CONFIG before anything is written', () => {
    const sys = new FakeSyscalls();
    withManager(sys, (m) => {
      assert.throws(() => m.create({ devices: [{ allow: true, type: 'c', major: 2 ** 31, minor: 0, access: 'r' }] }), { code: 'INVALID_CONFIG', field: 'linux.resources.devices' });
      assert.equal(m.exists(), false);
      assert.deepEqual(sys.calls, []);
    });
  });
});
