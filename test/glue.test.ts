import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError, DataError } from '../src/core/errors.ts';
import {
  bundledGlueDir,
  GLUE_TASK_SPECS,
  GLUE_TASKS,
  loadGlueSplit,
  parseGlueTask,
  type GlueSplit,
  type GlueTask,
} from '../src/data/glue.ts';

const manifestPath = join(bundledGlueDir(), 'MANIFEST.tsv');

/** Rows of data/glue/MANIFEST.tsv: the expected counts come from the data's provenance, not from the loader. */
function readManifest(): { task: GlueTask; split: GlueSplit; dataRows: number }[] {
  const [header, ...rows] = readFileSync(manifestPath, 'utf8').trim().split('\n').map((l) => l.split('\t'));
  const fileCol = header!.indexOf('file');
  const rowsCol = header!.indexOf('data_rows');
  return rows.map((r) => {
    const [dir, name] = r[fileCol]!.split('/');
    const spec = Object.values(GLUE_TASK_SPECS).find((s) => s.dir === dir);
    if (spec === undefined) throw new Error(`manifest names unknown task dir ${dir}`);
    return { task: spec.task, split: name!.replace(/\.tsv$/, '') as GlueSplit, dataRows: Number(r[rowsCol]) };
  });
}

const tempRoot = mkdtempSync(join(tmpdir(), 'glue-test-'));
afterAll(() => rmSync(tempRoot, { recursive: true, force: true }));
let tempCount = 0;

/** A fresh data dir holding one file; returns the dir and the file's path. */
function writeSplit(taskDir: string, fileName: string, content: string | Uint8Array): { dataDir: string; file: string } {
  const dataDir = join(tempRoot, `d${tempCount++}`);
  mkdirSync(join(dataDir, taskDir), { recursive: true });
  const file = join(dataDir, taskDir, fileName);
  writeFileSync(file, content);
  return { dataDir, file };
}

function dataErrorOf(fn: () => unknown): DataError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(DataError);
    return e as DataError;
  }
  throw new Error('expected a DataError');
}

describe('task table', () => {
  it('reports the metrics GLUE reports', () => {
    const metrics = Object.fromEntries(GLUE_TASKS.map((t) => [t, GLUE_TASK_SPECS[t].metrics]));
    expect(metrics).toEqual({
      cola: ['mcc'],
      sst2: ['accuracy'],
      mrpc: ['f1', 'accuracy'],
      stsb: ['pearson', 'spearman'],
      qqp: ['f1', 'accuracy'],
      mnli: ['accuracy'],
      qnli: ['accuracy'],
      rte: ['accuracy'],
      wnli: ['accuracy'],
    });
  });

  it('uses transformers label orders', () => {
    expect(GLUE_TASK_SPECS.mnli.labelNames).toEqual(['contradiction', 'entailment', 'neutral']);
    expect(GLUE_TASK_SPECS.qnli.labelNames).toEqual(['entailment', 'not_entailment']);
    expect(GLUE_TASK_SPECS.rte.labelNames).toEqual(['entailment', 'not_entailment']);
    expect(GLUE_TASK_SPECS.stsb.numLabels).toBe(1);
    expect(GLUE_TASK_SPECS.stsb.regression).toBe(true);
    for (const t of GLUE_TASKS) {
      const spec = GLUE_TASK_SPECS[t];
      if (!spec.regression) expect(spec.labelNames.length).toBe(spec.numLabels);
      expect(spec.pair).toBe(spec.format.textB !== undefined);
    }
    expect(GLUE_TASK_SPECS.mnli.devSplits).toEqual(['dev_matched', 'dev_mismatched']);
  });

  it('parses task names as users write them', () => {
    expect(parseGlueTask('SST-2')).toBe('sst2');
    expect(parseGlueTask('sts-b')).toBe('stsb');
    expect(parseGlueTask('MNLI')).toBe('mnli');
    expect(() => parseGlueTask('squad')).toThrow(ConfigError);
  });
});

