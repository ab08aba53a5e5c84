import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { isRuntimeError } from '../../src/errors.js';
import { CAPABILITIES, RLIMITS } from '../../src/effects/linuxConstants.js';
import { CAPABILITY_NAMES, RLIMIT_TYPES, defaultConfig, validateConfig } from '../../src/machines/spec.js';

type Json = Record<string, any>;
const base = (): Json => JSON.parse(JSON.stringify(defaultConfig()));

/** A copy of the default config with `edit` applied. */
function withEdit(edit: (c: Json) => void): Json {
  const c = base();
  edit(c);
  return c;
}

function rejects(config: unknown, field: string, message?: string): void {
  assert.throws(
    () => validateConfig(config),
    (e: unknown) => {
      assert.ok(isRuntimeError(e, 'INVALID_CONFIG'), `expected INVALID_CONFIG, got ${String(e)}`);
      assert.equal(e.field, field);
      if (message !== undefined) assert.equal(e.message, message);
      assert.match(e.message, /^invalid config: /);
      assert.doesNotMatch(e.message, /\.$/);
      return true;
    },
  );
}

test('the default config validates and survives a JSON round trip unchanged', () => {
  const config = defaultConfig();
  assert.deepEqual(validateConfig(JSON.parse(JSON.stringify(config))), config);
});

