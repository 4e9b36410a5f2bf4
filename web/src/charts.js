// Line charts of a VM's stats history, drawn as SVG (no chart library): the
// samples of GET /v1/vms/{ref}/stats/history, oldest left, newest right,
// the y axis from 0 to the window's maximum.
const NS = "http://www.w3.org/2000/svg";
const W = 300;
const H = 100;

function el(name, attrs) {
  const e = document.createElementNS(NS, name);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  return e;
}

// Draws `samples` (objects with "at") into `svg`, plotting value(sample);
// format(max) labels the top of the y axis. The svg's data-points tells how
// many samples it shows.
export function drawChart(svg, samples, value, format) {
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
  svg.setAttribute("preserveAspectRatio", "none");
  svg.replaceChildren();
  svg.dataset.points = String(samples.length);
  for (const y of [0.25, 0.5, 0.75]) svg.appendChild(el("line", { x1: 0, x2: W, y1: H * y, y2: H * y }));
  if (!samples.length) {
    const t = el("text", { x: 6, y: H / 2 });
    t.textContent = "no samples yet";
    svg.appendChild(t);
    return;
  }
  const ts = samples.map((s) => Date.parse(s.at) || 0);
  const vs = samples.map((s) => Math.max(0, Number(value(s)) || 0));
  const t0 = ts[0];
  const span = Math.max(1, ts[ts.length - 1] - t0);
  const max = Math.max(...vs) || 1;
  // Samples within one second share an "at": spread them by index then.
  const x = (i) => (ts[ts.length - 1] === t0 ? (samples.length === 1 ? W : (W * i) / (samples.length - 1))
                                             : (W * (ts[i] - t0)) / span);
  const y = (v) => H - 4 - ((H - 8) * v) / max;
  const points = vs.map((v, i) => `${x(i).toFixed(1)},${y(v).toFixed(1)}`).join(" ");
  svg.appendChild(el("polyline", { points }));
  const last = vs.length - 1;
  svg.appendChild(el("circle", { cx: x(last).toFixed(1), cy: y(vs[last]).toFixed(1), r: 2 }));
  const top = el("text", { x: 4, y: 11 });
  top.textContent = format(max);
  svg.appendChild(top);
  const age = el("text", { x: 4, y: H - 4 });
  age.textContent = span > 1000 ? `last ${Math.round(span / 60000) || "<1"} min` : "";
  svg.appendChild(age);
}
