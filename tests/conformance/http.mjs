// Plain HTTP/1.1 requests to bangerd: over its Unix socket (socketPath) or
// to the web listener (host, port), one connection each (no keep-alive).
import http from 'node:http';

export function request({socketPath, host, port, method, path, headers = {}, body}) {
  return new Promise((resolve, reject) => {
    const h = {...headers};
    let payload = null;
    if (body !== undefined) {
      payload = Buffer.isBuffer(body) ? body : Buffer.from(typeof body === 'string' ? body : JSON.stringify(body));
      if (!h['Content-Type']) h['Content-Type'] = Buffer.isBuffer(body) ? 'application/octet-stream' : 'application/json';
      h['Content-Length'] = String(payload.length);
    }
    const req = http.request(
      {socketPath, host, port, method, path, headers: h, agent: false, timeout: 180000},
      (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => resolve({status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks)}));
        res.on('error', reject);
      });
    req.on('timeout', () => req.destroy(new Error(`${method} ${path}: no answer in 180 s`)));
    req.on('error', reject);
    if (payload) req.write(payload);
    req.end();
  });
}
