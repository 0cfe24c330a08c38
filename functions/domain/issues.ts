// One way to say what a zod schema refused: `path: message` per issue, the root named by the caller.
import type { z } from 'zod';

export interface IssueLine {
  path: string;
  message: string;
}

/** The issues of a failed parse as path/message pairs; `root` names an issue about the whole value. */
export function issueLines(error: z.ZodError, root = '(root)', limit = Number.POSITIVE_INFINITY): IssueLine[] {
  return error.issues.slice(0, limit).map((i) => ({ path: i.path.map(String).join('.') || root, message: i.message }));
}

/** The issues as one line: `a.b: message; c: message`. */
export function formatIssues(error: z.ZodError, root = '(root)', limit = Number.POSITIVE_INFINITY, separator = '; '): string {
  return issueLines(error, root, limit)
    .map((l) => `${l.path}: ${l.message}`)
    .join(separator);
}
