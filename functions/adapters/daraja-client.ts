// Safaricom Daraja REST client: OAuth (client credentials, token cached until shortly before it expires),
// STK Push and STK Query, C2B v2 RegisterURL, Pull Transactions (all pages). The same client talks to the
// sandbox, production, or the local simulator (functions/runtime/daraja-sim), by base URL.
import * as z from 'zod';
import { DarajaRequestError, DarajaUnavailableError } from '#app/payments/errors';
import type { PaymentProvider, StkPushAccepted, StkPushRequest, StkQueryAnswer } from '#app/payments/ports';
import { callbackUrlProblem, darajaDateTime, darajaTimestamp, pullResponseSchema, pullRows, stkPassword, type PullTransaction } from '#domain/mpesa';
import { formatIssues } from '#domain/issues';

export const darajaClientOptionsSchema = z.object({
  /** https://sandbox.safaricom.co.ke, https://api.safaricom.co.ke, or the simulator's URL. */
  baseUrl: z.url({ protocol: /^https?$/ }),
  consumerKey: z.string().min(1),
  consumerSecret: z.string().min(1),
  shortCode: z.string().regex(/^\d{5,7}$/),
  passkey: z.string().min(1),
  /** Where STK callbacks go: https://…/integrations/daraja/{token}/stk/callback (a function when known later). */
  stkCallbackUrl: z.union([z.url(), z.custom<() => string>((v) => typeof v === 'function')]),
  /** CustomerPayBillOnline (paybill) or CustomerBuyGoodsOnline (till). */
  transactionType: z.enum(['CustomerPayBillOnline', 'CustomerBuyGoodsOnline']).default('CustomerPayBillOnline'),
  timeoutMs: z.number().int().positive().max(60_000).default(10_000),
  now: z.custom<() => Date>((v) => typeof v === 'function').optional(),
});
export type DarajaClientOptions = z.input<typeof darajaClientOptionsSchema>;

const tokenSchema = z.object({ access_token: z.string().min(1), expires_in: z.union([z.string(), z.number()]).transform(Number) });
const stkPushResponseSchema = z.looseObject({
  MerchantRequestID: z.string().min(1),
  CheckoutRequestID: z.string().min(1),
  ResponseCode: z.union([z.string(), z.number()]).transform(String),
  ResponseDescription: z.string().optional(),
  CustomerMessage: z.string().default(''),
});
const stkQueryResponseSchema = z.looseObject({
  ResponseCode: z.union([z.string(), z.number()]).transform(String).optional(),
  ResultCode: z.union([z.string(), z.number()]).transform(Number).optional(),
  ResultDesc: z.string().default(''),
});
/** Daraja's error body: {requestId, errorCode, errorMessage}. */
const errorSchema = z.looseObject({ errorCode: z.string().optional(), errorMessage: z.string().optional() });
/** STK Query while the customer has not answered yet. */
const STILL_PROCESSING = '500.001.1001';
const PULL_PAGE = 100;

export class DarajaClient implements PaymentProvider {
  private readonly o: z.infer<typeof darajaClientOptionsSchema>;
  private token: { value: string; expiresAt: number } | undefined;
  private pendingToken: Promise<string> | undefined;

  constructor(options: DarajaClientOptions) {
    this.o = darajaClientOptionsSchema.parse(options);
    if (typeof this.o.stkCallbackUrl === 'string') this.callbackUrl();
  }

