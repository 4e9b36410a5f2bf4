// The API's JSON shapes, as generated from docs/openapi.yaml into
// src/schema.d.ts (scripts/schema.mjs; `npm run check-schema` keeps it in
// step with the document). Only names are given here.

import type { components, operations } from './schema.js';

type S = components['schemas'];

export type VmState = S['VmState'];
export type Backend = S['Backend'];
export type VmMount = S['VmMount'];
export type VmSpec = S['VmSpec'];
export type VmRuntime = S['VmRuntime'];
export type VmStats = S['VmStats'];
/** A VM as GET /v1/vms/{ref} answers it. */
export type VmRecord = S['Vm'];
export type CreateVmRequest = S['CreateVmRequest'];
export type ExecVmRequest = S['ExecVmRequest'];
export type Ping = S['Ping'];
export type DeleteResponse = S['DeleteResponse'];
export type Port = S['Port'];
export type Snapshot = S['Snapshot'];
export type GuestSessionStatus = S['GuestSessionStatus'];
export type GuestSession = S['GuestSession'];
export type StartSessionRequest = S['StartSessionRequest'];
export type FileType = S['FileType'];
/** One entry of a directory listing. */
export type FileEntry = S['DirEntry'];
/** A guest path's lstat. */
export type FileStat = S['FileStat'];
export type DirListing = S['DirListing'];
export type ConsoleResult = S['ConsoleResult'];
export type ExitStatus = S['ExitStatus'];
/** One event of the daemon's log (GET /v1/events, the events stream). */
export type BangerEvent = S['Event'];

/** The answer of PUT /v1/vms/{ref}/files. */
export type WriteFileResult = operations['putFile']['responses'][200]['content']['application/json'];
