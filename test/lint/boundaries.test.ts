// The import floors in eslint.config.js bite: small deliberate violations, linted as if they were files
// in each room (ESLint's Node API, the project's own config), are reported, and permitted imports are not.
import path from 'node:path';
import { ESLint } from 'eslint';
import tseslint from 'typescript-eslint';
import { beforeAll, describe, expect, it } from 'vitest';

const repoRoot = path.resolve(import.meta.dirname, '../..');
const BOUNDARY_RULES = new Set(['@typescript-eslint/no-restricted-imports', 'no-restricted-syntax']);

let eslint: ESLint;

beforeAll(() => {
  // The probe files do not exist, so the type-aware rules (which need them in the TypeScript project) are
  // switched off for this run; the import rules need no types.
  eslint = new ESLint({
    cwd: repoRoot,
    overrideConfig: [{ files: ['**/*.ts'], ...tseslint.configs.disableTypeChecked }],
  });
});

/** The boundary messages ESLint gives for `code` placed at `file` (relative to the repository). */
async function boundaryMessages(file: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(`${code}\n`, { filePath: path.join(repoRoot, file) });
  // A parse error or an ignored file would make "no boundary message" vacuous.
  const fatal = (result?.messages ?? []).filter((m) => m.fatal === true || m.ruleId === null);
  if (!result || fatal.length > 0) throw new Error(`${file} was not linted: ${fatal.map((m) => m.message).join('; ')}`);
  return result.messages.filter((m) => m.ruleId !== null && BOUNDARY_RULES.has(m.ruleId)).map((m) => m.message);
}

const ENTRIES = ['functions/api', 'functions/ingest', 'functions/commands', 'functions/jobs', 'functions/migrate'];

const violations: [room: string, file: string, code: string][] = [
  ['domain', 'functions/domain/probe.ts', "import { sql } from 'kysely';"],
  ['domain', 'functions/domain/probe.ts', "import type { Kysely } from 'kysely';"],
  ['domain', 'functions/domain/probe.ts', "import { logger } from '#shared/logger';"],
  ['domain', 'functions/domain/probe.ts', "import type { Executor } from '#store/db';"],
  ['domain', 'functions/domain/probe.ts', "import { apiRoutes } from '#app/api/index';"],
  ['domain', 'functions/domain/probe.ts', "import { cloudDb } from '#adapters/cloud';"],
  ['domain', 'functions/domain/probe.ts', "import { startBroker } from '#runtime/broker';"],
  ['domain', 'functions/domain/probe.ts', "import { SQSClient } from '@aws-sdk/client-sqs';"],
  ['domain', 'functions/domain/probe.ts', "import { readFileSync } from 'node:fs';"],
  ['domain', 'functions/domain/probe.ts', "import Big from 'decimal.js-light';"],
  ['domain', 'functions/domain/probe.ts', "import { markSilentMetersOffline } from '../store/meters.ts';"],
  ['domain', 'functions/domain/decoders/probe.ts', "import type { Executor } from '../../store/db.ts';"],
  ['app', 'functions/app/probe.ts', "import { sql } from 'kysely';"],
  ['app', 'functions/app/probe.ts', "import type { Transaction } from 'kysely';"],
  ['app', 'functions/app/probe.ts', "import { SQSClient } from '@aws-sdk/client-sqs';"],
  ['app', 'functions/app/probe.ts', "import { cloudDb } from '#adapters/cloud';"],
  ['app', 'functions/app/probe.ts', "export type { DeviceQueueApi } from '#adapters/chirpstack-client';"],
  ['app', 'functions/app/probe.ts', "import { startBroker } from '#runtime/broker';"],
  ['app', 'functions/app/commands/probe.ts', "import { cloudDb } from '../../adapters/cloud.ts';"],
  ['app', 'functions/app/ingest/probe.ts', "import { startBroker } from '../../runtime/broker.ts';"],
  ['app', 'functions/app/probe.ts', "declare const db: { selectFrom(t: string): unknown }; db.selectFrom('meters');"],
  ['app', 'functions/app/commands/probe.ts', "declare const trx: { updateTable(t: string): unknown }; trx.updateTable('device_commands');"],
  ['runtime', 'functions/runtime/probe.ts', "declare const db: { insertInto(t: string): unknown }; db.insertInto('meters');"],
  ['cdk', 'lib/probe.ts', "import { apiRoutes } from '#app/api/index';"],
  ['cdk', 'lib/probe.ts', "import type { Executor } from '#store/db';"],
  ['cdk', 'bin/probe.ts', "import { startPlatform } from '#runtime/platform';"],
  ['cdk', 'lib/probe.ts', "import { cloudDb } from '../functions/adapters/cloud.ts';"],
  ...ENTRIES.flatMap((dir): [string, string, string][] => [
    ['entry', `${dir}/probe.ts`, "import { ping } from '#store/db';"],
    ['entry', `${dir}/probe.ts`, "import { ping } from '../store/db.ts';"],
    ['entry', `${dir}/probe.ts`, "import { sql } from 'kysely';"],
  ]),
  ...['functions/runtime', 'functions/adapters', 'functions/shared', 'lib', 'bin', 'scripts'].map(
    (dir): [string, string, string] => ['outside store', `${dir}/probe.ts`, "import { sql } from 'kysely';"],
  ),
  ['portal', 'web/src/probe.ts', "import { apiRoutes } from '#app/api/index';"],
  ['portal', 'web/src/probe.ts', "import { readFileSync } from 'node:fs';"],
  ['portal', 'web/src/pages/probe.ts', "import { roles } from '../../../functions/domain/roles.ts';"],
  ['zod', 'functions/shared/probe.ts', "import { z } from 'zod';"],
  ['zod', 'functions/domain/probe.ts', "import { z, ZodError } from 'zod';"],
];

