// The web UI in a real browser: Debian's headless Chromium, driven by
// puppeteer-core over the DevTools protocol, against a live bangerd
// (tests/live/with-daemon.sh, web listener on; run.sh sets that up).
//
// Logs in with a one-time token from the Unix socket, creates a VM through
// the page's form (it boots under QEMU), opens its terminal, types
// `echo hello` and reads `hello` back from the terminal's buffer, checks
// the console pane shows the boot and the charts have points, deletes the
// VM, and saves a screenshot (BANGER_ARTIFACT_DIR, default the current
// directory; its path is printed). The page may fetch nothing but the web
// listener, and may log no error (a Content-Security-Policy refusal
// included).
import http from "node:http";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import puppeteer from "puppeteer-core";

const socket = process.env.BANGER_SOCKET;
const chromium = process.env.BANGER_CHROMIUM || "/usr/bin/chromium";
const artifacts = path.resolve(process.env.BANGER_ARTIFACT_DIR || ".");
const VM = "webui1";

function log(msg) {
  console.log(`[${new Date().toISOString().slice(11, 19)}] ${msg}`);
}

// One call on the daemon's Unix socket.
function unix(method, p) {
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath: socket, path: p, method, headers: { "Content-Length": 0 } }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c) => (body += c));
      res.on("end", () => {
        if (res.statusCode >= 300) reject(new Error(`${method} ${p}: ${res.statusCode} ${body}`));
        else resolve(JSON.parse(body));
      });
    });
    req.setTimeout(30000, () => req.destroy(new Error(`${method} ${p}: no answer in 30 s`)));
    req.on("error", reject);
    req.end();
  });
}

