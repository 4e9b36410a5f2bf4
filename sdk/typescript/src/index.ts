// @banger/sdk: drive a banger daemon from TypeScript (docs/sdk-typescript.md).

export { Banger, Vms, type ConnectOptions, type CreateVmOptions } from './client.js';
export {
  BangerError,
  ConflictError,
  InternalError,
  InvalidArgumentError,
  NotFoundError,
  TimeoutError,
  UnavailableError,
} from './errors.js';
export { ExecProcess, type ExecOptions, type ExecResult, type OutputCallback, type StdinSource } from './exec.js';
export { ConsoleStream, EventStream } from './follow.js';
export { resolveSocketPath } from './transport.js';
export type * from './types.js';
export { Files, Ports, Session, Sessions, Snapshots, Vm, type SessionCreateOptions, type SessionLogs, type SessionLogsOptions } from './vm.js';
