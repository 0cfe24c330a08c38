// The sanitiser for text PostgreSQL cannot store, and the depth measure for JSON text: pure rules.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { escapedText, isStorableText, jsonTextDepth, replacementCharacter, storable, storableText } from '#domain/text';

const R = replacementCharacter;
/** Any UTF-16 code unit, so lone surrogates and NUL come up often. */
const codeUnit = fc.oneof(fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c)), fc.constantFrom('\u0000', '\ud800', '\udfff'));

describe('storableText', () => {
  it('replaces NUL and lone surrogates, and keeps surrogate pairs', () => {
    expect(storableText('a\u0000b\ud800c\udc00d\ud83d\ude00e\udbff')).toBe(`a${R}b${R}c${R}d\ud83d\ude00e${R}`);
  });

  it('leaves text without anything to replace as it is', () => {
    fc.assert(fc.property(fc.string({ unit: 'grapheme' }), (text) => storableText(text) === text && isStorableText(text)));
  });

  it('makes any string storable, with as many UTF-16 units as before', () => {
    fc.assert(
      fc.property(fc.string({ unit: codeUnit, maxLength: 200 }), (text) => {
        const clean = storableText(text);
        return isStorableText(clean) && clean.length === text.length && !clean.includes('\u0000');
      }),
    );
  });
});

describe('escapedText', () => {
  it('shows each unstorable character as its JSON escape', () => {
    expect(escapedText('up/\u0000/\ud800')).toBe('up/\\u0000/\\ud800');
  });
});

describe('storable', () => {
  it('sanitises strings and keys at any depth and says so', () => {
    const result = storable({ 'k\u0000': ['x\ud800', { y: 'z\u0000', n: 1, b: true, none: null }], ok: 'fine' });

    expect(result).toEqual({ sanitised: true, value: { [`k${R}`]: [`x${R}`, { y: `z${R}`, n: 1, b: true, none: null }], ok: 'fine' } });
  });

  it('returns a value with nothing to replace as it is', () => {
    const value = { a: ['b', { c: 1 }] };

    expect(storable(value)).toEqual({ value, sanitised: false });
    expect(storable(value).value).toBe(value);
  });

  it('keeps a "__proto__" key from JSON.parse a key', () => {
    const result = storable(JSON.parse('{"__proto__":{"a":"\\u0000"}}') as unknown);

    expect(JSON.stringify(result.value)).toBe(`{"__proto__":{"a":"${R}"}}`);
  });

  it('walks a value nested 100,000 deep without overflowing the stack', () => {
    let deep: unknown = '\u0000';
    for (let i = 0; i < 100_000; i++) deep = [deep];

    expect(storable(deep).sanitised).toBe(true);
  });
});

describe('jsonTextDepth', () => {
  it.each([
    ['1', 0],
    ['"[[["', 0],
    ['[]', 1],
    ['{"a":[1,{"b":"]}\\"{["}]}', 3],
    ['[[],[[]],[]]', 3],
  ])('measures %s as %i deep', (text, depth) => {
    expect(jsonTextDepth(text)).toBe(depth);
  });

  it('agrees with the depth of the parsed value', () => {
    const depthOf = (v: unknown): number =>
      Array.isArray(v) ? 1 + Math.max(0, ...v.map(depthOf)) : typeof v === 'object' && v !== null ? 1 + Math.max(0, ...Object.values(v).map(depthOf)) : 0;
    fc.assert(fc.property(fc.jsonValue({ maxDepth: 6 }), (value) => jsonTextDepth(JSON.stringify(value)) === depthOf(value)));
  });

  it('stops just past the bound it is given', () => {
    expect(jsonTextDepth('['.repeat(1_000_000), 64)).toBe(65);
  });
});