async function main() {
  if (!socket) throw new Error("BANGER_SOCKET is not set: run this under tests/live/with-daemon.sh");
  const ping = await unix("GET", "/v1/ping");
  const webUrl = ping.web_url;
  if (!webUrl) throw new Error(`the daemon has no web listener (ping: ${JSON.stringify(ping)})`);
  const origin = new URL(webUrl).host;
  const login = await unix("POST", "/v1/web/tokens");
  log(`web UI at ${webUrl}`);

  const profile = fs.mkdtempSync(path.join(os.tmpdir(), "banger-chromium-"));
  const browser = await puppeteer.launch({
    executablePath: chromium,
    headless: true,  // --headless (puppeteer passes --headless=new, the same in Chromium >= 132)
    pipe: true,  // DevTools over a pipe: no debugging port
    userDataDir: profile,  // a fresh profile: nothing of another run
    // The machines this runs on may have no network at all: nothing may
    // wait on one (QUIC, component updates, sync, background fetches).
    args: [
      "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync",
      "--window-size=1400,1300",
    ],
    defaultViewport: { width: 1400, height: 1300 },
    timeout: 60000,
  });
  const problems = [];
  let page;
  try {
    page = await browser.newPage();
    page.setDefaultTimeout(30000);
    page.on("console", (m) => {
      if (m.type() === "error") problems.push(`console error: ${m.text()}`);
    });
    page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
    page.on("request", (r) => {
      const u = new URL(r.url());
      if (u.host !== origin && u.protocol !== "data:") problems.push(`request off the web listener: ${r.url()}`);
    });
    page.on("dialog", (d) => d.accept());  // the delete confirmation

    // Log in: the token is spent for a session cookie, then the page.
    const resp = await page.goto(login.url, { waitUntil: "load" });
    if (page.url() !== webUrl) throw new Error(`login landed on ${page.url()} (status ${resp && resp.status()})`);
    await page.waitForSelector('#create select[name=image] option[value="t"]');
    log("logged in; the page lists image t");

    // Create a VM through the form.
    await page.locator("#create input[name=name]").fill(VM);
    await page.select("#create select[name=image]", "t");
    await page.locator("#create input[name=vcpus]").fill("1");
    await page.locator("#create input[name=memory]").fill("256");
    await page.locator("#create input[name=labels]").fill("suite=browser,team=web");
    const t0 = Date.now();
    await page.click("#create button[type=submit]");
    await page.waitForSelector(`#vms tr[data-vm="${VM}"] td.state-running`, { timeout: 120000 });
    log(`${VM} is running (${Date.now() - t0} ms after the click)`);
    const labels = await page.$eval(`#vms tr[data-vm="${VM}"]`, (tr) =>
      [...tr.querySelectorAll(".chip")].map((c) => c.textContent));
    if (labels.join(",") !== "suite=browser,team=web") throw new Error(`the row's labels: ${labels}`);

    // Its detail: console, charts, terminal.
    await page.click(`#vms tr[data-vm="${VM}"] button.link`);
    await page.waitForSelector("#detail:not([hidden])");
    const detailLabels = await page.$eval("#detail-labels", (e) => e.textContent);
    if (!detailLabels.includes("team=web")) throw new Error(`the detail's labels: ${detailLabels}`);
    await page.waitForFunction(() => document.querySelector("#console").textContent.includes("Linux version"),
                               { timeout: 60000 });
    log("the console pane shows the boot");

    await page.click("#term-connect");
    await page.waitForFunction(() => document.querySelector("#term-status").textContent.startsWith("connected"));
    await page.click("#term");
    // The shell's prompt first, so the keys reach a shell that reads them.
    await page.waitForFunction(() => window.bangerUi.terminalText().some((l) => /[#$] ?$/.test(l)));
    await page.keyboard.type("echo hello");
    await page.keyboard.press("Enter");
    await page.waitForFunction(() => window.bangerUi.terminalText().some((l) => l.trim() === "hello"),
                               { timeout: 30000 });
    const screen = await page.evaluate(() => window.bangerUi.terminalText().filter((l) => l.trim()));
    log(`the terminal shows: ${JSON.stringify(screen.slice(-3))}`);

    // The charts: the stats poller's samples (stats_poll_interval 1s here).
    await page.waitForFunction(() => ["#chart-cpu", "#chart-rss", "#chart-disk"].every((id) => {
      const svg = document.querySelector(id);
      const line = svg.querySelector("polyline");
      return Number(svg.dataset.points) >= 2 && line && line.getAttribute("points").split(" ").length >= 2;
    }), { timeout: 60000 });
    const points = await page.$eval("#chart-rss", (s) => s.dataset.points);
    log(`the charts have points (${points} samples)`);

    fs.mkdirSync(artifacts, { recursive: true });
    const shot = path.join(artifacts, "web-ui.png");
    await page.screenshot({ path: shot, fullPage: true });
    log(`screenshot: ${shot}`);

    // Delete it from its row: the list follows.
    await page.click(`#vms tr[data-vm="${VM}"] button.danger`);
    await page.waitForFunction((vm) => !document.querySelector(`#vms tr[data-vm="${vm}"]`), { timeout: 60000 }, VM);
    log(`${VM} deleted`);
    const vms = await unix("GET", "/v1/vms");
    if (vms.vms.some((v) => v.name === VM)) throw new Error(`${VM} is still in the daemon's list`);
    if (problems.length) throw new Error(`the page had problems:\n  ${problems.join("\n  ")}`);
  } catch (e) {
    if (page) {
      const shot = path.join(artifacts, "web-ui-failure.png");
      fs.mkdirSync(artifacts, { recursive: true });
      await page.screenshot({ path: shot, fullPage: true }).then(() => log(`failure screenshot: ${shot}`), () => {});
    }
    if (problems.length) console.error(`the page's problems:\n  ${problems.join("\n  ")}`);
    throw e;
  } finally {
    await browser.close().catch(() => {});
    fs.rmSync(profile, { recursive: true, force: true });
  }
}

const deadline = setTimeout(() => {
  console.error("web UI browser test: no result in 280 s");
  process.exit(1);
}, 280000);
main().then(
  () => {
    clearTimeout(deadline);
    log("PASS");
  },
  (e) => {
    console.error(`FAIL: ${e.stack || e.message}`);
    process.exit(1);
  },
);
