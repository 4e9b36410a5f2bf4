// A VM and what can be done with it: exec, files, ports, sessions,
// snapshots, lifecycle, console.

import { InvalidArgumentError, invalid } from './errors.js';
import {
  onAbort,
  pumpStdin,
  readOutput,
  runExec,
  spawnExec,
  toArgv,
  type ExecProcess,
  type ExecOptions,
  type ExecResult,
  type OutputCallback,
  type StdinSource,
} from './exec.js';
import { ConsoleStream } from './follow.js';
import { Stream } from './stream.js';
import { seg, type Transport } from './transport.js';
import type {
  DeleteResponse,
  DirListing,
  FileEntry,
  FileStat,
  GuestSession,
  Port,
  Snapshot,
  StartSessionRequest,
  VmRecord,
  VmState,
  WriteFileResult,
} from './types.js';

function checkPath(path: unknown): string {
  if (typeof path !== 'string' || !path.startsWith('/')) {
    throw invalid(`path must be an absolute guest path, got ${JSON.stringify(path)}`);
  }
  return path;
}

function checkName(what: string, v: unknown): void {
  if (v !== undefined && (typeof v !== 'string' || v === '')) throw invalid(`${what} must be a non-empty string`);
}

/** A guest's files: single files and listings (docs/api.md "Guest files"). */
export class Files {
  constructor(private readonly vm: Vm) {}

  /** A regular file's bytes (at most 8 MiB). */
  async read(path: string): Promise<Buffer>;
  async read(path: string, encoding: BufferEncoding): Promise<string>;
  async read(path: string, encoding?: BufferEncoding): Promise<Buffer | string> {
    checkPath(path);
    const res = await this.vm.transport.raw('GET', `/v1/vms/${seg(this.vm.id)}/files`, { query: { path } });
    if (String(res.headers['content-type'] ?? '').startsWith('application/json')) {
      throw new InvalidArgumentError('invalid_argument', `${path} is a directory: use files.list`);
    }
    return encoding ? res.body.toString(encoding) : res.body;
  }

  /** Writes a file atomically (its directory must exist); `mode` is octal bits (default 0o644). */
  async write(
    path: string,
    data: string | Uint8Array,
    opts: { mode?: number; chown?: string } = {},
  ): Promise<WriteFileResult> {
    checkPath(path);
    if (typeof data !== 'string' && !(data instanceof Uint8Array)) throw invalid('data must be a string or bytes');
    if (opts.mode !== undefined && (!Number.isInteger(opts.mode) || opts.mode < 0 || opts.mode > 0o7777)) {
      throw invalid('mode must be an integer 0..0o7777');
    }
    const body = typeof data === 'string' ? Buffer.from(data, 'utf8') : Buffer.from(data);
    return this.vm.transport.json<WriteFileResult>('PUT', `/v1/vms/${seg(this.vm.id)}/files`, {
      query: { path, mode: opts.mode?.toString(8), chown: opts.chown },
      body,
    });
  }

  /** A directory's entries, sorted by name (at most 10000; see `truncated` of listDir). */
  async list(path: string): Promise<FileEntry[]> {
    return (await this.listDir(path)).entries;
  }

  async listDir(path: string): Promise<DirListing> {
    checkPath(path);
    const st = await this.stat(path);
    if (st.type !== 'dir') throw new InvalidArgumentError('invalid_argument', `${path} is not a directory`);
    return this.vm.transport.json<DirListing>('GET', `/v1/vms/${seg(this.vm.id)}/files`, { query: { path } });
  }

  /** lstat of a guest path. */
  async stat(path: string): Promise<FileStat> {
    checkPath(path);
    return this.vm.transport.json<FileStat>('GET', `/v1/vms/${seg(this.vm.id)}/files`, { query: { path, stat: 1 } });
  }
}

/** Published ports (docs/api.md "Published ports"). */
export class Ports {
  constructor(private readonly vm: Vm) {}

  async list(): Promise<Port[]> {
    return (await this.vm.transport.json<{ ports: Port[] }>('GET', `/v1/vms/${seg(this.vm.id)}/ports`)).ports;
  }

