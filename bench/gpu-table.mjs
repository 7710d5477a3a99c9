// The last step of bench/gpu-h200.sh: one table from the JSON lines its commands left in OUT, with
// PyTorch's numbers on the same GPU beside them. Plain JavaScript: it runs on the carried node binary.
// usage: node gpu-table.mjs OUT ANCHORS.jsonl SMALL(0|1)
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const [out, anchorsFile, smallFlag] = process.argv.slice(2);
const small = smallFlag === '1';
const read = (name) => {
  try {
    return JSON.parse(readFileSync(join(out, `${name}.json`), 'utf8'));
  } catch {
    return { error: 'no result' };
  }
};
const anchors = readFileSync(anchorsFile, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
const torchMatmul = anchors.find((a) => a.what === 'matmul_f32' && a.tf32 === false);
const torchStep = (mode) => anchors.find((a) => a.what === 'train_step' && a.arch === 'bert-base' && a.mode === mode && a.dtype === 'fp32');
const f = (x, d = 1) => (typeof x === 'number' && Number.isFinite(x) ? x.toFixed(d) : '—');
const err = (r) => (r.error ? `failed (${r.error})` : null);

const rows = [];
const ns = small ? [256, 512] : [4096, 8192];
for (const n of ns) {
  const r = read(`matmul-${n}`);
  const t = r.gflops / 1000;
  const torch = n === torchMatmul?.n ? torchMatmul.tflops : null;
  const kernel = r.kernel ? ` (${r.kernel}${r.kernel_gflops ? `; kernel ${f(r.kernel_gflops / 1000, 2)} by timestamps` : ''})` : '';
  rows.push([`matmul ${n}² fp32, TFLOP/s`, err(r) ?? `${f(t, small ? 4 : 2)}${kernel}`, torch ? f(torch, 1) : `— (anchor at ${torchMatmul?.n ?? '?'})`, torch && !r.error ? f(t / torch, 2) : '—', '≥ 25']);
}
// `lora-live`: the same step with replay off (every step's JavaScript runs), beside the replayed one
for (const run of ['lora', 'lora-live', 'full', 'prilora']) {
  const r = read(`train-${run}`);
  const m = run.replace('-live', '');
  const torch = torchStep(m);
  const label = run === m ? m : `${m}, replay off`;
  const what = small ? `deep (12/64) ${label}, ${r.batch ?? '?'}×${r.seq ?? '?'}` : `BERT-base ${label}, 32×128`;
  const replayed = r.replayed !== undefined ? `, ${r.replayed} of ${r.steps} timed steps replayed` : '';
  const ours = err(r) ?? `${f(r.seq_per_s, 1)} seq/s; ${r.dispatches ?? '—'} dispatches/step, ${f(r.host_us_per_dispatch, 1)} µs host each${replayed}`;
  const goal = run === 'lora' && torch ? `≥ ${f(0.5 * torch.seq_per_s, 1)}` : '';
  rows.push([`${what}, seq/s`, ours, torch ? f(torch.seq_per_s, 1) : '— (no anchor)', torch && !r.error && !small ? f(r.seq_per_s / torch.seq_per_s, 2) : '—', goal]);
}
const census = read('census');
rows.push(['census: BERT-base LoRA step 32×128, dispatches', err(census) ?? `${census.dispatches} (dry run, kernels chosen and counted)`, '—', '—', '≤ 800']);

const g = read('gradcheck'), fx = read('fixture');
console.log('');
console.log(readFileSync(join(out, 'adapter.txt'), 'utf8').trim());
console.log(`gradcheck: ${g.pass === true ? `pass (${g.ops} ops)` : `FAIL ${JSON.stringify(g).slice(0, 200)}`}; check-fixture bert_cls: ${fx.pass === true ? 'pass' : `FAIL ${JSON.stringify(fx).slice(0, 200)}`}`);
if (small) console.log('small sizes on this machine (software rasteriser or small device): the numbers below show the script works, not speed');
console.log('');
console.log('| measure | prilora (webgpu) | PyTorch fp32, H200 | ratio | goal |');
console.log('| --- | --- | --- | --- | --- |');
for (const r of rows) console.log(`| ${r.join(' | ')} |`);

// where the LoRA step's GPU time went (the census with timestamp queries): the 20 costliest rows and the total
let censusLines = [];
try {
  censusLines = readFileSync(join(out, 'census-run.log'), 'utf8').split('\n').filter((l) => l.startsWith('|'));
} catch {}
if (censusLines.length > 3 && censusLines[0].includes('GPU ms')) {
  const ms = (l) => Number(l.split('|').at(-2));
  const body = censusLines.slice(2, -1).sort((a, b) => ms(b) - ms(a));
  console.log('');
  console.log(`LoRA step, ${small ? 'small' : 'BERT-base 32×128'}: the ${Math.min(20, body.length)} kernels with the most GPU time (timestamp queries)`);
  for (const l of [...censusLines.slice(0, 2), ...body.slice(0, 20), censusLines.at(-1)]) console.log(l);
} else console.log(`\ncensus with GPU times: ${censusLines.length ? 'no timestamps on this device' : 'no result'}`);
