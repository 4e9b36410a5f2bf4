// Round trip of vm.exec(["true"]) through the TypeScript SDK on a running VM
// (the argv form, as `banger vm exec VM -- true`; the string form would add a
// /bin/sh):
// one WebSocket exec stream per call (handshake, open request, stdin EOF,
// exit), as a program using the SDK pays it.
//
//   node bench/sdk/exec_ts.mjs SOCKET VM N
// Needs the SDK built: (cd sdk/typescript && npm ci && npm run build).
// Prints: ts exec p50=X p90=Y p99=Z (milliseconds).
import { performance } from 'node:perf_hooks';

import { Banger } from '../../sdk/typescript/dist/index.js';

const [socketPath, vmName, nArg] = process.argv.slice(2);
const n = Number(nArg);
if (!socketPath || !vmName || !Number.isInteger(n) || n < 1) {
  console.error('usage: node bench/sdk/exec_ts.mjs SOCKET VM N');
  process.exit(2);
}

function percentile(sorted, p) {
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i];
}

const banger = await Banger.connect({ socketPath });
const vm = await banger.vms.get(vmName);
// Warm up (the agent's first connection, the JIT).
for (let i = 0; i < 3; i++) await vm.exec(['true']);
const ms = [];
for (let i = 0; i < n; i++) {
  const t0 = performance.now();
  const r = await vm.exec(['true']);
  ms.push(performance.now() - t0);
  if (r.exitCode !== 0) {
    console.error(`exec true exited ${r.exitCode}: ${r.stderr}`);
    process.exit(1);
  }
}
ms.sort((a, b) => a - b);
const f = (x) => x.toFixed(2);
console.log(`ts exec p50=${f(percentile(ms, 50))} p90=${f(percentile(ms, 90))} p99=${f(percentile(ms, 99))}`);
