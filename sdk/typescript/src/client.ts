// The entry point: Banger.connect() finds the daemon's socket and checks
// the daemon answers.

import { invalid } from './errors.js';
import { EventStream } from './follow.js';
import { Stream } from './stream.js';
import { Transport, resolveSocketPath, seg } from './transport.js';
import type { CreateVmRequest, DeleteResponse, Ping, VmMount, VmRecord } from './types.js';
import { Vm } from './vm.js';

export interface ConnectOptions {
  /** The daemon's socket; default: BANGER_SOCKET, $BANGER_HOME/bangerd.sock, then the user's default home. */
  socketPath?: string;
  /** Deadline of each plain HTTP call in ms (default 300000; a create waits for the VMM to start). */
  requestTimeoutMs?: number;
}

export interface CreateVmOptions {
  /** A DNS label; default: the daemon picks one. */
  name?: string;
  /** Image name or id; default: the daemon's default_image_name. */
  image?: string;
  vcpus?: number;
  memoryMib?: number;
  systemOverlaySizeBytes?: number;
  workDiskSizeBytes?: number;
  labels?: Record<string, string>;
  /** Published ports, `[HOST_IP:]HOST_PORT:GUEST_PORT[/tcp|udp]`. */
  ports?: string[];
  /** Create without starting. */
  noStart?: boolean;
  /** Boot even when a template snapshot exists. */
  cold?: boolean;
  backend?: 'firecracker' | 'qemu';
  natEnabled?: boolean;
  /** Idempotency key: a create with the same key returns the same VM. */
  requestId?: string;
  /** Deleted when its run command (the first exec) ends. */
  autoRemove?: boolean;
  idleSuspendMs?: number;
  idleSuspendTo?: 'ram' | 'disk';
  ttlMs?: number;
  ttlAction?: 'stop' | 'delete';
  diskBwBytesPerSec?: number;
  diskIops?: number;
  netBwBytesPerSec?: number;
  /** Host folders over virtio-9p (QEMU). */
  mounts?: VmMount[];
}

function positiveInt(what: string, v: unknown): void {
  if (v !== undefined && (typeof v !== 'number' || !Number.isInteger(v) || v < 1)) {
    throw invalid(`${what} must be a positive integer, got ${JSON.stringify(v)}`);
  }
}

function nonNegativeInt(what: string, v: unknown): void {
  if (v !== undefined && (typeof v !== 'number' || !Number.isInteger(v) || v < 0)) {
    throw invalid(`${what} must be a non-negative integer, got ${JSON.stringify(v)}`);
  }
}

export function createRequest(o: CreateVmOptions): CreateVmRequest {
  if (typeof o !== 'object' || o === null) throw invalid('create options must be an object');
  for (const k of ['name', 'image', 'requestId'] as const) {
    if (o[k] !== undefined && typeof o[k] !== 'string') throw invalid(`${k} must be a string`);
  }
  positiveInt('vcpus', o.vcpus);
  positiveInt('memoryMib', o.memoryMib);
  for (const k of [
    'systemOverlaySizeBytes', 'workDiskSizeBytes', 'idleSuspendMs', 'ttlMs', 'diskBwBytesPerSec', 'diskIops',
    'netBwBytesPerSec',
  ] as const) {
    nonNegativeInt(k, o[k]);
  }
  if (o.labels !== undefined) {
    if (typeof o.labels !== 'object' || o.labels === null || Array.isArray(o.labels)) {
      throw invalid('labels must be an object of strings');
    }
    for (const [k, v] of Object.entries(o.labels)) {
      if (typeof v !== 'string') throw invalid(`label ${k}: value must be a string`);
    }
  }
  if (o.ports !== undefined && (!Array.isArray(o.ports) || o.ports.some((p) => typeof p !== 'string'))) {
    throw invalid('ports must be an array of strings');
  }
  const r: CreateVmRequest = {};
  const set = <K extends keyof CreateVmRequest>(k: K, v: CreateVmRequest[K] | undefined) => {
    if (v !== undefined) r[k] = v;
  };
  set('name', o.name);
  set('image', o.image);
  set('vcpu_count', o.vcpus);
  set('memory_mib', o.memoryMib);
  set('system_overlay_size_bytes', o.systemOverlaySizeBytes);
  set('work_disk_size_bytes', o.workDiskSizeBytes);
  set('labels', o.labels);
  set('ports', o.ports);
  if (o.noStart) r.no_start = true;
  if (o.cold) r.cold = true;
  set('backend', o.backend);
  set('nat_enabled', o.natEnabled);
  set('request_id', o.requestId);
  if (o.autoRemove) r.auto_remove = true;
  set('idle_suspend_ms', o.idleSuspendMs);
  set('idle_suspend_to', o.idleSuspendTo);
  set('ttl_ms', o.ttlMs);
  set('ttl_action', o.ttlAction);
  set('disk_bw_bytes_per_sec', o.diskBwBytesPerSec);
  set('disk_iops', o.diskIops);
  set('net_bw_bytes_per_sec', o.netBwBytesPerSec);
  set('mounts', o.mounts);
  return r;
}

