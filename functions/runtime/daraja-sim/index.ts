// A stand-in for Safaricom Daraja in the local runtime (used when DARAJA_BASE_URL is not set): OAuth,
// STK Push (which later posts its callback), STK Query, C2B v2 RegisterURL and a C2B simulate endpoint
// that sends validation then confirmation, and Pull Transactions over what it has seen. The platform
// talks to it through the real client (#adapters/daraja-client), so the code path is the one used with
// the sandbox or production.
//
// STK outcome per phone number (last digits), unless set with setStkOutcome():
//   …1032 cancelled, …0001 insufficient funds (1), …2001 wrong PIN, …1037 unreachable (timeout),
//   …9999 paid but the callback is never delivered (reconciliation credits it), anything else paid.
import { randomBytes, randomInt } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as z from 'zod';
import { darajaTimestamp, parseDarajaTime, stkPassword } from '#domain/mpesa';
import { logger as defaultLogger, type Logger } from '#shared/logger';

export type StkOutcome = 'paid' | 'cancelled' | 'insufficient_funds' | 'wrong_pin' | 'unreachable' | 'paid_callback_lost';
const resultOf: Record<StkOutcome, { code: number; desc: string }> = {
  paid: { code: 0, desc: 'The service request is processed successfully.' },
  paid_callback_lost: { code: 0, desc: 'The service request is processed successfully.' },
  cancelled: { code: 1032, desc: 'Request cancelled by user' },
  insufficient_funds: { code: 1, desc: 'The balance is insufficient for the transaction' },
  wrong_pin: { code: 2001, desc: 'The initiator information is invalid.' },
  unreachable: { code: 1037, desc: 'DS timeout user cannot be reached' },
};

export function outcomeForPhone(phone: string): StkOutcome {
  if (phone.endsWith('1032')) return 'cancelled';
  if (phone.endsWith('0001')) return 'insufficient_funds';
  if (phone.endsWith('2001')) return 'wrong_pin';
  if (phone.endsWith('1037')) return 'unreachable';
  if (phone.endsWith('9999')) return 'paid_callback_lost';
  return 'paid';
}

const optionsSchema = z.object({
  host: z.string().min(1).default('127.0.0.1'),
  port: z.number().int().min(0).max(65535).default(0),
  shortCode: z.string().default('174379'),
  passkey: z.string().default('local-simulator-passkey'),
  consumerKey: z.string().default('local'),
  consumerSecret: z.string().default('local'),
  /** How long the "customer" takes to answer an STK Push before the callback is posted. */
  stkDelayMs: z.number().int().min(0).max(600_000).default(1_000),
});
export type DarajaSimulatorOptions = z.input<typeof optionsSchema> & { logger?: Logger; now?: () => Date };

interface Transaction {
  receipt: string;
  at: Date;
  msisdn: string;
  amount: number;
  billRef: string;
  kind: 'c2b' | 'stk';
}

interface StkPending {
  merchantRequestId: string;
  checkoutRequestId: string;
  phone: string;
  amount: number;
  accountReference: string;
  callbackUrl: string;
  outcome: StkOutcome;
  done: boolean;
}

const stkPushBody = z.looseObject({
  BusinessShortCode: z.union([z.string(), z.number()]).transform(String),
  Password: z.string(),
  Timestamp: z.string().regex(/^\d{14}$/),
  TransactionType: z.enum(['CustomerPayBillOnline', 'CustomerBuyGoodsOnline']),
  Amount: z.union([z.number(), z.string()]).transform(Number).pipe(z.number().int().positive()),
  PartyA: z.union([z.string(), z.number()]).transform(String),
  PhoneNumber: z.union([z.string(), z.number()]).transform(String).pipe(z.string().regex(/^254\d{9}$/)),
  CallBackURL: z.url(),
  AccountReference: z.string().min(1).max(12),
  TransactionDesc: z.string().max(13).optional(),
});
const registerBody = z.looseObject({ ShortCode: z.union([z.string(), z.number()]).transform(String), ResponseType: z.enum(['Completed', 'Cancelled']), ConfirmationURL: z.url(), ValidationURL: z.url() });
const simulateBody = z.looseObject({
  ShortCode: z.union([z.string(), z.number()]).transform(String),
  CommandID: z.string().default('CustomerPayBillOnline'),
  Amount: z.union([z.number(), z.string()]).transform(Number).pipe(z.number().positive()),
  Msisdn: z.union([z.string(), z.number()]).transform(String),
  BillRefNumber: z.string().default(''),
});
const queryBody = z.looseObject({ CheckoutRequestID: z.string(), Password: z.string(), Timestamp: z.string() });
const pullBody = z.looseObject({ StartDate: z.string(), EndDate: z.string(), OffSetValue: z.union([z.string(), z.number()]).transform(Number) });

