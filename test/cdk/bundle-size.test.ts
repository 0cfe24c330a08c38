// Bundle sizes of the Lambda functions: synthesizes the stack with real bundling (esbuild, as `cdk synth`
// does), reports each function's asset size and fails when one outgrows its budget or ships a source map.
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { App } from 'aws-cdk-lib';
import { Asset } from 'aws-cdk-lib/aws-s3-assets';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { logicalIdOf } from '../../lib/nag.ts';
import { QuantifyFunction } from '../../lib/quantify-function.ts';
import { QuantifyStack } from '../../lib/quantify-stack.ts';

/**
 * The most a function's asset (everything shipped: the minified bundle plus copied directories such as
 * schema/) may weigh. Issue 7 aimed at 250 KB; the functions that open the database cannot get there with
 * their libraries alone: kysely (≈147 KB minified, its query builder is one class graph), zod (≈90 KB
 * even imported as a namespace) and the Powertools logger (≈20 KB) are ≈257 KB before any of our code.
 * The bound therefore sits just above the largest function, so growth is a decision, not an accident.
 */
const BUDGET_KB = 400;
/**
 * The API Lambda carries every route module and is measured on its own bound. From ≈381 KB after issue 7
 * (it also reaches the decoders, to reprocess quarantined messages) it grew to ≈605 KB: tariffs (decimal.js
 * for exact money ≈32 KB, the tariff domain, store, use cases and routes ≈30 KB), payments and accounts (the
 * Daraja client, the ledger's use cases), the operations API (parking, the CSV import with csv-parse, the
 * OpenAPI generator: zod's toJSONSchema), readings history, device access, billing (POST /billing/runs runs the job and balance control) and
 * the portal's reads; then (issues 11 and 14) the control policy, arrears, fixed charges, discrepancies, the
 * audit log and the live-events announcer for its writes: ≈652 KB. Splitting it by area (payments and
 * accounts, parking, readings) is the way back under 400 KB and the next step; until then its bound is 700 KB.
 */
const API_BUDGET_KB = 700;
/**
 * The ingest decoder compares ESP32 balance reports with the ledger (issue 11: a discrepancy is recorded
 * and the correct balance pushed again), which needs what an ESP32's balance in units is computed with:
 * the tariff domain and decimal.js (≈70 KB with balance control's push), and it announces the portal's live
 * events (the change feed and a SigV4 signer of our own, functions/adapters/sigv4.ts). From ≈358 KB (README)
 * it went to ≈439 KB.
 */
const DECODER_BUDGET_KB = 450;
const budgetOf = (fn: string) => (fn.endsWith('/Api/Handler') ? API_BUDGET_KB : fn.endsWith('/Ingest/Decoder') ? DECODER_BUDGET_KB : BUDGET_KB);

interface Measured {
  readonly fn: string;
  readonly files: readonly string[];
  readonly bytes: number;
  readonly bundleGzipBytes: number;
  readonly nodeOptions: unknown;
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => path.relative(dir, path.join(e.parentPath, e.name)));
}

let outdir: string;
let measured: Measured[];

beforeAll(() => {
  outdir = mkdtempSync(path.join(tmpdir(), 'quantify-bundles-'));
  // Real bundling (no 'aws:cdk:bundling-stacks' override): the assets are staged into outdir.
  const app = new App({ outdir });
  const stack = new QuantifyStack(app, 'Quantify', { config: {} });
  const resources = (app.synth().getStackByName(stack.stackName).template as { Resources: Record<string, { Properties: { Environment?: { Variables?: Record<string, unknown> } } }> }).Resources;
  measured = stack.node
    .findAll()
    .filter((c): c is QuantifyFunction => c instanceof QuantifyFunction)
    .map((fn) => {
      const asset = fn.node.findAll().find((c): c is Asset => c instanceof Asset);
      if (!asset) throw new Error(`${fn.node.path} has no code asset`);
      const dir = path.join(outdir, asset.assetPath);
      const files = filesUnder(dir);
      const bundle = readFileSync(path.join(dir, 'index.mjs'));
      return {
        fn: fn.node.path,
        files,
        bytes: files.reduce((sum, f) => sum + statSync(path.join(dir, f)).size, 0),
        bundleGzipBytes: gzipSync(bundle).length,
        nodeOptions: resources[logicalIdOf(fn)]?.Properties.Environment?.Variables?.NODE_OPTIONS,
      };
    });
  const kb = (n: number) => (n / 1024).toFixed(1).padStart(7);
  console.log(
    [`Lambda assets (budget ${BUDGET_KB} KB each, the API ${API_BUDGET_KB} KB, the ingest decoder ${DECODER_BUDGET_KB} KB):`, ...measured.map((m) => `${kb(m.bytes)} KB (bundle gzip ${kb(m.bundleGzipBytes)} KB)  ${m.fn}`)].join('\n'),
  );
}, 120_000);

afterAll(() => {
  if (outdir) rmSync(outdir, { recursive: true, force: true });
});

describe('Lambda bundles', () => {
  it('bundles all fourteen functions', () => {
    expect(measured).toHaveLength(14);
  });

  it(`keeps every function's asset within ${BUDGET_KB} KB (the API within ${API_BUDGET_KB} KB, the decoder within ${DECODER_BUDGET_KB} KB)`, () => {
    for (const m of measured) expect(m.bytes / 1024, m.fn).toBeLessThanOrEqual(budgetOf(m.fn));
  });

  it('ships no source map and does not ask Node to load one', () => {
    for (const m of measured) {
      expect(m.files.filter((f) => f.endsWith('.map')), m.fn).toEqual([]);
      expect(JSON.stringify(m.nodeOptions ?? ''), m.fn).not.toContain('--enable-source-maps');
    }
  });
});
