// The audit log's store on a real database, through the local driver and through the RDS Data API: one
// entry, and many in one statement with their details (or none) intact.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { insertAuditEntries, insertAuditEntry, type AuditRow } from '#store/audit';
import { openTestDb, type TestDb } from '../support/db.ts';
import { openDataApiTestDb } from '../support/data-api.ts';

const row = (requestId: string, targetId: string, details: AuditRow['details']): AuditRow => ({
  actor: 'user-operator',
  role: 'operator',
  action: 'test.audit',
  target_type: 'meter',
  target_id: targetId,
  details,
  request_id: requestId,
});

describe.each([
  { path: 'database driver', open: openTestDb },
  { path: 'RDS Data API', open: openDataApiTestDb },
])('audit store via the $path', ({ open }) => {
  let testDb: Pick<TestDb, 'db' | 'close'>;

  beforeAll(async () => {
    testDb = await open();
  });
  afterAll(async () => {
    await testDb.close();
  });

  // Request ids here are not UUID-shaped: the Data API would send a UUID-shaped one as uuid, not text.
  const stored = (requestId: string) =>
    testDb.db.selectFrom('audit_log').select(['actor', 'role', 'action', 'target_type', 'target_id', 'details', 'request_id']).where('request_id', '=', requestId).orderBy('id').execute();

  it('writes one entry', async () => {
    const requestId = `req-${randomUUID()}`;

    await insertAuditEntry(testDb.db, row(requestId, 'm-1', { reason: 'test' }));

    expect(await stored(requestId)).toEqual([row(requestId, 'm-1', { reason: 'test' })]);
  });

  it('writes many entries in one statement, in order, with or without details', async () => {
    const requestId = `req-${randomUUID()}`;
    const rows = [row(requestId, 'm-1', { n: 1, nested: { ok: true } }), row(requestId, 'm-2', null), row(requestId, 'm-3', { text: "it's" })];

    await insertAuditEntries(testDb.db, rows);
    await insertAuditEntries(testDb.db, []);

    expect(await stored(requestId)).toEqual(rows);
  });
});
