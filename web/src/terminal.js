// A terminal into a VM: xterm.js on the exec stream (GET /v1/vms/{ref}/exec
// upgraded to a WebSocket; the opening message is an ExecVmRequest with a
// tty). Keys go out as stdin messages, size changes as resize messages;
// stdout and stderr are written to the terminal; exit and error end it.
import { Terminal } from "@xterm/xterm";
import { FitAddon } from "@xterm/addon-fit";
import "@xterm/xterm/css/xterm.css";
import { T, json, openStream, resizePayload } from "./stream.js";

const encoder = new TextEncoder();

export class VmTerminal {
  constructor(container, setStatus) {
    this.term = new Terminal({
      convertEol: false,
      cursorBlink: true,
      fontSize: 13,
      scrollback: 2000,
      fontFamily: "ui-monospace, monospace",
    });
    this.fit = new FitAddon();
    this.term.loadAddon(this.fit);
    this.term.open(container);
    this.setStatus = setStatus;
    this.stream = null;
    this.term.onData((d) => this.stream && this.stream.send(T.stdin, encoder.encode(d)));
    this.term.onResize(({ rows, cols }) => this.stream && this.stream.send(T.resize, resizePayload(rows, cols)));
    this.resizeObserver = new ResizeObserver(() => this.refit());
    this.resizeObserver.observe(container);
    this.refit();
  }

  refit() {
    try {
      this.fit.fit();
    } catch {
      // not laid out (hidden): the next resize fits it
    }
  }

  get connected() {
    return this.stream !== null;
  }

  // Runs argv in VM `vm` with a terminal of this size.
  connect(vm, argv) {
    this.disconnect();
    this.term.reset();
    this.refit();
    this.setStatus("connecting...");
    const open = { argv, tty: true, rows: this.term.rows, cols: this.term.cols };
    let ended = false;
    const stream = openStream(`/v1/vms/${encodeURIComponent(vm)}/exec`, open, {
      onOpen: () => {
        this.setStatus(`connected: ${argv.join(" ")} in ${vm}`);
        this.term.focus();
      },
      onMessage: (type, payload) => {
        if (type === T.stdout || type === T.stderr) {
          this.term.write(payload);
        } else if (type === T.exit) {
          ended = true;
          const e = json(payload);
          const how = e.signaled ? `killed by signal ${e.signo}` : `exited with code ${e.code}`;
          this.term.write(`\r\n\x1b[2m[${how}]\x1b[0m\r\n`);
          this.setStatus(how);
        } else if (type === T.error) {
          ended = true;
          const e = json(payload);
          this.term.write(`\r\n\x1b[31m[${e.message || "error"}]\x1b[0m\r\n`);
          this.setStatus(`error: ${e.message || e.code || "unknown"}`);
        }
      },
      onClose: ({ opened, code, reason }) => {
        if (this.stream === stream) this.stream = null;
        if (!ended) {
          this.setStatus(opened ? `disconnected (${code}${reason ? ": " + reason : ""})`
                                : "could not open the exec stream (is the VM running?)");
        }
      },
    });
    this.stream = stream;
  }

  disconnect() {
    if (this.stream) {
      const s = this.stream;
      this.stream = null;
      s.close();
    }
  }

  // The terminal's buffer as text lines (trailing blanks trimmed): what
  // it shows, scrollback included.
  text() {
    const b = this.term.buffer.active;
    const lines = [];
    for (let i = 0; i < b.length; i++) lines.push(b.getLine(i).translateToString(true));
    return lines;
  }
}
