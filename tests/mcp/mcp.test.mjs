// `banger mcp` driven by the official MCP TypeScript SDK client
// (StdioClientTransport spawns `$BANGER_BIN mcp`), against the live daemon
// of tests/live/with-daemon.sh, booting one real guest (QEMU TCG).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { EmptyResultSchema, McpError } from "@modelcontextprotocol/sdk/types.js";

const BANGER = process.env.BANGER_BIN;
assert.ok(BANGER, "BANGER_BIN must name the banger binary");
assert.ok(process.env.BANGER_HOME, "run under tests/live/with-daemon.sh (BANGER_HOME)");
const VM = "mcp1";

let client;
let transport;
let created = false;

before(async () => {
  transport = new StdioClientTransport({
    command: BANGER,
    args: ["mcp"],
    env: { ...process.env },
    stderr: "inherit", // the server logs on stderr only
  });
  client = new Client({ name: "banger-mcp-test", version: "1.0.0" });
  await client.connect(transport);
});

after(async () => {
  if (created) {
    // Leave nothing behind, whatever failed above.
    await client.callTool({ name: "vm_delete", arguments: { vm: VM } }).catch(() => {});
  }
  await client?.close();
});

// The text of a tool result.
const text = (r) => r.content.filter((c) => c.type === "text").map((c) => c.text).join("");

async function call(name, args, opts = {}) {
  const r = await client.callTool({ name, arguments: args }, undefined, { timeout: 600_000, ...opts });
  return r;
}

async function callOk(name, args) {
  const r = await call(name, args);
  assert.equal(r.isError, false, `${name} failed: ${text(r)}`);
  return r;
}

async function rejectsWith(promise, code) {
  await assert.rejects(promise, (e) => {
    assert.ok(e instanceof McpError, `expected an McpError, got ${e}`);
    assert.equal(e.code, code, e.message);
    return true;
  });
}

test("initialize: server info, capabilities, protocol 2025-06-18", () => {
  const info = client.getServerVersion();
  assert.equal(info.name, "banger");
  assert.match(info.version, /^\d+\.\d+\.\d+/);
  const caps = client.getServerCapabilities();
  assert.ok(caps.tools, "tools capability");
  assert.ok(caps.resources, "resources capability");
  assert.ok(client.getInstructions().includes("vm_exec"));
});

test("ping", async () => {
  assert.deepEqual(await client.ping(), {});
});

test("tools/list: every tool, each with an object inputSchema", async () => {
  const { tools } = await client.listTools();
  const names = tools.map((t) => t.name).sort();
  for (const n of ["vm_create", "vm_list", "vm_delete", "vm_start", "vm_stop", "vm_exec", "file_read",
    "file_write", "file_list", "vm_snapshot", "vm_fork"]) {
    assert.ok(names.includes(n), `missing tool ${n}`);
  }
  for (const t of tools) {
    assert.equal(t.inputSchema.type, "object", t.name);
    assert.ok(t.description.length > 20, t.name);
  }
  const exec = tools.find((t) => t.name === "vm_exec");
  assert.deepEqual(exec.inputSchema.required.sort(), ["command", "vm"]);
});

test("resources/templates/list: the console template", async () => {
  const { resourceTemplates } = await client.listResourceTemplates();
  assert.equal(resourceTemplates[0].uriTemplate, "banger://vms/{name}/console");
});

