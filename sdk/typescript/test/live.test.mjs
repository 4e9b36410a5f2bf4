// The SDK against a live daemon booting real guests (run under
// tests/live/with-daemon.sh, which exports BANGER_SOCKET). One VM is booted
// for the whole file; a fork of it is the second.

import assert from 'node:assert/strict';
import * as net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';

import {
  Banger,
  BangerError,
  ConflictError,
  InvalidArgumentError,
  NotFoundError,
  TimeoutError,
} from '../dist/index.js';

if (!process.env.BANGER_SOCKET) {
  throw new Error('BANGER_SOCKET is not set: run this under tests/live/with-daemon.sh');
}

const VM = 'sdk-ts-a';
const FORK = 'sdk-ts-fork';

/** Resolves with the first item of an async iterable that matches, or rejects after ms. */
async function firstMatch(iterable, pred, ms, what) {
  let timer;
  const deadline = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: nothing within ${ms} ms`)), ms);
  });
  const search = (async () => {
    for await (const item of iterable) if (pred(item)) return item;
    throw new Error(`${what}: the stream ended`);
  })();
  try {
    return await Promise.race([search, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

async function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

describe('banger TypeScript SDK against a live daemon', () => {
  /** @type {Banger} */
  let banger;
  let vm;
  let events;

  before(async () => {
    banger = await Banger.connect();
    events = await banger.events({ after: 0 });
    const t0 = Date.now();
    vm = await banger.vms.create({ name: VM, labels: { suite: 'sdk-ts' } });
    console.log(`# create ${VM}: ${Date.now() - t0} ms`);
  });

  after(async () => {
    events?.close();
    if (banger) {
      await banger.vms.delete(FORK, { missingOk: true });
      await banger.vms.delete(VM, { missingOk: true });
    }
  });

  test('ping', async () => {
    const p = await banger.ping();
    assert.equal(p.api, 1);
    assert.ok(p.vms_total >= 1);
    assert.equal(banger.socketPath, process.env.BANGER_SOCKET);
  });

  test('the events iterator sees vm.created', async () => {
    const ev = await firstMatch(events, (e) => e.type === 'vm.created' && e.vm_name === VM, 30_000, 'vm.created');
    assert.equal(ev.vm_id, vm.id);
    assert.ok(ev.seq > 0);
    events.close();
  });

  test('create, list, get', async () => {
    assert.equal(vm.name, VM);
    assert.equal(vm.state, 'running');
    assert.deepEqual(vm.labels, { suite: 'sdk-ts' });
    const listed = await banger.vms.list({ labels: { suite: 'sdk-ts' } });
    assert.deepEqual(listed.map((v) => v.name), [VM]);
    assert.equal((await banger.vms.list({ labels: { suite: 'other' } })).length, 0);
    const got = await banger.vms.get(VM);
    assert.equal(got.id, vm.id);
    assert.equal((await banger.vms.get(vm.id.slice(0, 12))).name, VM);
  });

  test('bad arguments are typed errors carrying the API message', async () => {
    // The daemon's validation: its message arrives as is.
    await assert.rejects(banger.vms.create({ name: 'Bad_Name' }), (e) => {
      assert.ok(e instanceof InvalidArgumentError, `got ${e}`);
      assert.ok(e instanceof BangerError);
      assert.equal(e.code, 'invalid_argument');
      assert.equal(e.status, 400);
      assert.match(e.message, /^invalid vm name "Bad_Name": must be a DNS label/);
      return true;
    });
    await assert.rejects(banger.vms.get('no-such-vm'), (e) => {
      assert.ok(e instanceof NotFoundError, `got ${e}`);
      assert.equal(e.code, 'not_found');
      assert.equal(e.status, 404);
      assert.match(e.message, /no-such-vm/);
      return true;
    });
    await assert.rejects(banger.vms.create({ name: VM }), (e) => {
      assert.ok(e instanceof ConflictError, `got ${e}`);
      assert.equal(e.code, 'conflict');
      return true;
    });
    // Checked before anything is sent.
    await assert.rejects(banger.vms.create({ vcpus: 0 }), InvalidArgumentError);
    await assert.rejects(banger.vms.create({ labels: { a: 1 } }), InvalidArgumentError);
    await assert.rejects(banger.vms.get(''), InvalidArgumentError);
    await assert.rejects(vm.exec([1, 2]), InvalidArgumentError);
    await assert.rejects(vm.exec('echo', { cwd: 'relative' }), InvalidArgumentError);
    await assert.rejects(vm.files.read('relative/path'), InvalidArgumentError);
    await assert.rejects(vm.fork({ name: 'x', count: 65 }), InvalidArgumentError);
    assert.equal(await banger.vms.delete('no-such-vm', { missingOk: true }), false);
  });

  test('exec: stdout, argv, env, cwd', async () => {
    const r = await vm.exec('echo hello');
    assert.deepEqual(r, { exitCode: 0, signaled: false, signal: 0, stdout: 'hello\n', stderr: '' });
    const a = await vm.exec(['/bin/sh', '-c', 'echo "$FOO" && pwd'], { env: { FOO: 'b a r' }, cwd: '/tmp' });
    assert.equal(a.stdout, 'b a r\n/tmp\n');
    const b = await vm.exec(['echo', 'x'], { encoding: 'buffer' });
    assert.ok(Buffer.isBuffer(b.stdout));
    assert.equal(b.stdout.toString(), 'x\n');
  });

  test('exec: stdin, stderr, non-zero exit', async () => {
    const c = await vm.exec('cat', { stdin: 'line one\nline two\n' });
    assert.equal(c.stdout, 'line one\nline two\n');
    assert.equal(c.exitCode, 0);
    async function* chunks() {
      yield 'a';
      yield Buffer.from('b');
      yield new Uint8Array([0x63]);
    }
    assert.equal((await vm.exec(['cat'], { stdin: chunks() })).stdout, 'abc');
    const e = await vm.exec('echo oops >&2; exit 3');
    assert.equal(e.exitCode, 3);
    assert.equal(e.stdout, '');
    assert.equal(e.stderr, 'oops\n');
    const k = await vm.exec('kill -9 $$');
    assert.equal(k.signaled, true);
    assert.equal(k.signal, 9);
    assert.equal(k.exitCode, 137);
  });

  test('exec: streaming callbacks with back pressure see every byte', async () => {
    const size = 3 * 1024 * 1024;
    let seen = 0;
    let calls = 0;
    const r = await vm.exec(`head -c ${size} /dev/zero`, {
      collect: false,
      onStdout: async (chunk) => {
        seen += chunk.length;
        calls += 1;
        if (calls % 8 === 0) await sleep(20); // a slow consumer: the daemon waits
      },
    });
    assert.equal(r.exitCode, 0);
    assert.equal(seen, size);
    assert.equal(r.stdout, '');
    // stdin larger than one message, echoed back.
    const big = Buffer.alloc(2 * 1024 * 1024 + 17, 0x61);
    const w = await vm.exec(['wc', '-c'], { stdin: big });
    assert.equal(w.stdout.trim(), String(big.length));
  });

  test('exec: timeoutMs kills the command and throws TimeoutError', async () => {
    const t0 = Date.now();
    await assert.rejects(vm.exec('sleep 60', { timeoutMs: 1500 }), (e) => {
      assert.ok(e instanceof TimeoutError, `got ${e}`);
      assert.equal(e.code, 'timeout');
      return true;
    });
    assert.ok(Date.now() - t0 < 15_000);
  });

  test('exec: an AbortSignal ends the command', async () => {
    const ac = new AbortController();
    const t0 = Date.now();
    setTimeout(() => ac.abort(), 500);
    await assert.rejects(vm.exec('sleep 60', { signal: ac.signal }), (e) => {
      assert.equal(e.name, 'AbortError');
      return true;
    });
    assert.ok(Date.now() - t0 < 10_000);
    // The VM serves the next exec at once.
    assert.equal((await vm.exec(['echo', 'after'])).stdout, 'after\n');
  });

  test('spawn: stdin by hand, a signal', async () => {
    const p = await vm.spawn(['cat']);
    await p.write('typed\n');
    await p.end();
    const r = await p.wait();
    assert.equal(r.exitCode, 0);
    assert.equal(r.stdout.toString(), 'typed\n');
    const s = await vm.spawn('sleep 60');
    await s.kill(9);
    const k = await s.wait();
    assert.equal(k.signaled, true);
    assert.equal(k.signal, 9);
  });

  test('exec on an unknown VM is NotFoundError', async () => {
    const ghost = await banger.vms.get(VM);
    ghost.data = { ...ghost.data, id: 'no-such-vm' };
    await assert.rejects(ghost.exec('true'), NotFoundError);
  });

  test('files: write, read, stat, list', async () => {
    const w = await vm.files.write('/root/sdk.txt', 'from the ts sdk\n', { mode: 0o600 });
    assert.deepEqual(w, { path: '/root/sdk.txt', bytes: 16 });
    assert.equal(await vm.files.read('/root/sdk.txt', 'utf8'), 'from the ts sdk\n');
    const bin = Buffer.from([0, 1, 2, 255, 254]);
    await vm.files.write('/root/bin.dat', bin);
    assert.deepEqual(await vm.files.read('/root/bin.dat'), bin);
    const st = await vm.files.stat('/root/sdk.txt');
    assert.equal(st.type, 'file');
    assert.equal(st.mode, 0o600);
    assert.equal(st.size, 16);
    const names = (await vm.files.list('/root')).map((e) => e.name);
    assert.ok(names.includes('sdk.txt') && names.includes('bin.dat'), names.join(','));
    await assert.rejects(vm.files.read('/root/missing'), (e) => {
      assert.ok(e instanceof NotFoundError, `got ${e}`);
      return true;
    });
    await assert.rejects(vm.files.write('/no/such/dir/f', 'x'), BangerError);
    await assert.rejects(vm.files.read('/root'), InvalidArgumentError);
  });

  test('ports: publish, list, unpublish', async () => {
    assert.deepEqual(await vm.ports.list(), []);
    const hostPort = await freePort();
    const p = await vm.ports.publish({ hostIp: '127.0.0.1', hostPort, guestPort: 8080 });
    assert.equal(p.spec, `127.0.0.1:${hostPort}:8080/tcp`);
    assert.equal(p.listening, true);
    const listed = await vm.ports.list();
    assert.deepEqual(listed.map((x) => x.spec), [p.spec]);
    await assert.rejects(vm.ports.publish(`127.0.0.1:${hostPort}:9090`), ConflictError);
    await assert.rejects(vm.ports.publish('not-a-port'), InvalidArgumentError);
    assert.equal(await vm.ports.unpublish(hostPort), `127.0.0.1:${hostPort}/tcp`);
    assert.deepEqual(await vm.ports.list(), []);
    await assert.rejects(vm.ports.unpublish(hostPort), NotFoundError);
  });

  test('sessions: create, list, get, logs, stop', async () => {
    const s = await vm.sessions.create(['/bin/sh', '-c', 'echo started; echo warn >&2; sleep 60'], { name: 'bg' });
    assert.equal(s.name, 'bg');
    assert.equal(s.status, 'running');
    const listed = await vm.sessions.list();
    assert.ok(listed.some((x) => x.id === s.id));
    const got = await vm.sessions.get('bg');
    assert.equal(got.id, s.id);
    // Wait for the output to reach the logs.
    let logs;
    for (let i = 0; i < 50; i++) {
      logs = await s.logs();
      if (logs.stdout.toString() && logs.stderr.toString()) break;
      await sleep(200);
    }
    assert.equal(logs.stdout.toString(), 'started\n');
    assert.equal(logs.stderr.toString(), 'warn\n');
    const stopped = await vm.sessions.stop('bg');
    assert.ok(['stopping', 'exited', 'failed'].includes(stopped.status), stopped.status);
    // attach: stdin to a session started with stdin, its output from now
    // on; the session outlives the attach (detach with the AbortSignal).
    const cat = await vm.sessions.create(['cat'], { name: 'cat', stdin: true });
    const ac = new AbortController();
    let echoed = '';
    const detachAfter = setTimeout(() => ac.abort(), 30_000);
    await assert.rejects(
      cat.attach({
        stdin: 'through attach\n',
        signal: ac.signal,
        onStdout: (c) => {
          echoed += c.toString();
          if (echoed.includes('through attach\n')) ac.abort();
        },
      }),
      (e) => e.name === 'AbortError',
    );
    clearTimeout(detachAfter);
    assert.equal(echoed, 'through attach\n');
    await cat.stop();
    const quick = await vm.sessions.create('echo done', { name: 'quick' });
    const followed = await quick.logs({ follow: true });
    assert.equal(followed.stdout.toString(), 'done\n');
    assert.equal(followed.exitCode, 0);
    await assert.rejects(vm.sessions.get('no-such-session'), NotFoundError);
  });

  test('console follows the guest console', async () => {
    const con = await vm.console();
    const chunk = await firstMatch(con, (c) => c.length > 0, 20_000, 'console');
    assert.ok(chunk.length > 0);
    con.close();
    const once = await vm.consoleLog({ offset: 0 });
    assert.ok(once.data.length > 0);
    assert.ok(once.nextOffset >= once.data.length);
    assert.equal(once.state, 'running');
  });

  test('snapshot, fork, pause/resume', async () => {
    await vm.files.write('/root/marker', 'before-snapshot');
    const snap = await vm.snapshots.create({ name: 'snap1' });
    assert.equal(snap.name, 'snap1');
    assert.equal(snap.complete, true);
    assert.deepEqual((await vm.snapshots.list()).map((s) => s.name), ['snap1']);
    await assert.rejects(vm.snapshots.create({ name: 'snap1' }), ConflictError);
    await vm.snapshots.delete('snap1');
    assert.deepEqual(await vm.snapshots.list(), []);
    await assert.rejects(vm.snapshots.delete('snap1'), NotFoundError);

    const t0 = Date.now();
    const [child] = await vm.fork({ name: FORK });
    console.log(`# fork: ${Date.now() - t0} ms`);
    assert.equal(child.name, FORK);
    assert.equal(child.state, 'running');
    assert.equal((await child.exec('cat /root/marker; hostname')).stdout, `before-snapshot${FORK}\n`);
    await child.delete();
    await assert.rejects(banger.vms.get(FORK), NotFoundError);

    await vm.pause();
    assert.equal(vm.state, 'paused');
    await assert.rejects(vm.pause(), ConflictError);
    await vm.resume();
    assert.equal(vm.state, 'running');
  });

  test('delete', async () => {
    await vm.delete();
    await assert.rejects(banger.vms.get(VM), NotFoundError);
    await assert.rejects(vm.exec('true'), NotFoundError);
  });
});