  private callbackUrl(): string {
    const url = typeof this.o.stkCallbackUrl === 'string' ? this.o.stkCallbackUrl : this.o.stkCallbackUrl();
    const problem = callbackUrlProblem(url.replace(/\/integrations\/daraja\/[^/]+\//, '/integrations/daraja/{token}/'));
    if (problem) throw new DarajaRequestError(`stkCallbackUrl: ${problem}`);
    return url;
  }

  private now(): Date {
    return this.o.now ? this.o.now() : new Date();
  }

  private url(path: string): string {
    return `${this.o.baseUrl.replace(/\/+$/, '')}${path}`;
  }

  private async send(path: string, init: RequestInit): Promise<{ status: number; body: unknown }> {
    let response: Response;
    try {
      response = await fetch(this.url(path), { ...init, signal: AbortSignal.timeout(this.o.timeoutMs) });
    } catch (error) {
      throw new DarajaUnavailableError(`Daraja did not answer ${path}: ${(error as Error).message}`, {}, { cause: error });
    }
    const text = await response.text();
    let body: unknown = text;
    try {
      body = text ? JSON.parse(text) : {};
    } catch {
      // Not JSON (a gateway's HTML page): kept as text for the message.
    }
    return { status: response.status, body };
  }

  /** The OAuth token, fetched once and reused until a minute before it expires. */
  async accessToken(): Promise<string> {
    if (this.token && this.token.expiresAt > Date.now()) return this.token.value;
    this.pendingToken ??= (async () => {
      try {
        const basic = Buffer.from(`${this.o.consumerKey}:${this.o.consumerSecret}`).toString('base64');
        const { status, body } = await this.send('/oauth/v1/generate?grant_type=client_credentials', { method: 'GET', headers: { authorization: `Basic ${basic}` } });
        if (status === 400 || status === 401) throw new DarajaRequestError(`Daraja refused the consumer key/secret (${status})`);
        if (status >= 300) throw new DarajaUnavailableError(`Daraja OAuth answered ${status}`);
        const parsed = tokenSchema.safeParse(body);
        if (!parsed.success) throw new DarajaUnavailableError(`Daraja OAuth answered an unexpected body: ${formatIssues(parsed.error)}`);
        this.token = { value: parsed.data.access_token, expiresAt: Date.now() + Math.max(0, parsed.data.expires_in - 60) * 1000 };
        return parsed.data.access_token;
      } finally {
        this.pendingToken = undefined;
      }
    })();
    return this.pendingToken;
  }

  private async call<T>(path: string, payload: unknown, schema: z.ZodType<T>): Promise<T> {
    const token = await this.accessToken();
    const { status, body } = await this.send(path, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify(payload),
    });
    if (status === 401) this.token = undefined;
    if (status >= 300) {
      const e = errorSchema.safeParse(body);
      const detail = e.success ? `${e.data.errorCode ?? ''} ${e.data.errorMessage ?? ''}`.trim() : String(body).slice(0, 200);
      const ErrorKind = status >= 500 || status === 429 || status === 401 ? DarajaUnavailableError : DarajaRequestError;
      throw new ErrorKind(`Daraja ${path} answered ${status}: ${detail}`, { errorCode: e.success ? e.data.errorCode : undefined });
    }
    const parsed = schema.safeParse(body);
    if (!parsed.success) throw new DarajaUnavailableError(`Daraja ${path} answered an unexpected body: ${formatIssues(parsed.error)}`);
    return parsed.data;
  }

  private password(): { Password: string; Timestamp: string } {
    const Timestamp = darajaTimestamp(this.now());
    return { Password: stkPassword(this.o.shortCode, this.o.passkey, Timestamp), Timestamp };
  }

  async stkPush(request: StkPushRequest): Promise<StkPushAccepted> {
    const r = await this.call(
      '/mpesa/stkpush/v1/processrequest',
      {
        BusinessShortCode: this.o.shortCode,
        ...this.password(),
        TransactionType: this.o.transactionType,
        Amount: request.amount,
        PartyA: request.phone,
        PartyB: this.o.shortCode,
        PhoneNumber: request.phone,
        CallBackURL: this.callbackUrl(),
        AccountReference: request.accountReference,
        TransactionDesc: request.description.slice(0, 13),
      },
      stkPushResponseSchema,
    );
    if (r.ResponseCode !== '0') throw new DarajaRequestError(`STK Push refused: ${r.ResponseCode} ${r.ResponseDescription ?? ''}`);
    return { merchantRequestId: r.MerchantRequestID, checkoutRequestId: r.CheckoutRequestID, responseCode: r.ResponseCode, customerMessage: r.CustomerMessage };
  }

  async stkQuery(checkoutRequestId: string): Promise<StkQueryAnswer> {
    try {
      const r = await this.call('/mpesa/stkpushquery/v1/query', { BusinessShortCode: this.o.shortCode, ...this.password(), CheckoutRequestID: checkoutRequestId }, stkQueryResponseSchema);
      if (r.ResultCode === undefined) return { state: 'pending', detail: r.ResultDesc };
      return { state: 'done', resultCode: r.ResultCode, resultDesc: r.ResultDesc };
    } catch (error) {
      if ((error as { extras?: { errorCode?: string } }).extras?.errorCode === STILL_PROCESSING) return { state: 'pending', detail: 'the transaction is being processed' };
      throw error;
    }
  }

  async registerC2bUrls(urls: { confirmationUrl: string; validationUrl: string; responseType: 'Completed' | 'Cancelled' }): Promise<unknown> {
    for (const url of [urls.confirmationUrl, urls.validationUrl]) {
      const problem = callbackUrlProblem(url);
      if (problem) throw new DarajaRequestError(`${url}: ${problem}`);
    }
    return this.call(
      '/mpesa/c2b/v2/registerurl',
      { ShortCode: this.o.shortCode, ResponseType: urls.responseType, ConfirmationURL: urls.confirmationUrl, ValidationURL: urls.validationUrl },
      z.looseObject({}),
    );
  }

  /** The sandbox's (and the simulator's) C2B simulate: a customer paying the shortcode. Not in production. */
  async simulateC2b(input: { amount: number; msisdn: string; billRef: string }): Promise<unknown> {
    return this.call(
      '/mpesa/c2b/v1/simulate',
      { ShortCode: this.o.shortCode, CommandID: this.o.transactionType === 'CustomerBuyGoodsOnline' ? 'CustomerBuyGoodsOnline' : 'CustomerPayBillOnline', Amount: input.amount, Msisdn: input.msisdn, BillRefNumber: input.billRef },
      z.looseObject({}),
    );
  }

  /** Pull Transactions needs the shortcode registered once, with a nominated number and a callback URL. */
  async registerPull(input: { nominatedNumber: string; callbackUrl: string }): Promise<unknown> {
    return this.call('/pulltransactions/v1/register', { ShortCode: this.o.shortCode, RequestType: 'Pull', NominatedNumber: input.nominatedNumber, CallBackURL: input.callbackUrl }, z.looseObject({}));
  }

  async pullTransactions(from: Date, to: Date): Promise<PullTransaction[]> {
    const rows: PullTransaction[] = [];
    for (let offset = 0; offset < 100_000; offset += PULL_PAGE) {
      const page = pullRows(
        await this.call(
          '/pulltransactions/v1/query',
          { ShortCode: this.o.shortCode, StartDate: darajaDateTime(from), EndDate: darajaDateTime(to), OffSetValue: String(offset) },
          pullResponseSchema,
        ),
      );
      rows.push(...page);
      if (page.length < PULL_PAGE) break;
    }
    return rows;
  }
}
