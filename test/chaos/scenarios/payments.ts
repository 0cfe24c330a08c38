// Payment scenarios: M-Pesa callbacks posted to the platform's Daraja callback routes as Daraja posts them
// (C2B confirmations, and the STK Push callbacks of pushes the harness requested through the API), each
// receipt once, ~30% of them again later or at the same moment, every delivery not answered 2xx retried
// (bounded, as Daraja does), while the platform is killed or its database connections fail. The bodies
// are the real callbacks of test/fixtures/vectors/mpesa_callbacks.json with the run's receipts, amounts and
// references. Afterwards, from the database: each payment stored once and credited once to the account its
// reference names (or in suspense for a reference nobody has), balances adding up, the ledger's and the
// arrears' invariant functions empty.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { darajaTimestamp } from '#domain/mpesa';
import type { Rng } from '../prng.ts';
import { repoRoot, sleep } from '../infra.ts';
import { checkPayments, type ExpectedPayment } from '../invariants.ts';
import { api, at, moments, type Outcome, type RunContext, type Scenario } from './kit.ts';

interface Account {
  id: string;
  accountNo: string;
  meterNo: string;
}

interface Delivery {
  /** The payment's receipt; undefined for a failed STK result (no money). */
  receipt: string | undefined;
  /** What an acknowledgement is counted under: the receipt, or `stk:<CheckoutRequestID>` for an STK result. */
  key: string;
  route: 'c2b/confirmation' | 'stk/callback';
  body: string;
  /** ms after sending starts. */
  at: number;
}

interface Plan {
  expected: ExpectedPayment[];
  deliveries: Delivery[];
  duplicated: number;
  stk: { id: string; receipt: string | undefined; key: string }[];
  spanMs: number;
}

interface Vector {
  input: { raw_body?: string };
  expected: { kind?: string; success?: boolean };
}

/** The real callbacks the bodies are made from: a C2B confirmation, a paid and a cancelled STK result. */
export async function templates() {
  const vectors = JSON.parse(await readFile(path.join(repoRoot, 'test/fixtures/vectors/mpesa_callbacks.json'), 'utf8')) as Vector[];
  const body = (pick: (v: Vector) => boolean) => {
    const raw = vectors.find((v) => pick(v) && v.input.raw_body)?.input.raw_body;
    if (!raw) throw new Error('mpesa_callbacks.json has no such callback');
    return JSON.parse(raw) as Json;
  };
  return {
    c2b: body((v) => v.expected.kind === 'c2b'),
    stkPaid: body((v) => v.expected.kind === 'stk_callback' && v.expected.success === true),
    stkCancelled: body((v) => v.expected.kind === 'stk_callback' && v.expected.success === false),
  };
}

type Json = Record<string, unknown>;

/** A C2B confirmation: the real one with this payment's receipt, amount (minor units) and reference. */
export function c2bConfirmation(template: Json, p: { receipt: string; amountMinor: number; reference: string; at: Date }): string {
  return JSON.stringify({
    ...template,
    TransID: p.receipt,
    TransTime: darajaTimestamp(p.at),
    TransAmount: (p.amountMinor / 100).toFixed(2),
    BusinessShortCode: '174379',
    BillRefNumber: p.reference,
    MSISDN: '2******7',
  });
}

/** An STK Push result for a request: paid (receipt, amount, phone) or as the template says (cancelled). */
export function stkCallback(
  template: Json,
  s: { merchantRequestId: string; checkoutRequestId: string; amountMinor: number; phone: string; paid: { receipt: string; at: Date } | undefined },
): string {
  const callback = (template.Body as { stkCallback: Json }).stkCallback;
  return JSON.stringify({
    Body: {
      stkCallback: {
        ...callback,
        MerchantRequestID: s.merchantRequestId,
        CheckoutRequestID: s.checkoutRequestId,
        ...(s.paid
          ? {
              CallbackMetadata: {
                Item: [
                  { Name: 'Amount', Value: s.amountMinor / 100 },
                  { Name: 'MpesaReceiptNumber', Value: s.paid.receipt },
                  { Name: 'Balance' },
                  { Name: 'TransactionDate', Value: Number(darajaTimestamp(s.paid.at)) },
                  { Name: 'PhoneNumber', Value: Number(s.phone) },
                ],
              },
            }
          : {}),
      },
    },
  });
}