test("a VM's life through MCP", async (t) => {
  await t.test("vm_create boots a guest", async () => {
    const r = await callOk("vm_create", { name: VM, labels: { suite: "mcp" } });
    created = true;
    assert.equal(r.structuredContent.name, VM);
    assert.equal(r.structuredContent.state, "running");
    assert.deepEqual(r.structuredContent.labels, { suite: "mcp" });
  });

  await t.test("vm_list shows it", async () => {
    const r = await callOk("vm_list", { labels: { suite: "mcp" } });
    assert.deepEqual(r.structuredContent.vms.map((v) => v.name), [VM]);
    assert.match(text(r), new RegExp(`vm ${VM}: running`));
  });

  await t.test("vm_exec echo hello", async () => {
    const r = await callOk("vm_exec", { vm: VM, command: "echo hello" });
    assert.equal(r.structuredContent.exit_code, 0);
    assert.equal(r.structuredContent.stdout, "hello\n");
    assert.match(text(r), /^exit code 0\nstdout:\nhello\n/);
  });

  await t.test("vm_exec: argv, stdin, stderr, exit code", async () => {
    let r = await callOk("vm_exec", { vm: VM, command: ["cat"], stdin: "from stdin" });
    assert.equal(r.structuredContent.stdout, "from stdin");
    r = await callOk("vm_exec", { vm: VM, command: "echo oops >&2; exit 3" });
    assert.equal(r.structuredContent.exit_code, 3); // a normal result, not a tool error
    assert.equal(r.structuredContent.stderr, "oops\n");
  });

  await t.test("vm_exec: big output is cut in the middle", async () => {
    const r = await callOk("vm_exec", { vm: VM, command: "i=0; while [ $i -lt 2000 ]; do echo line-$i-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx; i=$((i+1)); done" });
    const s = r.structuredContent;
    assert.equal(s.stdout_truncated, true);
    assert.ok(s.stdout_bytes > 100_000, `${s.stdout_bytes}`);
    assert.ok(s.stdout.length < 40_000, `${s.stdout.length}`);
    assert.ok(s.stdout.startsWith("line-0-"));
    assert.ok(s.stdout.endsWith("line-1999-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n"));
    assert.match(s.stdout, /bytes omitted/);
  });

  await t.test("vm_exec: the deadline kills the command", async () => {
    const started = Date.now();
    const r = await call("vm_exec", { vm: VM, command: "echo started; sleep 60", timeout_s: 2 });
    assert.equal(r.isError, true);
    assert.equal(r.structuredContent.timed_out, true);
    assert.equal(r.structuredContent.stdout, "started\n");
    assert.match(text(r), /timed out after 2 s/);
    assert.ok(Date.now() - started < 20_000, "killed in time");
  });

  await t.test("file_write, file_read, file_list", async () => {
    const content = "line one\nüñí ✓\n";
    let r = await callOk("file_write", { vm: VM, path: "/root/note.txt", content, mode: "0600" });
    assert.equal(r.structuredContent.bytes, Buffer.byteLength(content));
    r = await callOk("file_read", { vm: VM, path: "/root/note.txt" });
    assert.equal(r.structuredContent.encoding, "utf-8");
    assert.equal(text(r), content);
    // Binary goes both ways as base64.
    const bin = Buffer.from([0, 1, 2, 255, 254, 10]);
    await callOk("file_write", { vm: VM, path: "/root/bin.dat", content: bin.toString("base64"), encoding: "base64" });
    r = await callOk("file_read", { vm: VM, path: "/root/bin.dat" });
    assert.equal(r.structuredContent.encoding, "base64");
    assert.deepEqual(Buffer.from(r.structuredContent.content, "base64"), bin);
    r = await callOk("file_list", { vm: VM, path: "/root" });
    const note = r.structuredContent.entries.find((e) => e.name === "note.txt");
    assert.ok(note, text(r));
    assert.equal(note.type, "file");
    assert.match(text(r), /^- 0600 \d+ note\.txt$/m);
    r = await call("file_read", { vm: VM, path: "/root/missing" });
    assert.equal(r.isError, true);
  });

  await t.test("resources: the console log", async () => {
    const { resources } = await client.listResources();
    const uri = `banger://vms/${VM}/console`;
    const res = resources.find((x) => x.uri === uri);
    assert.ok(res, JSON.stringify(resources));
    assert.equal(res.mimeType, "text/plain");
    const { contents } = await client.readResource({ uri });
    assert.equal(contents[0].uri, uri);
    assert.ok(contents[0].text.length > 100, contents[0].text);
    assert.match(contents[0].text, /Linux/);
    await rejectsWith(client.readResource({ uri: "banger://vms/nosuchvm/console" }), -32002);
    await rejectsWith(client.readResource({ uri: "file:///etc/passwd" }), -32002);
  });

  await t.test("vm_exec on an unknown VM is a tool error, and the server goes on", async () => {
    let r = await call("vm_exec", { vm: "nosuchvm", command: "true" });
    assert.equal(r.isError, true);
    assert.match(text(r), /nosuchvm/);
    r = await call("vm_exec", { vm: "../../etc", command: "true" });
    assert.equal(r.isError, true);
    assert.match(text(r), /invalid vm name/);
    r = await callOk("vm_exec", { vm: VM, command: "echo still here" });
    assert.equal(r.structuredContent.stdout, "still here\n");
  });

  await t.test("malformed calls are MCP errors", async () => {
    await rejectsWith(call("vm_exec", { vm: VM }), -32602); // no command
    await rejectsWith(call("vm_exec", { vm: VM, command: "true", bogus: 1 }), -32602);
    await rejectsWith(call("vm_exec", { vm: VM, command: 42 }), -32602);
    await rejectsWith(call("no_such_tool", {}), -32602);
    await rejectsWith(client.request({ method: "no/such/method", params: {} }, EmptyResultSchema), -32601);
    assert.deepEqual(await client.ping(), {});
  });

  await t.test("vm_delete", async () => {
    await callOk("vm_delete", { vm: VM });
    created = false;
    const r = await callOk("vm_list", {});
    assert.ok(!r.structuredContent.vms.some((v) => v.name === VM));
  });
});