describe('bundled GLUE data', () => {
  const manifest = readManifest();

  it('the manifest covers every bundled split and nothing else', () => {
    const fromManifest = manifest.map((m) => `${m.task}/${m.split}`).sort();
    const fromTable = GLUE_TASKS.flatMap((t) => GLUE_TASK_SPECS[t].bundledSplits.map((s) => `${t}/${s}`)).sort();
    expect(fromManifest).toEqual(fromTable);
    expect(manifest.length).toBe(13);
  });

  for (const { task, split, dataRows } of manifest) {
    it(`${task} ${split}: ${dataRows} rows, valid labels and line numbers`, () => {
      const spec = GLUE_TASK_SPECS[task];
      const examples = loadGlueSplit(task, split);
      expect(examples.length).toBe(dataRows);
      const headerLines = spec.format.hasHeader ? 1 : 0;
      expect(examples[0]!.line).toBe(1 + headerLines);
      expect(examples.at(-1)!.line).toBe(dataRows + headerLines);
      const badText = examples.filter(
        (e) => e.textA.trim() === '' || (spec.pair ? (e.textB ?? '').trim() === '' : e.textB !== undefined),
      );
      expect(badText).toEqual([]);
      const labels = new Set(examples.map((e) => e.label));
      if (spec.regression) {
        for (const l of labels) expect(l >= 0 && l <= 5).toBe(true);
        expect([...labels].some((l) => !Number.isInteger(l))).toBe(true);
      } else {
        // Every bundled split holds every class.
        expect([...labels].sort()).toEqual(Array.from({ length: spec.numLabels }, (_, i) => i));
      }
    });
  }

  it('keeps text verbatim: quotes, trailing spaces, no BOM in MRPC', () => {
    const sst = loadGlueSplit('sst2', 'dev');
    expect(sst[0]).toEqual({ textA: "it 's a charming and often affecting journey . ", label: 1, line: 2 });
    const mrpc = loadGlueSplit('mrpc', 'train');
    expect(mrpc[0]!.label).toBe(1);
    expect(mrpc[0]!.textA).toBe(
      'Amrozi accused his brother , whom he called " the witness " , of deliberately distorting his evidence .',
    );
    expect(mrpc[0]!.textB!.startsWith('Referring to him as only " the witness "')).toBe(true);
    const cola = loadGlueSplit('cola', 'train');
    expect(cola.some((e) => e.textA === 'Susan whispered "Shut up".')).toBe(true);
    const stsb = loadGlueSplit('stsb', 'dev');
    expect(stsb[1]).toEqual({
      textA: 'A young child is riding a horse.',
      textB: 'A child is riding a horse.',
      label: 4.75,
      line: 3,
    });
    expect(loadGlueSplit('rte', 'dev')[0]!.label).toBe(1); // not_entailment
    expect(loadGlueSplit('qnli', 'dev')[0]!.label).toBe(0); // entailment
  });

  it('names the expected path for splits that are not bundled', () => {
    expect(dataErrorOf(() => loadGlueSplit('mnli', 'train')).message).toBe(
      'mnli train split not bundled; pass --data DIR containing MNLI/train.tsv',
    );
    expect(dataErrorOf(() => loadGlueSplit('qqp', 'dev')).message).toBe(
      'qqp dev split not bundled; pass --data DIR containing QQP/dev.tsv',
    );
    expect(dataErrorOf(() => loadGlueSplit('qnli', 'train')).message).toBe(
      'qnli train split not bundled; pass --data DIR containing QNLI/train.tsv',
    );
  });

  it('rejects splits a task does not have', () => {
    expect(() => loadGlueSplit('mnli', 'dev')).toThrow(ConfigError);
    expect(() => loadGlueSplit('sst2', 'dev_matched')).toThrow(/dev_matched/);
  });
});

