// Serves the built page (examples/finetune/dist/) as plain files: `node examples/finetune/serve.mjs [port]`,
// then open http://localhost:8080/. It sends the two cross-origin isolation headers, so that the page may
// use SharedArrayBuffer (shared WebAssembly memory); any static host that sends them serves it alike.
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { serveStatic } from '../static-server.mjs';

const ISOLATED = { 'cross-origin-opener-policy': 'same-origin', 'cross-origin-embedder-policy': 'require-corp', 'cache-control': 'no-cache' };

/** Serve `root` on `port` (0: any free port); resolves to the listening server. */
export function serve(port, root = resolve(dirname(fileURLToPath(import.meta.url)), 'dist')) {
  return serveStatic(port, root, { headers: ISOLATED, notFound: ' (run node examples/finetune/build.mjs first)' });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const server = await serve(Number(process.argv[2] ?? 8080));
  console.log(`serving examples/finetune/dist on http://localhost:${server.address().port}/`);
}
