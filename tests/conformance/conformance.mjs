// OpenAPI conformance: docs/openapi.yaml against a live bangerd booting a
// real guest (run under tests/live/with-daemon.sh: BANGER_SOCKET, BANGER_HOME;
// BANGERD_BIN for --list-routes; OPENAPI_DOC the document).
//
// Fails when
//  - the document is not valid JSON Schema 2020-12 (ajv, strict);
//  - a route of the daemon's table (`bangerd --list-routes`) is not documented
//    with the same method, pattern and access, or a documented route is not
//    in the table;
//  - a documented route does not answer through its handler (the router's
//    own "no such endpoint" 404 or "method not allowed" 400), or answers on
//    the web listener against its x-banger-access;
//  - a real answer (status, headers, content type, JSON body) does not
//    validate against the document, along a realistic sequence: ping, images,
//    a VM created and booted, its list/show/stats/logs, ports, snapshots,
//    sessions, files, workspaces, events, errors, pause/resume, stop, delete;
//  - a WebSocket stream route does not answer the handshake (101), a plain GET
//    is not 400, or a stream message is not of a type and schema the document
//    gives that route.
import {spawnSync} from 'node:child_process';
import {createHash} from 'node:crypto';
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs';
import net from 'node:net';
import WebSocket from 'ws';
import {loadSpec, makeAjv, rebase, resolve, operations} from './spec.mjs';
import {request} from './http.mjs';

const env = (k) => {
  const v = process.env[k];
  if (!v) {
    console.error(`conformance: set ${k}`);
    process.exit(2);
  }
  return v;
};
const kSocket = env('BANGER_SOCKET');
const kBangerd = env('BANGERD_BIN');
const kDocPath = env('OPENAPI_DOC');

let checks = 0;
const failures = [];
function fail(msg) {
  failures.push(msg);
  console.log(`FAIL ${msg}`);
}
function expect(cond, msg) {
  checks++;
  if (!cond) fail(msg);
  return cond;
}
function step(name) {
  console.log(`-- ${name}`);
}

// ---- the document ----
const {text: docText, doc} = loadSpec(kDocPath);
let ajv;
try {
  ajv = makeAjv(doc);
} catch (e) {
  console.log(`FAIL docs/openapi.yaml: a schema does not compile: ${e.message}`);
  process.exit(1);
}
const ops = operations(doc);
const validators = new Map();
function validatorFor(schema) {
  const key = JSON.stringify(schema);
  if (!validators.has(key)) validators.set(key, ajv.compile(rebase(schema)));
  return validators.get(key);
}
function validate(schema, value, what) {
  const v = validatorFor(schema);
  const good = v(value);
  const why = (v.errors || []).map((e) => `${e.instancePath || '/'} ${e.message}` +
    (e.params?.additionalProperty ? ` ("${e.params.additionalProperty}")` : '') +
    (e.params?.allowedValues ? ` (${e.params.allowedValues})` : '')).join('; ');
  expect(good, `${what}: does not match the document: ${why}` +
    `\n     value: ${JSON.stringify(value).slice(0, 600)}`);
  return good;
}

// The operation a concrete request lands on, matched as the router does: a
// pattern of the same length, a literal beating a parameter.
function findOp(method, target, listener) {
  const path = target.split('?')[0];
  const segs = path.split('/').slice(1);
  let best = null;
  for (const o of ops) {
    if (o.method !== method) continue;
    // On the web listener, the API is /v1/... and GET /metrics; the rest is the listener's own.
    const api = path.startsWith('/v1/') || path === '/metrics';
    if ((o.listener === 'web') !== (listener === 'web' && !api)) continue;
    const pat = o.path === '/' ? [] : o.path.split('/').slice(1);
    const s = path === '/' ? [] : segs;
    if (pat.length !== s.length) continue;
    if (!pat.every((p, i) => p.startsWith('{') || p === s[i])) continue;
    if (!best) {
      best = {o, pat};
      continue;
    }
    for (let i = 0; i < pat.length; i++) {
      const a = pat[i].startsWith('{'), b = best.pat[i].startsWith('{');
      if (a !== b) {
        if (!a) best = {o, pat};
        break;
      }
    }
  }
  return best && best.o;
}

// Checks one answer against the document; returns its JSON body (or null).
function checkAnswer(method, target, res, listener) {
  const what = `${listener === 'web' ? 'web ' : ''}${method} ${target} -> ${res.status}`;
  const op = findOp(method, target, listener);
  if (!expect(op, `${what}: no documented operation`)) return null;
  const responses = op.op.responses;
  const spec = resolve(doc, responses[String(res.status)] || responses.default);
  if (!expect(spec, `${what}: status not documented (and no default)`)) return null;
  for (const [name, h] of Object.entries(spec.headers || {})) {
    const hv = resolve(doc, h);
    let got = res.headers[name.toLowerCase()];
    if (Array.isArray(got)) got = got.join(', ');
    if (got === undefined) {
      expect(!hv.required, `${what}: header ${name} missing`);
      continue;
    }
    const schema = hv.schema || {};
    const val = schema.type === 'integer' ? Number(got) : got;
    validate(schema, val, `${what}: header ${name}`);
  }
  const ctype = (res.headers['content-type'] || '').split(';')[0].trim();
  if (!spec.content) {
    expect(res.body.length === 0, `${what}: a body where the document has none`);
    return null;
  }
  const media = spec.content[ctype];
  if (!expect(media, `${what}: content type "${ctype}" not documented (${Object.keys(spec.content)})`)) return null;
  if (ctype !== 'application/json') return null;
  let json;
  try {
    json = JSON.parse(res.body.toString('utf8'));
  } catch (e) {
    fail(`${what}: body is not JSON: ${e.message}`);
    return null;
  }
  if (media.schema) validate(media.schema, json, what);
  return json;
}