describe('loading from a data directory', () => {
  it('names the expected file when it is missing', () => {
    const dataDir = join(tempRoot, 'empty');
    mkdirSync(dataDir, { recursive: true });
    const message = dataErrorOf(() => loadGlueSplit('rte', 'train', { dataDir })).message;
    expect(message).toContain(join(dataDir, 'RTE', 'train.tsv'));
    expect(message).toMatch(/^rte train split not found/);
  });

  it('reads plain and gzip-compressed files, CRLF endings and trailing blank lines', () => {
    const text = 'sentence\tlabel\r\na " quoted word \t1\r\nsecond\t0\r\n\r\n\n  \n';
    const plain = writeSplit('SST-2', 'train.tsv', text);
    const gz = writeSplit('SST-2', 'train.tsv.gz', gzipSync(text));
    for (const dataDir of [plain.dataDir, gz.dataDir]) {
      expect(loadGlueSplit('sst2', 'train', { dataDir })).toEqual([
        { textA: 'a " quoted word ', label: 1, line: 2 },
        { textA: 'second', label: 0, line: 3 },
      ]);
    }
  });

  const malformed: { task: GlueTask; dir: string; content: string; line: number; pattern: RegExp }[] = [
    {
      task: 'sst2',
      dir: 'SST-2',
      content: 'sentence\tlabel\nfine\t1\ntab\tinside\t0\n',
      line: 3,
      pattern: /expected 2 tab-separated columns for SST-2, found 3/,
    },
    {
      task: 'sst2',
      dir: 'SST-2',
      content: 'sentence\tlabel\nfine\t1\nblank line follows\t0\n\nlast\t1\n',
      line: 4,
      pattern: /expected 2 tab-separated columns/,
    },
    {
      task: 'rte',
      dir: 'RTE',
      content: 'index\tsentence1\tsentence2\tlabel\n0\ta\tb\tentailment\n1\ta\tb\tcontradiction\n',
      line: 3,
      pattern: /unknown label "contradiction" for RTE; expected one of entailment, not_entailment/,
    },
    {
      task: 'stsb',
      dir: 'STS-B',
      content:
        'index\tgenre\tfilename\tyear\told_index\tsource1\tsource2\tsentence1\tsentence2\tscore\n' +
        '0\tg\tf\ty\t0\tnone\tnone\tA man.\tA woman.\t1.5\n' +
        '1\tg\tf\ty\t1\tnone\tnone\tA dog.\tA cat.\tn/a\n',
      line: 3,
      pattern: /non-numeric STS-B score "n\/a"/,
    },
    {
      task: 'stsb',
      dir: 'STS-B',
      content:
        'index\tgenre\tfilename\tyear\told_index\tsource1\tsource2\tsentence1\tsentence2\tscore\n' +
        '0\tg\tf\ty\t0\tnone\tnone\tA man.\tA woman.\t\n',
      line: 2,
      pattern: /non-numeric STS-B score ""/,
    },
    {
      task: 'stsb',
      dir: 'STS-B',
      content:
        'index\tgenre\tfilename\tyear\told_index\tsource1\tsource2\tsentence1\tsentence2\tscore\n' +
        '0\tg\tf\ty\t0\tnone\tnone\tA man.\tA woman.\t5.2\n',
      line: 2,
      pattern: /STS-B score 5.2 outside \[0, 5\]/,
    },
    {
      task: 'wnli',
      dir: 'WNLI',
      content: 'index\tsentence1\tsentence2\tlabel\n0\tSome text.\t  \t1\n',
      line: 2,
      pattern: /empty sentence in column 3 \(sentence2\)/,
    },
    {
      task: 'cola',
      dir: 'CoLA',
      content: 'gj04\t1\t\tFine.\ngj04\t2\t\tBad label.\n',
      line: 2,
      pattern: /unknown label "2" for CoLA/,
    },
    {
      task: 'qnli',
      dir: 'QNLI',
      content: 'index\tsentence1\tsentence2\tlabel\n0\ta\tb\tentailment\n',
      line: 1,
      pattern: /header column 2 is "sentence1", expected "question" \(is this a QNLI file\?\)/,
    },
  ];

  for (const [i, { task, dir, content, line, pattern }] of malformed.entries()) {
    it(`reports file and line for malformed ${dir} input #${i}`, () => {
      const { dataDir, file } = writeSplit(dir, 'train.tsv', content);
      const error = dataErrorOf(() => loadGlueSplit(task, 'train', { dataDir }));
      expect(error.message.startsWith(`${file}:${line}: `)).toBe(true);
      expect(error.message).toMatch(pattern);
    });
  }

  it('rejects a file with a header but no rows, and a corrupt gzip file', () => {
    const empty = writeSplit('WNLI', 'dev.tsv', 'index\tsentence1\tsentence2\tlabel\n');
    expect(dataErrorOf(() => loadGlueSplit('wnli', 'dev', { dataDir: empty.dataDir })).message).toBe(
      `${empty.file}: no data rows`,
    );
    const corrupt = writeSplit('WNLI', 'dev.tsv.gz', 'not gzip');
    expect(dataErrorOf(() => loadGlueSplit('wnli', 'dev', { dataDir: corrupt.dataDir })).message).toMatch(
      /not a valid gzip file/,
    );
  });
});

