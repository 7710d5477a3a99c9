/**
 * Typed errors. Every message names the operation and the shapes / dtypes / files involved, so that a
 * failure deep inside a model can be traced back without a debugger.
 */
export class PriloraError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** Shapes that do not fit an operation (broadcasting, matmul inner sizes, reshape sizes, axes). */
export class ShapeError extends PriloraError {}

/** A dtype an operation does not accept, or operands whose dtypes differ. */
export class DTypeError extends PriloraError {}

/** Tensors on different backends, a backend that cannot do something, or a failing device. */
export class BackendError extends PriloraError {}

/** Use of a tensor after `dispose()` (directly or by the end of its `tidy` scope). */
export class DisposedError extends PriloraError {}

/** An index outside the dimension it addresses (gather, embedding, slicing). */
export class IndexError extends PriloraError {}

/** A file that breaks its format: the message names the file, the byte offset and the rule. */
export class FormatError extends PriloraError {}

/**
 * A configuration value that is missing, of the wrong type, out of range or unsupported. `field` names the
 * option (`prune.ratio`, `adapter.rankStart`) when there is one, so the command line can say which flag.
 */
export class ConfigError extends PriloraError {
  constructor(
    message: string,
    readonly field?: string,
  ) {
    super(message);
  }
}

/**
 * Data that breaks its format: a data file that is missing or malformed, or metric inputs that are not
 * what the metric takes (e.g. a class index out of range). File messages name the file and, for a bad
 * row, its 1-based line number (the header, where there is one, is line 1), so the row can be found in an
 * editor.
 */
export class DataError extends PriloraError {}

/** Training stopped on a non-finite loss or gradient norm; the last good checkpoint is left as it was. */
export class NonFiniteError extends PriloraError {}

/** What went wrong with the HuggingFace hub (./HubError's `code`). */
export type HubErrorCode =
  | 'repo-not-found' | 'revision-not-found' | 'entry-not-found' | 'unauthorized' | 'gated' | 'forbidden'
  | 'offline' | 'network' | 'disk-full' | 'corrupted' | 'unsupported' | 'http';

/**
 * A file that could not come from the HuggingFace hub or its cache: a repository, revision or file the hub
 * does not have, refused access (401, gated, 403), no network or offline mode with nothing cached, a full
 * disk, a download whose bytes do not match the hash the hub announced, or a repository holding only
 * formats this project does not load. The message names the repository and file and says what to do.
 */
export class HubError extends PriloraError {
  constructor(
    message: string,
    readonly code: HubErrorCode,
  ) {
    super(message);
  }
}

export function fmtShape(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}
