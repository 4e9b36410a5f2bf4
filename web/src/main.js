// banger's web UI: the VM list (live through the events stream), a create
// form, and per VM its labels and ports, CPU/memory/disk charts, a terminal
// and the console log. Bundled by web/build.mjs at build time.
import "./style.css";
import { api, ago, bytes } from "./api.js";
import { drawChart } from "./charts.js";
import { ConsoleLog } from "./console.js";
import { T, json, openStream } from "./stream.js";
import { VmTerminal } from "./terminal.js";

const $ = (sel) => document.querySelector(sel);

function showError(e) {
  const el = $("#error");
  el.textContent = e ? e.message || String(e) : "";
  el.hidden = !e;
}

function cell(tr, text, cls) {
  const td = document.createElement("td");
  td.textContent = text === undefined || text === null ? "" : String(text);
  if (cls) td.className = cls;
  tr.appendChild(td);
  return td;
}

function chips(parent, items) {
  parent.replaceChildren();
  for (const s of items) {
    const c = document.createElement("span");
    c.className = "chip";
    c.textContent = s;
    parent.appendChild(c);
  }
}

const labelList = (v) => Object.entries(v.labels || {}).map(([k, val]) => `${k}=${val}`);
// "127.0.0.1:18080:8080/tcp" -> "127.0.0.1:18080->8080/tcp"
const portList = (v) => (v.ports || []).map((p) => p.replace(/:(\d+\/\w+)$/, "->$1"));

// ---------------- state ----------------
let imageNames = {};
let vmsByName = {};
let selected = null;  // the name of the VM shown in the detail section
let terminal = null;  // made on first use (xterm needs a laid-out element)
const consoleLog = new ConsoleLog($("#console"), (s) => ($("#console-status").textContent = s));

// ---------------- VMs, images ----------------
async function action(vm, what) {
  try {
    if (what === "delete") {
      if (!confirm(`Delete ${vm} and its disks?`)) return;
      await api("DELETE", `/v1/vms/${encodeURIComponent(vm)}`);
      if (selected === vm) closeDetail();
    } else {
      await api("POST", `/v1/vms/${encodeURIComponent(vm)}/${what}`, {});
    }
    showError(null);
  } catch (e) {
    showError(e);
  }
  refresh();
}

function renderVms(vms) {
  const body = $("#vms tbody");
  body.replaceChildren();
  vmsByName = {};
  if (!vms.length) {
    const td = cell(body.insertRow(), "No VMs yet: create one below.");
    td.colSpan = 12;
    td.className = "empty";
  }
  for (const v of vms) {
    vmsByName[v.name] = v;
    const tr = body.insertRow();
    tr.dataset.vm = v.name;
    if (v.name === selected) tr.className = "selected";
    const name = document.createElement("button");
    name.className = "link";
    name.textContent = v.name;
    name.title = "show charts, terminal and console";
    name.onclick = () => openDetail(v.name);
    cell(tr, "").appendChild(name);
    cell(tr, v.state, "state state-" + v.state);
    cell(tr, imageNames[v.image_id] || (v.image_id || "").slice(0, 12));
    cell(tr, v.spec && v.spec.vcpu_count);
    cell(tr, v.spec && v.spec.memory_mib ? v.spec.memory_mib + " MiB" : "");
    cell(tr, v.runtime && v.runtime.guest_ip, "mono");
    cell(tr, portList(v).join(", "), "mono");
    chips(cell(tr, ""), labelList(v));
    const st = v.stats || {};
    const live = v.state === "running" && st.collected_at && !st.collected_at.startsWith("0001");
    cell(tr, live ? (st.cpu_percent || 0).toFixed(1) + " %" : "");
    cell(tr, live ? bytes(st.rss_bytes) : "");
    cell(tr, ago(v.last_touched_at));
    const td = cell(tr, "");
    const buttons = v.state === "running" ? ["pause", "stop", "restart"]
                  : v.state === "paused" ? ["resume", "stop"] : ["start"];
    for (const b of buttons.concat(["delete"])) {
      const btn = document.createElement("button");
      btn.textContent = b;
      if (b === "delete") btn.className = "danger";
      btn.onclick = () => action(v.name, b);
      td.append(btn, " ");
    }
  }
  if (selected) renderDetailHead();
}