const permitted: [room: string, file: string, code: string][] = [
  ['domain', 'functions/domain/probe.ts', "import * as z from 'zod';"],
  ['domain', 'functions/domain/probe.ts', "import type { z } from 'zod';"],
  ['domain', 'functions/domain/tariff/probe.ts', "import Decimal from 'decimal.js';"],
  ['domain', 'functions/domain/probe.ts', "import { meterClientId } from './topics.ts';"],
  ['domain', 'functions/domain/probe.ts', "import { meterClientId } from '#domain/topics';"],
  ['domain', 'functions/domain/decoders/probe.ts', "import { crc16Modbus } from '../modbus.ts';"],
  ['app', 'functions/app/probe.ts', "import type { Executor } from '#store/db';"],
  ['cdk', 'lib/probe.ts', "import { topicRoutes } from '#shared/routes';"],
  ['cdk', 'lib/probe.ts', "import { esp32ReportTopic } from '#domain/topics';"],
  ['store', 'functions/store/probe.ts', "declare const db: { selectFrom(t: string): unknown }; db.selectFrom('meters');"],
  ['app', 'functions/app/probe.ts', "import { meterClientId } from '#domain/topics';"],
  ['app', 'functions/app/probe.ts', "import { logger } from '#shared/logger';"],
  ['app', 'functions/app/probe.ts', "import middy from '@middy/core';"],
  ['app', 'functions/app/commands/probe.ts', "import { ping } from '../../store/db.ts';"],
  ...ENTRIES.map((dir): [string, string, string] => ['entry', `${dir}/probe.ts`, "import { cloudDb } from '#adapters/cloud';\nimport { apiRoutes } from '#app/api/index';"]),
  ['store', 'functions/store/probe.ts', "import { sql, type Kysely } from 'kysely';"],
  ['adapters/db', 'functions/adapters/db/probe.ts', "import { sql } from 'kysely';"],
  ['runtime', 'functions/runtime/probe.ts', "import type { Kysely } from 'kysely';\nimport { ping } from '#store/db';"],
  ['tests', 'test/probe.test.ts', "import { sql } from 'kysely';"],
  ['portal', 'web/src/pages/probe.ts', "import { api } from '../api.ts';\nimport { useState } from 'preact/hooks';"],
];

describe('import floors (eslint.config.js)', () => {
  it.each(violations)('%s: reports %s importing %s', async (_room, file, code) => {
    // Act
    const messages = await boundaryMessages(file, code);

    // Assess
    expect(messages).not.toEqual([]);
  });

  it.each(permitted)('%s: lets %s import %s', async (_room, file, code) => {
    // Act
    const messages = await boundaryMessages(file, code);

    // Assess
    expect(messages).toEqual([]);
  });
});
