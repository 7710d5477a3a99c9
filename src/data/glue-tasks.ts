/**
 * The nine GLUE tasks: label sets, reported metrics and the layout of their official TSV files. Column
 * positions and label orders follow HuggingFace transformers' GLUE processors, so a model fine-tuned here
 * uses the same class indices as one fine-tuned there.
 */
import { ConfigError } from '../core/errors.ts';

export const GLUE_TASKS = ['cola', 'sst2', 'mrpc', 'stsb', 'qqp', 'mnli', 'qnli', 'rte', 'wnli'] as const;
export type GlueTask = (typeof GLUE_TASKS)[number];
export type GlueSplit = 'train' | 'dev' | 'dev_matched' | 'dev_mismatched';
export type GlueMetricName = 'accuracy' | 'f1' | 'mcc' | 'pearson' | 'spearman';

/** A column: 0-based from the left, or negative from the right (-1 is the last column). */
export interface GlueColumn {
  readonly index: number;
  /** The header's name for this column; a file whose header differs is rejected (probably another task). */
  readonly header?: string;
}

export interface GlueFormat {
  readonly hasHeader: boolean;
  /** Exact column count; undefined when it varies by split (MNLI), in which case the header decides. */
  readonly columns?: number;
  readonly textA: GlueColumn;
  readonly textB?: GlueColumn;
  readonly label: GlueColumn;
}

export interface GlueTaskSpec {
  readonly task: GlueTask;
  /** Directory name in the official GLUE download (and in `data/glue/`). */
  readonly dir: string;
  /** 1 for the regression task STS-B. */
  readonly numLabels: number;
  /** Label strings as they appear in the files, in class-index order; empty for STS-B. */
  readonly labelNames: readonly string[];
  readonly regression: boolean;
  readonly pair: boolean;
  /** What the GLUE leaderboard reports for the task, primary metric first. */
  readonly metrics: readonly GlueMetricName[];
  readonly devSplits: readonly GlueSplit[];
  /** Splits shipped gzip-compressed in `data/glue/`; the rest need `--data DIR`. */
  readonly bundledSplits: readonly GlueSplit[];
  readonly format: GlueFormat;
}

const BINARY = ['0', '1'] as const;
const ENTAILMENT = ['entailment', 'not_entailment'] as const;