function renderImages(images) {
  imageNames = {};
  const body = $("#images tbody");
  const select = $("#create select[name=image]");
  const chosen = select.value;
  body.replaceChildren();
  select.replaceChildren();
  for (const i of images) {
    imageNames[i.id] = i.name;
    const tr = body.insertRow();
    cell(tr, i.name, "mono");
    cell(tr, i.id.slice(0, 12), "mono");
    cell(tr, ago(i.created_at));
    const o = document.createElement("option");
    o.value = i.name;
    o.textContent = i.name;
    select.appendChild(o);
  }
  if (chosen) select.value = chosen;
  if (!images.length) {
    const td = cell(body.insertRow(), "No images: banger image build default");
    td.colSpan = 3;
    td.className = "empty";
  }
}

let refreshing = null;
let refreshAgain = false;
// One refresh at a time; calls during one make one more after it.
async function refresh() {
  if (refreshing) {
    refreshAgain = true;
    return refreshing;
  }
  refreshing = (async () => {
    try {
      const [images, vms] = await Promise.all([api("GET", "/v1/images"), api("GET", "/v1/vms")]);
      renderImages(images.images || []);
      renderVms(vms.vms || []);
      showError(null);
    } catch (e) {
      showError(e);
    }
  })();
  await refreshing;
  refreshing = null;
  if (refreshAgain) {
    refreshAgain = false;
    refresh();
  }
}

// ---------------- events: the stream, else the long poll ----------------
let lastSeq = 0;
let refreshTimer = null;
function addEvent(e) {
  if (e.seq <= lastSeq) return;
  lastSeq = e.seq;
  const body = $("#events tbody");
  const tr = body.insertRow(0);
  cell(tr, e.seq);
  cell(tr, ago(e.at));
  cell(tr, e.type, "mono");
  cell(tr, e.vm_name || "");
  cell(tr, JSON.stringify(e.data || {}), "mono");
  while (body.rows.length > 30) body.deleteRow(body.rows.length - 1);
  // A burst of events (a create: several) makes one refresh.
  clearTimeout(refreshTimer);
  refreshTimer = setTimeout(refresh, 150);
}

function followEvents() {
  openStream(`/v1/events/stream?after=${lastSeq}`, undefined, {
    onOpen: () => ($("#live").textContent = "live"),
    onMessage: (type, payload) => {
      if (type === T.event) addEvent(json(payload));
    },
    onClose: ({ opened }) => {
      $("#live").textContent = "";
      if (opened) setTimeout(followEvents, 1000);  // dropped: reconnect from lastSeq
      else pollEvents();  // no events stream here: long-poll instead
    },
  });
}

async function pollEvents() {
  $("#live").textContent = "polling";
  for (;;) {
    try {
      const r = await api("GET", `/v1/events?after=${lastSeq}&limit=100&wait_ms=20000`);
      for (const e of r.events) addEvent(e);
    } catch (e) {
      showError(e);
      await new Promise((ok) => setTimeout(ok, 3000));
    }
  }
}

// ---------------- the detail section: charts, terminal, console ----------------
function renderDetailHead() {
  const v = vmsByName[selected];
  $("#detail-name").textContent = selected;
  $("#detail-state").textContent = v ? v.state : "gone";
  $("#detail-state").className = v ? "state-" + v.state : "state-error";
  chips($("#detail-labels"), v ? labelList(v) : []);
  $("#detail-ports").textContent = v && v.ports && v.ports.length ? portList(v).join(", ") : "none";
}

