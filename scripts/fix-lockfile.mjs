#!/usr/bin/env node
// `node scripts/fix-lockfile.mjs` after any `npm install`: npm 11 on this machine writes no lock entries for platform packages of other systems (and the registry
// mirror here does not serve them), yet `npm ci` insists that every package named in a lock entry's
// optionalDependencies has an entry. Add the missing ones with their platform constraints, derived from
// the package name (rollup's @rollup/rollup-<os>-<cpu>[-<abi>] convention).
import { readFileSync, writeFileSync } from 'node:fs';
const lock = JSON.parse(readFileSync('package-lock.json', 'utf8'));
const pkgs = lock.packages;
const osMap = { android: 'android', darwin: 'darwin', freebsd: 'freebsd', linux: 'linux', openbsd: 'openbsd', openharmony: 'openharmony', win32: 'win32' };
const cpuMap = { arm: 'arm', arm64: 'arm64', x64: 'x64', ia32: 'ia32', loong64: 'loong64', ppc64: 'ppc64', riscv64: 'riscv64', s390x: 's390x' };
let added = 0;
for (const entry of Object.values(pkgs)) {
  for (const [name, version] of Object.entries(entry.optionalDependencies ?? {})) {
    const key = `node_modules/${name}`;
    if (pkgs[key]) continue;
    if (!name.startsWith("@rollup/rollup-")) continue;
    const m = /^@rollup\/rollup-([a-z0-9]+)-([a-z0-9]+)(?:-([a-z0-9]+))?$/.exec(name);
    if (!m || !osMap[m[1]] || !cpuMap[m[2]]) throw new Error(`do not know the platform of ${name}`);
    const e = { version, cpu: [cpuMap[m[2]]] };
    if (entry.dev) e.dev = true;
    if (m[1] === 'linux' && m[3]) e.libc = [m[3].startsWith('musl') ? 'musl' : 'glibc'];
    e.license = 'MIT';
    e.optional = true;
    e.os = [osMap[m[1]]];
    pkgs[key] = e;
    added++;
  }
}
lock.packages = Object.fromEntries(Object.entries(pkgs).sort(([a], [b]) => (a === '' ? -1 : b === '' ? 1 : a < b ? -1 : a > b ? 1 : 0)));
writeFileSync('package-lock.json', JSON.stringify(lock, null, 2) + '\n');
console.log('added', added);