export interface C2bDelivery {
  receipt: string;
  validation: { status: number; body: unknown } | null;
  confirmation: { status: number; body: unknown } | null;
}

export class DarajaSimulator {
  private readonly o: z.infer<typeof optionsSchema>;
  private readonly logger: Logger;
  private readonly now: () => Date;
  private server: http.Server | undefined;
  private readonly tokens = new Set<string>();
  private readonly transactions: Transaction[] = [];
  private readonly stk = new Map<string, StkPending>();
  private readonly outcomes = new Map<string, StkOutcome>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly deliveries = new Set<Promise<unknown>>();
  private c2bUrls: z.infer<typeof registerBody> | undefined;
  url = '';
  readonly counters = { oauthTokens: 0, stkPushes: 0, callbacksPosted: 0, callbackFailures: 0 };

  constructor(options: DarajaSimulatorOptions = {}) {
    this.o = optionsSchema.parse(options);
    this.logger = options.logger ?? defaultLogger;
    this.now = options.now ?? (() => new Date());
  }

  get credentials() {
    return { consumerKey: this.o.consumerKey, consumerSecret: this.o.consumerSecret, shortCode: this.o.shortCode, passkey: this.o.passkey };
  }

  /** The outcome of the next STK Push to this phone (2547…), instead of the one its digits choose. */
  setStkOutcome(phone: string, outcome: StkOutcome): void {
    this.outcomes.set(phone, outcome);
  }

  get registeredUrls() {
    return this.c2bUrls;
  }

  /** Everything it has seen paid, as Pull Transactions would list it. */
  get paid(): readonly Transaction[] {
    return this.transactions;
  }

  async start(): Promise<{ url: string }> {
    this.server = http.createServer((req, res) => {
      void this.route(req, res).catch((error: unknown) => {
        this.logger.error('daraja simulator request failed', { error: error as Error });
        if (!res.headersSent) res.writeHead(500).end();
      });
    });
    await new Promise<void>((resolve, reject) => {
      this.server?.once('error', reject);
      this.server?.listen(this.o.port, this.o.host, () => resolve());
    });
    const { port } = this.server.address() as AddressInfo;
    this.url = `http://${this.o.host}:${port}`;
    return { url: this.url };
  }

  async stop(): Promise<void> {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    await Promise.allSettled([...this.deliveries]);
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
    this.server?.closeAllConnections();
  }

  /** Wait for the callbacks scheduled so far (tests). */
  async settled(): Promise<void> {
    while (this.timers.size || this.deliveries.size) {
      await new Promise((r) => setTimeout(r, 10));
      await Promise.allSettled([...this.deliveries]);
    }
  }

  private receipt(): string {
    const letters = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
    return `S${Array.from({ length: 9 }, () => letters[randomInt(letters.length)]).join('')}`;
  }