test('the default config is runc spec with terminal false and hostname berth', (t) => {
  let runcSpec: Json;
  const dir = mkdtempSync(join(tmpdir(), 'berth-spec-'));
  try {
    execFileSync('runc', ['spec'], { cwd: dir, stdio: 'ignore' });
    runcSpec = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
  } catch {
    t.skip('runc is not installed');
    return;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  runcSpec.process.terminal = false;
  runcSpec.hostname = 'berth';
  assert.deepEqual(defaultConfig(), runcSpec);
});

test('the spec vocabularies agree with the kernel numbers', () => {
  assert.deepEqual(Object.keys(CAPABILITIES), [...CAPABILITY_NAMES]);
  CAPABILITY_NAMES.forEach((name, i) => assert.equal(CAPABILITIES[name], i, name));
  assert.deepEqual(Object.keys(RLIMITS), [...RLIMIT_TYPES]);
  RLIMIT_TYPES.forEach((name, i) => assert.equal(RLIMITS[name], i, name));
});

test('unknown fields are ignored and dropped, wherever they are', () => {
  const config = withEdit((c) => {
    c.platform = { os: 'linux' };
    c.process.consoleSize = { height: 1, width: 2 };
    c.process.user.username = 'root';
    c.mounts[0].futureField = [1, 2];
    c.linux.intelRdt = { closID: 'guaranteed' };
    c.linux.namespaces[0].extra = true;
  });
  assert.deepEqual(validateConfig(config), defaultConfig());
});

test('a terminal and its consoleSize are kept; consoleSize without a terminal is ignored, as the runtime-spec says', () => {
  const withTerminal = validateConfig(withEdit((c) => Object.assign(c.process, { terminal: true, consoleSize: { height: 24, width: 80 } })));
  assert.equal(withTerminal.process.terminal, true);
  assert.deepEqual(withTerminal.process.consoleSize, { height: 24, width: 80 });
  const without = validateConfig(withEdit((c) => (c.process.consoleSize = { height: 'tall' })));
  assert.equal(without.process.consoleSize, undefined);
});

test('optional fields given as null count as absent', () => {
  const config = withEdit((c) => {
    c.hostname = null;
    c.linux.sysctl = null;
    c.linux.seccomp = null;
  });
  const { hostname: _drop, ...expected } = defaultConfig();
  assert.deepEqual(validateConfig(config), expected);
});

test('accepted edge values', () => {
  const config = validateConfig(withEdit((c) => {
    c.ociVersion = '1.2.0';
    c.mounts.push({ destination: 'relative/dir', type: 'tmpfs' });
    c.mounts.push({ destination: '/data', type: 'none', source: 'volumes/data', options: ['rbind'] });
    c.mounts.push({ destination: '/etc/hosts', source: '/etc/hosts', options: ['bind', 'ro'] });
    c.process.user = { uid: 4294967294, gid: 0, umask: 0o777, additionalGids: [] };
    c.process.oomScoreAdj = -1000;
    c.process.rlimits = [
      { type: 'RLIMIT_CORE', soft: 0, hard: 18446744073709551615 },
      { type: 'RLIMIT_NOFILE', soft: Number.MAX_SAFE_INTEGER, hard: Number.MAX_SAFE_INTEGER },
    ];
    c.hostname = 'h'.repeat(64);
    c.linux.sysctl = { 'net.ipv4.ip_forward': '1' };
    c.linux.devices = [{ path: '/dev/fifo', type: 'p' }, { path: '/dev/fuse', type: 'c', major: 10, minor: 229 }];
    c.linux.namespaces.push({ type: 'cgroup' }, { type: 'time' });
    c.linux.rootfsPropagation = 'rprivate';
    c.annotations = { 'org.example.key': 'value' };
    c.hooks = { poststop: [{ path: '/bin/true', args: ['true'], env: ['A=1'], timeout: 5 }] };
  }));
  assert.equal(config.process.rlimits?.[0]?.hard, 2 ** 64);
  assert.equal(config.mounts?.at(-3)?.destination, 'relative/dir');
  assert.deepEqual(config.hooks, { poststop: [{ path: '/bin/true', args: ['true'], env: ['A=1'], timeout: 5 }] });
});

// Each row: what is wrong, the edit, the field the error must name.
const BAD: [string, (c: Json) => void, string][] = [
  ['ociVersion missing', (c) => delete c.ociVersion, 'ociVersion'],
  ['ociVersion 2.x', (c) => (c.ociVersion = '2.0.0'), 'ociVersion'],
  ['root missing', (c) => delete c.root, 'root'],
  ['root.path empty', (c) => (c.root.path = ''), 'root.path'],
  ['root.readonly a string', (c) => (c.root.readonly = 'yes'), 'root.readonly'],
  ['mounts not an array', (c) => (c.mounts = {}), 'mounts'],
  ['mount destination missing', (c) => delete c.mounts[2].destination, 'mounts[2].destination'],
  ['mount destination with NUL', (c) => (c.mounts[1].destination = '/dev\0x'), 'mounts[1].destination'],
  ['mount options not strings', (c) => (c.mounts[3].options = ['ro', 7]), 'mounts[3].options[1]'],
  ['mount type missing on a non-bind mount', (c) => delete c.mounts[0].type, 'mounts[0].type'],
  ['bind mount without source', (c) => c.mounts.push({ destination: '/x', options: ['rbind'] }), 'mounts[7].source'],
  ['idmapped mount with uidMappings only', (c) => (c.mounts[0].uidMappings = []), 'mounts[0].gidMappings'],
  ['idmapped mount mapping not an object', (c) => (c.mounts[0].uidMappings = [1]), 'mounts[0].uidMappings[0]'],
  ['process missing', (c) => delete c.process, 'process'],
  ['process.args empty', (c) => (c.process.args = []), 'process.args'],
  ['process.args element not a string', (c) => (c.process.args = ['sh', 1]), 'process.args[1]'],
  ['env entry without =', (c) => c.process.env.push('NOVALUE'), 'process.env[2]'],
  ['env entry with empty key', (c) => c.process.env.push('=x'), 'process.env[2]'],
  ['cwd relative', (c) => (c.process.cwd = 'tmp'), 'process.cwd'],
  ['user missing', (c) => delete c.process.user, 'process.user'],
  ['uid negative', (c) => (c.process.user.uid = -1), 'process.user.uid'],
  ['uid (uid_t)-1', (c) => (c.process.user.uid = 4294967295), 'process.user.uid'],
  ['gid fractional', (c) => (c.process.user.gid = 1.5), 'process.user.gid'],
  ['additionalGids entry a string', (c) => (c.process.user.additionalGids = [1, '2']), 'process.user.additionalGids[1]'],
  ['umask above 0777', (c) => (c.process.user.umask = 0o1000), 'process.user.umask'],
  ['consoleSize not an object (with a terminal)', (c) => Object.assign(c.process, { terminal: true, consoleSize: 80 }), 'process.consoleSize'],
  ['consoleSize height missing', (c) => Object.assign(c.process, { terminal: true, consoleSize: { width: 80 } }), 'process.consoleSize.height'],
  ['consoleSize width beyond a winsize', (c) => Object.assign(c.process, { terminal: true, consoleSize: { height: 1, width: 65536 } }), 'process.consoleSize.width'],
  ['terminal a string', (c) => (c.process.terminal = 'no'), 'process.terminal'],
  ['capability set not an array', (c) => (c.process.capabilities.bounding = 'CAP_KILL'), 'process.capabilities.bounding'],
  ['unknown capability', (c) => c.process.capabilities.effective.push('CAP_FLY'), 'process.capabilities.effective[3]'],
  ['capability in lower case', (c) => (c.process.capabilities.ambient = ['cap_kill']), 'process.capabilities.ambient[0]'],
  ['unknown rlimit', (c) => (c.process.rlimits[0].type = 'RLIMIT_FOO'), 'process.rlimits[0].type'],
  ['duplicate rlimit', (c) => c.process.rlimits.push({ type: 'RLIMIT_NOFILE', soft: 1, hard: 1 }), 'process.rlimits[1].type'],
  ['rlimit soft above hard', (c) => (c.process.rlimits[0].soft = 2048), 'process.rlimits[0].soft'],
  ['rlimit negative', (c) => (c.process.rlimits[0].hard = -1), 'process.rlimits[0].hard'],
  ['rlimit beyond uint64', (c) => (c.process.rlimits[0].hard = 1e20), 'process.rlimits[0].hard'],
  ['rlimit as a string', (c) => (c.process.rlimits[0].soft = '1024'), 'process.rlimits[0].soft'],
  ['noNewPrivileges a number', (c) => (c.process.noNewPrivileges = 1), 'process.noNewPrivileges'],
  ['oomScoreAdj too large', (c) => (c.process.oomScoreAdj = 1001), 'process.oomScoreAdj'],
  ['hostname too long', (c) => (c.hostname = 'h'.repeat(65)), 'hostname'],
  ['hostname with NUL', (c) => (c.hostname = 'a\0b'), 'hostname'],
  ['domainname a number', (c) => (c.domainname = 5), 'domainname'],
  ['hook path relative', (c) => (c.hooks = { prestart: [{ path: 'hook' }] }), 'hooks.prestart[0].path'],
  ['hook timeout zero', (c) => (c.hooks = { poststop: [{ path: '/h', timeout: 0 }] }), 'hooks.poststop[0].timeout'],
  ['annotation value not a string', (c) => (c.annotations = { 'a.b': 1 }), 'annotations["a.b"]'],
  ['linux not an object', (c) => (c.linux = []), 'linux'],
  ['unknown namespace', (c) => c.linux.namespaces.push({ type: 'net' }), 'linux.namespaces[5].type'],
  ['duplicate namespace', (c) => c.linux.namespaces.push({ type: 'pid' }), 'linux.namespaces[5].type'],
  ['namespace path relative', (c) => (c.linux.namespaces[2].path = 'proc/1/ns/ipc'), 'linux.namespaces[2].path'],
  ['user namespace without uid mappings', (c) => c.linux.namespaces.push({ type: 'user' }), 'linux.uidMappings'],
  ['mapping size zero', (c) => (c.linux.uidMappings = [{ containerID: 0, hostID: 1000, size: 0 }]), 'linux.uidMappings[0].size'],
  ['device without major', (c) => (c.linux.devices = [{ path: '/dev/x', type: 'c', minor: 1 }]), 'linux.devices[0].major'],
  ['device of unknown type', (c) => (c.linux.devices = [{ path: '/dev/x', type: 'x' }]), 'linux.devices[0].type'],
  ['device path relative', (c) => (c.linux.devices = [{ path: 'dev/x', type: 'p' }]), 'linux.devices[0].path'],
  ['sysctl value a number', (c) => (c.linux.sysctl = { 'net.core.somaxconn': 256 }), 'linux.sysctl["net.core.somaxconn"]'],
  ['sysctl name climbing out of /proc/sys', (c) => (c.linux.sysctl = { 'net..x': '1' }), 'linux.sysctl["net..x"]'],
  ['sysctl name with a slash', (c) => (c.linux.sysctl = { 'net/../../etc': '1' }), 'linux.sysctl["net/../../etc"]'],
  ['unknown rootfsPropagation', (c) => (c.linux.rootfsPropagation = 'rshared2'), 'linux.rootfsPropagation'],
  ['masked path relative', (c) => (c.linux.maskedPaths[4] = 'proc/keys'), 'linux.maskedPaths[4]'],
  ['readonly path not a string', (c) => (c.linux.readonlyPaths = [null]), 'linux.readonlyPaths[0]'],
  ['resources not an object', (c) => (c.linux.resources = 'none'), 'linux.resources'],
  ['seccomp not an object', (c) => (c.linux.seccomp = ['SCMP_ACT_ERRNO']), 'linux.seccomp'],
];

for (const [what, edit, field] of BAD) {
  test(`rejects: ${what} (${field})`, () => rejects(withEdit(edit), field));
}

test('the whole config must be an object', () => {
  rejects(null, 'config');
  rejects([], 'config');
  rejects('{}', 'config');
});

test('error messages name the field in the house style', () => {
  rejects(withEdit((c) => (c.process.args = [])), 'process.args',
    'invalid config: process.args must be a non-empty array of strings');
  rejects(withEdit((c) => Object.assign(c.process, { terminal: true, consoleSize: { height: -1, width: 80 } })), 'process.consoleSize.height',
    'invalid config: process.consoleSize.height must be an integer from 0 to 65535');
  rejects(withEdit((c) => (c.linux.timeOffsets = { monotonic: { secs: 1 } })), 'linux.timeOffsets',
    'invalid config: linux.timeOffsets: time offsets need a time namespace in linux.namespaces');
  rejects(withEdit((c) => c.process.capabilities.effective.push('CAP_FLY')), 'process.capabilities.effective[3]',
    'invalid config: process.capabilities.effective[3]: unknown capability "CAP_FLY"');
});

test('a user namespace needs both mappings, and is then accepted with them', () => {
  const mapping = [{ containerID: 0, hostID: 100000, size: 65536 }];
  rejects(withEdit((c) => {
    c.linux.namespaces.push({ type: 'user' });
    c.linux.uidMappings = mapping;
  }), 'linux.gidMappings', 'invalid config: linux.gidMappings: a user namespace needs gid mappings');
  const config = validateConfig(withEdit((c) => {
    c.linux.namespaces.push({ type: 'user' });
    c.linux.uidMappings = mapping;
    c.linux.gidMappings = mapping;
  }));
  assert.deepEqual(config.linux?.uidMappings, mapping);
  assert.deepEqual(config.linux?.gidMappings, mapping);
});

test('the first bad field in document order is the one named', () => {
  rejects(withEdit((c) => {
    c.root.path = '';
    c.process.args = [];
    c.linux.namespaces = 'x';
  }), 'root.path');
});