describe('official layouts of the tasks that are not bundled', () => {
  const mnliPrefix = ['index', 'promptID', 'pairID', 'genre', 'sentence1_binary_parse', 'sentence2_binary_parse'];
  const mnliHeader = [...mnliPrefix, 'sentence1_parse', 'sentence2_parse', 'sentence1', 'sentence2'];
  function mnliRow(i: number, s1: string, s2: string, annotators: string[], gold: string): string {
    const parse = (s: string): string => `( ( ${s} ) )`;
    return [i, 31193, `${31193 + i}n`, 'government', parse(s1), parse(s2), `(ROOT ${s1})`, `(ROOT ${s2})`, s1, s2]
      .concat(annotators, gold)
      .join('\t');
  }

  it('MNLI train: 12 columns, sentence1/sentence2 at 8/9, gold_label last', () => {
    const content = [
      [...mnliHeader, 'label1', 'gold_label'].join('\t'),
      mnliRow(0, 'Conceptually cream skimming has two basic dimensions.', 'Product and geography are what make cream skimming work. ', ['neutral'], 'neutral'),
      mnliRow(1, 'you know during the season and i guess at at your level uh you lose them', 'You lose the things to the following level if the people recall.', ['entailment'], 'entailment'),
      mnliRow(2, 'He said "no".', 'He agreed.', ['contradiction'], 'contradiction'),
    ].join('\n');
    const { dataDir } = writeSplit('MNLI', 'train.tsv', `${content}\n`);
    const examples = loadGlueSplit('mnli', 'train', { dataDir });
    expect(examples.map((e) => e.label)).toEqual([2, 1, 0]);
    expect(examples[0]).toEqual({
      textA: 'Conceptually cream skimming has two basic dimensions.',
      textB: 'Product and geography are what make cream skimming work. ',
      label: 2,
      line: 2,
    });
    expect(examples[2]!.textA).toBe('He said "no".');
  });

  it('MNLI dev_matched / dev_mismatched: 16 columns, five annotator labels', () => {
    const header = [...mnliHeader, 'label1', 'label2', 'label3', 'label4', 'label5', 'gold_label'].join('\t');
    const rows = [
      mnliRow(0, 'The new rights are nice enough', 'Everyone really likes the newest benefits ', ['neutral', 'entailment', 'neutral', 'neutral', 'neutral'], 'neutral'),
      mnliRow(1, 'This site includes a list of all award winners.', 'The Government Executive articles are not available.', ['contradiction', 'contradiction', 'contradiction', 'contradiction', 'contradiction'], 'contradiction'),
    ];
    for (const split of ['dev_matched', 'dev_mismatched'] as const) {
      const { dataDir } = writeSplit('MNLI', `${split}.tsv`, [header, ...rows].join('\n') + '\n');
      const examples = loadGlueSplit('mnli', split, { dataDir });
      expect(examples.map((e) => [e.textB, e.label])).toEqual([
        ['Everyone really likes the newest benefits ', 2],
        ['The Government Executive articles are not available.', 0],
      ]);
    }
    // A train-width row in a dev file is caught.
    const bad = writeSplit('MNLI', 'dev_matched.tsv', [header, mnliRow(0, 'a', 'b', ['neutral'], 'neutral')].join('\n'));
    expect(dataErrorOf(() => loadGlueSplit('mnli', 'dev_matched', { dataDir: bad.dataDir })).message).toBe(
      `${bad.file}:2: expected 16 tab-separated columns for MNLI, found 12`,
    );
  });

  it('QQP: id qid1 qid2 question1 question2 is_duplicate', () => {
    const content = [
      'id\tqid1\tqid2\tquestion1\tquestion2\tis_duplicate',
      '133273\t213221\t213222\tHow is the life of a math student? Could you describe your own experiences?\tWhich level of prepration is enough for the exam jlpt5?\t0',
      '402555\t536040\t536041\tHow do I control my horny emotions?\tHow do you control your horniness?\t1',
      '360472\t364011\t490273\tWhat does "unbalanced quote mean?\tWhat is a "quote"?\t0',
    ].join('\n');
    const { dataDir } = writeSplit('QQP', 'dev.tsv', content + '\n');
    const examples = loadGlueSplit('qqp', 'dev', { dataDir });
    expect(examples.map((e) => e.label)).toEqual([0, 1, 0]);
    expect(examples[1]!.textA).toBe('How do I control my horny emotions?');
    expect(examples[2]).toEqual({
      textA: 'What does "unbalanced quote mean?',
      textB: 'What is a "quote"?',
      label: 0,
      line: 4,
    });
  });

  it('QNLI train: index question sentence label', () => {
    const content = [
      'index\tquestion\tsentence\tlabel',
      '0\tWhen did the third Digimon series begin?\tUnlike the two seasons before it and most of the seasons that followed, Digimon Tamers takes a darker and more realistic approach to its story featuring Digimon who do not reincarnate after their deaths and more complex character development in the original Japanese.\tnot_entailment',
      '1\tWhich missile batteries often have individual launchers several kilometres from one another?\tWhen MANPADS is operated by specialists, batteries may have several dozen teams deploying separately in small sections; self-propelled air defence guns may deploy in pairs.\tnot_entailment',
      '2\tWhat two things does Popper argue Tarski\'s theory involves in an evaluation of truth?\tHe bases this interpretation on the fact that examples such as the one described above refer to two things: assertions and the facts to which they refer.\tentailment',
    ].join('\n');
    const { dataDir } = writeSplit('QNLI', 'train.tsv', content + '\n');
    const examples = loadGlueSplit('qnli', 'train', { dataDir });
    expect(examples.map((e) => e.label)).toEqual([1, 1, 0]);
    expect(examples[2]!.textA).toBe("What two things does Popper argue Tarski's theory involves in an evaluation of truth?");
    expect(examples[2]!.line).toBe(4);
  });
});
