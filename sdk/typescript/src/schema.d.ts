// GENERATED from docs/openapi.yaml by scripts/schema.mjs (openapi-typescript): do not edit.
// Regenerate with `npm run gen-schema`; `npm run check-schema` fails when it is stale.

export interface paths {
    "/v1/ping": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** The daemon's version and facts. */
        get: operations["ping"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/openapi.yaml": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** This document, as embedded in the daemon at build time. */
        get: operations["getOpenApi"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/metrics": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * Prometheus metrics (docs/api.md "Metrics"), the one route outside /v1.
         * @description On the Unix socket, open like the rest of the API. On the web listener it
         *     takes a login session or a scrape token (`webMetricsBearer`), and `401`
         *     without one.
         */
        get: operations["getMetrics"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/daemon/stop": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /** Stops the daemon (running VMs keep running and are re-adopted by the next daemon). */
        post: operations["stopDaemon"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/web/tokens": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /** A one-time login token for the web UI, or a scrape token for GET /metrics, for the socket caller's uid. */
        post: operations["issueWebLogin"];
        /** Ends every web session of the caller's uid (root's ends everyone's). */
        delete: operations["revokeWebSessions"];
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/login": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** Spends a login token (web listener only) and sets the session cookie. */
        get: operations["webLogin"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** The web UI's page (web listener only; also at /index.html). */
        get: operations["webPage"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/images": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get: operations["listImages"];
        put?: never;
        /** Registers an image from host files, referenced in place (managed false). */
        post: operations["importImage"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/images/prune": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /** Removes cache tags no image owns, partial downloads and unused cached blobs. */
        post: operations["pruneImages"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/images/{ref}": {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description An image id, an unambiguous id prefix (>= 8 chars) or a name. */
                ref: components["parameters"]["ImageRef"];
            };
            cookie?: never;
        };
        get: operations["getImage"];
        put?: never;
        post?: never;
        /** Deletes an image (409 while a VM uses it). */
        delete: operations["deleteImage"];
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/images/build": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * Stream: builds an image from Debian packages (a profile) or an OCI image on the host.
         * @description Opening message: a `BuildImageRequest`. Sends `progress` messages (one
         *     line each), then one `result` (the `Image`) or one `error`. Closing the
         *     connection cancels the build; a failed or cancelled build leaves nothing.
         */
        get: operations["buildImage"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/images/pull": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * Stream: pulls an OCI image from a registry and builds an image of it.
         * @description Opening message: a `PullImageRequest`. Sends `progress` messages, then
         *     one `result` (the `Image`, `source.kind` `oci`) or one `error`.
         */
        get: operations["pullImage"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/vms": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get: operations["listVms"];
        put?: never;
        /**
         * Creates (and, unless no_start, starts) a VM.
         * @description `201` with the new VM; `200` with the earlier VM when `request_id`
         *     matches an earlier create. If starting fails the VM stays in state
         *     `error` and the call answers the error.
         */
        post: operations["createVm"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/vms/{ref}": {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description A VM id, an unambiguous id prefix (>= 8 chars) or a name. */
                ref: components["parameters"]["VmRef"];
            };
            cookie?: never;
        };
        get: operations["getVm"];
        put?: never;
        post?: never;
        /** Deletes a VM (a running one is killed first). */
        delete: operations["deleteVm"];
        options?: never;
        head?: never;
        /** Changes a VM's spec (vCPUs/memory/disk need it stopped; rate limits apply live). */
        patch: operations["setVm"];
        trace?: never;
    };
    "/v1/vms/{ref}/start": {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description A VM id, an unambiguous id prefix (>= 8 chars) or a name. */
                ref: components["parameters"]["VmRef"];
            };
            cookie?: never;
        };
        get?: never;
        put?: never;
        /** Starts a VM (running - unchanged; paused - resumed; saved - continued). */
        post: operations["startVm"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/vms/{ref}/stop": {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description A VM id, an unambiguous id prefix (>= 8 chars) or a name. */
                ref: components["parameters"]["VmRef"];
            };
            cookie?: never;
        };
        get?: never;
        put?: never;
        /** Stops a VM (graceful, then forced), or saves it to disk with save. */
        post: operations["stopVm"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/vms/{ref}/restart": {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description A VM id, an unambiguous id prefix (>= 8 chars) or a name. */
                ref: components["parameters"]["VmRef"];
            };
            cookie?: never;
        };
        get?: never;
        put?: never;
        post: operations["restartVm"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/vms/{ref}/pause": {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description A VM id, an unambiguous id prefix (>= 8 chars) or a name. */
                ref: components["parameters"]["VmRef"];
            };
            cookie?: never;
        };
        get?: never;
        put?: never;
        post: operations["pauseVm"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/vms/{ref}/resume": {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description A VM id, an unambiguous id prefix (>= 8 chars) or a name. */
                ref: components["parameters"]["VmRef"];
            };
            cookie?: never;
        };
        get?: never;
        put?: never;
        post: operations["resumeVm"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/vms/{ref}/logs": {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description A VM id, an unambiguous id prefix (>= 8 chars) or a name. */
                ref: components["parameters"]["VmRef"];
            };
            cookie?: never;
        };
        /** The guest console log from a byte offset (at most 1 MiB per call; long poll with wait_ms). */
        get: operations["getVmLogs"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/vms/{ref}/stats": {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description A VM id, an unambiguous id prefix (>= 8 chars) or a name. */
                ref: components["parameters"]["VmRef"];
            };
            cookie?: never;
        };
        /** A fresh sample for a running VM, else the last stats collected. */
        get: operations["getVmStats"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/vms/{ref}/stats/history": {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description A VM id, an unambiguous id prefix (>= 8 chars) or a name. */
                ref: components["parameters"]["VmRef"];
            };
            cookie?: never;
        };
        /**
         * The samples of the periodic stats passes, oldest first (the web UI's charts).
         * @description One sample per `stats_poll_interval` while the VM runs or is paused
         *     (`GET .../stats` samples are not kept), at most the newest
         *     `max_samples`. In the daemon's memory only: empty after a daemon
         *     restart, kept while the VM is stopped, gone with the VM.
         */
        get: operations["getVmStatsHistory"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/vms/{ref}/exec": {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description A VM id, an unambiguous id prefix (>= 8 chars) or a name. */
                ref: components["parameters"]["VmRef"];
            };
            cookie?: never;
        };
        /**
         * Stream: runs a command in the guest (stdin, stdout, stderr, resize, signal, exit).
         * @description Opening message: an `ExecVmRequest`. The daemon relays `stdout` and
         *     `stderr` messages and takes `stdin`, `stdin_eof`, `signal` and `resize`;
         *     the last message is `exit` (`ExitStatus`) or `error`. A client that goes
         *     away: the command gets SIGHUP, then SIGKILL after 5 s. On an
         *     `auto_remove` VM the first exec is its run command.
         */
        get: operations["execVm"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/vms/{ref}/console": {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description A VM id, an unambiguous id prefix (>= 8 chars) or a name. */
                ref: components["parameters"]["VmRef"];
            };
            cookie?: never;
        };
        /**
         * Stream: the guest console log from an offset, followed live.
         * @description No opening message. `stdout` messages carry the console bytes from
         *     `offset`; when the VM has stopped and everything was sent, a `result`
         *     (`ConsoleResult`) ends the stream.
         */
        get: operations["followVmConsole"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/vms/{ref}/ports": {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description A VM id, an unambiguous id prefix (>= 8 chars) or a name. */
                ref: components["parameters"]["VmRef"];
            };
            cookie?: never;
        };
        get: operations["listPorts"];
        put?: never;
        /** Publishes a port (listening at once when the VM has a VMM). */
        post: operations["addPort"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/vms/{ref}/ports/{host_port}": {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description A VM id, an unambiguous id prefix (>= 8 chars) or a name. */
                ref: components["parameters"]["VmRef"];
                host_port: number;
            };
            cookie?: never;
        };
        get?: never;
        put?: never;
        post?: never;
        delete: operations["removePort"];
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/vms/{ref}/snapshots": {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description A VM id, an unambiguous id prefix (>= 8 chars) or a name. */
                ref: components["parameters"]["VmRef"];
            };
            cookie?: never;
        };
        get: operations["listSnapshots"];
        put?: never;
        /** Saves a running VM (paused while saving, runs on after). */
        post: operations["createSnapshot"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/vms/{ref}/snapshots/{name}": {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description A VM id, an unambiguous id prefix (>= 8 chars) or a name. */
                ref: components["parameters"]["VmRef"];
                name: string;
            };
            cookie?: never;
        };
        get?: never;
        put?: never;
        post?: never;
        delete: operations["deleteSnapshot"];
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/vms/{ref}/restore": {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description A VM id, an unambiguous id prefix (>= 8 chars) or a name. */
                ref: components["parameters"]["VmRef"];
            };
            cookie?: never;
        };
        get?: never;
        put?: never;
        /** Continues a snapshot (the VM must not be running). */
        post: operations["restoreVm"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/vms/{ref}/fork": {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description A VM id, an unambiguous id prefix (>= 8 chars) or a name. */
                ref: components["parameters"]["VmRef"];
            };
            cookie?: never;
        };
        get?: never;
        put?: never;
        /** New running VMs continuing one snapshot of a running or paused VM. */
        post: operations["forkVm"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/templates": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get: operations["listTemplates"];
        put?: never;
        /** Boots a VM of the image, saves it as the warm-start template of that spec, deletes the VM. */
        post: operations["createTemplate"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/templates/{id}": {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description A template id or a unique prefix of at least 4 characters. */
                id: string;
            };
            cookie?: never;
        };
        get?: never;
        put?: never;
        post?: never;
        delete: operations["deleteTemplate"];
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/vms/{ref}/files": {
        parameters: {
            query: {
                /** @description An absolute path in the guest. */
                path: components["parameters"]["GuestPath"];
            };
            header?: never;
            path: {
                /** @description A VM id, an unambiguous id prefix (>= 8 chars) or a name. */
                ref: components["parameters"]["VmRef"];
            };
            cookie?: never;
        };
        /** A regular file's bytes (at most 8 MiB), a directory's listing, or with stat=1 the path's stat. */
        get: operations["getFile"];
        /** Writes a file atomically (its directory must exist). */
        put: operations["putFile"];
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/vms/{ref}/archive": {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description A VM id, an unambiguous id prefix (>= 8 chars) or a name. */
                ref: components["parameters"]["VmRef"];
            };
            cookie?: never;
        };
        /**
         * Stream: a POSIX pax tar of a guest path.
         * @description No opening message. A missing path is a plain 404 before the upgrade.
         *     `stdout` messages carry the tar (top entry `basename(path)`), the last
         *     message is `result` (`ArchiveDownloadResult`, the SHA-256 of every tar
         *     byte sent) or `error`: a stream ending without `result` is incomplete.
         */
        get: operations["downloadArchive"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/vms/{ref}/archive/upload": {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description A VM id, an unambiguous id prefix (>= 8 chars) or a name. */
                ref: components["parameters"]["VmRef"];
            };
            cookie?: never;
        };
        /**
         * Stream: extracts a tar sent by the client under an existing guest directory.
         * @description No opening message. The client sends the tar (ustar, pax or gnu) as
         *     `stdin` messages, then `stdin_eof`; the guest extracts it staged and
         *     commits after the whole stream checked out. The answer is `result`
         *     (`ArchiveUploadResult`) or `error` (possibly before the client finished
         *     sending: stop sending and read it).
         */
        get: operations["uploadArchive"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/vms/{ref}/sessions": {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description A VM id, an unambiguous id prefix (>= 8 chars) or a name. */
                ref: components["parameters"]["VmRef"];
            };
            cookie?: never;
        };
        get?: never;
        put?: never;
        /** Starts a long-running command in the guest (docs/sessions.md). */
        post: operations["startSession"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/sessions": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get: operations["listSessions"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/sessions/{s}": {
        parameters: {
            query?: {
                /** @description The VM (a ref) when a session name is used in several. */
                vm?: components["parameters"]["SessionVm"];
            };
            header?: never;
            path: {
                /** @description A session id, id prefix or name. */
                s: components["parameters"]["SessionRef"];
            };
            cookie?: never;
        };
        get: operations["getSession"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/sessions/{s}/stop": {
        parameters: {
            query?: {
                /** @description The VM (a ref) when a session name is used in several. */
                vm?: components["parameters"]["SessionVm"];
            };
            header?: never;
            path: {
                /** @description A session id, id prefix or name. */
                s: components["parameters"]["SessionRef"];
            };
            cookie?: never;
        };
        get?: never;
        put?: never;
        /** SIGTERM, then SIGKILL after 10 s. */
        post: operations["stopSession"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/sessions/{s}/signal": {
        parameters: {
            query?: {
                /** @description The VM (a ref) when a session name is used in several. */
                vm?: components["parameters"]["SessionVm"];
            };
            header?: never;
            path: {
                /** @description A session id, id prefix or name. */
                s: components["parameters"]["SessionRef"];
            };
            cookie?: never;
        };
        get?: never;
        put?: never;
        /** Sends one signal to the session's process group; does not wait for its end. */
        post: operations["signalSession"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/sessions/{s}/logs": {
        parameters: {
            query?: {
                /** @description The VM (a ref) when a session name is used in several. */
                vm?: components["parameters"]["SessionVm"];
            };
            header?: never;
            path: {
                /** @description A session id, id prefix or name. */
                s: components["parameters"]["SessionRef"];
            };
            cookie?: never;
        };
        /** Stream: the session's stdout/stderr from the start, then exit (with follow=1 until it ends). */
        get: operations["sessionLogs"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/sessions/{s}/attach": {
        parameters: {
            query?: {
                /** @description The VM (a ref) when a session name is used in several. */
                vm?: components["parameters"]["SessionVm"];
            };
            header?: never;
            path: {
                /** @description A session id, id prefix or name. */
                s: components["parameters"]["SessionRef"];
            };
            cookie?: never;
        };
        /** Stream: the session's output from now on; stdin to a session started with stdin true. */
        get: operations["attachSession"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/vms/{ref}/workspaces": {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description A VM id, an unambiguous id prefix (>= 8 chars) or a name. */
                ref: components["parameters"]["VmRef"];
            };
            cookie?: never;
        };
        get: operations["listWorkspaces"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/vms/{ref}/workspaces/prepare": {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description A VM id, an unambiguous id prefix (>= 8 chars) or a name. */
                ref: components["parameters"]["VmRef"];
            };
            cookie?: never;
        };
        /**
         * Stream: copies a host git work tree into the guest.
         * @description Opening message: a `PrepareWorkspaceRequest`. Sends `progress`
         *     messages, then `result` (`WorkspacePrepareResult`) or `error`. The
         *     client going away cancels the copy.
         */
        get: operations["prepareWorkspace"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/vms/{ref}/workspaces/export": {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description A VM id, an unambiguous id prefix (>= 8 chars) or a name. */
                ref: components["parameters"]["VmRef"];
            };
            cookie?: never;
        };
        /**
         * Stream: the guest's changes to a prepared workspace, as commits in the host repository.
         * @description Opening message: an `ExportWorkspaceRequest`. Sends `progress`
         *     messages, then `result` (`WorkspaceExportResult`) or `error`.
         */
        get: operations["exportWorkspace"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/events": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** Events after a sequence number, oldest first (long poll with wait_ms). */
        get: operations["listEvents"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/events/stream": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** Stream: every event after a sequence number, then live, until the client closes. */
        get: operations["followEvents"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
}
export type webhooks = Record<string, never>;
export interface components {
    schemas: {
        Empty: Record<string, unknown>;
        /** @description 64 lowercase hex characters. */
        Id: string;
        /**
         * Format: date-time
         * @description RFC 3339 UTC, whole seconds.
         */
        Timestamp: string;
        Labels: {
            [key: string]: string;
        };
        StringMap: {
            [key: string]: string;
        };
        /**
         * @description The API's kinds (`invalid_argument` 400, `not_found` 404, `conflict`
         *     409, `unavailable` 503, `timeout` 504, `internal` 500), the web
         *     listener's (`forbidden` 403, `unauthenticated` 401) and the guest file
         *     operations' own (`permission` 403, `no_space` 507, `read_only`,
         *     `not_dir`, `exists` 409, `invalid` 400, `too_large` 413, `io` 500).
         * @enum {string}
         */
        ErrorCode: "invalid_argument" | "not_found" | "conflict" | "unavailable" | "timeout" | "internal" | "forbidden" | "unauthenticated" | "permission" | "no_space" | "read_only" | "not_dir" | "exists" | "invalid" | "too_large" | "io";
        Error: {
            error: {
                code: components["schemas"]["ErrorCode"];
                message: string;
            };
        };
        /** @description The payload of an `error` stream message. */
        StreamError: {
            code: components["schemas"]["ErrorCode"];
            message: string;
        };
        /** @description The payload of an `exit` stream message. */
        ExitStatus: {
            /** @description The exit code, or 128 + signal. */
            code: number;
            signaled: boolean;
            signo: number;
            core: boolean;
        };
        Ping: {
            version: string;
            /** @constant */
            api: 1;
            pid: number;
            home: string;
            started_at: components["schemas"]["Timestamp"];
            backend: components["schemas"]["Backend"];
            qemu_accel: string;
            vms_total: number;
            vms_running: number;
            /** @description The web UI's URL, when it is on. */
            web_url?: string;
        };
        WebLogin: {
            url: string;
            login_token: string;
            uid: number;
            login_expires_in_s: number;
            session_ttl_s: number;
        };
        WebMetricsToken: {
            /** @constant */
            scope: "metrics";
            token: string;
            uid: number;
            metrics_url: string;
        };
        DeleteResponse: {
            deleted: boolean;
            /** @description What was deleted; absent when nothing was. */
            id?: string;
        };
        /** @enum {string} */
        Backend: "firecracker" | "qemu";
        /** @enum {string} */
        VmState: "created" | "running" | "paused" | "stopped" | "error";
        OciImageConfig: {
            env?: string[];
            working_dir?: string;
            user?: string;
            entrypoint?: string[];
            cmd?: string[];
            exposed_ports?: string[];
        };
        ImageSource: {
            /** @enum {string} */
            kind?: "profile" | "import" | "oci";
            profile?: string;
            ref?: string;
            digest?: string;
            layers?: string[];
            config?: components["schemas"]["OciImageConfig"];
        };
        Image: {
            id: components["schemas"]["Id"];
            name: string;
            managed: boolean;
            artifact_dir?: string;
            rootfs_path: string;
            work_seed_path?: string;
            kernel_path: string;
            initrd_path?: string;
            modules_dir?: string;
            build_size?: string;
            seeded_ssh_public_key_fingerprint?: string;
            docker: boolean;
            created_at: components["schemas"]["Timestamp"];
            updated_at: components["schemas"]["Timestamp"];
            /** @enum {string} */
            kernel_flavour?: "cloud" | "generic";
            kernel_9p?: boolean;
            source: components["schemas"]["ImageSource"];
            size_bytes?: number;
        };
        VmMount: {
            host_path: string;
            guest_path: string;
            read_only: boolean;
        };
        VmSpec: {
            vcpu_count: number;
            memory_mib: number;
            system_overlay_size_bytes: number;
            work_disk_size_bytes: number;
            nat_enabled: boolean;
            backend: components["schemas"]["Backend"];
            auto_remove: boolean;
            disk_bw_bytes_per_sec: number;
            disk_iops: number;
            net_bw_bytes_per_sec: number;
            idle_suspend_ms: number;
            /** @enum {string} */
            idle_suspend_to: "ram" | "disk";
            ttl_ms: number;
            /** @enum {string} */
            ttl_action: "stop" | "delete";
            mounts?: components["schemas"]["VmMount"][];
        };
        VmRuntime: {
            state: components["schemas"]["VmState"];
            guest_ip: string;
            api_sock_path?: string;
            vsock_path?: string;
            vsock_cid?: number;
            log_path?: string;
            metrics_path?: string;
            dns_name?: string;
            vm_dir: string;
            system_overlay_path: string;
            work_disk_path: string;
            last_error?: string;
            boot_id?: string;
            started_at?: components["schemas"]["Timestamp"];
            paused_at?: components["schemas"]["Timestamp"];
            expires_at?: components["schemas"]["Timestamp"];
            saved_snapshot?: string;
            idle_saved?: boolean;
        };
        /** @description Fields are absent while zero (no sample yet). */
        VmStats: {
            collected_at?: components["schemas"]["Timestamp"];
            /** @description Of one core: 2 busy vCPUs = 200. */
            cpu_percent?: number;
            rss_bytes?: number;
            vsz_bytes?: number;
            system_overlay_bytes?: number;
            work_disk_bytes?: number;
            /** @description The VMM's counters: Firecracker's newest metrics line, or QEMU {"blockstats": [...]}. */
            metrics_raw?: Record<string, unknown>;
        };
        /** @description Transient, present while the VM has a VMM; vmm_* are the VMM's identity recorded at spawn. */
        VmHandles: {
            pid: number;
            vmm_uid?: number;
            vmm_start_time?: number;
            vmm_exe_dev?: number;
            vmm_exe_ino?: number;
            tap_device?: string;
            base_loop?: string;
            cow_loop?: string;
            dm_name?: string;
            dm_dev?: string;
        };
        /** @description HOST_IP:HOST_PORT:GUEST_PORT/PROTO */
        PortSpec: string;
        Vm: {
            id: components["schemas"]["Id"];
            name: string;
            image_id: components["schemas"]["Id"];
            state: components["schemas"]["VmState"];
            created_at: components["schemas"]["Timestamp"];
            updated_at: components["schemas"]["Timestamp"];
            last_touched_at: components["schemas"]["Timestamp"];
            spec: components["schemas"]["VmSpec"];
            runtime: components["schemas"]["VmRuntime"];
            stats: components["schemas"]["VmStats"];
            labels: components["schemas"]["Labels"];
            request_id?: string;
            /** @description Published ports. */
            ports: components["schemas"]["PortSpec"][];
            handles?: components["schemas"]["VmHandles"];
        };
        Port: {
            vm_id?: components["schemas"]["Id"];
            host_ip: string;
            host_port: number;
            guest_port: number;
            /** @enum {string} */
            protocol: "tcp" | "udp";
            spec: components["schemas"]["PortSpec"];
            listening: boolean;
            /** @description Why a VM with a VMM does not listen on it. */
            error?: string;
        };
        /** @description File name -> bytes. */
        FileSizes: {
            [key: string]: number;
        };
        Snapshot: {
            id: components["schemas"]["Id"];
            vm_id: components["schemas"]["Id"];
            name: string;
            backend: components["schemas"]["Backend"];
            image_id: components["schemas"]["Id"];
            kernel_identity: string;
            vcpu_count: number;
            memory_mib: number;
            files: components["schemas"]["FileSizes"];
            bytes_on_disk: number;
            suspend: boolean;
            complete: boolean;
            created_at: components["schemas"]["Timestamp"];
        };
        Template: {
            id: components["schemas"]["Id"];
            image_id: components["schemas"]["Id"];
            image_name?: string;
            backend: components["schemas"]["Backend"];
            vcpu_count: number;
            memory_mib: number;
            system_overlay_size_bytes: number;
            work_disk_size_bytes: number;
            nic: boolean;
            inputs_identity: string;
            files: components["schemas"]["FileSizes"];
            bytes_on_disk: number;
            complete: boolean;
            created_at: components["schemas"]["Timestamp"];
            last_used_at?: components["schemas"]["Timestamp"];
            uses?: number;
        };
        /** @enum {string} */
        GuestSessionStatus: "starting" | "running" | "exited" | "failed" | "stopping";
        GuestSession: {
            id: components["schemas"]["Id"];
            vm_id: components["schemas"]["Id"];
            name: string;
            backend: string;
            attach_backend?: string;
            attach_mode?: string;
            command: string;
            args?: string[];
            cwd?: string;
            env?: components["schemas"]["StringMap"];
            stdin_mode?: string;
            status: components["schemas"]["GuestSessionStatus"];
            exit_code?: number;
            guest_pid?: number;
            guest_state_dir?: string;
            stdout_log_path?: string;
            stderr_log_path?: string;
            tags?: components["schemas"]["StringMap"];
            last_error?: string;
            attachable: boolean;
            reattachable: boolean;
            launch_stage?: string;
            launch_message?: string;
            launch_raw_log?: string;
            created_at: components["schemas"]["Timestamp"];
            started_at?: components["schemas"]["Timestamp"];
            updated_at: components["schemas"]["Timestamp"];
            ended_at?: components["schemas"]["Timestamp"];
        };
        WorkspacePrepareResult: {
            vm_id: components["schemas"]["Id"];
            source_path: string;
            repo_root: string;
            repo_name: string;
            guest_path: string;
            /** @enum {string} */
            mode: "shallow_overlay" | "full_copy" | "metadata_only";
            readonly: boolean;
            head_commit?: string;
            current_branch?: string;
            branch_name?: string;
            base_commit?: string;
            prepared_at: components["schemas"]["Timestamp"];
        };
        WorkspaceExportResult: {
            vm_id: components["schemas"]["Id"];
            repo_root: string;
            guest_path: string;
            base_commit: string;
            guest_head?: string;
            commit: string;
            commits: number;
            uncommitted: boolean;
            branch?: string;
            bytes: number;
        };
        Event: {
            seq: number;
            at: components["schemas"]["Timestamp"];
            /**
             * @description `vm.state` data `{from, to, boot_id, reason?}`; `vm.paused` `{reason}`;
             *     `vm.resumed` `{reason, paused_seconds}`; `vm.deleted` `{reason?}`;
             *     `vm.forked` `{source, source_id}`; `vm.restored` and
             *     `vm.snapshot.*` `{snapshot, ...}`; `image.*` `{image_id, name, ...}`;
             *     `template.*` `{template, image_id, ...}`; `session.*` `{session_id,
             *     name, status, exit_code?}`; `workspace.*` the workspace's facts.
             * @enum {string}
             */
            type: "vm.created" | "vm.state" | "vm.paused" | "vm.resumed" | "vm.deleted" | "vm.updated" | "vm.forked" | "vm.restored" | "vm.snapshot.created" | "vm.snapshot.deleted" | "image.created" | "image.deleted" | "image.pruned" | "template.created" | "template.deleted" | "session.started" | "session.ended" | "session.failed" | "workspace.prepared" | "workspace.exported";
            vm_id?: components["schemas"]["Id"];
            vm_name?: string;
            /** @description The event's details (by type). */
            data: Record<string, unknown>;
        };
        /** @enum {string} */
        FileType: "file" | "dir" | "symlink" | "other";
        DirEntry: {
            name: string;
            type: components["schemas"]["FileType"];
            size: number;
            /** @description Permission bits (& 07777). */
            mode: number;
            mtime_ns: number;
            uid: number;
            gid: number;
            link_target?: string;
        };
        /** @description A path's lstat (`?stat=1`). */
        FileStat: {
            path: string;
            name: string;
            type: components["schemas"]["FileType"];
            size: number;
            mode: number;
            mtime_ns: number;
            uid: number;
            gid: number;
            link_target?: string;
        };
        DirListing: {
            path: string;
            entries: components["schemas"]["DirEntry"][];
            truncated: boolean;
        };
        ArchiveDownloadResult: {
            bytes: number;
            sha256: string;
        };
        ArchiveUploadResult: {
            bytes: number;
            entries: number;
            sha256: string;
        };
        ConsoleResult: {
            next_offset: number;
            state: components["schemas"]["VmState"];
        };
        /** @description Milliseconds. */
        Millis: number;
        CreateVmRequest: {
            /** @description A DNS label; absent: the daemon picks one. */
            name?: string;
            /** @description An image ref; absent: the config's default_image_name. */
            image?: string;
            vcpu_count?: number;
            memory_mib?: number;
            system_overlay_size_bytes?: number;
            work_disk_size_bytes?: number;
            nat_enabled?: boolean;
            backend?: components["schemas"]["Backend"];
            no_start?: boolean;
            labels?: components["schemas"]["Labels"];
            /** @description Idempotency key. */
            request_id?: string;
            /** @description Delete the VM when its run command (its first exec) ends. */
            auto_remove?: boolean;
            disk_bw_bytes_per_sec?: number;
            disk_iops?: number;
            net_bw_bytes_per_sec?: number;
            idle_suspend_ms?: number;
            /** @enum {string} */
            idle_suspend_to?: "ram" | "disk";
            ttl_ms?: number;
            /** @enum {string} */
            ttl_action?: "stop" | "delete";
            /** @description Boot even when a template snapshot exists. */
            cold?: boolean;
            ports?: string[];
            mounts?: components["schemas"]["VmMount"][];
        };
        SetVmRequest: {
            vcpu_count?: number;
            memory_mib?: number;
            work_disk_size_bytes?: number;
            nat_enabled?: boolean;
            disk_bw_bytes_per_sec?: number;
            disk_iops?: number;
            net_bw_bytes_per_sec?: number;
            idle_suspend_ms?: number;
            /** @enum {string} */
            idle_suspend_to?: "ram" | "disk";
            ttl_ms?: number;
            /** @enum {string} */
            ttl_action?: "stop" | "delete";
        };
        StopVmRequest: {
            /** @description Graceful shutdown time before the VMM is forced. */
            timeout_ms?: number;
            /** @description Save to disk; the next start continues it (stop only). */
            save?: boolean;
        };
        AddPortRequest: {
            /** @description [HOST_IP:]HOST_PORT:GUEST_PORT[/tcp|udp] */
            port: string;
        };
        CreateSnapshotRequest: {
            /** @description Default snap-<UTC time>; letters, digits, -_., at most 63, not starting with __. */
            name?: string;
        };
        RestoreVmRequest: {
            /** @description Default: the newest. */
            snapshot?: string;
        };
        ForkVmRequest: {
            name: string;
            /** @default 1 */
            count?: number;
        };
        CreateTemplateRequest: {
            image?: string;
            vcpu_count?: number;
            memory_mib?: number;
            system_overlay_size_bytes?: number;
            work_disk_size_bytes?: number;
            backend?: components["schemas"]["Backend"];
        };
        ImportImageRequest: {
            name: string;
            /** @description Absolute. */
            kernel_path: string;
            /** @description Absolute. */
            rootfs_path: string;
            initrd_path?: string;
            modules_dir?: string;
            work_seed_path?: string;
        };
        ExecVmRequest: {
            /** @description Empty or absent: the image's Entrypoint + Cmd (OCI images). */
            argv?: string[];
            env?: components["schemas"]["StringMap"];
            cwd?: string;
            /** @description NAME, UID, UID:GID or NAME:GROUP of the guest. */
            user?: string;
            no_image_env?: boolean;
            /** @default false */
            tty?: boolean;
            /** @default 24 */
            rows?: number;
            /** @default 80 */
            cols?: number;
            /**
             * @description How long to wait for the agent of a booting VM.
             * @default 120000
             */
            timeout_ms?: number;
        };
        StartSessionRequest: {
            argv?: string[];
            name?: string;
            env?: components["schemas"]["StringMap"];
            cwd?: string;
            user?: string;
            no_image_env?: boolean;
            tags?: components["schemas"]["StringMap"];
            /**
             * @description Keep a stdin pipe (attach can feed it).
             * @default false
             */
            stdin?: boolean;
            /** @default 120000 */
            timeout_ms?: number;
        };
        BuildImageRequest: {
            name: string;
            /**
             * @default minimal
             * @enum {string}
             */
            profile?: "minimal" | "debian";
            /** @default false */
            docker?: boolean;
            size_bytes?: number;
            /**
             * @default cloud
             * @enum {string}
             */
            kernel_flavour?: "cloud" | "generic";
            /** @description An OCI layout directory, OCI archive or docker save tar on the host (absolute). */
            from_oci?: string;
            /** @description A root filesystem directory on the host (absolute), copied into the image as it is. */
            from_rootfs?: string;
        };
        RegistryAuth: {
            username?: string;
            password?: string;
            /** @description base64 of user:password */
            auth?: string;
        };
        PullImageRequest: {
            ref: string;
            name?: string;
            insecure?: boolean;
            auth?: components["schemas"]["RegistryAuth"];
            /**
             * @default cloud
             * @enum {string}
             */
            kernel_flavour?: "cloud" | "generic";
            size_bytes?: number;
        };
        PrepareWorkspaceRequest: {
            source_path: string;
            guest_path?: string;
            /** @enum {string} */
            mode?: "shallow_overlay" | "full_copy" | "metadata_only";
            readonly?: boolean;
            branch?: string;
            timeout_ms?: number;
        };
        ExportWorkspaceRequest: {
            source_path: string;
            guest_path?: string;
            branch?: string;
            force?: boolean;
            commit_message?: string;
            max_bytes?: number;
            timeout_ms?: number;
        };
    };
    responses: {
        /** @description An error (the code says what kind; the message is one line saying what and why). */
        Error: {
            headers: {
                [name: string]: unknown;
            };
            content: {
                "application/json": components["schemas"]["Error"];
            };
        };
        /** @description The VM. */
        Vm: {
            headers: {
                [name: string]: unknown;
            };
            content: {
                "application/json": components["schemas"]["Vm"];
            };
        };
        /** @description Switching Protocols; WebSocket messages follow (see x-banger-stream). */
        WebSocket: {
            headers: {
                Upgrade: "websocket";
                Connection: string;
                "Sec-WebSocket-Accept": string;
                [name: string]: unknown;
            };
            content?: never;
        };
    };
    parameters: {
        /** @description A VM id, an unambiguous id prefix (>= 8 chars) or a name. */
        VmRef: string;
        /** @description An image id, an unambiguous id prefix (>= 8 chars) or a name. */
        ImageRef: string;
        /** @description A session id, id prefix or name. */
        SessionRef: string;
        /** @description The VM (a ref) when a session name is used in several. */
        SessionVm: string;
        /** @description An absolute path in the guest. */
        GuestPath: string;
        /** @description `UID:GID`, two numbers 0..4294967294. */
        Chown: string;
        /** @description `UID:GID` (two numbers 0..4294967294), or `keep`: every entry keeps the archive's owner and whole mode. */
        ChownOrKeep: string;
        WsUpgrade: "websocket";
        WsConnection: "Upgrade";
        WsKey: string;
        WsVersion: "13";
    };
    requestBodies: {
        /** @description No body, or `{}`. */
        NoFields: {
            content: {
                "application/json": components["schemas"]["Empty"];
            };
        };
    };
    headers: never;
    pathItems: never;
}
export type $defs = Record<string, never>;
export interface operations {
    ping: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The daemon answers. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Ping"];
                };
            };
            default: components["responses"]["Error"];
        };
    };
    getOpenApi: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The OpenAPI document. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/yaml": string;
                };
            };
            default: components["responses"]["Error"];
        };
    };
    getMetrics: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Every series, in the Prometheus text exposition format (Content-Type `text/plain; version=0.0.4; charset=utf-8`). */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "text/plain": string;
                };
            };
            401: components["responses"]["Error"];
            default: components["responses"]["Error"];
        };
    };
    stopDaemon: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The daemon stops serving and exits. */
            202: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Empty"];
                };
            };
            default: components["responses"]["Error"];
        };
    };
    issueWebLogin: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: {
            content: {
                "application/json": {
                    /**
                     * @description `login`: a one-time login token. `metrics`: a scrape token, accepted only
                     *     by GET /metrics on the web listener, without expiry, kept (as its SHA-256)
                     *     across daemon restarts, replacing the uid's previous one.
                     * @default login
                     * @enum {string}
                     */
                    scope?: "login" | "metrics";
                };
            };
        };
        responses: {
            /** @description The login token and the URL that spends it, or the scrape token. */
            201: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["WebLogin"] | components["schemas"]["WebMetricsToken"];
                };
            };
            409: components["responses"]["Error"];
            default: components["responses"]["Error"];
        };
    };
    revokeWebSessions: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description How many sessions and tokens were revoked. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": {
                        revoked: number;
                    };
                };
            };
            default: components["responses"]["Error"];
        };
    };
    webLogin: {
        parameters: {
            query: {
                /** @description The `login_token` of `POST /v1/web/tokens`. */
                token: string;
            };
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Logged in; redirect to the page. */
            303: {
                headers: {
                    Location?: "/";
                    /** @description `banger_session=<token>; Path=/; HttpOnly; SameSite=Strict; Max-Age=<web_session_ttl>` */
                    "Set-Cookie"?: string;
                    [name: string]: unknown;
                };
                content?: never;
            };
            /** @description An unknown, spent or expired token. */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            default: components["responses"]["Error"];
        };
    };
    webPage: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The page. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "text/html": string;
                };
            };
            /** @description Not logged in. */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            default: components["responses"]["Error"];
        };
    };
    listImages: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Every image. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": {
                        images: components["schemas"]["Image"][];
                    };
                };
            };
            default: components["responses"]["Error"];
        };
    };
    importImage: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": components["schemas"]["ImportImageRequest"];
            };
        };
        responses: {
            /** @description The image. */
            201: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Image"];
                };
            };
            default: components["responses"]["Error"];
        };
    };
    pruneImages: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description What was freed. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": {
                        bytes_freed: number;
                    };
                };
            };
            default: components["responses"]["Error"];
        };
    };
    getImage: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description An image id, an unambiguous id prefix (>= 8 chars) or a name. */
                ref: components["parameters"]["ImageRef"];
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The image. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Image"];
                };
            };
            404: components["responses"]["Error"];
            default: components["responses"]["Error"];
        };
    };
    deleteImage: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description An image id, an unambiguous id prefix (>= 8 chars) or a name. */
                ref: components["parameters"]["ImageRef"];
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Deleted. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["DeleteResponse"];
                };
            };
            404: components["responses"]["Error"];
            409: components["responses"]["Error"];
            default: components["responses"]["Error"];
        };
    };
    buildImage: {
        parameters: {
            query?: never;
            header: {
                Upgrade: components["parameters"]["WsUpgrade"];
                Connection: components["parameters"]["WsConnection"];
                "Sec-WebSocket-Key": components["parameters"]["WsKey"];
                "Sec-WebSocket-Version": components["parameters"]["WsVersion"];
            };
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            101: components["responses"]["WebSocket"];
            400: components["responses"]["Error"];
            default: components["responses"]["Error"];
        };
    };
    pullImage: {
        parameters: {
            query?: never;
            header: {
                Upgrade: components["parameters"]["WsUpgrade"];
                Connection: components["parameters"]["WsConnection"];
                "Sec-WebSocket-Key": components["parameters"]["WsKey"];
                "Sec-WebSocket-Version": components["parameters"]["WsVersion"];
            };
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            101: components["responses"]["WebSocket"];
            400: components["responses"]["Error"];
            default: components["responses"]["Error"];
        };
    };
    listVms: {
        parameters: {
            query?: {
                /** @description Only VMs carrying every label: `k=v[,k2=v2]`. */
                label?: string;
            };
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The VMs. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": {
                        vms: components["schemas"]["Vm"][];
                    };
                };
            };
            default: components["responses"]["Error"];
        };
    };
    createVm: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: {
            content: {
                "application/json": components["schemas"]["CreateVmRequest"];
            };
        };
        responses: {
            /** @description The VM an earlier create with the same request_id made. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Vm"];
                };
            };
            /** @description Created. */
            201: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Vm"];
                };
            };
            default: components["responses"]["Error"];
        };
    };
    getVm: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description A VM id, an unambiguous id prefix (>= 8 chars) or a name. */
                ref: components["parameters"]["VmRef"];
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            200: components["responses"]["Vm"];
            404: components["responses"]["Error"];
            default: components["responses"]["Error"];
        };
    };
    deleteVm: {
        parameters: {
            query?: {
                /** @description `true`: a VM that does not exist answers `{"deleted": false}` instead of 404. */
                missing_ok?: "true" | "1" | "";
            };
            header?: never;
            path: {
                /** @description A VM id, an unambiguous id prefix (>= 8 chars) or a name. */
                ref: components["parameters"]["VmRef"];
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Deleted (or missing, with missing_ok). */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["DeleteResponse"];
                };
            };
            404: components["responses"]["Error"];
            default: components["responses"]["Error"];
        };
    };
    setVm: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description A VM id, an unambiguous id prefix (>= 8 chars) or a name. */
                ref: components["parameters"]["VmRef"];
            };
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": components["schemas"]["SetVmRequest"];
            };
        };
        responses: {
            200: components["responses"]["Vm"];
            default: components["responses"]["Error"];
        };
    };
    startVm: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description A VM id, an unambiguous id prefix (>= 8 chars) or a name. */
                ref: components["parameters"]["VmRef"];
            };
            cookie?: never;
        };
        requestBody?: components["requestBodies"]["NoFields"];
        responses: {
            200: components["responses"]["Vm"];
            default: components["responses"]["Error"];
        };
    };
    stopVm: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description A VM id, an unambiguous id prefix (>= 8 chars) or a name. */
                ref: components["parameters"]["VmRef"];
            };
            cookie?: never;
        };
        requestBody?: {
            content: {
                "application/json": components["schemas"]["StopVmRequest"];
            };
        };
        responses: {
            200: components["responses"]["Vm"];
            default: components["responses"]["Error"];
        };
    };
    restartVm: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description A VM id, an unambiguous id prefix (>= 8 chars) or a name. */
                ref: components["parameters"]["VmRef"];
            };
            cookie?: never;
        };
        requestBody?: {
            content: {
                "application/json": components["schemas"]["StopVmRequest"];
            };
        };
        responses: {
            200: components["responses"]["Vm"];
            default: components["responses"]["Error"];
        };
    };
    pauseVm: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description A VM id, an unambiguous id prefix (>= 8 chars) or a name. */
                ref: components["parameters"]["VmRef"];
            };
            cookie?: never;
        };
        requestBody?: components["requestBodies"]["NoFields"];
        responses: {
            200: components["responses"]["Vm"];
            409: components["responses"]["Error"];
            default: components["responses"]["Error"];
        };
    };
    resumeVm: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description A VM id, an unambiguous id prefix (>= 8 chars) or a name. */
                ref: components["parameters"]["VmRef"];
            };
            cookie?: never;
        };
        requestBody?: components["requestBodies"]["NoFields"];
        responses: {
            200: components["responses"]["Vm"];
            409: components["responses"]["Error"];
            default: components["responses"]["Error"];
        };
    };
    getVmLogs: {
        parameters: {
            query?: {
                /** @description The byte to start from. Excludes since. */
                offset?: number;
                /** @description Start instead at the output written since this time, in unix seconds (fractional allowed). From the daemon's time index of the log (sampled about every second): nothing written after it is left out, up to about one second of older output may come too. Excludes offset. */
                since?: number;
                /** @description Waits up to this long for new bytes. */
                wait_ms?: number;
            };
            header?: never;
            path: {
                /** @description A VM id, an unambiguous id prefix (>= 8 chars) or a name. */
                ref: components["parameters"]["VmRef"];
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Raw console bytes. */
            200: {
                headers: {
                    "X-Banger-Next-Offset": number;
                    "X-Banger-Vm-State": components["schemas"]["VmState"];
                    [name: string]: unknown;
                };
                content: {
                    "application/octet-stream": string;
                };
            };
            default: components["responses"]["Error"];
        };
    };
    getVmStats: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description A VM id, an unambiguous id prefix (>= 8 chars) or a name. */
                ref: components["parameters"]["VmRef"];
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The VM's stats. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": {
                        id: components["schemas"]["Id"];
                        name: string;
                        state: components["schemas"]["VmState"];
                        stats: components["schemas"]["VmStats"];
                    };
                };
            };
            default: components["responses"]["Error"];
        };
    };
    getVmStatsHistory: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description A VM id, an unambiguous id prefix (>= 8 chars) or a name. */
                ref: components["parameters"]["VmRef"];
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The VM's stats history. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": {
                        id: components["schemas"]["Id"];
                        name: string;
                        state: components["schemas"]["VmState"];
                        max_samples: number;
                        samples: {
                            at: components["schemas"]["Timestamp"];
                            cpu_percent: number;
                            rss_bytes: number;
                            vsz_bytes: number;
                            system_overlay_bytes: number;
                            work_disk_bytes: number;
                            disk_bytes: number;
                        }[];
                    };
                };
            };
            default: components["responses"]["Error"];
        };
    };
    execVm: {
        parameters: {
            query?: never;
            header: {
                Upgrade: components["parameters"]["WsUpgrade"];
                Connection: components["parameters"]["WsConnection"];
                "Sec-WebSocket-Key": components["parameters"]["WsKey"];
                "Sec-WebSocket-Version": components["parameters"]["WsVersion"];
            };
            path: {
                /** @description A VM id, an unambiguous id prefix (>= 8 chars) or a name. */
                ref: components["parameters"]["VmRef"];
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            101: components["responses"]["WebSocket"];
            400: components["responses"]["Error"];
            404: components["responses"]["Error"];
            default: components["responses"]["Error"];
        };
    };
    followVmConsole: {
        parameters: {
            query?: {
                offset?: number;
            };
            header: {
                Upgrade: components["parameters"]["WsUpgrade"];
                Connection: components["parameters"]["WsConnection"];
                "Sec-WebSocket-Key": components["parameters"]["WsKey"];
                "Sec-WebSocket-Version": components["parameters"]["WsVersion"];
            };
            path: {
                /** @description A VM id, an unambiguous id prefix (>= 8 chars) or a name. */
                ref: components["parameters"]["VmRef"];
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            101: components["responses"]["WebSocket"];
            400: components["responses"]["Error"];
            404: components["responses"]["Error"];
            default: components["responses"]["Error"];
        };
    };
    listPorts: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description A VM id, an unambiguous id prefix (>= 8 chars) or a name. */
                ref: components["parameters"]["VmRef"];
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The VM's published ports, by host address. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": {
                        ports: components["schemas"]["Port"][];
                    };
                };
            };
            default: components["responses"]["Error"];
        };
    };
    addPort: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description A VM id, an unambiguous id prefix (>= 8 chars) or a name. */
                ref: components["parameters"]["VmRef"];
            };
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": components["schemas"]["AddPortRequest"];
            };
        };
        responses: {
            /** @description The port. */
            201: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Port"];
                };
            };
            409: components["responses"]["Error"];
            default: components["responses"]["Error"];
        };
    };
    removePort: {
        parameters: {
            query?: {
                host_ip?: string;
                protocol?: "tcp" | "udp";
            };
            header?: never;
            path: {
                /** @description A VM id, an unambiguous id prefix (>= 8 chars) or a name. */
                ref: components["parameters"]["VmRef"];
                host_port: number;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Removed; its listener and connections end at once. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": {
                        /** @description HOST_IP:HOST_PORT/PROTO */
                        removed: string;
                    };
                };
            };
            404: components["responses"]["Error"];
            default: components["responses"]["Error"];
        };
    };
    listSnapshots: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description A VM id, an unambiguous id prefix (>= 8 chars) or a name. */
                ref: components["parameters"]["VmRef"];
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The VM's snapshots, oldest first. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": {
                        snapshots: components["schemas"]["Snapshot"][];
                    };
                };
            };
            default: components["responses"]["Error"];
        };
    };
    createSnapshot: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description A VM id, an unambiguous id prefix (>= 8 chars) or a name. */
                ref: components["parameters"]["VmRef"];
            };
            cookie?: never;
        };
        requestBody?: {
            content: {
                "application/json": components["schemas"]["CreateSnapshotRequest"];
            };
        };
        responses: {
            /** @description The snapshot. */
            201: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Snapshot"];
                };
            };
            409: components["responses"]["Error"];
            default: components["responses"]["Error"];
        };
    };
    deleteSnapshot: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description A VM id, an unambiguous id prefix (>= 8 chars) or a name. */
                ref: components["parameters"]["VmRef"];
                name: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Deleted (`id` is the snapshot's name). */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["DeleteResponse"];
                };
            };
            404: components["responses"]["Error"];
            default: components["responses"]["Error"];
        };
    };
    restoreVm: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description A VM id, an unambiguous id prefix (>= 8 chars) or a name. */
                ref: components["parameters"]["VmRef"];
            };
            cookie?: never;
        };
        requestBody?: {
            content: {
                "application/json": components["schemas"]["RestoreVmRequest"];
            };
        };
        responses: {
            200: components["responses"]["Vm"];
            409: components["responses"]["Error"];
            default: components["responses"]["Error"];
        };
    };
    forkVm: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description A VM id, an unambiguous id prefix (>= 8 chars) or a name. */
                ref: components["parameters"]["VmRef"];
            };
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": components["schemas"]["ForkVmRequest"];
            };
        };
        responses: {
            /** @description The forks. */
            201: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": {
                        vms: components["schemas"]["Vm"][];
                    };
                };
            };
            409: components["responses"]["Error"];
            default: components["responses"]["Error"];
        };
    };
    listTemplates: {
        parameters: {
            query?: {
                /** @description Only the templates of this image (a ref). */
                image?: string;
            };
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Complete templates, oldest first. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": {
                        templates: components["schemas"]["Template"][];
                    };
                };
            };
            default: components["responses"]["Error"];
        };
    };
    createTemplate: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: {
            content: {
                "application/json": components["schemas"]["CreateTemplateRequest"];
            };
        };
        responses: {
            /** @description The template. */
            201: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Template"];
                };
            };
            default: components["responses"]["Error"];
        };
    };
    deleteTemplate: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description A template id or a unique prefix of at least 4 characters. */
                id: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Deleted. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["DeleteResponse"];
                };
            };
            404: components["responses"]["Error"];
            default: components["responses"]["Error"];
        };
    };
    getFile: {
        parameters: {
            query: {
                /** @description An absolute path in the guest. */
                path: components["parameters"]["GuestPath"];
                /** @description `1`/`true`: the stat object of the path itself (lstat). */
                stat?: "1" | "true" | "";
            };
            header?: never;
            path: {
                /** @description A VM id, an unambiguous id prefix (>= 8 chars) or a name. */
                ref: components["parameters"]["VmRef"];
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /**
             * @description `application/octet-stream` for a regular file; `application/json`
             *     for a directory (`DirListing`) or with `stat` (`FileStat`).
             */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/octet-stream": string;
                    "application/json": components["schemas"]["DirListing"] | components["schemas"]["FileStat"];
                };
            };
            404: components["responses"]["Error"];
            409: components["responses"]["Error"];
            413: components["responses"]["Error"];
            default: components["responses"]["Error"];
        };
    };
    putFile: {
        parameters: {
            query: {
                /** @description An absolute path in the guest. */
                path: components["parameters"]["GuestPath"];
                /** @description Octal, at most 7777. */
                mode?: string;
                /** @description `UID:GID`, two numbers 0..4294967294. */
                chown?: components["parameters"]["Chown"];
            };
            header?: never;
            path: {
                /** @description A VM id, an unambiguous id prefix (>= 8 chars) or a name. */
                ref: components["parameters"]["VmRef"];
            };
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/octet-stream": string;
            };
        };
        responses: {
            /** @description Written. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": {
                        path: string;
                        bytes: number;
                    };
                };
            };
            default: components["responses"]["Error"];
        };
    };
    downloadArchive: {
        parameters: {
            query: {
                /** @description An absolute path in the guest. */
                path: components["parameters"]["GuestPath"];
                follow_links?: "1" | "true" | "";
            };
            header: {
                Upgrade: components["parameters"]["WsUpgrade"];
                Connection: components["parameters"]["WsConnection"];
                "Sec-WebSocket-Key": components["parameters"]["WsKey"];
                "Sec-WebSocket-Version": components["parameters"]["WsVersion"];
            };
            path: {
                /** @description A VM id, an unambiguous id prefix (>= 8 chars) or a name. */
                ref: components["parameters"]["VmRef"];
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            101: components["responses"]["WebSocket"];
            400: components["responses"]["Error"];
            404: components["responses"]["Error"];
            default: components["responses"]["Error"];
        };
    };
    uploadArchive: {
        parameters: {
            query: {
                /** @description An absolute path in the guest. */
                path: components["parameters"]["GuestPath"];
                /** @description `UID:GID` (two numbers 0..4294967294), or `keep`: every entry keeps the archive's owner and whole mode. */
                chown?: components["parameters"]["ChownOrKeep"];
            };
            header: {
                Upgrade: components["parameters"]["WsUpgrade"];
                Connection: components["parameters"]["WsConnection"];
                "Sec-WebSocket-Key": components["parameters"]["WsKey"];
                "Sec-WebSocket-Version": components["parameters"]["WsVersion"];
            };
            path: {
                /** @description A VM id, an unambiguous id prefix (>= 8 chars) or a name. */
                ref: components["parameters"]["VmRef"];
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            101: components["responses"]["WebSocket"];
            400: components["responses"]["Error"];
            404: components["responses"]["Error"];
            default: components["responses"]["Error"];
        };
    };
    startSession: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description A VM id, an unambiguous id prefix (>= 8 chars) or a name. */
                ref: components["parameters"]["VmRef"];
            };
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": components["schemas"]["StartSessionRequest"];
            };
        };
        responses: {
            /** @description The session, running. */
            201: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["GuestSession"];
                };
            };
            default: components["responses"]["Error"];
        };
    };
    listSessions: {
        parameters: {
            query?: {
                /** @description Only this VM's sessions (a ref). */
                vm?: string;
            };
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The sessions (running ones refreshed from their guest). */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": {
                        sessions: components["schemas"]["GuestSession"][];
                    };
                };
            };
            default: components["responses"]["Error"];
        };
    };
    getSession: {
        parameters: {
            query?: {
                /** @description The VM (a ref) when a session name is used in several. */
                vm?: components["parameters"]["SessionVm"];
            };
            header?: never;
            path: {
                /** @description A session id, id prefix or name. */
                s: components["parameters"]["SessionRef"];
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The session. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["GuestSession"];
                };
            };
            404: components["responses"]["Error"];
            default: components["responses"]["Error"];
        };
    };
    stopSession: {
        parameters: {
            query?: {
                /** @description The VM (a ref) when a session name is used in several. */
                vm?: components["parameters"]["SessionVm"];
            };
            header?: never;
            path: {
                /** @description A session id, id prefix or name. */
                s: components["parameters"]["SessionRef"];
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The session. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["GuestSession"];
                };
            };
            default: components["responses"]["Error"];
        };
    };
    signalSession: {
        parameters: {
            query?: {
                /** @description The VM (a ref) when a session name is used in several. */
                vm?: components["parameters"]["SessionVm"];
            };
            header?: never;
            path: {
                /** @description A session id, id prefix or name. */
                s: components["parameters"]["SessionRef"];
            };
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": {
                    signal: number;
                };
            };
        };
        responses: {
            /** @description The session. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["GuestSession"];
                };
            };
            409: components["responses"]["Error"];
            default: components["responses"]["Error"];
        };
    };
    sessionLogs: {
        parameters: {
            query?: {
                /** @description The VM (a ref) when a session name is used in several. */
                vm?: components["parameters"]["SessionVm"];
                follow?: "0" | "1" | "true" | "false" | "";
            };
            header: {
                Upgrade: components["parameters"]["WsUpgrade"];
                Connection: components["parameters"]["WsConnection"];
                "Sec-WebSocket-Key": components["parameters"]["WsKey"];
                "Sec-WebSocket-Version": components["parameters"]["WsVersion"];
            };
            path: {
                /** @description A session id, id prefix or name. */
                s: components["parameters"]["SessionRef"];
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            101: components["responses"]["WebSocket"];
            400: components["responses"]["Error"];
            404: components["responses"]["Error"];
            default: components["responses"]["Error"];
        };
    };
    attachSession: {
        parameters: {
            query?: {
                /** @description The VM (a ref) when a session name is used in several. */
                vm?: components["parameters"]["SessionVm"];
            };
            header: {
                Upgrade: components["parameters"]["WsUpgrade"];
                Connection: components["parameters"]["WsConnection"];
                "Sec-WebSocket-Key": components["parameters"]["WsKey"];
                "Sec-WebSocket-Version": components["parameters"]["WsVersion"];
            };
            path: {
                /** @description A session id, id prefix or name. */
                s: components["parameters"]["SessionRef"];
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            101: components["responses"]["WebSocket"];
            400: components["responses"]["Error"];
            404: components["responses"]["Error"];
            default: components["responses"]["Error"];
        };
    };
    listWorkspaces: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description A VM id, an unambiguous id prefix (>= 8 chars) or a name. */
                ref: components["parameters"]["VmRef"];
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The VM's prepared workspaces. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": {
                        workspaces: components["schemas"]["WorkspacePrepareResult"][];
                    };
                };
            };
            default: components["responses"]["Error"];
        };
    };
    prepareWorkspace: {
        parameters: {
            query?: never;
            header: {
                Upgrade: components["parameters"]["WsUpgrade"];
                Connection: components["parameters"]["WsConnection"];
                "Sec-WebSocket-Key": components["parameters"]["WsKey"];
                "Sec-WebSocket-Version": components["parameters"]["WsVersion"];
            };
            path: {
                /** @description A VM id, an unambiguous id prefix (>= 8 chars) or a name. */
                ref: components["parameters"]["VmRef"];
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            101: components["responses"]["WebSocket"];
            400: components["responses"]["Error"];
            404: components["responses"]["Error"];
            default: components["responses"]["Error"];
        };
    };
    exportWorkspace: {
        parameters: {
            query?: never;
            header: {
                Upgrade: components["parameters"]["WsUpgrade"];
                Connection: components["parameters"]["WsConnection"];
                "Sec-WebSocket-Key": components["parameters"]["WsKey"];
                "Sec-WebSocket-Version": components["parameters"]["WsVersion"];
            };
            path: {
                /** @description A VM id, an unambiguous id prefix (>= 8 chars) or a name. */
                ref: components["parameters"]["VmRef"];
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            101: components["responses"]["WebSocket"];
            400: components["responses"]["Error"];
            404: components["responses"]["Error"];
            default: components["responses"]["Error"];
        };
    };
    listEvents: {
        parameters: {
            query?: {
                after?: number;
                wait_ms?: number;
                limit?: number;
            };
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The events and the last sequence number returned (`after` when none). */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": {
                        events: components["schemas"]["Event"][];
                        last_seq: number;
                    };
                };
            };
            default: components["responses"]["Error"];
        };
    };
    followEvents: {
        parameters: {
            query?: {
                after?: number;
            };
            header: {
                Upgrade: components["parameters"]["WsUpgrade"];
                Connection: components["parameters"]["WsConnection"];
                "Sec-WebSocket-Key": components["parameters"]["WsKey"];
                "Sec-WebSocket-Version": components["parameters"]["WsVersion"];
            };
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            101: components["responses"]["WebSocket"];
            400: components["responses"]["Error"];
            default: components["responses"]["Error"];
        };
    };
}