  /** Publishes `[HOST_IP:]HOST_PORT:GUEST_PORT[/tcp|udp]`, or the same as an object. */
  async publish(
    spec: string | { hostPort: number; guestPort: number; hostIp?: string; protocol?: 'tcp' | 'udp' },
  ): Promise<Port> {
    let s: string;
    if (typeof spec === 'string') {
      s = spec;
    } else {
      for (const [k, v] of [['hostPort', spec.hostPort], ['guestPort', spec.guestPort]] as const) {
        if (!Number.isInteger(v) || v < 1 || v > 65535) throw invalid(`${k} must be a port number 1-65535`);
      }
      s = `${spec.hostIp ? `${spec.hostIp}:` : ''}${spec.hostPort}:${spec.guestPort}/${spec.protocol ?? 'tcp'}`;
    }
    if (s === '') throw invalid('port spec must not be empty');
    return this.vm.transport.json<Port>('POST', `/v1/vms/${seg(this.vm.id)}/ports`, { body: { port: s } });
  }

  /** Stops publishing a host port; returns what was removed (`127.0.0.1:18080/tcp`). */
  async unpublish(hostPort: number, opts: { hostIp?: string; protocol?: 'tcp' | 'udp' } = {}): Promise<string> {
    if (!Number.isInteger(hostPort) || hostPort < 1 || hostPort > 65535) throw invalid('hostPort must be 1-65535');
    const r = await this.vm.transport.json<{ removed: string }>(
      'DELETE',
      `/v1/vms/${seg(this.vm.id)}/ports/${hostPort}`,
      { query: { host_ip: opts.hostIp, protocol: opts.protocol } },
    );
    return r.removed;
  }
}

export interface SessionCreateOptions {
  name?: string;
  env?: Record<string, string>;
  cwd?: string;
  user?: string;
  noImageEnv?: boolean;
  tags?: Record<string, string>;
  /** Keep the session's stdin open for attach. */
  stdin?: boolean;
  agentTimeoutMs?: number;
}

export interface SessionLogsOptions {
  follow?: boolean;
  onStdout?: OutputCallback;
  onStderr?: OutputCallback;
  /** Aborting stops reading (closes the stream) and rejects with the signal's reason. */
  signal?: AbortSignal;
}

export interface SessionLogs {
  stdout: Buffer;
  stderr: Buffer;
  /** The session's exit as the logs stream reports it. */
  exitCode: number;
}

/** A guest session: a command running in the background (docs/sessions.md). */
export class Session {
  constructor(
    private readonly vm: Vm,
    public data: GuestSession,
  ) {}

  get id(): string {
    return this.data.id;
  }
  get name(): string {
    return this.data.name;
  }
  get status(): GuestSession['status'] {
    return this.data.status;
  }

  async refresh(): Promise<this> {
    this.data = await this.vm.transport.json<GuestSession>('GET', `/v1/sessions/${seg(this.id)}`);
    return this;
  }

  /** SIGTERM, then SIGKILL after 10 s. */
  async stop(): Promise<this> {
    this.data = await this.vm.transport.json<GuestSession>('POST', `/v1/sessions/${seg(this.id)}/stop`);
    return this;
  }

  /** The output from the start; with `follow`, until the session ends. */
  async logs(opts: SessionLogsOptions = {}): Promise<SessionLogs> {
    opts.signal?.throwIfAborted();
    const s = await Stream.open({
      socketPath: this.vm.transport.socketPath,
      path: `/v1/sessions/${seg(this.id)}/logs?follow=${opts.follow ? 1 : 0}`,
    });
    const detach = onAbort(s, opts.signal);
    try {
      const r = await readOutput(s, opts);
      return { stdout: r.stdout, stderr: r.stderr, exitCode: r.exit.code };
    } catch (e) {
      if (opts.signal?.aborted) throw opts.signal.reason;
      throw e;
    } finally {
      detach();
      s.close();
    }
  }

  /**
   * Follows the output from now on until the session ends (or `signal`
   * aborts: detach). `stdin` goes to a session started with `stdin: true`,
   * then its EOF.
   */
  async attach(
    opts: { stdin?: StdinSource; onStdout?: OutputCallback; onStderr?: OutputCallback; signal?: AbortSignal } = {},
  ): Promise<SessionLogs> {
    opts.signal?.throwIfAborted();
    const s = await Stream.open({
      socketPath: this.vm.transport.socketPath,
      path: `/v1/sessions/${seg(this.id)}/attach`,
    });
    const detach = onAbort(s, opts.signal);
    if (opts.stdin !== undefined) void pumpStdin(s, opts.stdin).catch(() => undefined);
    try {
      const r = await readOutput(s, opts);
      return { stdout: r.stdout, stderr: r.stderr, exitCode: r.exit.code };
    } catch (e) {
      if (opts.signal?.aborted) throw opts.signal.reason;
      throw e;
    } finally {
      detach();
      s.close();
    }
  }
}

