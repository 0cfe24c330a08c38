// An estate made through the HTTP API for balance-control tests: a site in a time zone, a customer's account
// with an opening balance (an adjustment on the ledger), and a UC100 relay meter on the account.
import { randomUUID } from 'node:crypto';
import { expect } from 'vitest';
import type { Db } from '#store/db';
import { post } from '#store/ledger';
import { randomEui } from './chirpstack.ts';
import type { EventInput } from './api.ts';

type Call = (input: EventInput) => Promise<{ status: number; body: unknown }>;

/** `api` is read when a helper runs (tests open the database and the handler in beforeAll). */
export function estateFixtures(api: () => { call: Call; db: Db }, customer: { name: string; phone: string; accountPrefix: string }) {
  async function site(timezone: string): Promise<string> {
    const r = await api().call({ method: 'POST', path: '/sites', role: 'operator', body: { code: `S${randomUUID().slice(0, 8)}`, name: 'Estate', timezone } });
    expect(r.status).toBe(201);
    return (r.body as { id: string }).id;
  }

  async function account(siteId: string | null, openingMinor: number): Promise<{ id: string; accountNo: string }> {
    const { call, db } = api();
    const c = await call({ method: 'POST', path: '/customers', role: 'operator', body: { name: customer.name, phone: customer.phone, ...(siteId ? { siteId } : {}) } });
    const accountNo = `${customer.accountPrefix}${randomUUID().slice(0, 8)}`.toUpperCase();
    const a = await call({ method: 'POST', path: '/accounts', role: 'operator', body: { customerId: (c.body as { id: string }).id, accountNo } });
    expect(a.status).toBe(201);
    const id = (a.body as { id: string }).id;
    if (openingMinor) await post(db, { accountId: id, entryType: 'adjustment', amountMinor: openingMinor, idempotencyKey: `open:${id}`, reason: 'opening balance' });
    return { id, accountNo };
  }

  async function relayMeter(accountId: string): Promise<string> {
    const { call } = api();
    const devEui = randomEui();
    const m = await call({ method: 'POST', path: '/meters', role: 'operator', body: { meterNo: `R${devEui.slice(0, 10)}`, meterType: 'electricity', device: { deviceType: 'milesight_uc100', devEui } } });
    expect(m.status).toBe(201);
    const id = (m.body as { id: string }).id;
    expect((await call({ method: 'POST', path: `/meters/${id}/account`, role: 'operator', body: { accountId } })).status).toBe(200);
    return id;
  }

  return { site, account, relayMeter };
}