// ---- requests ----
let web = null;  // {host, port, cookie} once the web listener is known and logged in
// `undocumented`: a request no operation documents (a bad path or method):
// its answer must still be the Error envelope.
async function call(method, target, {body, headers = {}, listener = 'unix', expectStatus, undocumented} = {}) {
  const h = {...headers};
  let opts = {socketPath: kSocket, method, path: target, headers: h, body};
  if (listener === 'web') {
    h.Host = h.Host || `${web.host}:${web.port}`;
    if (web.cookie && !('Cookie' in h)) h.Cookie = web.cookie;
    if (method !== 'GET' && !('X-Banger-UI' in h)) h['X-Banger-UI'] = '1';
    opts = {host: web.host, port: web.port, method, path: target, headers: h, body};
  }
  let res;
  try {
    res = await request(opts);
  } catch (e) {
    throw new Error(`${listener === 'web' ? 'web ' : ''}${method} ${target}: ${e.message}`);
  }
  let json = null;
  if (undocumented) {
    try {
      json = JSON.parse(res.body.toString('utf8'));
      validate({$ref: '#/components/schemas/Error'}, json, `${method} ${target} -> ${res.status}`);
    } catch (e) {
      fail(`${method} ${target}: the answer is not JSON: ${e.message}`);
    }
  } else {
    json = checkAnswer(method, target, res, listener);
  }
  if (expectStatus !== undefined) {
    const want = Array.isArray(expectStatus) ? expectStatus : [expectStatus];
    expect(want.includes(res.status),
      `${listener === 'web' ? 'web ' : ''}${method} ${target}: status ${res.status}, want ${want}: ` +
      res.body.toString('utf8').slice(0, 300));
  }
  return {...res, json};
}

function isRouterAnswer(res) {
  const msg = res.json && res.json.error && res.json.error.message;
  return typeof msg === 'string' &&
    ((res.status === 404 && msg.startsWith('no such endpoint')) ||
     (res.status === 400 && /^method [A-Z]+ not allowed on /.test(msg)));
}

// A concrete target for a documented operation, with placeholder parameters
// that name nothing (so no probe changes anything).
function probeTarget(o) {
  let path = o.path.replace(/\{host_port\}/g, '1').replace(/\{[^}]+\}/g, 'conformance-missing');
  const params = [...(o.item.parameters || []), ...(o.op.parameters || [])].map((p) => resolve(doc, p));
  const q = params.filter((p) => p.in === 'query' && p.required).map((p) => `${p.name}=/tmp`);
  return q.length ? `${path}?${q.join('&')}` : path;
}

// ---- WebSocket streams ----
const kTypes = Object.fromEntries(doc.components['x-banger-stream-messages'].map((m) => [m.type, m]));
const kTypeByName = Object.fromEntries(doc.components['x-banger-stream-messages'].map((m) => [m.name, m.type]));

// Opens a stream; resolves {status, ws, messages, closed} once the handshake
// answered (status 101) or was refused (status, body checked by the document).
function openStream(target, {listener = 'unix', headers = {}} = {}) {
  return new Promise((resolveOpen) => {
    const url = listener === 'web' ? `ws://${web.host}:${web.port}${target}` : `ws+unix://${kSocket}:${target}`;
    const h = {...headers};
    if (listener === 'web' && web.cookie) h.Cookie = web.cookie;
    const ws = new WebSocket(url, {headers: h, perMessageDeflate: false, handshakeTimeout: 60000});
    const st = {status: 0, ws, messages: [], closeCode: null, error: null};
    st.closed = new Promise((r) => ws.on('close', (code) => {
      st.closeCode = code;
      r(code);
    }));
    ws.on('upgrade', (res) => {
      st.status = res.statusCode;
    });
    ws.on('open', () => resolveOpen(st));
    ws.on('message', (data, isBinary) => st.messages.push({data: Buffer.from(data), isBinary}));
    ws.on('unexpected-response', (req, res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        st.status = res.statusCode;
        st.refused = {status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks)};
        resolveOpen(st);
      });
    });
    ws.on('error', (e) => {
      st.error = e;
      resolveOpen(st);
    });
  });
}

// Checks a stream's messages against its operation's x-banger-stream.
function checkMessages(o, st, what) {
  const s = o.stream;
  const out = [];
  for (const m of st.messages) {
    if (!expect(m.isBinary, `${what}: a text message from the daemon`)) continue;
    const type = m.data[0];
    const payload = m.data.subarray(1);
    const t = kTypes[type];
    if (!expect(t, `${what}: unknown message type ${type}`)) continue;
    expect(s.sends.includes(t.name), `${what}: sends ${t.name}, not in its x-banger-stream.sends ${s.sends}`);
    let json = null;
    const schema = t.name === 'result' ? s.result : t.name === 'event' ? (s.event || t.schema) : t.schema;
    if (schema) {
      try {
        json = JSON.parse(payload.toString('utf8'));
        validate(schema, json, `${what}: ${t.name} message`);
      } catch (e) {
        fail(`${what}: ${t.name} payload is not JSON: ${e.message}`);
      }
    }
    out.push({name: t.name, payload, json});
  }
  return out;
}