export const GLUE_TASK_SPECS: { readonly [T in GlueTask]: GlueTaskSpec & { readonly task: T } } = {
  cola: {
    task: 'cola',
    dir: 'CoLA',
    numLabels: 2,
    labelNames: BINARY,
    regression: false,
    pair: false,
    metrics: ['mcc'],
    devSplits: ['dev'],
    bundledSplits: ['train', 'dev'],
    // source, label, original author's mark ('*', '?', ...), sentence; no header in train/dev.
    format: { hasHeader: false, columns: 4, textA: { index: 3 }, label: { index: 1 } },
  },
  sst2: {
    task: 'sst2',
    dir: 'SST-2',
    numLabels: 2,
    labelNames: BINARY,
    regression: false,
    pair: false,
    metrics: ['accuracy'],
    devSplits: ['dev'],
    bundledSplits: ['train', 'dev'],
    format: {
      hasHeader: true,
      columns: 2,
      textA: { index: 0, header: 'sentence' },
      label: { index: 1, header: 'label' },
    },
  },
  mrpc: {
    task: 'mrpc',
    dir: 'MRPC',
    numLabels: 2,
    labelNames: BINARY,
    regression: false,
    pair: true,
    metrics: ['f1', 'accuracy'],
    devSplits: ['dev'],
    bundledSplits: ['train', 'dev'],
    format: {
      hasHeader: true,
      columns: 5,
      textA: { index: 3, header: '#1 String' },
      textB: { index: 4, header: '#2 String' },
      label: { index: 0, header: 'Quality' },
    },
  },
  stsb: {
    task: 'stsb',
    dir: 'STS-B',
    numLabels: 1,
    labelNames: [],
    regression: true,
    pair: true,
    metrics: ['pearson', 'spearman'],
    devSplits: ['dev'],
    bundledSplits: ['train', 'dev'],
    format: {
      hasHeader: true,
      columns: 10,
      textA: { index: 7, header: 'sentence1' },
      textB: { index: 8, header: 'sentence2' },
      label: { index: -1, header: 'score' },
    },
  },
  qqp: {
    task: 'qqp',
    dir: 'QQP',
    numLabels: 2,
    labelNames: BINARY,
    regression: false,
    pair: true,
    metrics: ['f1', 'accuracy'],
    devSplits: ['dev'],
    bundledSplits: [],
    format: {
      hasHeader: true,
      columns: 6,
      textA: { index: 3, header: 'question1' },
      textB: { index: 4, header: 'question2' },
      label: { index: 5, header: 'is_duplicate' },
    },
  },
  mnli: {
    task: 'mnli',
    dir: 'MNLI',
    numLabels: 3,
    labelNames: ['contradiction', 'entailment', 'neutral'],
    regression: false,
    pair: true,
    metrics: ['accuracy'],
    devSplits: ['dev_matched', 'dev_mismatched'],
    bundledSplits: [],
    // train has one annotator label column (12 columns), dev five (16): gold_label is always last.
    format: {
      hasHeader: true,
      textA: { index: 8, header: 'sentence1' },
      textB: { index: 9, header: 'sentence2' },
      label: { index: -1, header: 'gold_label' },
    },
  },
  qnli: {
    task: 'qnli',
    dir: 'QNLI',
    numLabels: 2,
    labelNames: ENTAILMENT,
    regression: false,
    pair: true,
    metrics: ['accuracy'],
    devSplits: ['dev'],
    bundledSplits: ['dev'],
    format: {
      hasHeader: true,
      columns: 4,
      textA: { index: 1, header: 'question' },
      textB: { index: 2, header: 'sentence' },
      label: { index: 3, header: 'label' },
    },
  },
  rte: {
    task: 'rte',
    dir: 'RTE',
    numLabels: 2,
    labelNames: ENTAILMENT,
    regression: false,
    pair: true,
    metrics: ['accuracy'],
    devSplits: ['dev'],
    bundledSplits: ['train', 'dev'],
    format: {
      hasHeader: true,
      columns: 4,
      textA: { index: 1, header: 'sentence1' },
      textB: { index: 2, header: 'sentence2' },
      label: { index: 3, header: 'label' },
    },
  },
  wnli: {
    task: 'wnli',
    dir: 'WNLI',
    numLabels: 2,
    labelNames: BINARY,
    regression: false,
    pair: true,
    metrics: ['accuracy'],
    devSplits: ['dev'],
    bundledSplits: ['train', 'dev'],
    format: {
      hasHeader: true,
      columns: 4,
      textA: { index: 1, header: 'sentence1' },
      textB: { index: 2, header: 'sentence2' },
      label: { index: 3, header: 'label' },
    },
  },
};

export function glueTaskSpec(task: GlueTask): GlueTaskSpec {
  const spec = (GLUE_TASK_SPECS as Record<string, GlueTaskSpec | undefined>)[task];
  if (spec === undefined) throw new ConfigError(`unknown GLUE task "${task}"; expected one of ${GLUE_TASKS.join(', ')}`);
  return spec;
}

/** The splits a task has with labels (GLUE's test splits are unlabelled and not loaded). */
export function glueSplits(task: GlueTask): readonly GlueSplit[] {
  return ['train', ...glueTaskSpec(task).devSplits];
}

export function isGlueTask(name: string): name is GlueTask {
  return (GLUE_TASKS as readonly string[]).includes(name);
}

/**
 * Reads a task name as users write it: case-insensitive, and with the dashes of the official directory
 * names ("SST-2", "STS-B") allowed.
 */
export function parseGlueTask(name: string): GlueTask {
  const normalised = name.trim().toLowerCase().replace(/-/g, '');
  if (isGlueTask(normalised)) return normalised;
  throw new ConfigError(`task: unknown GLUE task "${name}"; expected one of ${GLUE_TASKS.join(', ')}`, 'task');
}