const RECEIPT_CHARS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
const receiptOf = (rng: Rng, used: Set<string>): string => {
  for (;;) {
    const r = `S${Array.from({ length: 9 }, () => RECEIPT_CHARS[rng.int(0, RECEIPT_CHARS.length - 1)]).join('')}`;
    if (!used.has(r)) {
      used.add(r);
      return r;
    }
  }
};
/** A Kenyan mobile number the simulator would not treat as a special case (…1032, …0001, …9999). */
const phoneOf = (rng: Rng) => `2547${rng.int(10, 99)}${rng.int(100_000, 899_999)}`;

/** Customers, accounts and a meter per account, through the API. */
async function estate(ctx: RunContext, count: number): Promise<Account[]> {
  const call = await api(ctx);
  const accounts: Account[] = [];
  for (let i = 0; i < count; i++) {
    const customer = await call<{ id: string }>('POST', '/customers', { name: `Chaos payer ${i + 1}`, phone: `+${phoneOf(ctx.rng)}` });
    if (customer.status !== 201) throw new Error(`customer: ${customer.status} ${JSON.stringify(customer.body)}`);
    const accountNo = `CP${ctx.rng.hex(4).toUpperCase()}`;
    const account = await call<{ id: string }>('POST', '/accounts', { customerId: customer.body.id, accountNo });
    if (account.status !== 201) throw new Error(`account ${accountNo}: ${account.status} ${JSON.stringify(account.body)}`);
    const meterNo = `PM${ctx.rng.hex(5).toUpperCase()}`;
    const meter = await call<{ id: string }>('POST', '/meters', { meterNo, meterType: 'electricity' });
    if (meter.status !== 201) throw new Error(`meter ${meterNo}: ${meter.status} ${JSON.stringify(meter.body)}`);
    const link = await call('POST', `/meters/${meter.body.id}/account`, { accountId: account.body.id });
    if (link.status !== 200) throw new Error(`linking ${meterNo}: ${link.status} ${JSON.stringify(link.body)}`);
    accounts.push({ id: account.body.id, accountNo, meterNo });
  }
  return accounts;
}

/** STK Pushes requested through the API (the platform asks its Daraja simulator, which never answers within the run). */
async function pushes(ctx: RunContext, accounts: Account[], count: number) {
  const call = await api(ctx);
  const made: { id: string; accountId: string; amountMinor: number; phone: string; merchantRequestId: string; checkoutRequestId: string }[] = [];
  for (let i = 0; i < count; i++) {
    const account = ctx.rng.pick(accounts);
    const phone = phoneOf(ctx.rng);
    const amountMinor = ctx.rng.int(1, 3000) * 100;
    const r = await call<{ id: string; merchantRequestId: string | null; checkoutRequestId: string | null; status: string }>('POST', `/accounts/${account.id}/stk-push`, { phone: `+${phone}`, amountMinor });
    if (r.status !== 202 || !r.body.checkoutRequestId || !r.body.merchantRequestId) throw new Error(`stk push: ${r.status} ${JSON.stringify(r.body)}`);
    made.push({ id: r.body.id, accountId: account.id, amountMinor, phone, merchantRequestId: r.body.merchantRequestId, checkoutRequestId: r.body.checkoutRequestId });
  }
  return made;
}

