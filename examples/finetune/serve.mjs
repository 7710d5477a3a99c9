// Serves the built page (examples/finetune/dist/) as plain files: `node examples/finetune/serve.mjs [port]`,
// then open http://localhost:8080/. It sends the two cross-origin isolation headers, so that the page may
// use SharedArrayBuffer (shared WebAssembly memory); any static host that sends them serves it alike.
import { createReadStream, statSync } from 'node:fs';
import { createServer } from 'node:http';
import { dirname, extname, join, normalize, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const TYPES = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.map': 'application/json', '.json': 'application/json',
  '.gz': 'application/gzip', '.safetensors': 'application/octet-stream',
};

/** Serve `root` on `port` (0: any free port); resolves to the listening server. */
export function serve(port, root = resolve(dirname(fileURLToPath(import.meta.url)), 'dist')) {
  const server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url, 'http://x').pathname);
    let file = normalize(join(root, path));
    if (!file.startsWith(root)) {
      res.writeHead(403).end();
      return;
    }
    try {
      if (statSync(file).isDirectory()) file = join(file, 'index.html');
      statSync(file);
    } catch {
      res.writeHead(404).end(`${path} not found (run node examples/finetune/build.mjs first)`);
      return;
    }
    res.writeHead(200, {
      'content-type': TYPES[extname(file)] ?? 'application/octet-stream',
      'cross-origin-opener-policy': 'same-origin',
      'cross-origin-embedder-policy': 'require-corp',
      'cache-control': 'no-cache',
    });
    createReadStream(file).pipe(res);
  });
  return new Promise((ok) => server.listen(port, () => ok(server)));
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const server = await serve(Number(process.argv[2] ?? 8080));
  console.log(`serving examples/finetune/dist on http://localhost:${server.address().port}/`);
}