  private async post(url: string, body: unknown): Promise<{ status: number; body: unknown }> {
    const work = (async () => {
      try {
        const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), signal: AbortSignal.timeout(30_000) });
        const text = await response.text();
        this.counters.callbacksPosted += 1;
        if (!response.ok) this.counters.callbackFailures += 1;
        let parsed: unknown = text;
        try {
          parsed = JSON.parse(text);
        } catch {
          // kept as text
        }
        return { status: response.status, body: parsed };
      } catch (error) {
        this.counters.callbackFailures += 1;
        return { status: 0, body: (error as Error).message };
      }
    })();
    this.deliveries.add(work);
    void work.finally(() => this.deliveries.delete(work));
    return work;
  }

  /** C2B: validation (when registered), then confirmation unless validation rejected it. */
  async simulateC2b(input: { amount: number; msisdn: string; billRef: string; receipt?: string }): Promise<C2bDelivery> {
    const urls = this.c2bUrls;
    const receipt = input.receipt ?? this.receipt();
    const at = this.now();
    const body = {
      TransactionType: 'Pay Bill',
      TransID: receipt,
      TransTime: darajaTimestamp(at),
      TransAmount: input.amount.toFixed(2),
      BusinessShortCode: this.o.shortCode,
      BillRefNumber: input.billRef,
      InvoiceNumber: '',
      OrgAccountBalance: '',
      ThirdPartyTransID: '',
      MSISDN: `${input.msisdn.slice(0, 1)}******${input.msisdn.slice(-1)}`,
      FirstName: 'John',
      MiddleName: '******',
      LastName: '',
    };
    if (!urls) return { receipt, validation: null, confirmation: null };
    const validation = await this.post(urls.ValidationURL, body);
    const accepted = validation.status >= 200 && validation.status < 300 && (validation.body as { ResultCode?: unknown }).ResultCode === '0';
    // A late or failed validation: the registered ResponseType decides.
    const proceed = accepted || ((validation.status === 0 || validation.status >= 500) && urls.ResponseType === 'Completed');
    if (!proceed) return { receipt, validation, confirmation: null };
    this.transactions.push({ receipt, at, msisdn: input.msisdn, amount: input.amount, billRef: input.billRef, kind: 'c2b' });
    const confirmation = await this.post(urls.ConfirmationURL, body);
    return { receipt, validation, confirmation };
  }

  private authorized(req: http.IncomingMessage): boolean {
    const token = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '')?.[1];
    return token !== undefined && this.tokens.has(token);
  }

  private async route(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://sim');
    const send = (status: number, body: unknown): void => {
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    };
    const error = (status: number, errorCode: string, errorMessage: string) => send(status, { requestId: randomBytes(6).toString('hex'), errorCode, errorMessage });

    if (req.method === 'GET' && url.pathname === '/oauth/v1/generate') {
      const basic = /^Basic\s+(\S+)$/i.exec(req.headers.authorization ?? '')?.[1];
      const expected = Buffer.from(`${this.o.consumerKey}:${this.o.consumerSecret}`).toString('base64');
      if (basic !== expected || url.searchParams.get('grant_type') !== 'client_credentials') return error(400, '400.008.01', 'Invalid Authentication passed');
      const token = randomBytes(20).toString('base64url');
      this.tokens.add(token);
      this.counters.oauthTokens += 1;
      return send(200, { access_token: token, expires_in: '3599' });
    }
    if (req.method !== 'POST') return error(404, '404.001.01', 'Resource not found');
    if (!this.authorized(req)) return error(401, '404.001.03', 'Invalid Access Token');
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    let body: unknown;
    try {
      body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch {
      return error(400, '400.002.02', 'Bad Request - Invalid JSON');
    }

    switch (url.pathname) {
      case '/mpesa/stkpush/v1/processrequest': {
        const p = stkPushBody.safeParse(body);
        if (!p.success) return error(400, '400.002.02', `Bad Request - ${p.error.issues[0]?.path.join('.')}: ${p.error.issues[0]?.message}`);
        if (p.data.BusinessShortCode !== this.o.shortCode || p.data.Password !== stkPassword(this.o.shortCode, this.o.passkey, p.data.Timestamp)) {
          return error(400, '400.002.02', 'Bad Request - Invalid Password');
        }
        if (!parseDarajaTime(p.data.Timestamp)) return error(400, '400.002.02', 'Bad Request - Invalid Timestamp');
        this.counters.stkPushes += 1;
        const pending: StkPending = {
          merchantRequestId: `${randomInt(10_000, 99_999)}-${randomInt(1e6, 9e6)}-1`,
          checkoutRequestId: `ws_CO_${darajaTimestamp(this.now())}${randomInt(1e8, 9e8)}`,
          phone: p.data.PhoneNumber,
          amount: p.data.Amount,
          accountReference: p.data.AccountReference,
          callbackUrl: p.data.CallBackURL,
          outcome: this.outcomes.get(p.data.PhoneNumber) ?? outcomeForPhone(p.data.PhoneNumber),
          done: false,
        };
        this.outcomes.delete(p.data.PhoneNumber);
        this.stk.set(pending.checkoutRequestId, pending);
        const timer = setTimeout(() => {
          this.timers.delete(timer);
          void this.completeStk(pending);
        }, this.o.stkDelayMs);
        this.timers.add(timer);
        return send(200, {
          MerchantRequestID: pending.merchantRequestId,
          CheckoutRequestID: pending.checkoutRequestId,
          ResponseCode: '0',
          ResponseDescription: 'Success. Request accepted for processing',
          CustomerMessage: 'Success. Request accepted for processing',
        });
      }
      case '/mpesa/stkpushquery/v1/query': {
        const p = queryBody.safeParse(body);
        const pending = p.success ? this.stk.get(p.data.CheckoutRequestID) : undefined;
        if (!pending) return error(400, '400.002.02', 'Bad Request - Invalid CheckoutRequestID');
        if (!pending.done) return error(500, '500.001.1001', 'The transaction is being processed');
        const r = resultOf[pending.outcome];
        return send(200, { ResponseCode: '0', ResponseDescription: 'The service request has been accepted successsfully', MerchantRequestID: pending.merchantRequestId, CheckoutRequestID: pending.checkoutRequestId, ResultCode: String(r.code), ResultDesc: r.desc });
      }
      case '/mpesa/c2b/v1/registerurl':
      case '/mpesa/c2b/v2/registerurl': {
        const p = registerBody.safeParse(body);
        if (!p.success) return error(400, '400.002.02', 'Bad Request - Invalid RegisterURL request');
        this.c2bUrls = p.data;
        return send(200, { OriginatorCoversationID: randomBytes(8).toString('hex'), ResponseCode: '0', ResponseDescription: 'Success' });
      }
      case '/mpesa/c2b/v1/simulate':
      case '/mpesa/c2b/v2/simulate': {
        const p = simulateBody.safeParse(body);
        if (!p.success) return error(400, '400.002.02', 'Bad Request - Invalid simulate request');
        if (!this.c2bUrls) return error(400, '400.002.02', 'Bad Request - no C2B URLs registered for this shortcode');
        const receipt = this.receipt();
        void this.simulateC2b({ amount: p.data.Amount, msisdn: p.data.Msisdn, billRef: p.data.BillRefNumber, receipt });
        return send(200, { OriginatorCoversationID: receipt, ResponseCode: '0', ResponseDescription: 'Accept the service request successfully.' });
      }
      case '/pulltransactions/v1/register':
        return send(200, { ResponseRefID: randomBytes(8).toString('hex'), ResponseStatus: '1000', ShortCode: this.o.shortCode, ResponseDescription: 'Shortcode Registered Successfully' });
      case '/pulltransactions/v1/query': {
        const p = pullBody.safeParse(body);
        if (!p.success) return error(400, '400.002.02', 'Bad Request - Invalid pull request');
        const from = parseDarajaTime(p.data.StartDate.replace(/\D/g, '').padEnd(14, '0'));
        const to = parseDarajaTime(p.data.EndDate.replace(/\D/g, '').padEnd(14, '0'));
        const rows = this.transactions
          .filter((t) => (!from || t.at >= from) && (!to || t.at <= new Date(to.getTime() + 999)))
          .slice(p.data.OffSetValue, p.data.OffSetValue + 100)
          .map((t) => ({
            transactionId: t.receipt,
            trxDate: t.at.toISOString().replace(/\.\d{3}Z$/, 'Z'),
            msisdn: Number(t.msisdn),
            sender: 'SIMULATOR',
            transactiontype: t.kind === 'stk' ? 'c2b-pay-bill-debit' : 'c2b-pay-bill-debit',
            billreference: t.billRef,
            amount: t.amount.toFixed(1),
            organizationname: 'Quantify',
          }));
        return send(200, { ResponseRefID: randomBytes(8).toString('hex'), ResponseCode: '1000', ResponseMessage: 'Success', Response: [rows] });
      }
      default:
        return error(404, '404.001.01', 'Resource not found');
    }
  }

  private async completeStk(p: StkPending): Promise<void> {
    const r = resultOf[p.outcome];
    p.done = true;
    const paid = r.code === 0;
    const receipt = this.receipt();
    const at = this.now();
    if (paid) this.transactions.push({ receipt, at, msisdn: p.phone, amount: p.amount, billRef: p.accountReference, kind: 'stk' });
    if (p.outcome === 'paid_callback_lost') return;
    await this.post(p.callbackUrl, {
      Body: {
        stkCallback: {
          MerchantRequestID: p.merchantRequestId,
          CheckoutRequestID: p.checkoutRequestId,
          ResultCode: r.code,
          ResultDesc: r.desc,
          ...(paid
            ? {
                CallbackMetadata: {
                  Item: [
                    { Name: 'Amount', Value: p.amount },
                    { Name: 'MpesaReceiptNumber', Value: receipt },
                    { Name: 'TransactionDate', Value: Number(darajaTimestamp(at)) },
                    { Name: 'PhoneNumber', Value: Number(p.phone) },
                  ],
                },
              }
            : {}),
        },
      },
    });
  }
}
