// A small SQL lexer: enough to split a migration into statements and to rename positional parameters,
// skipping quoted strings, quoted identifiers, dollar-quoted bodies and comments.

type Visitor = (kind: 'code' | 'skip', text: string) => void;

function scan(sql: string, visit: Visitor): void {
  let i = 0;
  let codeStart = 0;
  const flush = (end: number) => {
    if (end > codeStart) visit('code', sql.slice(codeStart, end));
  };
  while (i < sql.length) {
    const c = sql[i];
    const next = sql[i + 1];
    let end = -1;
    if (c === "'" || c === '"') {
      end = i + 1;
      while (end < sql.length) {
        if (sql[end] === c) {
          if (sql[end + 1] === c) end += 2; // doubled quote inside the literal
          else break;
        } else end++;
      }
      end = Math.min(end + 1, sql.length);
    } else if (c === '-' && next === '-') {
      const nl = sql.indexOf('\n', i);
      end = nl === -1 ? sql.length : nl;
    } else if (c === '/' && next === '*') {
      const close = sql.indexOf('*/', i + 2);
      end = close === -1 ? sql.length : close + 2;
    } else if (c === '$') {
      const tag = /^\$([A-Za-z_][A-Za-z0-9_]*)?\$/.exec(sql.slice(i));
      if (tag) {
        const close = sql.indexOf(tag[0], i + tag[0].length);
        end = close === -1 ? sql.length : close + tag[0].length;
      }
    }
    if (end === -1) {
      i++;
      continue;
    }
    flush(i);
    visit('skip', sql.slice(i, end));
    i = end;
    codeStart = end;
  }
  flush(sql.length);
}

/** Split a script into statements on top-level semicolons; empty statements and comments are dropped. */
export function splitStatements(script: string): string[] {
  const statements: string[] = [];
  let current = '';
  scan(script, (kind, text) => {
    if (kind === 'skip') {
      if (!text.startsWith('--') && !text.startsWith('/*')) current += text;
      return;
    }
    const parts = text.split(';');
    parts.forEach((part, index) => {
      current += part;
      if (index < parts.length - 1) {
        if (current.trim()) statements.push(current.trim());
        current = '';
      }
    });
  });
  if (current.trim()) statements.push(current.trim());
  return statements;
}

/** Rewrite the SQL outside quoted strings, quoted identifiers, dollar-quoted bodies and comments. */
export function rewriteCode(sql: string, rewrite: (code: string) => string): string {
  let out = '';
  scan(sql, (kind, text) => {
    out += kind === 'skip' ? text : rewrite(text);
  });
  return out;
}

/** Rewrite positional parameters ($1, $2, ...) with a function of their index (0-based). */
export function renameParameters(sql: string, rename: (index: number) => string): string {
  return rewriteCode(sql, (code) => code.replace(/\$(\d+)/g, (_m, n: string) => rename(Number(n) - 1)));
}