export class Sessions {
  constructor(private readonly vm: Vm) {}

  /** Starts a command in the background; a string runs under /bin/sh -c. */
  async create(cmd: string | string[], opts: SessionCreateOptions = {}): Promise<Session> {
    checkName('name', opts.name);
    const body: StartSessionRequest = { argv: toArgv(cmd) };
    if (opts.name) body.name = opts.name;
    if (opts.env) body.env = opts.env;
    if (opts.cwd) body.cwd = opts.cwd;
    if (opts.user) body.user = opts.user;
    if (opts.noImageEnv) body.no_image_env = true;
    if (opts.tags) body.tags = opts.tags;
    if (opts.stdin) body.stdin = true;
    if (opts.agentTimeoutMs !== undefined) body.timeout_ms = opts.agentTimeoutMs;
    const g = await this.vm.transport.json<GuestSession>('POST', `/v1/vms/${seg(this.vm.id)}/sessions`, { body });
    return new Session(this.vm, g);
  }

  async list(): Promise<Session[]> {
    const r = await this.vm.transport.json<{ sessions: GuestSession[] }>('GET', '/v1/sessions', {
      query: { vm: this.vm.id },
    });
    return r.sessions.map((g) => new Session(this.vm, g));
  }

  /** A session by id, id prefix or name. */
  async get(ref: string): Promise<Session> {
    checkName('session', ref);
    const g = await this.vm.transport.json<GuestSession>('GET', `/v1/sessions/${seg(ref)}`, {
      query: { vm: this.vm.id },
    });
    return new Session(this.vm, g);
  }

  async stop(ref: string): Promise<Session> {
    return (await this.get(ref)).stop();
  }

  async logs(ref: string, opts: SessionLogsOptions = {}): Promise<SessionLogs> {
    return (await this.get(ref)).logs(opts);
  }
}

export class Snapshots {
  constructor(private readonly vm: Vm) {}

  /** Saves the running VM (paused while saving). Default name: snap-<UTC time>. */
  async create(opts: { name?: string } = {}): Promise<Snapshot> {
    checkName('name', opts.name);
    return this.vm.transport.json<Snapshot>('POST', `/v1/vms/${seg(this.vm.id)}/snapshots`, {
      body: opts.name ? { name: opts.name } : {},
    });
  }

  async list(): Promise<Snapshot[]> {
    const r = await this.vm.transport.json<{ snapshots: Snapshot[] }>('GET', `/v1/vms/${seg(this.vm.id)}/snapshots`);
    return r.snapshots;
  }

  async delete(name: string): Promise<void> {
    checkName('snapshot name', name);
    await this.vm.transport.json<DeleteResponse>('DELETE', `/v1/vms/${seg(this.vm.id)}/snapshots/${seg(name)}`);
  }
}

/** Constructs a Vm for a record (the client passes itself). */
export type VmFactory = (r: VmRecord) => Vm;

export class Vm {
  readonly files = new Files(this);
  readonly ports = new Ports(this);
  readonly sessions = new Sessions(this);
  readonly snapshots = new Snapshots(this);

  constructor(
    readonly transport: Transport,
    public data: VmRecord,
    private readonly make: VmFactory,
  ) {}

  get id(): string {
    return this.data.id;
  }
  get name(): string {
    return this.data.name;
  }
  get state(): VmState {
    return this.data.state;
  }
  get labels(): Record<string, string> {
    return this.data.labels ?? {};
  }

  /** Reloads the record from the daemon. */
  async refresh(): Promise<this> {
    this.data = await this.transport.json<VmRecord>('GET', `/v1/vms/${seg(this.id)}`);
    return this;
  }