async function planFor(ctx: RunContext, accounts: Account[]): Promise<Plan> {
  const { rng, quick } = ctx;
  const t = await templates();
  const stkRequests = await pushes(ctx, accounts, quick ? rng.int(2, 3) : rng.int(3, 8));
  const count = quick ? rng.int(40, 60) : rng.int(120, 300);
  const spanMs = quick ? rng.int(6_000, 8_000) : rng.int(10_000, 16_000);
  const used = new Set<string>();
  const expected: ExpectedPayment[] = [];
  const firsts: Delivery[] = [];
  const stk: Plan['stk'] = [];
  const now = new Date();
  for (let i = 0; i < count; i++) {
    const receipt = receiptOf(rng, used);
    const account = rng.pick(accounts);
    const kind = rng.float();
    // By account number (any case, sometimes with a space typed after it), by meter number, or unknown.
    const reference = kind < 0.55 ? (rng.chance(0.5) ? account.accountNo.toLowerCase() : account.accountNo) + (rng.chance(0.2) ? ' ' : '') : kind < 0.9 ? account.meterNo : `ZZ${rng.hex(3).toUpperCase()}`;
    const shillings = rng.int(1, 5000);
    const cents = rng.chance(0.25) ? 50 : 0;
    const amountMinor = shillings * 100 + cents;
    expected.push({ receipt, channel: 'c2b', amountMinor, accountId: kind < 0.9 ? account.id : null });
    firsts.push({ receipt, key: receipt, route: 'c2b/confirmation', body: c2bConfirmation(t.c2b, { receipt, amountMinor, reference, at: now }), at: rng.int(0, spanMs) });
  }
  for (const s of stkRequests) {
    // A fifth of the pushes are cancelled by the customer: a result, no money.
    const paid = rng.chance(0.8);
    const receipt = paid ? receiptOf(rng, used) : undefined;
    if (receipt) expected.push({ receipt, channel: 'stk', amountMinor: s.amountMinor, accountId: s.accountId });
    const key = `stk:${s.checkoutRequestId}`;
    stk.push({ id: s.id, receipt, key });
    const body = stkCallback(paid ? t.stkPaid : t.stkCancelled, { ...s, paid: receipt ? { receipt, at: now } : undefined });
    firsts.push({ receipt, key, route: 'stk/callback', body, at: rng.int(0, spanMs) });
  }
  // ~30% delivered again with the same receipt: a third of those at the same moment, the rest up to 3 s later.
  const deliveries = [...firsts];
  let duplicated = 0;
  for (const d of firsts) {
    if (!rng.chance(0.3)) continue;
    if (d.receipt) duplicated++;
    deliveries.push({ ...d, at: rng.chance(1 / 3) ? d.at : d.at + rng.int(100, 3_000) });
  }
  deliveries.sort((a, b) => a.at - b.at);
  return { expected, deliveries, duplicated, stk, spanMs };
}

/** A delivery not answered 2xx is sent again, like Daraja's retries: up to 30 attempts within 60 s. */
const MAX_ATTEMPTS = 30;
const RETRY_WINDOW_MS = 60_000;

class Sender {
  readonly acked = new Map<string, number>();
  /** Every delivery key (receipt, or an STK result's CheckoutRequestID) answered 2xx at least once. */
  readonly ackedKeys = new Set<string>();
  sends = 0;
  retries = 0;
  gaveUp = 0;
  readonly answers = new Map<string, number>();

  constructor(private readonly base: string) {}