function checkRef(ref: unknown): string {
  if (typeof ref !== 'string' || ref === '') throw invalid('vm ref must be a non-empty string (a name or an id)');
  return ref;
}

/** VMs of the daemon: create, list, get, delete. */
export class Vms {
  constructor(private readonly transport: Transport) {}

  /** @internal */
  wrap = (r: VmRecord): Vm => new Vm(this.transport, r, this.wrap);

  /** Creates a VM and (unless noStart) starts it; resolves once the VMM runs. */
  async create(opts: CreateVmOptions = {}): Promise<Vm> {
    const body = createRequest(opts);
    return this.wrap(await this.transport.json<VmRecord>('POST', '/v1/vms', { body }));
  }

  /** Every VM, or those carrying every given label. */
  async list(opts: { labels?: Record<string, string> } = {}): Promise<Vm[]> {
    const label = opts.labels
      ? Object.entries(opts.labels).map(([k, v]) => `${k}=${v}`).join(',')
      : undefined;
    const r = await this.transport.json<{ vms: VmRecord[] }>('GET', '/v1/vms', { query: { label } });
    return r.vms.map(this.wrap);
  }

  /** A VM by name, id or unambiguous id prefix (>= 8 chars). */
  async get(ref: string): Promise<Vm> {
    return this.wrap(await this.transport.json<VmRecord>('GET', `/v1/vms/${seg(checkRef(ref))}`));
  }

  /** Deletes a VM; with missingOk a VM that does not exist is not an error (returns false). */
  async delete(ref: string | Vm, opts: { missingOk?: boolean } = {}): Promise<boolean> {
    const r = typeof ref === 'string' ? checkRef(ref) : ref.id;
    const res = await this.transport.json<DeleteResponse>('DELETE', `/v1/vms/${seg(r)}`, {
      query: { missing_ok: opts.missingOk ? 'true' : undefined },
    });
    return res.deleted;
  }
}

export class Banger {
  readonly vms: Vms;

  private constructor(readonly transport: Transport) {
    this.vms = new Vms(transport);
  }

  /** The socket this client talks to. */
  get socketPath(): string {
    return this.transport.socketPath;
  }

  /** Finds the daemon's socket and checks the daemon answers (UnavailableError when not). */
  static async connect(opts: ConnectOptions = {}): Promise<Banger> {
    const timeout = opts.requestTimeoutMs ?? 300_000;
    if (!Number.isInteger(timeout) || timeout <= 0) throw invalid('requestTimeoutMs must be a positive integer');
    const b = new Banger(new Transport(resolveSocketPath(opts.socketPath), timeout));
    await b.ping();
    return b;
  }

  /** The daemon's version, pid, home and VM counts. */
  async ping(): Promise<Ping> {
    return this.transport.json<Ping>('GET', '/v1/ping', { timeoutMs: 10_000 });
  }

  /**
   * Events after `after` (a seq; default 0: every stored event), then live
   * ones as they happen: `for await (const ev of banger.events())`. Break out
   * of the loop (or call close()) to stop.
   */
  async events(opts: { after?: number } = {}): Promise<EventStream> {
    const after = opts.after ?? 0;
    if (!Number.isInteger(after) || after < 0) throw invalid('after must be a non-negative integer');
    const s = await Stream.open({ socketPath: this.transport.socketPath, path: `/v1/events/stream?after=${after}` });
    return new EventStream(s);
  }
}
