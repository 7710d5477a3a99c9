// A static file server for the repository root, so that the page and the fixture files share an origin:
// `node examples/browser/serve.mjs [port]`, then open http://localhost:8080/examples/browser/
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { serveStatic } from '../static-server.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/** Serve the repository root on `port` (0: any free port); resolves to the listening server. */
export const serve = (port) => serveStatic(port, root);

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const server = await serve(Number(process.argv[2] ?? 8080));
  console.log(`serving ${root} on http://localhost:${server.address().port}/examples/browser/`);
}