async function drawHistory() {
  if (!selected) return;
  const vm = selected;
  try {
    const h = await api("GET", `/v1/vms/${encodeURIComponent(vm)}/stats/history`);
    if (vm !== selected) return;
    const s = h.samples || [];
    const last = s[s.length - 1];
    drawChart($("#chart-cpu"), s, (x) => x.cpu_percent, (m) => m.toFixed(0) + " %");
    drawChart($("#chart-rss"), s, (x) => x.rss_bytes, bytes);
    drawChart($("#chart-disk"), s, (x) => x.disk_bytes, bytes);
    $("#now-cpu").textContent = last ? `${last.cpu_percent.toFixed(1)} %` : "";
    $("#now-rss").textContent = last ? bytes(last.rss_bytes) : "";
    $("#now-disk").textContent = last ? bytes(last.disk_bytes) : "";
  } catch (e) {
    if (vm === selected) showError(e);
  }
}

function setTermStatus(s) {
  $("#term-status").textContent = s;
  $("#term-connect").textContent = terminal && terminal.connected ? "disconnect" : "connect";
}

function openDetail(vm) {
  if (selected === vm) return;
  if (terminal) terminal.disconnect();
  selected = vm;
  $("#detail").hidden = false;
  for (const tr of document.querySelectorAll("#vms tbody tr")) tr.classList.toggle("selected", tr.dataset.vm === vm);
  if (!terminal) terminal = new VmTerminal($("#term"), setTermStatus);
  terminal.term.reset();
  setTermStatus("press connect to open a shell");
  renderDetailHead();
  consoleLog.follow(vm);
  drawHistory();
}

function closeDetail() {
  if (terminal) terminal.disconnect();
  consoleLog.stop();
  selected = null;
  $("#detail").hidden = true;
  for (const tr of document.querySelectorAll("#vms tbody tr")) tr.classList.remove("selected");
}

$("#detail-close").onclick = closeDetail;
$("#term-connect").onclick = () => {
  if (!terminal || !selected) return;
  if (terminal.connected) {
    terminal.disconnect();
    setTermStatus("disconnected");
    return;
  }
  const argv = $("#term-cmd").value.trim().split(/\s+/).filter(Boolean);
  terminal.connect(selected, argv.length ? argv : ["/bin/sh", "-l"]);
  setTermStatus("connecting...");
};

// ---------------- create ----------------
function parseLabels(text) {
  const labels = {};
  for (const part of text.split(",").map((s) => s.trim()).filter(Boolean)) {
    const eq = part.indexOf("=");
    if (eq <= 0) throw new Error(`label "${part}": write key=value`);
    labels[part.slice(0, eq).trim()] = part.slice(eq + 1).trim();
  }
  return labels;
}

$("#create").onsubmit = async (ev) => {
  ev.preventDefault();
  const form = ev.target;
  const f = new FormData(form);
  try {
    const body = { image: f.get("image"), vcpu_count: Number(f.get("vcpus")), memory_mib: Number(f.get("memory")) };
    if (f.get("name")) body.name = f.get("name");
    const labels = parseLabels(String(f.get("labels") || ""));
    if (Object.keys(labels).length) body.labels = labels;
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    button.textContent = "creating...";
    try {
      await api("POST", "/v1/vms", body);
    } finally {
      button.disabled = false;
      button.textContent = "Create and start";
    }
    showError(null);
    form.querySelector("input[name=name]").value = "";
  } catch (e) {
    showError(e);
  }
  refresh();
};

// For tests driving this page in a browser (tests/browser): what the
// terminal shows, read from its buffer.
window.bangerUi = Object.freeze({ terminalText: () => (terminal ? terminal.text() : []) });

api("GET", "/v1/ping")
  .then((p) => {
    $("#info").textContent = `bangerd ${p.version} \u00b7 ${p.home} \u00b7 backend ${p.backend}` +
                             (p.qemu_accel ? ` (${p.qemu_accel})` : "");
  })
  .catch(showError);

(async () => {
  await refresh();
  // The events table starts with the last few events, then follows.
  try {
    const r = await api("GET", "/v1/events?after=0&limit=1000");
    for (const e of r.events.slice(-30)) addEvent(e);
  } catch (e) {
    showError(e);
  }
  followEvents();
})();
// Stats have no events: the list's CPU/RSS columns and the charts refresh on a timer.
setInterval(refresh, 5000);
setInterval(drawHistory, 2000);
