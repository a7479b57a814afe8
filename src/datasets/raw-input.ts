import type { DatasetTensor } from './types.js';

/** One input read from a file, before names are matched to the model. */
export interface RawInput {
  /** undefined for a source that carries no name (a .npy, .csv or bare .json array) */
  name?: string;
  tensor: DatasetTensor;
}
