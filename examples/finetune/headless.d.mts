// Types of headless.mjs for the TypeScript test that drives it (test/web-finetune.test.ts). The page's
// records (`ui`) stay loosely typed here: their shapes are those of src/protocol.ts.
export const CHROMIUM_PATHS: string[];
export const CHROMIUM_ARGS: string[];
export function findChromium(): string | undefined;

export interface PageRun {
  ui: any;
  predictions: { text: string; label: string; probabilities: number[]; logits: number[] }[];
  /** steps seen when paused and 1.5 s later, and the pause button's label while paused */
  pause: { at: number; later: number; button: string } | null;
  /** painted pixels per canvas id */
  ink: Record<string, number>;
  adapterDir: string;
  screenshot: string | null;
}

export function runPage(o: {
  params: Record<string, string | number>;
  out: string;
  sentences: string[];
  pauseAt?: number;
  /** press Stop once this many steps ran */
  stopAt?: number;
  /** drop this file on the page before training (then press Train) */
  dropTsv?: { name: string; text: string } | null;
  screenshot?: boolean;
  timeoutMs?: number;
  executablePath?: string;
  log?: (line: string) => void;
}): Promise<PageRun>;
