import { PriloraError } from '../errors.ts';

/**
 * Data that breaks its format: a data file that is missing or malformed, or metric inputs that are not
 * what the metric takes (e.g. a class index out of range). File messages name the file and, for a bad
 * row, its 1-based line number (the header, where there is one, is line 1), so the row can be found in an
 * editor.
 */
export class DataError extends PriloraError {}
