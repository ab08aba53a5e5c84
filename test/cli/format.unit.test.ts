import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseArgs } from '../../src/cli/args.js';
import { fieldRows, formatFlag, outputFormat, streamTable, table } from '../../src/cli/format.js';

const parsed = (...argv: string[]) => parseArgs(argv, [formatFlag('table')]);

test('--format: table or json, the command\'s default when absent, anything else refused naming the flag', () => {
  assert.equal(outputFormat(parsed(), 'table'), 'table');
  assert.equal(outputFormat(parsed(), 'json'), 'json');
  assert.equal(outputFormat(parsed('--format', 'json'), 'table'), 'json');
  assert.equal(outputFormat(parsed('-f', 'table'), 'json'), 'table');
  assert.equal(outputFormat(parsed('--format=json'), 'table'), 'json');
  for (const bad of ['yaml', 'JSON', '']) {
    assert.throws(() => outputFormat(parsed('--format', bad), 'table'), { code: 'INVALID_ARGUMENT', field: 'format', message: `--format ${bad}: use table or json` });
  }
  assert.equal(formatFlag('json').help, 'table or json (default json)');
});

test('a table pads every column but the last to its widest cell', () => {
  assert.equal(table(['ID', 'PID'], [['a', '1'], ['longer', '22']]), 'ID      PID\na       1\nlonger  22');
  assert.equal(table(['ID', 'PID'], []), 'ID  PID');
});

test('a streamed table has fixed widths; a wider cell pushes the rest of its row along', () => {
  const t = streamTable([['TIME', 6], ['EVENT', 0], ['DETAILS', 0]]);
  assert.equal(t.header, 'TIME    EVENT  DETAILS');
  assert.equal(t.row(['12:00', 'Paused', '']), '12:00   Paused');
  assert.equal(t.row(['12:00:00.000', 'Resumed', 'x']), '12:00:00.000  Resumed  x');
});

test('a document as field rows: dotted paths, lists joined, empty ones shown as -', () => {
  assert.deepEqual(fieldRows({ a: '1', linux: { ns: ['pid', 'net'], cgroup: { v2: true }, none: [], empty: {} } }), [
    ['a', '1'], ['linux.ns', 'pid,net'], ['linux.cgroup.v2', 'true'], ['linux.none', '-'], ['linux.empty', '-'],
  ]);
});
