// The accounts' store: customers, their prepaid accounts, and which account a meter belongs to over time
// (account_meters, mirrored on meters.account_id). Look-ups by account number, meter number and phone.
import { sql, type Insertable } from 'kysely';
import type { Executor, Tx } from './db.ts';
import type { Account, AccountsTable, Customer, CustomersTable, Meter } from './schema.ts';

export interface Page {
  limit: number;
  offset: number;
}

// ---- Customers ----

export async function insertCustomer(db: Executor, row: Insertable<CustomersTable>): Promise<Customer> {
  return db.insertInto('customers').values(row).returningAll().executeTakeFirstOrThrow();
}

export async function findCustomer(db: Executor, id: string): Promise<Customer | undefined> {
  return db.selectFrom('customers').selectAll().where('id', '=', id).executeTakeFirst();
}

/** Customers oldest first, filtered: one page and how many the filter matches in all. */
export async function listCustomers(db: Executor, f: Page & { phone?: string; siteId?: string }): Promise<{ items: Customer[]; total: number }> {
  let query = db.selectFrom('customers');
  if (f.phone) query = query.where('phone', '=', f.phone);
  if (f.siteId) query = query.where('site_id', '=', f.siteId);
  const [items, count] = await Promise.all([
    query.selectAll().orderBy('created_at').orderBy('id').limit(f.limit).offset(f.offset).execute(),
    query.select((eb) => eb.fn.countAll().as('n')).executeTakeFirst(),
  ]);
  return { items, total: Number(count?.n ?? 0) };
}

// ---- Accounts ----

export async function insertAccount(db: Executor, row: Insertable<AccountsTable>): Promise<Account> {
  return db.insertInto('accounts').values(row).returningAll().executeTakeFirstOrThrow();
}

export async function findAccount(db: Executor, id: string): Promise<Account | undefined> {
  return db.selectFrom('accounts').selectAll().where('id', '=', id).executeTakeFirst();
}

export async function updateAccountStatus(db: Executor, id: string, status: Account['status'], at: Date): Promise<Account | undefined> {
  return db.updateTable('accounts').set({ status, updated_at: at }).where('id', '=', id).returningAll().executeTakeFirst();
}

export interface AccountFilter extends Page {
  customerId?: string;
  accountNo?: string;
  meterNo?: string;
  phone?: string;
  status?: Account['status'];
  /** Any of these alert states. */
  alertStates?: Account['alert_state'][];
  /** A search: the start of an account number, or part of the customer's name (any case). */
  q?: string;
}

/** Accounts, by customer, account number and meter number (any case, trimmed), the customer's phone, alert state, or a search (`q`). */
/** Accounts oldest first with their customer's name, filtered: one page and how many the filter matches in all. */
export async function listAccounts(db: Executor, f: AccountFilter): Promise<{ items: (Account & { customer_name: string })[]; total: number }> {
  let query = db.selectFrom('accounts').innerJoin('customers', 'customers.id', 'accounts.customer_id');
  if (f.alertStates?.length) query = query.where('accounts.alert_state', 'in', f.alertStates);
  if (f.q) {
    const q = f.q.trim();
    const like = `%${q.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
    const prefix = `${q.toUpperCase().replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
    query = query.where((eb) =>
      eb.or([
        eb(sql<string>`upper(accounts.account_no)`, 'like', prefix),
        eb('accounts.customer_id', 'in', eb.selectFrom('customers').select('id').where('name', 'ilike', like)),
      ]),
    );
  }
  if (f.customerId) query = query.where('accounts.customer_id', '=', f.customerId);
  if (f.status) query = query.where('accounts.status', '=', f.status);
  if (f.accountNo) query = query.where(sql<string>`upper(accounts.account_no)`, '=', f.accountNo.trim().toUpperCase());
  if (f.phone) query = query.where('accounts.customer_id', 'in', (eb) => eb.selectFrom('customers').select('id').where('phone', '=', f.phone ?? ''));
  if (f.meterNo) {
    const meterNo = f.meterNo.trim().toUpperCase();
    query = query.where('accounts.id', 'in', (eb) =>
      eb
        .selectFrom('account_meters')
        .innerJoin('meters', 'meters.id', 'account_meters.meter_id')
        .select('account_meters.account_id')
        .where('account_meters.valid_to', 'is', null)
        .where(sql<string>`upper(meters.meter_no)`, '=', meterNo),
    );
  }
  const [items, count] = await Promise.all([
    query.selectAll('accounts').select('customers.name as customer_name').orderBy('accounts.created_at').orderBy('accounts.id').limit(f.limit).offset(f.offset).execute(),
    query.select((eb) => eb.fn.countAll().as('n')).executeTakeFirst(),
  ]);
  return { items, total: Number(count?.n ?? 0) };
}

/** Does a payment reference name an account (by number, or by one of its meters)? The same rule as payment_record. */
export async function accountForReference(db: Executor, reference: string): Promise<Account | undefined> {
  const { rows } = await sql<{ id: string | null }>`SELECT account_for_reference(${reference}) AS id`.execute(db);
  const id = rows[0]?.id;
  return id ? findAccount(db, id) : undefined;
}

// ---- Meters of an account ----

export async function currentMetersOf(db: Executor, accountId: string): Promise<Meter[]> {
  return db
    .selectFrom('account_meters')
    .innerJoin('meters', 'meters.id', 'account_meters.meter_id')
    .selectAll('meters')
    .where('account_meters.account_id', '=', accountId)
    .where('account_meters.valid_to', 'is', null)
    .orderBy('meters.meter_no')
    .execute();
}

export async function meterLinkHistory(db: Executor, meterId: string) {
  return db.selectFrom('account_meters').selectAll().where('meter_id', '=', meterId).orderBy('valid_from', 'desc').orderBy('id', 'desc').execute();
}

/** The meter's current account, if any. Lock the meter row first (in `db`, a transaction) to decide on it. */
export async function currentAccountOfMeter(db: Executor, meterId: string): Promise<string | null> {
  const row = await db.selectFrom('account_meters').select('account_id').where('meter_id', '=', meterId).where('valid_to', 'is', null).executeTakeFirst();
  return row?.account_id ?? null;
}

export async function lockMeter(db: Tx, meterId: string): Promise<Meter | undefined> {
  return db.selectFrom('meters').selectAll().where('id', '=', meterId).forUpdate().executeTakeFirst();
}

/** Make `accountId` the meter's account from `at` (closing the previous link); null unlinks it. */
export async function linkMeter(db: Tx, meterId: string, accountId: string | null, at: Date): Promise<void> {
  await db.updateTable('account_meters').set({ valid_to: at }).where('meter_id', '=', meterId).where('valid_to', 'is', null).execute();
  if (accountId) await db.insertInto('account_meters').values({ meter_id: meterId, account_id: accountId, valid_from: at }).execute();
  await db.updateTable('meters').set({ account_id: accountId, updated_at: at }).where('id', '=', meterId).execute();
}