  /**
   * Runs a command and waits for it: a string runs under `/bin/sh -c`, an
   * array is the argv. Output is collected (and streamed to the callbacks);
   * a non-zero exit is a result, not an error.
   */
  exec(cmd: string | string[], opts?: ExecOptions & { encoding?: 'utf8' }): Promise<ExecResult<string>>;
  exec(cmd: string | string[], opts: ExecOptions & { encoding: 'buffer' }): Promise<ExecResult<Buffer>>;
  exec(cmd: string | string[], opts: ExecOptions = {}): Promise<ExecResult<string | Buffer>> {
    return runExec(this.transport.socketPath, this.id, cmd, opts);
  }

  /**
   * Starts a command and returns at once: write its stdin, signal it,
   * resize its terminal, then wait() for its exit (see ExecProcess).
   */
  spawn(cmd: string | string[], opts: Omit<ExecOptions, 'stdin' | 'timeoutMs' | 'encoding'> = {}): Promise<ExecProcess> {
    return spawnExec(this.transport.socketPath, this.id, cmd, opts);
  }

  private async post(action: string, body?: unknown, timeoutMs?: number): Promise<this> {
    this.data = await this.transport.json<VmRecord>('POST', `/v1/vms/${seg(this.id)}/${action}`, {
      body: body ?? {},
      timeoutMs,
    });
    return this;
  }

  async start(): Promise<this> {
    return this.post('start');
  }

  /** Graceful shutdown (`timeoutMs` before the VMM is forced); `save` suspends to disk. */
  async stop(opts: { timeoutMs?: number; save?: boolean } = {}): Promise<this> {
    const body: Record<string, unknown> = {};
    if (opts.timeoutMs !== undefined) body.timeout_ms = opts.timeoutMs;
    if (opts.save) body.save = true;
    return this.post('stop', body);
  }

  async restart(opts: { timeoutMs?: number } = {}): Promise<this> {
    return this.post('restart', opts.timeoutMs !== undefined ? { timeout_ms: opts.timeoutMs } : {});
  }

  async pause(): Promise<this> {
    return this.post('pause');
  }

  async resume(): Promise<this> {
    return this.post('resume');
  }

  /** Continues a snapshot (default: the newest) on a stopped VM. */
  async restore(opts: { snapshot?: string } = {}): Promise<this> {
    checkName('snapshot', opts.snapshot);
    return this.post('restore', opts.snapshot ? { snapshot: opts.snapshot } : {});
  }

  /** New running VMs continuing a snapshot of this one: `name`, or `name-1..name-count`. */
  async fork(opts: { name: string; count?: number }): Promise<Vm[]> {
    checkName('name', opts?.name);
    if (opts.count !== undefined && (!Number.isInteger(opts.count) || opts.count < 1 || opts.count > 64)) {
      throw invalid('count must be an integer 1..64');
    }
    const body: Record<string, unknown> = { name: opts.name };
    if (opts.count !== undefined) body.count = opts.count;
    const r = await this.transport.json<{ vms: VmRecord[] }>('POST', `/v1/vms/${seg(this.id)}/fork`, { body });
    return r.vms.map((v) => this.make(v));
  }

  /** Deletes the VM (a running one is stopped, forced, first). */
  async delete(): Promise<void> {
    await this.transport.json<DeleteResponse>('DELETE', `/v1/vms/${seg(this.id)}`);
  }

  /**
   * The console log from `offset` (default 0), followed over a WebSocket
   * until the VM has stopped: `for await (const chunk of vm.console())`.
   * Break out of the loop (or close()) to stop following.
   */
  async console(opts: { offset?: number } = {}): Promise<ConsoleStream> {
    const offset = opts.offset ?? 0;
    if (!Number.isInteger(offset) || offset < 0) throw invalid('offset must be a non-negative integer');
    const s = await Stream.open({
      socketPath: this.transport.socketPath,
      path: `/v1/vms/${seg(this.id)}/console?offset=${offset}`,
    });
    return new ConsoleStream(s);
  }

  /** One read of the console log (plain HTTP): at most 1 MiB from `offset`. */
  async consoleLog(opts: { offset?: number; waitMs?: number } = {}): Promise<{ data: Buffer; nextOffset: number; state: string }> {
    const res = await this.transport.raw('GET', `/v1/vms/${seg(this.id)}/logs`, {
      query: { offset: opts.offset ?? 0, wait_ms: opts.waitMs },
    });
    return {
      data: res.body,
      nextOffset: Number(res.headers['x-banger-next-offset'] ?? 0),
      state: String(res.headers['x-banger-vm-state'] ?? ''),
    };
  }
}
