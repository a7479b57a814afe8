/**
 * CSV data: numeric rows, one sample per row, an optional header row, comma-separated, quoted
 * fields allowed (csv-parse does the splitting). One input, or one column of labels.
 */
import { parse } from 'csv-parse/sync';
import { castTensor } from './cast.js';
import { failFile } from './errors.js';
import type { DatasetTensor } from './types.js';

export interface CsvNumbers {
  rows: number;
  cols: number;
  values: Float64Array;
  header?: string[];
}

/** A cell as a number: NaN for an empty cell, 'nan', 'inf' and 'infinity' in any case. */
function parseCell(cell: string): number {
  const s = cell.trim();
  if (s === '') return Number.NaN;
  const lower = s.toLowerCase();
  if (lower === 'nan') return Number.NaN;
  if (lower === 'inf' || lower === '+inf' || lower === 'infinity') return Number.POSITIVE_INFINITY;
  if (lower === '-inf' || lower === '-infinity') return Number.NEGATIVE_INFINITY;
  return Number(s);
}

function isNumericCell(cell: string): boolean {
  const s = cell.trim();
  if (s === '') return false;
  return !Number.isNaN(parseCell(s)) || s.toLowerCase() === 'nan';
}

interface CsvRecord {
  record: string[];
  info: { lines: number };
}

/** Numeric rows of a CSV file (header row skipped); one row per sample. */
export function parseCsv(bytes: Buffer, where: string): CsvNumbers {
  let records: CsvRecord[];
  try {
    records = parse(bytes, {
      bom: true,
      // Both line ends in one file (the delimiter is not guessed from the first line).
      record_delimiter: ['\r\n', '\n'],
      // Rows of the wrong width get our message naming the line, not the parser's.
      relax_column_count: true,
      // Blank and whitespace-only lines are skipped.
      skip_empty_lines: true,
      trim: true,
      info: true,
    }) as unknown as CsvRecord[];
  } catch (err) {
    failFile(where, `not valid CSV (${(err as Error).message.replace(/\r?\n/g, '\\n')})`);
  }
  let header: string[] | undefined;
  const values: number[] = [];
  let cols = -1;
  let rows = 0;
  for (const { record: cells, info } of records) {
    if (cells.length === 1 && cells[0] === '') continue;
    if (cols < 0 && header === undefined && !cells.every(isNumericCell)) {
      header = cells;
      cols = cells.length;
      continue;
    }
    if (cols < 0) cols = cells.length;
    if (cells.length !== cols) failFile(where, `line ${info.lines} has ${cells.length} columns, expected ${cols}`);
    for (let j = 0; j < cells.length; j++) {
      if (!isNumericCell(cells[j])) failFile(where, `line ${info.lines}, column ${j + 1}: '${cells[j].trim()}' is not a number`);
      values.push(parseCell(cells[j]));
    }
    rows++;
  }
  if (rows === 0) failFile(where, 'holds no data rows');
  return { rows, cols, values: Float64Array.from(values), header };
}

export function csvTensor(csv: CsvNumbers, where: string): DatasetTensor {
  return castTensor({ datatype: 'FP64', shape: [csv.rows, csv.cols], data: csv.values }, 'FP32', where);
}
