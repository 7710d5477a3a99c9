// prilora's CPU benchmarks and their peers, run alternately in one session so that both see the same
// machine (other load, clocks): each round runs prilora then the peer, one process at a time, and the
// table reports each side's median over rounds and the ratio.
//
//   node bench/peers/side-by-side.mjs matmul [rounds]   prilora bench matmul vs onnxruntime-node (n 512/1024, 1/2 threads)
//   node bench/peers/side-by-side.mjs train [rounds]    prilora bench train-step vs PyTorch (torch_cpu.py), tiny/mini × lora/full
//
// Set SIZES=tiny,mini METHODS=lora,full THREADS=1,2 NS=512,1024 to narrow a run. The last line is JSON.
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');
const [what = 'matmul', roundsArg = '3'] = process.argv.slice(2);
const rounds = Number(roundsArg);
const list = (name, fallback) => (process.env[name] ?? fallback).split(',');

function lastJson(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 1 << 26, ...opts });
  const lines = (r.stdout ?? '').trim().split('\n').filter((l) => l.startsWith('{'));
  if (r.status !== 0 || !lines.length) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}): ${r.stderr?.slice(-2000)}`);
  return lines.map((l) => JSON.parse(l));
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const prilora = (args) => lastJson(process.execPath, [join(root, 'bin', 'prilora.js'), ...args], { cwd: root }).pop();
const rows = [];

if (what === 'matmul') {
  for (const n of list('NS', '512,1024')) {
    for (const threads of list('THREADS', '1,2')) {
      const ours = [], peer = [];
      for (let r = 0; r < rounds; r++) {
        ours.push(prilora(['bench', 'matmul', '--n', n, '--threads', threads, '--json']).gflops);
        peer.push(lastJson(process.execPath, [join(here, 'matmul-ort.mjs'), n, threads], { cwd: here }).pop().gflops);
      }
      const row = { bench: 'matmul', n: +n, threads: +threads, prilora_gflops: median(ours), ort_gflops: median(peer) };
      row.ratio = row.prilora_gflops / row.ort_gflops;
      rows.push(row);
      console.log(`matmul n=${n} threads=${threads}: prilora ${row.prilora_gflops.toFixed(1)} GFLOP/s, onnxruntime-node ${row.ort_gflops.toFixed(1)} GFLOP/s, ratio ${row.ratio.toFixed(2)}  (rounds: ${ours.map((x) => x.toFixed(1)).join(' ')} | ${peer.map((x) => x.toFixed(1)).join(' ')})`);
    }
  }
} else if (what === 'train') {
  const python = process.env.PYTHON ?? '/usr/bin/python3';
  const threads = process.env.TRAIN_THREADS ?? '2';
  for (const size of list('SIZES', 'tiny,mini')) {
    for (const method of list('METHODS', 'lora,full')) {
      const ours = [], peer = [];
      for (let r = 0; r < rounds; r++) {
        ours.push(prilora(['bench', 'train-step', '--size', size, '--method', method, '--threads', threads, '--json']).seq_per_s);
        const t = lastJson(python, [join(here, 'torch_cpu.py'), size, method, '32', '128', threads], { cwd: here }).find((j) => j.what === 'train_step');
        peer.push(t.seq_per_s);
      }
      const row = { bench: 'train-step', size, method, threads: +threads, prilora_seq_per_s: median(ours), torch_seq_per_s: median(peer) };
      row.ratio = row.prilora_seq_per_s / row.torch_seq_per_s;
      rows.push(row);
      console.log(`train-step ${size}/${method} threads=${threads}: prilora ${row.prilora_seq_per_s.toFixed(1)} seq/s, PyTorch ${row.torch_seq_per_s.toFixed(1)} seq/s, ratio ${row.ratio.toFixed(2)}  (rounds: ${ours.map((x) => x.toFixed(1)).join(' ')} | ${peer.map((x) => x.toFixed(1)).join(' ')})`);
    }
  }
} else {
  throw new Error(`unknown benchmark ${what} (matmul | train)`);
}
console.log(JSON.stringify(rows));