test("raw stdio: malformed JSON, oversized and unknown messages never end the server", async () => {
  const child = spawn(BANGER, ["mcp"], { env: process.env, stdio: ["pipe", "pipe", "inherit"] });
  const lines = createInterface({ input: child.stdout });
  const answers = [];
  const waiters = [];
  lines.on("line", (l) => {
    const w = waiters.shift();
    if (w) w(JSON.parse(l));
    else answers.push(JSON.parse(l));
  });
  const next = () => (answers.length ? Promise.resolve(answers.shift()) : new Promise((r) => waiters.push(r)));
  const send = (s) => child.stdin.write(s + "\n");

  send("{not json");
  assert.equal((await next()).error.code, -32700);
  send(JSON.stringify({ jsonrpc: "2.0", id: 1, method: "nope" }));
  assert.deepEqual((await next()).error.code, -32601);
  send(JSON.stringify({ jsonrpc: "1.0", id: 2, method: "ping" }));
  assert.equal((await next()).error.code, -32600);
  send(JSON.stringify({ jsonrpc: "2.0", id: 3, method: "tools/call", params: [] }));
  assert.equal((await next()).error.code, -32602);
  // 17 MiB on one line: refused, then the next message is served.
  send("[" + "1,".repeat(17 * 1024 * 512) + "1]");
  const big = await next();
  assert.equal(big.error.code, -32600);
  assert.match(big.error.message, /larger than 16 MiB/);
  send(JSON.stringify({ jsonrpc: "2.0", id: 4, method: "initialize", params: { protocolVersion: "2025-03-26", capabilities: {}, clientInfo: { name: "raw", version: "0" } } }));
  const init = await next();
  assert.equal(init.id, 4);
  assert.equal(init.result.protocolVersion, "2025-03-26"); // an older client gets its version
  for (const [asked, agreed] of [["2025-06-18", "2025-06-18"], ["2099-01-01", "2025-06-18"], ["2025-03-26", "2025-03-26"]]) {
    send(JSON.stringify({ jsonrpc: "2.0", id: asked, method: "initialize", params: { protocolVersion: asked, capabilities: {} } }));
    assert.equal((await next()).result.protocolVersion, agreed, asked);
  }
  send(JSON.stringify({ jsonrpc: "2.0", method: "notifications/initialized" }));
  send(JSON.stringify({ jsonrpc: "2.0", id: 5, method: "ping" }));
  assert.deepEqual(await next(), { jsonrpc: "2.0", id: 5, result: {} });
  child.stdin.end();
  const code = await new Promise((r) => child.on("exit", r));
  assert.equal(code, 0);
});
