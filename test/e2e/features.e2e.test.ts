/**
 * `berth features` prints the runtime-spec features document, and it is exactly what berth
 * accepts: every name it lists passes validateConfig (or the mount-option parser), every spec
 * name it leaves out is refused.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { parseMountOptions } from '../../src/effects/initPlan.js';
import type { Features } from '../../src/features.js';
import { NAMESPACE_TYPES, defaultConfig, validateConfig, type OciConfig } from '../../src/machines/spec.js';
import { SECCOMP_ACTIONS, SECCOMP_FLAGS } from '../../src/machines/security.js';
import { tempRoot } from '../helpers/bundle.js';
import { berth, CLI } from '../helpers/cli.js';
import { CRIU } from '../helpers/criu.js';
import { readCgroupLayout } from '../../src/effects/cgroupLayout.js';
import { OCI_VERSION_MAX } from '../../src/features.js';
import { assertNoLeaks, snapshot } from '../helpers/leaks.js';

function accepts(edit: (c: OciConfig) => void): boolean {
  const c = defaultConfig();
  edit(c);
  try {
    validateConfig(JSON.parse(JSON.stringify(c)));
    return true;
  } catch {
    return false;
  }
}

const MAPPING = [{ containerID: 0, hostID: 100000, size: 65536 }];
const withSeccomp = (profile: object) => (c: OciConfig) => { (c.linux as Record<string, unknown>).seccomp = profile; };

let doc: Features;

test('berth features prints a JSON features document and touches nothing', async () => {
  const before = snapshot();
  const root = tempRoot();
  try {
    const r = await berth(root.root, ['features']);
    assert.equal(r.status, 0, r.stderr);
    doc = JSON.parse(r.stdout) as Features;
    assert.deepEqual(Object.keys(doc).sort(), ['annotations', 'hooks', 'linux', 'mountOptions', 'ociVersionMax', 'ociVersionMin', 'potentiallyUnsafeConfigAnnotations']);
    await assertNoLeaks(before, root.root);
  } finally {
    root.cleanup();
  }
});

test('features: the OCI versions and hooks it lists are accepted', () => {
  for (const v of [doc.ociVersionMin, doc.ociVersionMax]) assert.ok(accepts((c) => { c.ociVersion = v; }), v);
  assert.ok(accepts((c) => { c.hooks = Object.fromEntries(doc.hooks.map((h) => [h, [{ path: '/bin/true' }]])); }));
});

test('features: namespaces listed are accepted, the spec\'s others refused', () => {
  for (const type of NAMESPACE_TYPES) {
    const ok = accepts((c) => {
      c.linux!.namespaces = [{ type: 'mount' }, ...(type === 'mount' ? [] : [{ type }])];
      if (type === 'user') Object.assign(c.linux!, { uidMappings: MAPPING, gidMappings: MAPPING });
    });
    assert.equal(ok, doc.linux.namespaces.includes(type), type);
  }
  assert.ok(accepts((c) => { c.process.capabilities = { bounding: doc.linux.capabilities as never }; }));
});

test('features: seccomp actions, operators, archs and flags listed are accepted, the spec\'s others refused', () => {
  const rule = (action: string) => withSeccomp({ defaultAction: 'SCMP_ACT_ALLOW', listenerPath: '/run/agent.sock', syscalls: [{ names: ['getcwd'], action }] });
  for (const action of SECCOMP_ACTIONS) assert.equal(accepts(rule(action)), doc.linux.seccomp.actions.includes(action), action);
  assert.ok(doc.linux.seccomp.actions.includes('SCMP_ACT_NOTIFY'), 'notify is supported (with a listenerPath), so listed');
  for (const op of doc.linux.seccomp.operators) {
    assert.ok(accepts(withSeccomp({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['read'], action: 'SCMP_ACT_LOG', args: [{ index: 0, value: 1, op }] }] })), op);
  }
  assert.ok(accepts(withSeccomp({ defaultAction: 'SCMP_ACT_ALLOW', architectures: doc.linux.seccomp.archs })));
  assert.deepEqual(doc.linux.seccomp.knownFlags, [...SECCOMP_FLAGS]);
  for (const flag of doc.linux.seccomp.knownFlags) {
    assert.equal(accepts(withSeccomp({ defaultAction: 'SCMP_ACT_ALLOW', flags: [flag] })), doc.linux.seccomp.supportedFlags.includes(flag), flag);
  }
});

test('features: every mount option listed is one berth applies (not passed on as filesystem data)', () => {
  for (const o of doc.mountOptions) assert.deepEqual(parseMountOptions([o]).data, [], o);
  for (const o of ['rro', 'rnosuid', 'idmap', 'tmpcopyup']) assert.ok(doc.mountOptions.includes(o), `${o} is applied, so listed`);
  assert.equal(accepts((c) => {
    c.mounts!.push(Object.assign({ destination: '/mnt', type: 'bind', source: '/tmp', options: ['rbind'] }, { uidMappings: MAPPING, gidMappings: MAPPING }));
    c.linux!.namespaces!.push({ type: 'user' });
    Object.assign(c.linux!, { uidMappings: MAPPING, gidMappings: MAPPING });
  }), doc.linux.mountExtensions.idmap.enabled);
});

test('features: the annotations name this build and the libseccomp linked into the init helper', () => {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  assert.equal(doc.annotations['berth.version'], pkg.version);
  const dev = execFileSync('dpkg-query', ['-W', '-f=${Version}', 'libseccomp-dev'], { encoding: 'utf8' });
  assert.ok(dev.startsWith(`${doc.annotations['io.github.seccomp.libseccomp.version']}-`), `${doc.annotations['io.github.seccomp.libseccomp.version']} vs libseccomp-dev ${dev}`);
  assert.equal(doc.linux.seccomp.enabled, true);
});

test('--version: runc\'s lines (version first, as podman parses it), then libseccomp, criu and the cgroup layout', async () => {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  const lines = async (env: NodeJS.ProcessEnv = {}) => {
    const r = spawnSync(process.execPath, [CLI, '--version'], { encoding: 'utf8', env: { ...process.env, ...env } });
    assert.equal(r.status, 0, r.stderr);
    return Object.fromEntries(r.stdout.trim().split('\n').slice(1).map((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 2)]));
  };
  const first = spawnSync(process.execPath, [CLI, 'version'], { encoding: 'utf8' }).stdout.split('\n')[0];
  assert.equal(first, `berth version ${pkg.version}`);
  const v = await lines();
  assert.equal(v.spec, OCI_VERSION_MAX, 'the spec version features reports as ociVersionMax');
  assert.equal(v.node, process.version);
  // This checkout's HEAD: the CLI runs from it (no line where the tree is not a git checkout).
  const head = spawnSync('git', ['rev-parse', 'HEAD'], { encoding: 'utf8', cwd: new URL('../..', import.meta.url) });
  assert.equal(v.commit, head.status === 0 ? head.stdout.trim() : undefined);
  assert.equal(v.libseccomp, execFileSync('pkg-config', ['--modversion', 'libseccomp'], { encoding: 'utf8' }).trim(), 'the libseccomp the helper was built against');
  const criu = /^Version:\s*(\S+)/m.exec(execFileSync(CRIU, ['--version'], { encoding: 'utf8' }))?.[1];
  assert.equal(v.criu, `${criu} (${CRIU})`);
  assert.equal(v.cgroup, readCgroupLayout().kind);
  const without = await lines({ BERTH_CRIU: '/nonexistent/criu' });
  assert.match(without.criu!, /^unavailable \(criu \/nonexistent\/criu not found/, 'a missing criu is reported, not an error');
});
