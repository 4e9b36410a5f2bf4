// The page's calls to the API on its own listener (docs/api.md, "The web UI
// listener"): the session cookie rides along; every call carries
// X-Banger-UI, without which the daemon refuses changes, so another site
// open in this browser cannot drive the API.
export async function api(method, path, body) {
  const opts = { method, headers: { "X-Banger-UI": "1" } };
  if (body !== undefined) {
    opts.headers["Content-Type"] = "application/json";
    opts.body = JSON.stringify(body);
  }
  const r = await fetch(path, opts);
  if (r.status === 401) {
    throw new Error("Not logged in, or the login expired: run `banger web open` on the host and open the URL it prints.");
  }
  const text = await r.text();
  let data = {};
  try {
    data = text ? JSON.parse(text) : {};
  } catch {
    throw new Error(`${method} ${path}: ${r.status} ${r.statusText}`);
  }
  if (!r.ok) throw new Error((data.error && data.error.message) || `${method} ${path}: ${r.status} ${r.statusText}`);
  return data;
}

export function bytes(n) {
  if (!n) return "";
  const u = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) {
    n /= 1024;
    i++;
  }
  return (i ? n.toFixed(1) : n) + " " + u[i];
}

export function ago(t) {
  if (!t || t.startsWith("0001")) return "";
  const s = Math.max(0, (Date.now() - Date.parse(t)) / 1000);
  if (s < 60) return "just now";
  if (s < 3600) return Math.floor(s / 60) + " min ago";
  if (s < 86400) return Math.floor(s / 3600) + " h ago";
  return Math.floor(s / 86400) + " days ago";
}
