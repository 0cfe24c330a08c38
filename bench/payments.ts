// `npm run bench:payments`: M-Pesa money in on the local platform (PGlite by default; DATABASE_URL for
// real PostgreSQL in a schema of its own). BENCH_ACCOUNTS accounts (1,000), BENCH_C2B confirmations
// (10,000) each POSTed BENCH_DELIVERIES times (3) to the real callback endpoint over loopback HTTP, all
// in random order with BENCH_CONCURRENCY (64) in flight, with a C2B validation for every tenth payment
// mixed in (its latency is validationP99Ms); then BENCH_STK (1,000) STK Push flows through the API and
// the Daraja simulator (request, simulated customer, callback). Prints one JSON object.
import { randomInt } from 'node:crypto';
import { sql } from 'kysely';
import { darajaTimestamp } from '#domain/mpesa';
import { invariantViolations } from '#store/ledger';
import { callbackUrls } from '#runtime/daraja';
import { startBenchPlatform } from './support.ts';

const accounts = Number(process.env.BENCH_ACCOUNTS ?? 1_000);
const payments = Number(process.env.BENCH_C2B ?? 10_000);
const deliveries = Number(process.env.BENCH_DELIVERIES ?? 3);
const stkFlows = Number(process.env.BENCH_STK ?? 1_000);
const concurrency = Number(process.env.BENCH_CONCURRENCY ?? 64);

const { platform, dispose } = await startBenchPlatform('payments', { DARAJA_SIMULATOR_STK_DELAY_MS: '10' });
const db = platform.db.db;
const urls = callbackUrls(platform.httpUrl, platform.payments.callbackToken);

await sql`INSERT INTO customers (name, phone) SELECT 'Bench ' || i, '+2547' || lpad(i::text, 8, '0') FROM generate_series(1, ${accounts}) AS i`.execute(db);
await sql`
  INSERT INTO accounts (customer_id, account_no)
  SELECT id, 'B' || lpad(row_number() OVER (ORDER BY id)::text, 6, '0') FROM customers WHERE name LIKE 'Bench %'`.execute(db);
const accountIds = (await sql<{ id: string }>`SELECT id FROM accounts WHERE account_no LIKE 'B%' ORDER BY account_no`.execute(db)).rows.map((r) => r.id);

const body = (i: number) =>
  JSON.stringify({
    TransactionType: 'Pay Bill',
    TransID: `BNC${i.toString(36).toUpperCase().padStart(7, '0')}`,
    TransTime: darajaTimestamp(new Date()),
    TransAmount: `${1 + (i % 500)}.00`,
    BusinessShortCode: '174379',
    BillRefNumber: `b${String(1 + (i % accounts)).padStart(6, '0')}`,
    InvoiceNumber: '',
    OrgAccountBalance: '',
    ThirdPartyTransID: '',
    MSISDN: '2******9',
    FirstName: 'Bench',
  });

type Job = { url: string; body: string; validation: boolean };
const jobs: Job[] = [];
for (let i = 0; i < payments; i++) {
  const b = body(i);
  for (let d = 0; d < deliveries; d++) jobs.push({ url: urls.confirmationUrl, body: b, validation: false });
  if (i % 10 === 0) jobs.push({ url: urls.validationUrl, body: b, validation: true });
}
for (let i = jobs.length - 1; i > 0; i--) {
  const j = randomInt(i + 1);
  [jobs[i], jobs[j]] = [jobs[j] as Job, jobs[i] as Job];
}

const validationMs: number[] = [];
let failures = 0;
let resent = 0;

/** A POST, sent again when the connection drops (a kept-alive socket the server closed): Daraja retries too. */
async function post(url: string, init: RequestInit): Promise<Response> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fetch(url, { method: 'POST', ...init });
    } catch (error) {
      if (attempt >= 5) throw error;
      resent += 1;
    }
  }
}
async function run<T>(items: T[], work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < items.length) await work(items[next++] as T);
    }),
  );
}

const started = performance.now();
await run(jobs, async (job) => {
  const t0 = performance.now();
  const r = await post(job.url, { headers: { 'content-type': 'application/json' }, body: job.body });
  await r.arrayBuffer();
  if (!r.ok) failures += 1;
  if (job.validation) validationMs.push(performance.now() - t0);
});
const c2bSeconds = (performance.now() - started) / 1000;

// STK Push flows: the API call, the simulated customer, the callback.
const operator = await platform.auth.sign('operator');
const stkStarted = performance.now();
await run(
  Array.from({ length: stkFlows }, (_, i) => accountIds[i % accountIds.length] as string),
  async (accountId) => {
    const r = await post(`${platform.httpUrl}/accounts/${accountId}/stk-push`, {
      headers: { authorization: `Bearer ${operator}`, 'content-type': 'application/json' },
      body: JSON.stringify({ phone: '+254712345678', amountMinor: 100 * (1 + randomInt(100)) }),
    });
    await r.arrayBuffer();
    if (r.status !== 202) failures += 1;
  },
);
await platform.payments.simulator?.settled();
const stkSeconds = (performance.now() - stkStarted) / 1000;

const count = async (q: ReturnType<typeof sql<{ n: number }>>) => Number((await q.execute(db)).rows[0]?.n ?? 0);
const paymentsApplied = await count(sql<{ n: number }>`SELECT count(*)::int AS n FROM payments WHERE status = 'applied'`);
const duplicatesIgnored = await count(sql<{ n: number }>`SELECT count(*)::int AS n FROM daraja_callbacks WHERE outcome = 'duplicate'`);
const stkPaid = await count(sql<{ n: number }>`SELECT count(*)::int AS n FROM stk_requests WHERE status = 'paid'`);
const violations = await invariantViolations(db);
validationMs.sort((a, b) => a - b);
const p = (q: number) => Math.round((validationMs[Math.min(validationMs.length - 1, Math.ceil(q * validationMs.length) - 1)] ?? NaN) * 10) / 10;

console.log(
  JSON.stringify({
    database: platform.db.driver,
    accounts,
    c2bPayments: payments,
    deliveriesEach: deliveries,
    callbacks: jobs.length,
    callbacksPerSecond: Math.round(jobs.length / c2bSeconds),
    paymentsApplied,
    duplicatesIgnored,
    validationP50Ms: p(0.5),
    validationP99Ms: p(0.99),
    stkFlows,
    stkPaid,
    stkFlowsPerSecond: Math.round(stkFlows / stkSeconds),
    httpFailures: failures,
    resentAfterConnectionDrop: resent,
    invariantViolations: violations.length,
  }),
);
await dispose();