function msg(name, payload = Buffer.alloc(0)) {
  return Buffer.concat([Buffer.from([kTypeByName[name]]), Buffer.isBuffer(payload) ? payload : Buffer.from(payload)]);
}

async function waitFor(cond, ms, what) {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (cond()) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return expect(cond(), `${what}: not within ${ms} ms`);
}

// Runs a stream to its end (the daemon's close), with a deadline.
async function finish(st, ms, what) {
  const t = new Promise((r) => setTimeout(() => r('timeout'), ms));
  const r = await Promise.race([st.closed, t]);
  if (r === 'timeout') {
    fail(`${what}: the stream did not end within ${ms} ms`);
    st.ws.terminate();
  }
}

function streamOp(path) {
  return ops.find((o) => o.stream && o.path === path);
}

// A one-file ustar archive.
function tarOf(name, content) {
  const h = Buffer.alloc(512);
  const put = (s, off, len) => h.write(s, off, len, 'ascii');
  put(name, 0, 100);
  put('0000644\0', 100, 8);
  put('0000000\0', 108, 8);
  put('0000000\0', 116, 8);
  put(content.length.toString(8).padStart(11, '0') + '\0', 124, 12);
  put(Math.floor(Date.now() / 1000).toString(8).padStart(11, '0') + '\0', 136, 12);
  put('        ', 148, 8);
  put('0', 156, 1);
  put('ustar\0', 257, 6);
  put('00', 263, 2);
  let sum = 0;
  for (const b of h) sum += b;
  put(sum.toString(8).padStart(6, '0') + '\0 ', 148, 8);
  const data = Buffer.alloc(Math.ceil(content.length / 512) * 512);
  Buffer.from(content).copy(data);
  return Buffer.concat([h, data, Buffer.alloc(1024)]);
}

function freePort() {
  return new Promise((r, j) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const p = s.address().port;
      s.close(() => r(p));
    });
    s.on('error', j);
  });
}

// ---- the checks ----
const line = (o) => `${o.method} ${o.path} ${o.access}`;
// Whether the daemon serves the WebSocket stream routes (issue 13's stream
// protocol). A daemon built before them still has the older "Upgrade:
// banger-stream/1" routes: then the stream checks are skipped, loudly, and
// only routes that prove to be such a legacy upgrade are let through the
// route-table comparison.
let wsReady = true;
function apiOps() {
  return ops.filter((x) => x.listener === 'api' && (wsReady || !x.stream));
}

async function checkRouteTable() {
  step('route table: bangerd --list-routes vs the document');
  const r = spawnSync(kBangerd, ['--list-routes'], {encoding: 'utf8'});
  if (!expect(r.status === 0, `bangerd --list-routes failed: ${r.stderr}`)) return;
  const table = new Set(r.stdout.trim().split('\n'));
  for (const o of ops.filter((x) => x.listener === 'api')) {
    expect(o.access === 'any' || o.access === 'local', `${o.method} ${o.path}: x-banger-access must be any or local`);
  }
  // A daemon that speaks WebSocket at all (one stream route of the table
  // answers a plain GET with "... is a WebSocket stream") must have every
  // documented stream route.
  wsReady = false;
  for (const o of ops.filter((x) => x.stream && table.has(line(x)))) {
    const res = await request({socketPath: kSocket, method: 'GET', path: probeTarget(o)});
    if (res.status === 400 && /WebSocket/.test(res.body.toString('utf8'))) wsReady = true;
  }
  if (!wsReady) {
    console.log('SKIP WebSocket streams: this daemon has no WebSocket stream routes (the WebSocket stream protocol ' +
      'of issue 13 is not in this build): the stream routes\' table, handshake and message checks are skipped');
  }
  const documented = new Set(apiOps().map(line));
  for (const l of table) {
    if (documented.has(l)) continue;
    if (!wsReady) {
      const [method, path] = l.split(' ');
      const res = await request({socketPath: kSocket, method, path: path.replace(/\{[^}]+\}/g, 'conformance-missing'),
        body: {}});
      const m = res.body.toString('utf8');
      if (res.status === 400 && m.includes('Upgrade: banger-stream/1')) {
        console.log(`SKIP the daemon's route "${l}": a legacy banger-stream/1 upgrade route, replaced by a WebSocket route`);
        continue;
      }
    }
    fail(`the daemon's route "${l}" is not in docs/openapi.yaml`);
  }
  for (const l of documented) expect(table.has(l), `docs/openapi.yaml documents "${l}", the daemon has no such route`);
  console.log(`   ${table.size} routes in the daemon, ${documented.size} documented${wsReady ? '' : ' (streams skipped)'}`);
}

async function checkEveryRouteAnswers() {
  step('every documented route answers through its handler (Unix socket)');
  for (const o of apiOps()) {
    if (o.method === 'POST' && o.path === '/v1/daemon/stop') continue;  // the last check
    const target = probeTarget(o);
    const body = o.op.requestBody && resolve(doc, o.op.requestBody).content['application/json']
      ? {conformance_probe: true} : undefined;
    const res = await call(o.method, target, {body});
    expect(!isRouterAnswer(res), `${o.method} ${target}: answered by the router, not a handler: ${res.body}`);
    if (o.stream) {
      expect(res.status === 400 && /WebSocket/.test(res.json?.error?.message || ''),
        `plain ${o.method} ${target} on a stream route: want 400 "... is a WebSocket stream", got ${res.status} ${res.body}`);
    }
  }
}