  async deliver(d: Delivery): Promise<void> {
    const started = Date.now();
    for (let attempt = 1; ; attempt++) {
      if (d.receipt) this.sends++;
      const status = await fetch(`${this.base}/${d.route}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: d.body,
        signal: AbortSignal.timeout(10_000),
      }).then(
        async (r) => {
          await r.arrayBuffer();
          return r.status;
        },
        () => 0,
      );
      const key = status === 0 ? 'no answer' : String(status);
      this.answers.set(key, (this.answers.get(key) ?? 0) + 1);
      if (status >= 200 && status < 300) {
        if (d.receipt) this.acked.set(d.receipt, (this.acked.get(d.receipt) ?? 0) + 1);
        this.ackedKeys.add(d.key);
        return;
      }
      if (attempt >= MAX_ATTEMPTS || Date.now() - started > RETRY_WINDOW_MS) {
        this.gaveUp++;
        return;
      }
      this.retries++;
      await sleep(Math.min(2_000, 250 * attempt));
    }
  }

  async send(deliveries: Delivery[]): Promise<void> {
    const start = Date.now();
    await Promise.all(
      deliveries.map(async (d) => {
        const wait = start + d.at - Date.now();
        if (wait > 0) await sleep(wait);
        await this.deliver(d);
      }),
    );
  }
}

/** Until the ledger has not moved for 1 s (a callback the harness gave up on may still be finishing), at most 15 s. */
async function ledgerQuiet(ctx: RunContext): Promise<void> {
  const until = Date.now() + 15_000;
  let last = '';
  let since = Date.now();
  while (Date.now() < until) {
    const rows = await ctx.db.query<{ n: string }>(`SELECT (SELECT count(*) FROM ledger_entries)::text || '/' || (SELECT count(*) FROM payments)::text AS n`).catch(() => [{ n: last }]);
    const n = rows[0]?.n ?? '';
    if (n !== last) {
      last = n;
      since = Date.now();
    } else if (Date.now() - since >= 1_000) return;
    await sleep(200);
  }
}

async function paymentsRun(ctx: RunContext, faults: (sendingMs: number) => Promise<void>): Promise<Outcome> {
  const accounts = await estate(ctx, ctx.quick ? 3 : ctx.rng.int(4, 8));
  const plan = await planFor(ctx, accounts);
  const sender = new Sender(`${ctx.platform.httpUrl}/integrations/daraja/${ctx.callbackToken}`);
  ctx.note(`${plan.expected.length} payments (${plan.stk.length} STK pushes), ${plan.deliveries.length} deliveries over ${plan.spanMs} ms`);
  await Promise.all([sender.send(plan.deliveries), faults(plan.spanMs)]);
  ctx.note(`answers ${[...sender.answers].map(([k, n]) => `${k}: ${n}`).join(', ')}; ${sender.retries} retries${sender.gaveUp ? `, ${sender.gaveUp} deliveries given up` : ''}`);
  await ledgerQuiet(ctx);
  const { tally, detail } = await checkPayments(ctx.db, plan.expected, sender.acked, { total: sender.sends, duplicated: plan.duplicated }, accounts.map((a) => a.id));
  if (detail) ctx.note(detail);
  // Daraja stops only at a 2xx: a callback never acknowledged within the retry window (the faults last
  // seconds, the window a minute) is a platform that kept refusing money.
  const keys = new Set(plan.deliveries.map((d) => d.key));
  const unacknowledged = [...keys].filter((k) => !sender.ackedKeys.has(k));
  for (let i = 0; i < unacknowledged.length; i++) ctx.flag('payments.unacknowledged');
  if (unacknowledged.length) ctx.note(`never acknowledged: ${unacknowledged.slice(0, 10).join(', ')}`);
  // The STK requests: a paid result makes its request paid with the receipt, a cancelled one failed.
  const requests = await ctx.db.query<{ id: string; status: string; receipt: string | null }>(`SELECT id::text, status, receipt FROM stk_requests WHERE id = ANY($1::uuid[])`, [plan.stk.map((s) => s.id)]);
  const byId = new Map(requests.map((r) => [r.id, r]));
  for (const s of plan.stk) {
    const r = byId.get(s.id);
    // Only a request whose callback was acknowledged must show it (an unacknowledged one Daraja would still retry).
    if (!sender.ackedKeys.has(s.key)) continue;
    const right = s.receipt ? r?.status === 'paid' && r.receipt === s.receipt : r?.status === 'failed';
    if (!right) {
      ctx.flag('payments.stkRequestWrong');
      ctx.note(`STK request ${s.id}: ${r?.status ?? 'missing'} ${r?.receipt ?? ''}, expected ${s.receipt ? `paid ${s.receipt}` : 'failed'}`);
    }
  }
  return { payments: tally };
}

const crash: Scenario = {
  name: 'payments-kill',
  about: 'SIGKILL or SIGTERM the platform while Daraja posts C2B confirmations and STK callbacks (30% twice, some at once), then start it again',
  run: (ctx) =>
    paymentsRun(ctx, async (span) => {
      await at(moments(ctx.rng, ctx.quick ? 1 : ctx.rng.int(1, 2), span), async () => {
        const sig = ctx.rng.pick(['SIGKILL', 'SIGTERM'] as const);
        const exit = await ctx.platform.signal(sig);
        const down = ctx.rng.int(200, 1500);
        ctx.note(`${sig}: exit ${exit.code ?? exit.signal}, down ${down} ms`);
        await sleep(down);
        await ctx.platform.start();
      });
    }),
};

const database: Scenario = {
  name: 'payments-db',
  about: "the platform's database connections terminated, reset, refused or silently held while Daraja posts payment callbacks",
  run: (ctx) =>
    paymentsRun(ctx, async (span) => {
      await at(moments(ctx.rng, ctx.quick ? ctx.rng.int(1, 2) : ctx.rng.int(2, 3), span), async () => {
        const fault = ctx.rng.pick(['terminate', 'reset', 'down', 'partition'] as const);
        if (fault === 'terminate') ctx.note(`pg_terminate_backend: ${await ctx.db.terminateBackends()} connections`);
        else if (fault === 'reset') {
          ctx.db.proxy.terminateAll();
          ctx.note('proxy: all connections reset');
        } else if (fault === 'down') {
          const ms = ctx.rng.int(1000, 2500);
          ctx.db.proxy.refuse(true);
          ctx.db.proxy.terminateAll();
          await sleep(ms);
          ctx.db.proxy.refuse(false);
          ctx.note(`database down ${ms} ms`);
        } else {
          const ms = ctx.rng.int(1500, 3000);
          ctx.db.proxy.partition();
          await sleep(ms);
          ctx.db.proxy.heal();
          ctx.note(`partitioned ${ms} ms`);
        }
      });
    }),
};

export const paymentScenarios: Scenario[] = [crash, database];
