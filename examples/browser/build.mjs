// Bundles main.ts for the browser (examples/browser-bundle.mjs says how).
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bundleForBrowser } from '../browser-bundle.mjs';

const here = dirname(fileURLToPath(import.meta.url));

await bundleForBrowser({ entryPoints: [join(here, 'main.ts')], outfile: join(here, 'dist/main.js'), logLevel: 'info' });