async function checkWebAccess() {
  step('web listener: x-banger-access (local routes are 403 there, any routes reach their handler)');
  for (const o of apiOps()) {
    const target = probeTarget(o);
    const body = o.op.requestBody && resolve(doc, o.op.requestBody).content['application/json']
      ? {conformance_probe: true} : undefined;
    const res = await call(o.method, target, {body, listener: 'web'});
    if (o.access === 'local') {
      expect(res.status === 403 && res.json?.error?.code === 'forbidden',
        `web ${o.method} ${target} (local): want 403 forbidden, got ${res.status} ${res.body}`);
    } else {
      expect(res.status !== 403 && res.status !== 401 && !isRouterAnswer(res),
        `web ${o.method} ${target} (any): want its handler's answer, got ${res.status} ${res.body}`);
    }
  }
}

// What OpenAPI requires of the document beyond its schemas, and this one's
// own conventions.
function checkDocument() {
  step('the document: operation ids, path parameters, stream routes');
  expect(/^3\.1\./.test(doc.openapi), `openapi ${doc.openapi}: want 3.1.x`);
  const ids = new Set();
  for (const o of ops) {
    const what = `${o.method} ${o.path}`;
    expect(o.op.operationId && !ids.has(o.op.operationId), `${what}: missing or duplicate operationId`);
    ids.add(o.op.operationId);
    const params = [...(o.item.parameters || []), ...(o.op.parameters || [])].map((p) => resolve(doc, p));
    for (const m of o.path.matchAll(/\{([^}]+)\}/g)) {
      expect(params.some((p) => p.in === 'path' && p.name === m[1] && p.required === true),
        `${what}: path parameter {${m[1]}} is not declared (in: path, required)`);
    }
    for (const p of params.filter((x) => x.in === 'path')) {
      expect(o.path.includes(`{${p.name}}`), `${what}: declares path parameter ${p.name} its path does not have`);
    }
    for (const [status, r] of Object.entries(o.op.responses || {})) {
      expect(resolve(doc, r)?.description, `${what} ${status}: a response needs a description`);
    }
    if (o.stream) {
      expect(o.method === 'GET' && o.op.responses['101'], `${what}: a stream route is a GET answered 101`);
      for (const n of [...o.stream.sends, ...o.stream.accepts]) {
        expect(n in kTypeByName, `${what}: x-banger-stream names an unknown message type ${n}`);
      }
      expect(!o.stream.sends.includes('result') || o.stream.result, `${what}: sends result without its schema`);
    }
  }
}

