// The ledger's SQL functions (schema/0010_payments.sql) on the database directly (PGlite or PostgreSQL)
// and through the Data API path: one call posts, a repeated key returns the first result, a different
// amount is refused, reversals mirror their entry once, and the invariants hold after every scenario.
import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { DbHandle } from '#adapters/db/connect';
import { insertAccount, insertCustomer } from '#store/accounts';
import { invariantViolations, post, statement } from '#store/ledger';
import { allocatePayment, recordPayment, reversePayment } from '#store/payments';
import { ConflictError, ValidationError } from '#shared/errors';
import { openDataApiTestDb } from '../support/data-api.ts';
import { openTestDb } from '../support/db.ts';

const paths: [string, () => Promise<DbHandle>][] = [
  ['direct driver', openTestDb],
  ['Data API', () => openDataApiTestDb()],
];

describe.each(paths)('ledger through the %s', (_name, open) => {
  let h: DbHandle;
  beforeAll(async () => {
    h = await open();
  });
  afterAll(async () => {
    await h?.close();
  });
  afterEach(async () => {
    expect(await invariantViolations(h.db)).toEqual([]);
  });

  async function newAccount(currency = 'KES') {
    const customer = await insertCustomer(h.db, { name: 'Wanjiru', phone: '+254700000001' });
    const no = `A${randomUUID().slice(0, 8)}`;
    return insertAccount(h.db, { customer_id: customer.id, account_no: no, currency });
  }

  it('posts an entry and returns the new balance', async () => {
    const account = await newAccount();
    const first = await post(h.db, { accountId: account.id, entryType: 'adjustment', amountMinor: 500, idempotencyKey: randomUUID(), reason: 'opening credit' });
    const second = await post(h.db, { accountId: account.id, entryType: 'consumption', amountMinor: -120, idempotencyKey: randomUUID(), sourceRef: 'bill-1' });
    expect(first).toMatchObject({ balanceAfterMinor: 500, created: true });
    expect(second).toMatchObject({ balanceAfterMinor: 380, created: true });
  });

  it('returns the first result for a repeated key and appends nothing', async () => {
    const account = await newAccount();
    const key = randomUUID();
    const first = await post(h.db, { accountId: account.id, entryType: 'adjustment', amountMinor: 700, idempotencyKey: key, reason: 'goodwill' });
    await post(h.db, { accountId: account.id, entryType: 'adjustment', amountMinor: 50, idempotencyKey: randomUUID(), reason: 'goodwill' });
    const again = await post(h.db, { accountId: account.id, entryType: 'adjustment', amountMinor: 700, idempotencyKey: key, reason: 'goodwill' });
    expect(again).toEqual({ ...first, created: false });
    const { entries } = await statement(h.db, account.id, { limit: 100 });
    expect(entries).toHaveLength(2);
  });

  it('refuses a repeated key with a different amount', async () => {
    const account = await newAccount();
    const key = randomUUID();
    await post(h.db, { accountId: account.id, entryType: 'adjustment', amountMinor: 700, idempotencyKey: key, reason: 'goodwill' });
    await expect(post(h.db, { accountId: account.id, entryType: 'adjustment', amountMinor: 701, idempotencyKey: key, reason: 'goodwill' })).rejects.toThrow(ConflictError);
    const { entries } = await statement(h.db, account.id, { limit: 100 });
    expect(entries).toHaveLength(1);
  });

  it('refuses an adjustment without a reason', async () => {
    const account = await newAccount();
    await expect(post(h.db, { accountId: account.id, entryType: 'adjustment', amountMinor: 5, idempotencyKey: randomUUID(), reason: ' ' })).rejects.toThrow(ValidationError);
  });

  it('reverses an entry once, with a mirrored amount', async () => {
    const account = await newAccount();
    const entry = await post(h.db, { accountId: account.id, entryType: 'adjustment', amountMinor: 900, idempotencyKey: randomUUID(), reason: 'typo' });
    await expect(post(h.db, { accountId: account.id, entryType: 'reversal', amountMinor: -800, idempotencyKey: randomUUID(), reversesEntryId: entry.entryId })).rejects.toThrow(ValidationError);
    const reversal = await post(h.db, { accountId: account.id, entryType: 'reversal', amountMinor: -900, idempotencyKey: randomUUID(), reversesEntryId: entry.entryId });
    expect(reversal.balanceAfterMinor).toBe(0);
    await expect(post(h.db, { accountId: account.id, entryType: 'reversal', amountMinor: -900, idempotencyKey: randomUUID(), reversesEntryId: entry.entryId })).rejects.toThrow(ConflictError);
  });

  it('refuses UPDATE and DELETE of entries', async () => {
    const account = await newAccount();
    await post(h.db, { accountId: account.id, entryType: 'adjustment', amountMinor: 1, idempotencyKey: randomUUID(), reason: 'x' });
    await expect(sql`UPDATE ledger_entries SET amount_minor = 2 WHERE account_id = ${account.id}`.execute(h.db)).rejects.toThrow(/append-only/);
    await expect(sql`DELETE FROM ledger_entries WHERE account_id = ${account.id}`.execute(h.db)).rejects.toThrow(/append-only/);
  });

  it('credits a payment by its account number once, however often it is recorded', async () => {
    const account = await newAccount();
    const receipt = `R${randomUUID().slice(0, 9).toUpperCase()}`;
    const input = { provider: 'mpesa' as const, receipt, channel: 'c2b' as const, amountMinor: 25_000, currency: 'KES', phone: '2******9', reference: ` ${account.account_no.toLowerCase()} `, transactedAt: new Date('2022-11-21T09:31:30Z'), raw: { TransID: receipt } };
    const first = await recordPayment(h.db, input);
    const again = await recordPayment(h.db, input);
    expect(first).toMatchObject({ status: 'applied', accountId: account.id, balanceAfterMinor: 25_000, created: true });
    expect(again).toMatchObject({ paymentId: first.paymentId, status: 'applied', balanceAfterMinor: 25_000, created: false });
  });

  it('leaves a payment for an unknown reference in suspense, then allocates it once', async () => {
    const account = await newAccount();
    const receipt = `S${randomUUID().slice(0, 9).toUpperCase()}`;
    const recorded = await recordPayment(h.db, { provider: 'mpesa', receipt, channel: 'c2b', amountMinor: 1_400, currency: 'KES', phone: null, reference: 'nobody-here', transactedAt: null, raw: {} });
    expect(recorded).toMatchObject({ status: 'suspense', accountId: null, created: true });
    expect(await allocatePayment(h.db, recorded.paymentId, account.id, 'op')).toEqual({ balanceAfterMinor: 1_400, created: true });
    expect(await allocatePayment(h.db, recorded.paymentId, account.id, 'op')).toEqual({ balanceAfterMinor: 1_400, created: false });
    const other = await newAccount();
    await expect(allocatePayment(h.db, recorded.paymentId, other.id, 'op')).rejects.toThrow(ConflictError);
  });

  it('holds a payment as a conflict without crediting it', async () => {
    const account = await newAccount();
    const recorded = await recordPayment(h.db, { provider: 'mpesa', receipt: `C${randomUUID().slice(0, 9)}`, channel: 'stk', amountMinor: 300, currency: 'KES', phone: null, reference: account.account_no, transactedAt: null, raw: {}, holdReason: 'amount differs' });
    expect(recorded).toMatchObject({ status: 'conflict', balanceAfterMinor: null });
    const { entries } = await statement(h.db, account.id, { limit: 10 });
    expect(entries).toHaveLength(0);
  });

  it('reverses a credited payment once', async () => {
    const account = await newAccount();
    const recorded = await recordPayment(h.db, { provider: 'mpesa', receipt: `V${randomUUID().slice(0, 9)}`, channel: 'c2b', amountMinor: 5_000, currency: 'KES', phone: null, reference: account.account_no, transactedAt: null, raw: {} });
    const reversal = await reversePayment(h.db, recorded.paymentId, 'paid twice by mistake', 'admin');
    expect(reversal).toMatchObject({ balanceAfterMinor: 0, created: true });
    expect(await reversePayment(h.db, recorded.paymentId, 'paid twice by mistake', 'admin')).toMatchObject({ entryId: reversal.entryId, created: false });
  });

  it('puts a payment in another currency in suspense', async () => {
    const account = await newAccount('UGX');
    const recorded = await recordPayment(h.db, { provider: 'mpesa', receipt: `U${randomUUID().slice(0, 9)}`, channel: 'c2b', amountMinor: 100, currency: 'KES', phone: null, reference: account.account_no, transactedAt: null, raw: {} });
    expect(recorded.status).toBe('suspense');
  });
});

