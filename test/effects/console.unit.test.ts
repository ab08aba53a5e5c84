/**
 * The control channel and the console target against FakeSyscalls: which fds are read, sent,
 * kept and closed, and the coded errors for bad terminal options (nothing connected or left).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isRuntimeError } from '../../src/errors.js';
import { deliverConsole, prepareConsole, type ConsoleRequest } from '../../src/effects/console.js';
import { ControlChannel } from '../../src/effects/control.js';
import { FakeSyscalls } from '../../src/effects/fake.js';
import { defaultConfig, type OciProcess } from '../../src/machines/spec.js';

const proc = (terminal: boolean): OciProcess => ({ ...defaultConfig().process, terminal });

function request(over: Partial<ConsoleRequest> = {}): ConsoleRequest & { kept: number[] } {
  const kept: number[] = [];
  return { socket: null, detached: false, keep: (fd) => kept.push(fd), kept, ...over };
}

/** A channel whose helper side sent `messages` and closed its end (as EXEC does before READY). */
function channelWith(sys: FakeSyscalls, messages: [string, number][], helperDone = true): ControlChannel {
  const ctl = new ControlChannel(sys);
  const ours = sys.peerOf(ctl.theirs)!;
  for (const [name, count] of messages) sys.deliver(ours, name, count);
  if (helperDone) ctl.releaseTheirs();
  return ctl;
}

function rejects(fn: () => unknown, code: string, field: string, message?: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(isRuntimeError(e), String(e));
    assert.equal(e.code, code);
    assert.equal(e.field, field);
    if (message) assert.match(e.message, message);
    return true;
  });
}

test('drain reads every message up to the end of stream; take hands the fds over; close releases the rest', () => {
  const sys = new FakeSyscalls();
  const ctl = channelWith(sys, [['console', 1], ['other', 2]]);
  ctl.drain();
  assert.equal(sys.openFds.size, 3, 'three received fds; both ends closed');
  const [master] = ctl.take('console') ?? [];
  assert.ok(master !== undefined && sys.openFds.has(master));
  assert.equal(ctl.take('console'), null, 'taken once');
  ctl.close();
  assert.deepEqual([...sys.openFds], [master], 'only the taken fd is still open');
  ctl.close(); // idempotent
});

test('drain stops at EAGAIN instead of waiting when the helper end is still open', () => {
  const sys = new FakeSyscalls();
  const ctl = channelWith(sys, [['console', 1]], false);
  ctl.drain();
  assert.equal(ctl.takeOne('console') !== null, true);
  ctl.close();
});

test('takeOne closes the fds of a name that came with more than one', () => {
  const sys = new FakeSyscalls();
  const ctl = channelWith(sys, [['console', 2]]);
  ctl.drain();
  assert.equal(ctl.takeOne('console'), null);
  ctl.close();
  assert.equal(sys.openFds.size, 0);
});

test('a terminal without a console socket for a detached caller is refused before anything is connected (runc wording)', () => {
  const sys = new FakeSyscalls();
  rejects(() => prepareConsole(sys, 'create web', proc(true), request({ detached: true })), 'INVALID_ARGUMENT', 'process.terminal',
    /^create web: cannot allocate tty if berth will detach without setting console socket$/);
  assert.deepEqual(sys.callsOf('connectUnix'), []);
});

test('a console socket without a terminal is refused', () => {
  const sys = new FakeSyscalls();
  sys.listenUnix('/run/sock');
  rejects(() => prepareConsole(sys, 'create web', proc(false), request({ socket: '/run/sock', detached: true })), 'INVALID_ARGUMENT', 'consoleSocket',
    /cannot use console socket if berth will not detach or allocate tty/);
  assert.deepEqual(sys.callsOf('connectUnix'), []);
});

test('a console socket nobody listens on is INVALID_ARGUMENT naming --console-socket, nothing left open', () => {
  const sys = new FakeSyscalls();
  rejects(() => prepareConsole(sys, 'create web', proc(true), request({ socket: '/run/none.sock', detached: true })), 'INVALID_ARGUMENT', 'consoleSocket',
    /^create web: --console-socket \/run\/none\.sock: ENOENT$/);
  assert.equal(sys.openFds.size, 0);
});

test('with a console socket the master is sent as runc sends it and closed here', () => {
  const sys = new FakeSyscalls();
  let far = -1;
  sys.listenUnix('/run/sock', (fd) => { far = fd; });
  const target = prepareConsole(sys, 'create web', proc(true), request({ socket: '/run/sock', detached: true }));
  const ctl = channelWith(sys, [['console', 1]]);
  ctl.drain();
  deliverConsole('create web', proc(true), ctl, target);
  ctl.close();
  const got = sys.recvFds(far);
  assert.equal(got.data.toString(), '/dev/ptmx');
  assert.equal(got.fds.length, 1);
  assert.deepEqual([...sys.openFds].sort(), [far, got.fds[0]].sort(), 'the master and our connection are closed');
});

test('without a console socket the master is kept for the caller', () => {
  const sys = new FakeSyscalls();
  const req = request();
  const target = prepareConsole(sys, 'create web', proc(true), req);
  const ctl = channelWith(sys, [['console', 1]]);
  ctl.drain();
  deliverConsole('create web', proc(true), ctl, target);
  ctl.close();
  assert.equal(req.kept.length, 1);
  assert.deepEqual([...sys.openFds], req.kept);
});

test('a terminal whose helper sent no console is an INTERNAL error; a process without one ignores the channel', () => {
  const sys = new FakeSyscalls();
  const target = prepareConsole(sys, 'create web', proc(true), request());
  const ctl = channelWith(sys, []);
  ctl.drain();
  assert.throws(() => deliverConsole('create web', proc(true), ctl, target), (e: unknown) => isRuntimeError(e, 'INTERNAL'));
  const req = request();
  deliverConsole('create web', proc(false), ctl, prepareConsole(sys, 'create web', proc(false), req));
  assert.deepEqual(req.kept, []);
  ctl.close();
  assert.equal(sys.openFds.size, 0);
});
