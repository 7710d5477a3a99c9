import { PriloraError } from '../errors.ts';

/**
 * A data file that is missing or breaks its task's format. Messages name the file and, for a bad row, its
 * 1-based line number (the header, where there is one, is line 1), so the row can be opened in an editor.
 */
export class DataError extends PriloraError {}