// A database of its own: this scenario breaks the books on purpose, so the invariants cannot hold after it.
describe('the invariants checker', () => {
  let h: DbHandle;
  beforeAll(async () => {
    h = await openTestDb();
  });
  afterAll(async () => {
    await h?.close();
  });

  it('reports an account whose balance was changed outside the ledger', async () => {
    const customer = await insertCustomer(h.db, { name: 'Otieno' });
    const account = await insertAccount(h.db, { customer_id: customer.id, account_no: 'BROKEN1' });
    await post(h.db, { accountId: account.id, entryType: 'adjustment', amountMinor: 10, idempotencyKey: randomUUID(), reason: 'x' });
    expect(await invariantViolations(h.db)).toEqual([]);
    await sql`UPDATE accounts SET balance_minor = 11 WHERE id = ${account.id}`.execute(h.db);
    const violations = await invariantViolations(h.db);
    expect(violations.map((v) => v.rule).sort()).toEqual(['balance_equals_last_entry', 'balance_equals_sum']);
  });

  it('reports a payment marked applied without its credit', async () => {
    const recorded = await recordPayment(h.db, { provider: 'mpesa', receipt: 'NOCREDIT01', channel: 'c2b', amountMinor: 100, currency: 'KES', phone: null, reference: 'nobody', transactedAt: null, raw: {} });
    await sql`UPDATE payments SET status = 'applied' WHERE id = ${recorded.paymentId}`.execute(h.db);
    expect((await invariantViolations(h.db)).filter((v) => v.subject === recorded.paymentId).map((v) => v.rule)).toEqual(['payment_credited_once']);
  });
});
