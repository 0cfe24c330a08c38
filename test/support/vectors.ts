// Public test vectors (vendor decoders, user guides, ChirpStack docs, M-Pesa sandbox), copied into the
// repository so `npm test` runs on a fresh clone; each vector carries its `source`.
import { readFileSync } from 'node:fs';
import path from 'node:path';

export const vectorsDir = path.resolve(import.meta.dirname, '../fixtures/vectors');

export function loadVectors<T = Record<string, unknown>>(file: string): T[] {
  return JSON.parse(readFileSync(path.join(vectorsDir, file), 'utf8')) as T[];
}
