// The SQL lexer under migrations (one statement per Data API call) and the Data API dialect (positional
// parameters renamed to :pN): quoted text, dollar-quoted bodies and comments must never be cut or rewritten.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { defaultSchemaDir } from '#adapters/db/migrate';
import { renameParameters, rewriteCode, splitStatements } from '#adapters/db/sql-text';

const toNamed = (index: number) => `:p${index}`;

describe('splitStatements', () => {
  it('splits on top-level semicolons, trimming and dropping empty statements', () => {
    // Act
    const statements = splitStatements('  SELECT 1;\n\nSELECT 2 ;;\n  SELECT 3');

    // Assess
    expect(statements).toEqual(['SELECT 1', 'SELECT 2', 'SELECT 3']);
  });

  it('keeps semicolons inside string literals, doubled quotes included', () => {
    // Act
    const statements = splitStatements(`INSERT INTO t VALUES ('a;b', 'it''s; fine'); SELECT ';'`);

    // Assess
    expect(statements).toEqual([`INSERT INTO t VALUES ('a;b', 'it''s; fine')`, `SELECT ';'`]);
  });

  it('keeps semicolons inside quoted identifiers', () => {
    // Act
    const statements = splitStatements(`CREATE TABLE "odd;name" ("a;b" int); DROP TABLE "odd;name"`);

    // Assess
    expect(statements).toEqual([`CREATE TABLE "odd;name" ("a;b" int)`, `DROP TABLE "odd;name"`]);
  });

  it('keeps a $$ function body whole', () => {
    // Prepare
    const body = `CREATE FUNCTION f() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.x := 1; -- a comment; inside the body
  RETURN NEW;
END $$`;

    // Act
    const statements = splitStatements(`${body};\nCREATE TRIGGER t BEFORE INSERT ON x FOR EACH ROW EXECUTE FUNCTION f();`);

    // Assess
    expect(statements).toEqual([body, 'CREATE TRIGGER t BEFORE INSERT ON x FOR EACH ROW EXECUTE FUNCTION f()']);
  });

  it('keeps a tagged dollar-quoted body whole, even when it contains $$', () => {
    // Prepare
    const body = `DO $outer$ BEGIN EXECUTE $$SELECT 1; SELECT 2$$; END $outer$`;

    // Act
    const statements = splitStatements(`${body}; SELECT 3`);

    // Assess
    expect(statements).toEqual([body, 'SELECT 3']);
  });

  it('does not take positional parameters for dollar quotes', () => {
    // Act
    const statements = splitStatements('SELECT $1; SELECT $2');

    // Assess
    expect(statements).toEqual(['SELECT $1', 'SELECT $2']);
  });

  it('drops line and block comments, semicolons in them included', () => {
    // Act
    const statements = splitStatements(`-- header; with a semicolon
SELECT 1; /* a block; comment */ SELECT 2;
-- trailing comment only`);

    // Assess
    expect(statements).toEqual(['SELECT 1', 'SELECT 2']);
  });

  it('drops a statement that is only a comment', () => {
    // Act
    const statements = splitStatements('/* nothing here; */ ; -- nor here\n;');

    // Assess
    expect(statements).toEqual([]);
  });

  it('splits schema/0001_init.sql into whole statements with intact function bodies', async () => {
    // Prepare
    const script = await readFile(path.join(defaultSchemaDir, '0001_init.sql'), 'utf8');

    // Act
    const statements = splitStatements(script);

    // Assess
    expect(statements.length).toBeGreaterThan(20);
    for (const statement of statements) expect(statement).toMatch(/^CREATE /);
    const functions = statements.filter((s) => s.startsWith('CREATE FUNCTION'));
    expect(functions.length).toBeGreaterThan(0);
    for (const fn of functions) expect(fn).toMatch(/\$\$\s*BEGIN[\s\S]*END \$\$$/);
  });
});

describe('renameParameters', () => {
  it('renames $n to a 0-based name, two-digit positions included', () => {
    // Act
    const sql = renameParameters('SELECT * FROM t WHERE a = $1 AND b IN ($2, $10) LIMIT $3', toNamed);

    // Assess
    expect(sql).toBe('SELECT * FROM t WHERE a = :p0 AND b IN (:p1, :p9) LIMIT :p2');
  });

  it('leaves $n alone inside strings, quoted identifiers and comments', () => {
    // Act
    const sql = renameParameters(`SELECT '$1', "$2" FROM t -- $3\nWHERE a = $1 /* $4 */`, toNamed);

    // Assess
    expect(sql).toBe(`SELECT '$1', "$2" FROM t -- $3\nWHERE a = :p0 /* $4 */`);
  });

  it('leaves $n alone inside dollar-quoted bodies', () => {
    // Act
    const sql = renameParameters(`SELECT $$ $1 $$, $tag$ $2 $tag$, $3`, toNamed);

    // Assess
    expect(sql).toBe(`SELECT $$ $1 $$, $tag$ $2 $tag$, :p2`);
  });

  it('keeps :: casts as they are', () => {
    // Act
    const sql = renameParameters(`SELECT $1::jsonb, '{}'::jsonb, CAST($2 AS uuid)`, toNamed);

    // Assess
    expect(sql).toBe(`SELECT :p0::jsonb, '{}'::jsonb, CAST(:p1 AS uuid)`);
  });

  it('changes nothing when each parameter is renamed to itself', () => {
    // Prepare: SQL-ish text from a small alphabet rich in quotes, dollars, digits and comment marks.
    const sqlish = fc.string({ unit: fc.constantFrom('$', '1', '2', "'", '"', '-', '/', '*', '\n', ';', ' ', 'a', ':'), maxLength: 60 });

    // Act / Assess
    fc.assert(fc.property(sqlish, (text) => renameParameters(text, (i) => `$${i + 1}`) === text));
  });
});

describe('rewriteCode', () => {
  it('rewrites only the code between quoted and commented text', () => {
    // Act
    const sql = rewriteCode(`select 'select' -- select\n, "select" /* select */ from $$select$$`, (code) => code.toUpperCase());

    // Assess
    expect(sql).toBe(`SELECT 'select' -- select\n, "select" /* select */ FROM $$select$$`);
  });
});
