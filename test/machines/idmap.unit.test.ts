import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isRuntimeError } from '../../src/errors.js';
import { LAST_MAPPABLE_ID, MAX_ID_MAP_LINES, checkMappings, formatIdMap, mountIdMap, toHostId } from '../../src/machines/idmap.js';
import { defaultConfig, validateConfig } from '../../src/machines/spec.js';

type Json = Record<string, any>;
const m = (containerID: number, hostID: number, size: number) => ({ containerID, hostID, size });

function refused(fn: () => unknown, field: string, message: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(isRuntimeError(e, 'INVALID_CONFIG'), String(e));
    assert.equal(e.field, field);
    assert.match(e.message, message);
    return true;
  });
}

/** The default config in a user namespace mapping 0..65535 to 100000.., with `edit` applied, validated. */
function userns(edit: (c: Json) => void = () => {}) {
  const c: Json = JSON.parse(JSON.stringify(defaultConfig()));
  c.linux.namespaces.push({ type: 'user' });
  c.linux.uidMappings = [m(0, 100000, 65536)];
  c.linux.gidMappings = [m(0, 100000, 65536)];
  edit(c);
  return validateConfig(c);
}

test('mappings the kernel accepts pass: adjacent ranges, the largest range, exactly 340 lines', () => {
  checkMappings([m(0, 1000, 10), m(10, 1010, 10), m(20, 0, 1)], 'f');
  checkMappings([m(0, 0, LAST_MAPPABLE_ID + 1)], 'f');
  checkMappings(Array.from({ length: MAX_ID_MAP_LINES }, (_, i) => m(i * 2, 5000 + i * 2, 2)), 'f');
});

test('overlap on either side, a range past 2^32 - 2, more than 340 lines: each names the entry or the list', () => {
  refused(() => checkMappings([m(0, 1000, 10), m(9, 2000, 1)], 'f'), 'f[1]', /container ids overlap f\[0\]/);
  refused(() => checkMappings([m(0, 1000, 10), m(100, 995, 10)], 'f'), 'f[1]', /host ids overlap f\[0\]/);
  refused(() => checkMappings([m(5, 5, 10), m(0, 100, 6)], 'f'), 'f[1]', /container ids overlap f\[0\]/);
  refused(() => checkMappings([m(0, LAST_MAPPABLE_ID, 2)], 'f'), 'f[0]', /hostID 4294967294 with size 2 goes beyond id 4294967294/);
  refused(() => checkMappings([m(LAST_MAPPABLE_ID + 1, 0, 1)], 'f'), 'f[0]', /containerID 4294967295/);
  refused(() => checkMappings(Array.from({ length: MAX_ID_MAP_LINES + 1 }, (_, i) => m(i, i, 1)), 'f'), 'f', /341 mappings/);
});

test('toHostId and the uid_map text', () => {
  const maps = [m(0, 100000, 1000), m(1000, 300000, 10)];
  assert.equal(toHostId(maps, 0), 100000);
  assert.equal(toHostId(maps, 999), 100999);
  assert.equal(toHostId(maps, 1005), 300005);
  assert.equal(toHostId(maps, 1010), null);
  assert.equal(formatIdMap(maps), '0 100000 1000\n1000 300000 10\n');
});

test('mountIdMap: mappings alone idmap the mount, idmap/ridmap alone take the container\'s, ridmap is recursive', () => {
  const linux = { uidMappings: [m(0, 1, 2)], gidMappings: [m(0, 3, 4)] };
  assert.equal(mountIdMap({ destination: '/x', options: ['rbind'] }, linux), null);
  assert.deepEqual(mountIdMap({ destination: '/x', uidMappings: [m(5, 6, 7)], gidMappings: [m(8, 9, 1)] }, linux),
    { uidMappings: [m(5, 6, 7)], gidMappings: [m(8, 9, 1)], recursive: false });
  assert.deepEqual(mountIdMap({ destination: '/x', options: ['rbind', 'ridmap'] }, linux), { ...linux, recursive: true });
});

test('a user namespace: the validated config keeps its mappings', () => {
  const c = userns((c) => (c.process.user = { uid: 1000, gid: 1000, additionalGids: [5] }));
  assert.deepEqual(c.linux?.uidMappings, [m(0, 100000, 65536)]);
});

test('a user namespace: root, the process ids, its groups and devpts uid=/gid= must be mapped', () => {
  refused(() => userns((c) => (c.linux.uidMappings = [m(1, 100001, 10)])), 'linux.uidMappings', /container uid 0 must be mapped/);
  refused(() => userns((c) => (c.linux.gidMappings = [m(1, 100001, 10)])), 'linux.gidMappings', /container gid 0 must be mapped/);
  refused(() => userns((c) => (c.process.user.gid = 65536)), 'process.user.gid', /65536 is not mapped in linux\.gidMappings/);
  refused(() => userns((c) => (c.process.user.additionalGids = [5, 70000])), 'process.user.additionalGids[1]', /70000 is not mapped/);
  refused(() => userns((c) => c.mounts[2].options.push('uid=70000')), 'mounts[2].options[6]', /70000 is not mapped in linux\.uidMappings/);
  refused(() => userns((c) => (c.linux.devices = [{ type: 'p', path: '/dev/f', gid: 70000 }])), 'linux.devices[0].gid', /70000 is not mapped/);
  userns((c) => (c.linux.devices = [{ type: 'c', path: '/dev/fuse', major: 10, minor: 229, uid: 70000 }])); // bound from the host: its uid does not apply
});

test('mappings without a user namespace are refused, as runc does', () => {
  const c: Json = JSON.parse(JSON.stringify(defaultConfig()));
  c.linux.gidMappings = [m(0, 1000, 1)];
  refused(() => validateConfig(c), 'linux.gidMappings', /need a user namespace/);
});

test('idmapped mounts: bind only, both lists, not empty, checked like a user namespace\'s', () => {
  const withMount = (mount: Json) => () => userns((c) => c.mounts.push(mount));
  const bind = { destination: '/x', type: 'bind', source: '/srv', options: ['rbind', 'idmap'] };
  refused(withMount({ ...bind, type: 'tmpfs', options: ['ridmap'] }), 'mounts[7]', /only supported for bind mounts/);
  refused(withMount({ ...bind, uidMappings: [m(0, 1, 1)] }), 'mounts[7].gidMappings', /go together/);
  refused(withMount({ ...bind, uidMappings: [], gidMappings: [m(0, 1, 1)] }), 'mounts[7].uidMappings', /must not be empty/);
  refused(withMount({ ...bind, uidMappings: [m(0, 1, 1)], gidMappings: [m(0, 1, 2), m(1, 50, 1)] }), 'mounts[7].gidMappings[1]', /container ids overlap/);
  assert.equal(userns((c) => c.mounts.push(bind)).mounts?.[7]?.uidMappings, undefined, 'idmap alone is fine in a user namespace');
});
