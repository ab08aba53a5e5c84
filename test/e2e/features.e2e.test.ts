/**
 * `berth features` prints the runtime-spec features document, and it is exactly what berth
 * accepts: every name it lists passes validateConfig (or the mount-option parser), every spec
 * name it leaves out is refused.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { parseMountOptions } from '../../src/effects/initPlan.js';
import type { Features } from '../../src/features.js';
import { NAMESPACE_TYPES, defaultConfig, validateConfig, type OciConfig } from '../../src/machines/spec.js';
import { SECCOMP_ACTIONS, SECCOMP_FLAGS } from '../../src/machines/security.js';
import { tempRoot } from '../helpers/bundle.js';
import { berth } from '../helpers/cli.js';
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