async function main() {
  const t0 = Date.now();
  checkDocument();
  await checkRouteTable();

  step('ping and the served document');
  const ping = await call('GET', '/v1/ping', {expectStatus: 200});
  const served = await call('GET', '/v1/openapi.yaml', {expectStatus: 200});
  expect(served.body.toString('utf8') === docText,
    'GET /v1/openapi.yaml is not docs/openapi.yaml (the daemon embeds the document at build time: rebuild)');

  await checkEveryRouteAnswers();

  step('errors');
  await call('GET', '/v1/nope', {expectStatus: 404, undocumented: true});
  await call('PUT', '/v1/vms', {expectStatus: 400, undocumented: true});
  await call('GET', '/v1/vms/..', {expectStatus: 400});
  await call('GET', '/v1/vms/conformance-missing', {expectStatus: 404});
  await call('POST', '/v1/vms', {body: {vcpu_count: 'two'}, expectStatus: 400});
  await call('POST', '/v1/vms', {body: '{"name":', expectStatus: 400});
  await call('GET', '/v1/events?limit=0', {expectStatus: 400});

  step('images');
  const images = await call('GET', '/v1/images', {expectStatus: 200});
  expect(images.json?.images?.some((i) => i.name === 't'), 'image t is listed');
  await call('GET', '/v1/images/t', {expectStatus: 200});
  await call('POST', '/v1/images/prune', {expectStatus: 200});
  await call('GET', '/v1/templates', {expectStatus: 200});

  step('web listener: login');
  const webUrl = ping.json?.web_url;
  if (expect(webUrl, 'ping carries web_url (run with BANGER_LIVE_CONFIG=web_listen_addr = "127.0.0.1:0")')) {
    const u = new URL(webUrl);
    web = {host: u.hostname, port: Number(u.port), cookie: ''};
    await call('GET', '/login?token=bogus', {listener: 'web', expectStatus: 401});
    await call('GET', '/v1/ping', {listener: 'web', expectStatus: 401});
    const tok = await call('POST', '/v1/web/tokens', {expectStatus: 201});
    const login = await call('GET', `/login?token=${tok.json.login_token}`, {listener: 'web', expectStatus: 303});
    web.cookie = String(login.headers['set-cookie']).split(';')[0];
    await call('GET', '/', {listener: 'web', expectStatus: 200});
    await call('GET', '/v1/ping', {listener: 'web', expectStatus: 200});
    const wdoc = await call('GET', '/v1/openapi.yaml', {listener: 'web', expectStatus: 200});
    expect(wdoc.body.toString('utf8') === docText, 'web GET /v1/openapi.yaml is the document');
    await checkWebAccess();
  }

  step('vm create (boots a guest)');
  const hostPort = await freePort();
  const tBoot = Date.now();
  const created = await call('POST', '/v1/vms', {
    body: {name: 'conf-a', labels: {suite: 'conformance'}, request_id: 'conformance-1', ports: [`127.0.0.1:${hostPort}:8080`]},
    expectStatus: 201,
  });
  console.log(`   vm create answered in ${Date.now() - tBoot} ms`);
  if (!created.json || created.status !== 201) throw new Error('cannot go on without a VM');
  expect(created.json.state === 'running', `created vm state ${created.json.state}`);
  const again = await call('POST', '/v1/vms', {body: {name: 'conf-a', request_id: 'conformance-1'}, expectStatus: 200});
  expect(again.json?.id === created.json.id, 'a create with the same request_id answers the same VM');
  await call('POST', '/v1/vms', {body: {name: 'conf-a'}, expectStatus: 409});

  step('vm list/show/stats/logs/patch');
  const list = await call('GET', '/v1/vms', {expectStatus: 200});
  expect(list.json?.vms?.length === 1, 'one vm listed');
  const sel = await call('GET', '/v1/vms?label=suite=conformance', {expectStatus: 200});
  expect(sel.json?.vms?.length === 1, 'label selector');
  await call('GET', '/v1/vms?label=suite=other', {expectStatus: 200});
  await call('GET', `/v1/vms/conf-a`, {expectStatus: 200});
  await call('GET', `/v1/vms/${created.json.id.slice(0, 12)}`, {expectStatus: 200});
  await call('GET', '/v1/vms/conf-a/stats', {expectStatus: 200});
  await call('GET', '/v1/vms/conf-a/stats/history', {expectStatus: 200});
  await call('GET', '/v1/vms/conf-a/logs?offset=0', {expectStatus: 200});
  await call('GET', '/v1/vms/conf-a/logs?offset=0&wait_ms=200', {expectStatus: 200});
  await call('PATCH', '/v1/vms/conf-a', {body: {ttl_ms: 0}, expectStatus: 200});
  await call('PATCH', '/v1/vms/conf-a', {body: {memory_mib: 512}, expectStatus: 409});

  step('ports');
  await call('GET', '/v1/vms/conf-a/ports', {expectStatus: 200});
  const port2 = await freePort();
  await call('POST', '/v1/vms/conf-a/ports', {body: {port: `${port2}:8081`}, expectStatus: 201});
  await call('POST', '/v1/vms/conf-a/ports', {body: {port: `${port2}:8082`}, expectStatus: 409});
  await call('DELETE', `/v1/vms/conf-a/ports/${port2}`, {expectStatus: 200});
  await call('DELETE', `/v1/vms/conf-a/ports/${port2}`, {expectStatus: 404});

  step('files (waits for the guest agent)');
  const tAgent = Date.now();
  let ls = null;
  while (Date.now() - tAgent < 120000) {
    ls = await call('GET', '/v1/vms/conf-a/files?path=/');
    if (ls.status === 200) break;
    await new Promise((r) => setTimeout(r, 500));
  }
  expect(ls.status === 200, `GET files?path=/ once the agent is up: ${ls.status} ${ls.body}`);
  console.log(`   agent answered ${Date.now() - tAgent} ms after the create`);
  await call('GET', '/v1/vms/conf-a/files?path=/etc&stat=1', {expectStatus: 200});
  await call('PUT', '/v1/vms/conf-a/files?path=/root/conf.txt&mode=0600', {body: Buffer.from('conformance\n'), expectStatus: 200});
  const back = await call('GET', '/v1/vms/conf-a/files?path=/root/conf.txt', {expectStatus: 200});
  expect(back.body.toString() === 'conformance\n', 'the file written reads back');
  const missing = await call('GET', '/v1/vms/conf-a/files?path=/nonexistent', {expectStatus: 404});
  expect(missing.json?.error?.code === 'not_found', 'a missing guest path is not_found');
  await call('GET', '/v1/vms/conf-a/files', {expectStatus: 400});

  step('sessions');
  await call('POST', '/v1/vms/conf-a/sessions',
    {body: {name: 's1', argv: ['sh', '-c', 'echo hi; echo oops >&2; sleep 60'], tags: {k: 'v'}}, expectStatus: 201});
  await call('GET', '/v1/sessions', {expectStatus: 200});
  await call('GET', '/v1/sessions?vm=conf-a', {expectStatus: 200});
  await call('GET', '/v1/sessions/s1?vm=conf-a', {expectStatus: 200});
  await call('GET', '/v1/sessions/conformance-missing', {expectStatus: 404});

  step('workspaces, snapshots, events');
  await call('GET', '/v1/vms/conf-a/workspaces', {expectStatus: 200});
  await call('GET', '/v1/vms/conf-a/snapshots', {expectStatus: 200});
  await call('DELETE', '/v1/vms/conf-a/snapshots/nope', {expectStatus: 404});
  await call('GET', '/v1/events?after=0&limit=1000', {expectStatus: 200});

  if (wsReady) await checkStreams();

  step('sessions stop, pause/resume, snapshot, stop, delete');
  await call('POST', '/v1/sessions/s1/stop?vm=conf-a', {expectStatus: 200});
  await call('POST', '/v1/vms/conf-a/pause', {expectStatus: 200});
  await call('POST', '/v1/vms/conf-a/pause', {expectStatus: 409});
  await call('POST', '/v1/vms/conf-a/resume', {body: {}, expectStatus: 200});
  const tSnap = Date.now();
  await call('POST', '/v1/vms/conf-a/snapshots', {body: {name: 'conf-snap'}, expectStatus: 201});
  console.log(`   snapshot create answered in ${Date.now() - tSnap} ms`);
  await call('POST', '/v1/vms/conf-a/snapshots', {body: {name: 'conf-snap'}, expectStatus: 409});
  await call('GET', '/v1/vms/conf-a/snapshots', {expectStatus: 200});
  const tFork = Date.now();
  const fork = await call('POST', '/v1/vms/conf-a/fork', {body: {name: 'conf-b'}, expectStatus: 201});
  console.log(`   fork answered in ${Date.now() - tFork} ms`);
  expect(fork.json?.vms?.length === 1 && fork.json.vms[0].name === 'conf-b', 'fork makes conf-b');
  await call('DELETE', '/v1/vms/conf-b', {expectStatus: 200});
  await call('POST', '/v1/vms/conf-a/restore', {body: {snapshot: 'conf-snap'}, expectStatus: 409});
  await call('POST', '/v1/vms/conf-a/stop', {body: {timeout_ms: 2000}, expectStatus: 200});
  await call('POST', '/v1/vms/conf-a/stop', {expectStatus: [200, 409]});
  const restored = await call('POST', '/v1/vms/conf-a/restore', {body: {snapshot: 'conf-snap'}, expectStatus: 200});
  expect(restored.json?.state === 'running', 'a restored vm runs');
  const before = restored.json?.runtime?.boot_id;
  const restarted = await call('POST', '/v1/vms/conf-a/restart', {body: {timeout_ms: 2000}, expectStatus: 200});
  expect(restarted.json?.runtime?.boot_id && restarted.json.runtime.boot_id !== before, 'restart: a new boot_id');
  await call('DELETE', '/v1/vms/conf-a/snapshots/conf-snap', {expectStatus: 200});
  await call('POST', '/v1/vms/conf-a/stop', {body: {timeout_ms: 2000}, expectStatus: 200});
  await call('GET', '/v1/vms/conf-a/logs', {expectStatus: 200});
  await call('GET', '/v1/vms/conf-a', {expectStatus: 200});
  await call('DELETE', '/v1/vms/conf-a', {expectStatus: 200});
  await call('DELETE', '/v1/vms/conf-a', {expectStatus: 404});
  const gone = await call('DELETE', '/v1/vms/conf-a?missing_ok=true', {expectStatus: 200});
  expect(gone.json?.deleted === false, 'missing_ok delete of a missing vm says deleted false');

  step('templates (boots a guest)');
  const tTmpl = Date.now();
  const tmpl = await call('POST', '/v1/templates', {body: {image: 't'}, expectStatus: 201});
  console.log(`   template create answered in ${Date.now() - tTmpl} ms`);
  const tl = await call('GET', '/v1/templates?image=t', {expectStatus: 200});
  expect(tl.json?.templates?.length === 1, 'the template is listed');
  if (tmpl.json?.id) {
    await call('DELETE', `/v1/templates/${tmpl.json.id.slice(0, 8)}`, {expectStatus: 200});
    await call('DELETE', `/v1/templates/${tmpl.json.id.slice(0, 8)}`, {expectStatus: 404});
  }
  await call('GET', '/v1/events?after=0&limit=1000', {expectStatus: 200});

  step('web tokens revoked, daemon stop');
  await call('DELETE', '/v1/web/tokens', {expectStatus: 200});
  if (web) await call('GET', '/v1/ping', {listener: 'web', expectStatus: 401});
  // The daemon's stop shuts down every connection, this one included, and
  // may do so before the 202 is written (a race in HttpServer::Shutdown):
  // a hang-up here is reported, and the daemon must be gone either way.
  try {
    await call('POST', '/v1/daemon/stop', {expectStatus: 202});
  } catch (e) {
    console.log(`WARN ${e.message}: the connection closed before the answer (the daemon's stop races its reply)`);
  }
  let down = false;
  for (let i = 0; i < 100 && !down; i++) {
    await new Promise((r) => setTimeout(r, 100));
    down = await request({socketPath: kSocket, method: 'GET', path: '/v1/ping'}).then(() => false, () => true);
  }
  expect(down, 'the daemon stopped after POST /v1/daemon/stop');

  console.log(`\n${checks} checks in ${Date.now() - t0} ms, ${failures.length} failed`);
  if (failures.length) {
    console.log('FAILURES:');
    for (const f of failures) console.log(`  - ${f}`);
    process.exit(1);
  }
  console.log('PASS: the daemon conforms to docs/openapi.yaml');
}

