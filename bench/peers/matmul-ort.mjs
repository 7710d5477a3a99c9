// onnxruntime-node's float32 MatMul (a hand-encoded one-node ONNX graph), timed like `prilora bench matmul`:
// median of timed runs after 2 warm-up runs. Usage: node matmul-ort.mjs N THREADS  → one JSON line.
import { createRequire } from 'node:module';
const require = createRequire(import.meta.url);
const ort = require('onnxruntime-node');
const [n, threads] = [Number(process.argv[2] ?? 1024), Number(process.argv[3] ?? 2)];

const varint = (v) => { const b = []; let x = BigInt(v); do { let y = Number(x & 0x7fn); x >>= 7n; if (x) y |= 0x80; b.push(y); } while (x); return b; };
const field = (no, wt, payload) => [...varint((no << 3) | wt), ...payload];
const str = (no, s) => { const u = [...Buffer.from(s)]; return field(no, 2, [...varint(u.length), ...u]); };
const msg = (no, bytes) => field(no, 2, [...varint(bytes.length), ...bytes]);
const int = (no, v) => field(no, 0, varint(v));
const valueInfo = (name, d0, d1) => [...str(1, name), ...msg(2, msg(1, [...int(1, 1), ...msg(2, [...msg(1, str(2, d0)), ...msg(1, str(2, d1))])]))];
const node = [...str(1, 'A'), ...str(1, 'B'), ...str(2, 'C'), ...str(3, 'mm'), ...str(4, 'MatMul')];
const graph = [...msg(1, node), ...str(2, 'g'), ...msg(11, valueInfo('A', 'M', 'K')), ...msg(11, valueInfo('B', 'K', 'N')), ...msg(12, valueInfo('C', 'M', 'N'))];
const model = Uint8Array.from([...int(1, 8), ...msg(8, [...str(1, ''), ...int(2, 13)]), ...msg(7, graph)]);

const session = await ort.InferenceSession.create(model, { intraOpNumThreads: threads, interOpNumThreads: 1 });
const rnd = (len) => Float32Array.from({ length: len }, () => Math.random() * 2 - 1);
const feeds = { A: new ort.Tensor('float32', rnd(n * n), [n, n]), B: new ort.Tensor('float32', rnd(n * n), [n, n]) };
const run = async () => (await session.run(feeds)).C.data;
for (let i = 0; i < 2; i++) await run();
const times = [];
const start = performance.now();
while (times.length < 5 || (performance.now() - start < 3000 && times.length < 100)) {
  const t0 = performance.now();
  await run();
  times.push((performance.now() - t0) / 1000);
}
times.sort((a, b) => a - b);
const seconds = times[Math.floor(times.length / 2)];
console.log(JSON.stringify({ engine: `onnxruntime-node ${require('onnxruntime-node/package.json').version}`, n, threads, gflops: (2 * n ** 3) / seconds / 1e9, seconds }));
