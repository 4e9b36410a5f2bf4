// What the SDK decides without a daemon: where the socket is, how options
// become requests, how API errors become typed errors.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import {
  Banger,
  BangerError,
  ConflictError,
  InternalError,
  InvalidArgumentError,
  NotFoundError,
  TimeoutError,
  UnavailableError,
  resolveSocketPath,
} from '../dist/index.js';
import { createRequest } from '../dist/client.js';
import { errorFor, errorFromBody } from '../dist/errors.js';
import { execRequest, toArgv } from '../dist/exec.js';

test('socket lookup: option > BANGER_SOCKET > BANGER_HOME > default home', () => {
  const env = { BANGER_SOCKET: '/s/sock', BANGER_HOME: '/h', HOME: '/home/u' };
  assert.equal(resolveSocketPath('/explicit.sock', env), '/explicit.sock');
  assert.equal(resolveSocketPath(undefined, env), '/s/sock');
  assert.equal(resolveSocketPath(undefined, { BANGER_HOME: '/h', HOME: '/home/u' }), '/h/bangerd.sock');
  const dflt = resolveSocketPath(undefined, { HOME: '/home/u' });
  if (process.getuid() === 0) assert.equal(dflt, '/var/lib/banger/bangerd.sock');
  else assert.equal(dflt, '/home/u/.local/share/banger/bangerd.sock');
  assert.throws(() => resolveSocketPath('', env), InvalidArgumentError);
});

test('create options map to the API request', () => {
  assert.deepEqual(
    createRequest({ name: 'a', image: 't', vcpus: 2, memoryMib: 512, labels: { k: 'v' }, ports: ['8080:80'], noStart: true, ttlMs: 60000 }),
    { name: 'a', image: 't', vcpu_count: 2, memory_mib: 512, labels: { k: 'v' }, ports: ['8080:80'], no_start: true, ttl_ms: 60000 },
  );
  assert.deepEqual(createRequest({}), {});
  for (const bad of [{ vcpus: 0 }, { vcpus: 1.5 }, { memoryMib: '512' }, { labels: { a: 1 } }, { labels: [] }, { ports: [80] }, { name: 3 }, { ttlMs: -1 }]) {
    assert.throws(() => createRequest(bad), InvalidArgumentError, JSON.stringify(bad));
  }
});

test('exec commands and options', () => {
  assert.deepEqual(toArgv('echo hi'), ['/bin/sh', '-c', 'echo hi']);
  assert.deepEqual(toArgv(['echo', 'a b']), ['echo', 'a b']);
  assert.throws(() => toArgv('  '), InvalidArgumentError);
  assert.throws(() => toArgv(['a', 1]), InvalidArgumentError);
  assert.deepEqual(execRequest(['id'], { env: { A: 'b' }, cwd: '/tmp', user: 'app', agentTimeoutMs: 5000 }), {
    argv: ['id'], tty: false, rows: 24, cols: 80, env: { A: 'b' }, cwd: '/tmp', user: 'app', timeout_ms: 5000,
  });
  assert.throws(() => execRequest(['id'], { cwd: 'tmp' }), InvalidArgumentError);
  assert.throws(() => execRequest(['id'], { env: { A: 1 } }), InvalidArgumentError);
  assert.throws(() => execRequest(['id'], { timeoutMs: 0 }), InvalidArgumentError);
});

test('API errors become typed errors with the API code and message', () => {
  const cases = [
    ['invalid_argument', 400, InvalidArgumentError],
    ['not_found', 404, NotFoundError],
    ['conflict', 409, ConflictError],
    ['unavailable', 503, UnavailableError],
    ['timeout', 504, TimeoutError],
    ['internal', 500, InternalError],
  ];
  for (const [code, status, cls] of cases) {
    const e = errorFromBody(status, JSON.stringify({ error: { code, message: `m ${code}` } }));
    assert.ok(e instanceof cls, code);
    assert.ok(e instanceof BangerError);
    assert.equal(e.code, code);
    assert.equal(e.message, `m ${code}`);
    assert.equal(e.status, status);
    assert.equal(e.name, cls.name);
  }
  // Guest file codes keep their code; unknown ones fall back on the status.
  assert.ok(errorFor('exists', 'x', 409) instanceof ConflictError);
  const ns = errorFor('no_space', 'disk full', 507);
  assert.equal(ns.constructor, BangerError);
  assert.equal(ns.code, 'no_space');
  assert.ok(errorFromBody(404, 'not json') instanceof NotFoundError);
  assert.match(errorFromBody(502, '<html>').message, /^HTTP 502/);
});

test('connect to a socket nobody listens on is UnavailableError naming it', async () => {
  await assert.rejects(Banger.connect({ socketPath: '/nonexistent/dir/bangerd.sock' }), (e) => {
    assert.ok(e instanceof UnavailableError);
    assert.match(e.message, /cannot reach bangerd at \/nonexistent\/dir\/bangerd.sock/);
    return true;
  });
});
