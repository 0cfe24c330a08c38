// Text PostgreSQL can store, and JSON nested no deeper than we bound it: the one sanitiser for strings from
// outside (MQTT topics, ChirpStack and ESP32 fields, HTTP bodies) and the one depth measure for JSON.
//
// PostgreSQL's text holds no NUL (U+0000), and jsonb refuses the escape \u0000; neither accepts a lone
// UTF-16 surrogate (JSON.parse happily returns both from "\u0000" and "\ud800"). A value bound for the
// database where such a string would make the whole statement fail (a quarantine row, an audit entry) is
// passed through storable() first, which replaces each with U+FFFD and says whether it did.

/** What replaces an unstorable character: the Unicode replacement character. */
export const replacementCharacter = '\uFFFD';

/** How deep request bodies and message payloads may nest (objects and arrays, the root counts as 1). */
export const maxJsonDepth = 64;

// NUL, a high surrogate not followed by a low one, or a low surrogate not preceded by a high one.
// (Without the u flag, so the pattern sees UTF-16 code units.) NUL is the point of it, hence the disable.
// eslint-disable-next-line no-control-regex
const unstorableRe = /\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;
const unstorableTest = new RegExp(unstorableRe.source);

/** Does this string hold a character PostgreSQL cannot store in text or jsonb? */
export const isStorableText = (text: string): boolean => !unstorableTest.test(text);

/** The string with each NUL and lone surrogate replaced by U+FFFD. */
export const storableText = (text: string): string => text.replace(unstorableRe, replacementCharacter);

/**
 * The string with each NUL and lone surrogate written as its JSON escape (`\u0000`, `\ud800`): what a
 * person reading a sanitised record needs to see what was there. Storable; longer than the input.
 */
export const escapedText = (text: string): string =>
  text.replace(unstorableRe, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);

export interface Sanitised<T> {
  value: T;
  /** Whether anything was replaced. */
  sanitised: boolean;
}

const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v) && (Object.getPrototypeOf(v) === Object.prototype || Object.getPrototypeOf(v) === null);

/**
 * A copy of a JSON-like value (strings, arrays, plain objects, keys included) with every string made
 * storable; other values (numbers, dates, buffers...) are kept as they are. Iterative: no depth overflows
 * the stack. A value without anything to replace is returned as it is.
 */
export function storable<T>(value: T): Sanitised<T> {
  let sanitised = false;
  const fix = (s: string): string => {
    if (isStorableText(s)) return s;
    sanitised = true;
    return storableText(s);
  };
  if (typeof value === 'string') {
    const fixed = fix(value);
    return { value: fixed as T, sanitised };
  }
  if (!Array.isArray(value) && !isPlainObject(value)) return { value, sanitised: false };
  // Copy container by container: each task fills one container of the copy from its source. A container
  // met twice (shared, or a cycle) is copied once, so the copy has the same shape.
  const copies = new Map<unknown, unknown>();
  const tasks: [unknown, unknown][] = [];
  const copyOf = (v: unknown): unknown => {
    if (typeof v === 'string') return fix(v);
    if (!Array.isArray(v) && !isPlainObject(v)) return v;
    if (copies.has(v)) return copies.get(v);
    const copy = Array.isArray(v) ? new Array<unknown>(v.length) : {};
    copies.set(v, copy);
    tasks.push([v, copy]);
    return copy;
  };
  const root = copyOf(value);
  for (let task = tasks.pop(); task; task = tasks.pop()) {
    const [source, target] = task;
    if (Array.isArray(source)) {
      const out = target as unknown[];
      source.forEach((item: unknown, i) => void (out[i] = copyOf(item)));
    } else {
      const out = target as Record<string, unknown>;
      // defineProperty, not assignment: a "__proto__" key from JSON.parse stays a key.
      for (const [key, item] of Object.entries(source as Record<string, unknown>)) {
        Object.defineProperty(out, fix(key), { value: copyOf(item), enumerable: true, writable: true, configurable: true });
      }
    }
  }
  return sanitised ? { value: root as T, sanitised } : { value, sanitised: false };
}

/**
 * How deep a JSON text nests (objects and arrays; a scalar is 0), read character by character without
 * parsing, so it can be asked before JSON.parse, zod or a database driver walk the value. Stops early,
 * returning a depth just past `stopAbove`, once that is exceeded. Meant for valid JSON: brackets inside
 * strings are skipped, anything else is counted as it comes.
 */
export function jsonTextDepth(text: string, stopAbove = Number.POSITIVE_INFINITY): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) {
      depth++;
      if (depth > max) {
        max = depth;
        if (max > stopAbove) return max;
      }
    } else if (c === 0x7d || c === 0x5d) depth--;
  }
  return max;
}