async function checkStreams() {
  step('WebSocket streams');
  const kExec = '/v1/vms/{ref}/exec';

  // Every stream route: the handshake answers 101 (opening messages not sent).
  const handshakeTargets = {
    '/v1/images/build': '/v1/images/build',
    '/v1/images/pull': '/v1/images/pull',
    '/v1/vms/{ref}/exec': '/v1/vms/conf-a/exec',
    '/v1/vms/{ref}/console': '/v1/vms/conf-a/console?offset=0',
    '/v1/vms/{ref}/archive': '/v1/vms/conf-a/archive?path=/etc/hostname',
    '/v1/vms/{ref}/archive/upload': '/v1/vms/conf-a/archive/upload?path=/root',
    '/v1/sessions/{s}/logs': '/v1/sessions/s1/logs?vm=conf-a',
    '/v1/sessions/{s}/attach': '/v1/sessions/s1/attach?vm=conf-a',
    '/v1/vms/{ref}/workspaces/prepare': '/v1/vms/conf-a/workspaces/prepare',
    '/v1/vms/{ref}/workspaces/export': '/v1/vms/conf-a/workspaces/export',
    '/v1/events/stream': '/v1/events/stream?after=0',
  };
  for (const o of ops.filter((x) => x.stream)) {
    const target = handshakeTargets[o.path];
    if (!expect(target, `no handshake check for stream route ${o.path} (add one)`)) continue;
    const st = await openStream(target);
    expect(st.status === 101, `${target}: WebSocket handshake: ${st.status} ${st.error || ''} ${st.refused?.body || ''}`);
    if (st.refused) checkAnswer('GET', target, st.refused, 'unix');
    st.ws.terminate();
    // Unknown VM or session: a plain JSON 404 before any upgrade.
    if (o.path.includes('{')) {
      const bad = target.replace('conf-a', 'conformance-missing').replace('/s1/', '/conformance-missing/');
      const nf = await openStream(bad);
      expect(nf.status === 404, `${bad}: want a 404 before the upgrade, got ${nf.status}`);
      if (nf.refused) checkAnswer('GET', bad, nf.refused, 'unix');
    }
  }

  // exec: stdout, stderr, exit code.
  {
    const o = streamOp(kExec);
    const st = await openStream('/v1/vms/conf-a/exec');
    if (expect(st.status === 101, 'exec handshake')) {
      st.ws.send(JSON.stringify({argv: ['sh', '-c', 'echo out; echo err >&2; exit 3']}));
      await finish(st, 60000, 'exec');
      const m = checkMessages(o, st, 'exec');
      const out = Buffer.concat(m.filter((x) => x.name === 'stdout').map((x) => x.payload)).toString();
      const err = Buffer.concat(m.filter((x) => x.name === 'stderr').map((x) => x.payload)).toString();
      expect(out === 'out\n' && err === 'err\n', `exec output: ${JSON.stringify(out)} ${JSON.stringify(err)}`);
      const last = m[m.length - 1];
      expect(last?.name === 'exit' && last.json?.code === 3, `exec ends with exit code 3: ${JSON.stringify(last?.json)}`);
      expect(st.closeCode === 1000, `exec closes with 1000, got ${st.closeCode}`);
    }
  }
  // exec with stdin: cat echoes it back.
  {
    const o = streamOp(kExec);
    const st = await openStream('/v1/vms/conf-a/exec');
    if (expect(st.status === 101, 'exec (stdin) handshake')) {
      st.ws.send(JSON.stringify({argv: ['cat']}));
      st.ws.send(msg('stdin', 'ping\n'));
      st.ws.send(msg('stdin_eof'));
      await finish(st, 60000, 'exec stdin');
      const m = checkMessages(o, st, 'exec stdin');
      const out = Buffer.concat(m.filter((x) => x.name === 'stdout').map((x) => x.payload)).toString();
      expect(out === 'ping\n', `cat echoes stdin: ${JSON.stringify(out)}`);
      expect(m[m.length - 1]?.json?.code === 0, 'cat exits 0');
    }
  }
  // A bad opening message: an error message, then the close.
  for (const path of ['/v1/vms/{ref}/exec', '/v1/images/build', '/v1/images/pull', '/v1/vms/{ref}/workspaces/prepare',
    '/v1/vms/{ref}/workspaces/export']) {
    const o = streamOp(path);
    const target = handshakeTargets[path];
    const st = await openStream(target);
    if (!expect(st.status === 101, `${target} handshake`)) continue;
    st.ws.send(JSON.stringify({conformance_probe: true}));
    await finish(st, 30000, `${target} bad opening message`);
    const m = checkMessages(o, st, `${target} bad opening message`);
    expect(m.length >= 1 && m[m.length - 1].name === 'error' && m[m.length - 1].json?.code === 'invalid_argument',
      `${target}: a bad opening message is an invalid_argument error message: ${JSON.stringify(m.map((x) => x.json || x.name))}`);
  }
  // archive download: the tar's bytes and their digest.
  {
    const o = streamOp('/v1/vms/{ref}/archive');
    const st = await openStream('/v1/vms/conf-a/archive?path=/root/conf.txt');
    if (expect(st.status === 101, 'archive handshake')) {
      await finish(st, 60000, 'archive');
      const m = checkMessages(o, st, 'archive');
      const tar = Buffer.concat(m.filter((x) => x.name === 'stdout').map((x) => x.payload));
      const res = m[m.length - 1];
      expect(res?.name === 'result', 'archive ends with result');
      expect(res?.json?.bytes === tar.length && res?.json?.sha256 === createHash('sha256').update(tar).digest('hex'),
        'archive result counts and digests the tar sent');
      expect(tar.includes(Buffer.from('conformance\n')), 'the tar holds the file');
    }
  }
  // archive upload: a tar in, the file there.
  {
    const o = streamOp('/v1/vms/{ref}/archive/upload');
    const st = await openStream('/v1/vms/conf-a/archive/upload?path=/root');
    if (expect(st.status === 101, 'archive upload handshake')) {
      const tar = tarOf('up.txt', 'uploaded\n');
      st.ws.send(msg('stdin', tar));
      st.ws.send(msg('stdin_eof'));
      await finish(st, 60000, 'archive upload');
      const m = checkMessages(o, st, 'archive upload');
      expect(m[m.length - 1]?.name === 'result' && m[m.length - 1]?.json?.entries === 1,
        `archive upload result: ${JSON.stringify(m.map((x) => x.json || x.name))}`);
      const f = await call('GET', '/v1/vms/conf-a/files?path=/root/up.txt', {expectStatus: 200});
      expect(f.body.toString() === 'uploaded\n', 'the uploaded file is there');
    }
  }
  // session logs (no follow): its output so far, then exit.
  {
    const o = streamOp('/v1/sessions/{s}/logs');
    const st = await openStream('/v1/sessions/s1/logs?vm=conf-a&follow=0');
    if (expect(st.status === 101, 'session logs handshake')) {
      await finish(st, 60000, 'session logs');
      const m = checkMessages(o, st, 'session logs');
      const out = Buffer.concat(m.filter((x) => x.name === 'stdout').map((x) => x.payload)).toString();
      expect(out.includes('hi'), `session logs carry its stdout: ${JSON.stringify(out)}`);
    }
  }
  // events: the log so far as event messages.
  {
    const o = streamOp('/v1/events/stream');
    const st = await openStream('/v1/events/stream?after=0');
    if (expect(st.status === 101, 'events stream handshake')) {
      await waitFor(() => st.messages.length >= 2, 10000, 'events stream sends the events so far');
      st.ws.close(1000);
      await finish(st, 10000, 'events stream close');
      const m = checkMessages(o, st, 'events stream');
      expect(m.some((x) => x.json?.type === 'vm.created'), 'events stream carries vm.created');
    }
  }
  // console: console bytes from offset 0 while the VM runs.
  {
    const o = streamOp('/v1/vms/{ref}/console');
    const st = await openStream('/v1/vms/conf-a/console?offset=0');
    if (expect(st.status === 101, 'console handshake')) {
      await waitFor(() => st.messages.length >= 1, 10000, 'console sends the log');
      st.ws.close(1000);
      await finish(st, 10000, 'console close');
      checkMessages(o, st, 'console');
    }
  }
  // workspaces: a host repository prepared into the guest, a change there
  // exported back as a commit.
  {
    const repo = mkdtempSync('/tmp/bgc-repo-');
    const git = (...args) => spawnSync('git', ['-C', repo, '-c', 'user.name=t', '-c', 'user.email=t@example.com', ...args],
      {encoding: 'utf8'});
    git('init', '-q', '-b', 'main');
    writeFileSync(`${repo}/README`, 'conformance\n');
    git('add', 'README');
    git('commit', '-q', '-m', 'first');
    try {
      const prep = await openStream('/v1/vms/conf-a/workspaces/prepare');
      if (expect(prep.status === 101, 'workspace prepare handshake')) {
        prep.ws.send(JSON.stringify({source_path: repo, guest_path: '/root/ws'}));
        await finish(prep, 120000, 'workspace prepare');
        const m = checkMessages(streamOp('/v1/vms/{ref}/workspaces/prepare'), prep, 'workspace prepare');
        expect(m[m.length - 1]?.name === 'result', `workspace prepare ends with result: ${JSON.stringify(m.map((x) => x.json || x.payload.toString()))}`);
      }
      const wl = await call('GET', '/v1/vms/conf-a/workspaces', {expectStatus: 200});
      expect(wl.json?.workspaces?.length === 1, 'the prepared workspace is listed');
      await call('PUT', '/v1/vms/conf-a/files?path=/root/ws/NEW', {body: Buffer.from('from the guest\n'), expectStatus: 200});
      const exp = await openStream('/v1/vms/conf-a/workspaces/export');
      if (expect(exp.status === 101, 'workspace export handshake')) {
        exp.ws.send(JSON.stringify({source_path: repo, branch: 'guest-work'}));
        await finish(exp, 120000, 'workspace export');
        const m = checkMessages(streamOp('/v1/vms/{ref}/workspaces/export'), exp, 'workspace export');
        const last = m[m.length - 1];
        expect(last?.name === 'result' && last.json?.commits === 1 && last.json?.branch === 'guest-work',
          `workspace export ends with a result of one commit: ${JSON.stringify(m.map((x) => x.json || x.payload.toString()))}`);
        expect(git('show', 'guest-work:NEW').stdout === 'from the guest\n', 'the exported branch holds the guest\'s file');
      }
    } finally {
      rmSync(repo, {recursive: true, force: true});
    }
  }
  // The web listener: a stream of access any with the session and Origin = Host.
  if (web) {
    const origin = `http://${web.host}:${web.port}`;
    const st = await openStream('/v1/vms/conf-a/exec', {listener: 'web', headers: {Origin: origin}});
    if (expect(st.status === 101, `web exec handshake: ${st.status} ${st.refused?.body || st.error || ''}`)) {
      st.ws.send(JSON.stringify({argv: ['echo', 'web']}));
      await finish(st, 60000, 'web exec');
      const m = checkMessages(streamOp(kExec), st, 'web exec');
      expect(Buffer.concat(m.filter((x) => x.name === 'stdout').map((x) => x.payload)).toString() === 'web\n', 'web exec output');
    }
    const noOrigin = await openStream('/v1/vms/conf-a/exec', {listener: 'web'});
    expect(noOrigin.status !== 101, 'web stream without Origin is refused');
    if (noOrigin.refused) checkAnswer('GET', '/v1/vms/conf-a/exec', noOrigin.refused, 'web');
    noOrigin.ws.terminate();
    const local = await openStream('/v1/images/build', {listener: 'web', headers: {Origin: origin}});
    expect(local.status === 403, `web stream of access local is 403, got ${local.status}`);
    local.ws.terminate();
  }
}

main().catch((e) => {
  console.log(`FAIL unexpected: ${e.stack || e}`);
  for (const f of failures) console.log(`  - ${f}`);
  process.exit(1);
});
