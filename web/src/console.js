// A VM's console log, live: the WebSocket GET /v1/vms/{ref}/console?offset=N
// (stdout messages from N on, then a result {next_offset, state} when the
// VM stopped and everything was sent). Where that stream cannot be opened,
// the long poll GET /v1/vms/{ref}/logs?offset=N&wait_ms=... does the same.
import { T, json, openStream } from "./stream.js";

const KEEP = 256 * 1024;  // characters shown; older text is dropped
// Terminal escapes (colours, cursor moves) and carriage returns, which a
// <pre> cannot show.
const ESCAPES = /\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[()][0-9A-Za-z]|\x1b[=>78]|\r/g;

export class ConsoleLog {
  constructor(pre, setStatus) {
    this.pre = pre;
    this.setStatus = setStatus;
    this.generation = 0;
    this.stream = null;
  }

  append(text) {
    const atBottom = this.pre.scrollTop + this.pre.clientHeight >= this.pre.scrollHeight - 4;
    let t = this.pre.textContent + text.replace(ESCAPES, "");
    if (t.length > KEEP) t = t.slice(t.length - KEEP);
    this.pre.textContent = t;
    if (atBottom) this.pre.scrollTop = this.pre.scrollHeight;
  }

  follow(vm) {
    this.stop();
    const gen = ++this.generation;
    this.pre.textContent = "";
    this.offset = 0;
    this.decoder = new TextDecoder();
    this.setStatus("following");
    const stream = openStream(`/v1/vms/${encodeURIComponent(vm)}/console?offset=0`, undefined, {
      onMessage: (type, payload) => {
        if (gen !== this.generation) return;
        if (type === T.stdout) {
          this.offset += payload.length;
          this.append(this.decoder.decode(payload, { stream: true }));
        } else if (type === T.result) {
          const r = json(payload);
          this.setStatus(`the VM is ${r.state || "stopped"}: end of the log`);
        } else if (type === T.error) {
          this.setStatus(`error: ${json(payload).message || "unknown"}`);
        }
      },
      onClose: ({ opened }) => {
        if (gen !== this.generation) return;
        this.stream = null;
        // No console stream on this daemon (or it refused the upgrade): poll.
        if (!opened) this.poll(vm, gen);
      },
    });
    this.stream = stream;
  }

  async poll(vm, gen) {
    this.setStatus("following (polling)");
    while (gen === this.generation) {
      try {
        const r = await fetch(`/v1/vms/${encodeURIComponent(vm)}/logs?offset=${this.offset}&wait_ms=15000`,
                              { headers: { "X-Banger-UI": "1" } });
        if (gen !== this.generation) return;
        if (!r.ok) {
          const e = await r.json().catch(() => ({}));
          throw new Error((e.error && e.error.message) || r.statusText);
        }
        const data = new Uint8Array(await r.arrayBuffer());
        this.offset = Number(r.headers.get("X-Banger-Next-Offset")) || this.offset + data.length;
        if (data.length) this.append(this.decoder.decode(data, { stream: true }));
        const state = r.headers.get("X-Banger-Vm-State");
        if (!data.length && state && state !== "running" && state !== "paused") {
          this.setStatus(`the VM is ${state}: end of the log`);
          return;
        }
      } catch (e) {
        if (gen !== this.generation) return;
        this.setStatus(`error: ${e.message}`);
        return;
      }
    }
  }

  stop() {
    this.generation++;
    if (this.stream) {
      this.stream.close();
      this.stream = null;
    }
  }
}
