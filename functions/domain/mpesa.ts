// M-Pesa (Safaricom Daraja) formats: the C2B validation/confirmation body, the STK Push callback, the
// Transaction Status / Reversal result, Pull Transactions rows, amounts in minor units, Daraja's EAT
// timestamps, the STK password, result codes and the callback-URL rules. Pure: no I/O.
import * as z from 'zod';

/** Daraja's clock: East Africa Time, UTC+3 with no daylight saving. */
const EAT_OFFSET_MS = 3 * 3600_000;

/** "YYYYMMDDHHmmss" in EAT (TransTime, TransactionDate, the STK Timestamp) as an instant. */
export function parseDarajaTime(value: string | number): Date | null {
  const m = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})$/.exec(String(value));
  if (!m) return null;
  const [y, mo, d, h, mi, s] = m.slice(1).map(Number) as [number, number, number, number, number, number];
  const utc = Date.UTC(y, mo - 1, d, h, mi, s);
  const back = new Date(utc);
  if (back.getUTCMonth() !== mo - 1 || back.getUTCDate() !== d || h > 23 || mi > 59 || s > 59) return null;
  return new Date(utc - EAT_OFFSET_MS);
}

/** An instant as Daraja's "YYYYMMDDHHmmss" in EAT. */
export function darajaTimestamp(at: Date): string {
  return new Date(at.getTime() + EAT_OFFSET_MS).toISOString().replace(/[-:T]/g, '').slice(0, 14);
}

/** Pull Transactions' "YYYY-MM-DD HH:mm:ss" in EAT. */
export function darajaDateTime(at: Date): string {
  return new Date(at.getTime() + EAT_OFFSET_MS).toISOString().slice(0, 19).replace('T', ' ');
}

/** STK Push/Query password: base64(shortcode + passkey + timestamp). */
export function stkPassword(shortCode: string, passkey: string, timestamp: string): string {
  return btoa(`${shortCode}${passkey}${timestamp}`);
}

/**
 * "250.00", "1.0", 250 or 1.00 (a JSON number) as integer minor units (cents), or null when it is not a
 * positive amount with at most two decimals below a trillion shillings.
 */
export function amountToMinor(value: string | number): number | null {
  const text = typeof value === 'number' ? (Number.isFinite(value) ? value.toFixed(2) : '') : value.trim();
  const m = /^(\d{1,12})(?:\.(\d{1,2})0*)?$/.exec(text);
  if (!m) return null;
  const minor = Number(m[1]) * 100 + Number((m[2] ?? '0').padEnd(2, '0'));
  return minor > 0 ? minor : null;
}

/** Minor units as Daraja's whole-shilling Amount (STK Push takes whole numbers only). */
export const minorToWholeAmount = (minor: number): number | null => (minor > 0 && minor % 100 === 0 ? minor / 100 : null);

/** How payment references are compared: trimmed, any case. */
export const normaliseReference = (reference: string): string => reference.trim().toUpperCase();

/** M-Pesa receipts (TransID, MpesaReceiptNumber): letters and digits. */
export const receiptSchema = z.string().trim().regex(/^[A-Za-z0-9]{6,20}$/, 'must be an M-Pesa receipt (6-20 letters and digits)');

const stringish = z.union([z.string(), z.number()]).transform((v) => String(v));

// ---- C2B (validation and confirmation share the body; v1 and v2 differ in MSISDN masking) ----

export const c2bCallbackSchema = z.looseObject({
  TransactionType: z.string().max(64).default(''),
  TransID: receiptSchema,
  TransTime: stringish.refine((v) => parseDarajaTime(v) !== null, 'must be YYYYMMDDHHmmss'),
  TransAmount: z.union([z.string(), z.number()]).refine((v) => amountToMinor(v) !== null, 'must be a positive amount with at most two decimals'),
  BusinessShortCode: stringish.pipe(z.string().regex(/^\d{5,7}$/, 'must be a 5-7 digit shortcode')),
  BillRefNumber: z.string().max(100).default(''),
  InvoiceNumber: z.string().max(100).optional(),
  OrgAccountBalance: stringish.optional(),
  ThirdPartyTransID: stringish.optional(),
  // v2 masks it ("2******9"); v1 sends the number.
  MSISDN: stringish.pipe(z.string().max(32)).optional(),
  FirstName: z.string().max(100).optional(),
  MiddleName: z.string().max(100).optional(),
  LastName: z.string().max(100).optional(),
});
export type C2bCallback = z.infer<typeof c2bCallbackSchema>;

export interface C2bPayment {
  receipt: string;
  amountMinor: number;
  reference: string;
  shortCode: string;
  phone: string | null;
  transactedAt: Date | null;
  payerName: string;
}

export function c2bPayment(body: C2bCallback): C2bPayment {
  return {
    receipt: body.TransID.toUpperCase(),
    amountMinor: amountToMinor(body.TransAmount) ?? 0,
    reference: body.BillRefNumber.trim(),
    shortCode: body.BusinessShortCode,
    phone: body.MSISDN ?? null,
    transactedAt: parseDarajaTime(body.TransTime),
    payerName: [body.FirstName, body.MiddleName, body.LastName].filter((n) => n && !/^\*+$/.test(n)).join(' '),
  };
}

/** Validation answers: accept, or reject with Daraja's codes. */
export const c2bValidationCodes = {
  accepted: '0',
  invalidMsisdn: 'C2B00011',
  invalidAccountNumber: 'C2B00012',
  invalidAmount: 'C2B00013',
  invalidKyc: 'C2B00014',
  invalidShortcode: 'C2B00015',
  otherError: 'C2B00016',
} as const;

export const c2bAccept = () => ({ ResultCode: '0', ResultDesc: 'Accepted' });
export const c2bReject = (code: Exclude<(typeof c2bValidationCodes)[keyof typeof c2bValidationCodes], '0'>) => ({ ResultCode: code, ResultDesc: 'Rejected' });
/** What a confirmation (and any other callback) is answered with once it is safely stored. */
export const callbackAcknowledged = () => ({ ResultCode: 0, ResultDesc: 'Accepted' });

// ---- STK Push callback ----

const metadataItem = z.looseObject({ Name: z.string().max(64), Value: z.union([z.string(), z.number()]).optional() });

export const stkCallbackSchema = z.looseObject({
  Body: z.looseObject({
    stkCallback: z.looseObject({
      MerchantRequestID: z.string().min(1).max(100),
      CheckoutRequestID: z.string().min(1).max(100),
      ResultCode: z.union([z.number().int(), z.string().regex(/^-?\d{1,9}$/)]).transform((v) => Number(v)),
      ResultDesc: z.string().max(500).default(''),
      CallbackMetadata: z.looseObject({ Item: z.array(metadataItem).max(32) }).optional(),
    }),
  }),
});
export type StkCallback = z.infer<typeof stkCallbackSchema>;

/** STK result codes with a meaning we act on; any other is kept verbatim as a failure. */
export const stkResultCodes: Record<number, string> = {
  0: 'paid',
  1: 'insufficient_funds',
  17: 'duplicate_within_2_minutes',
  1019: 'expired',
  1032: 'cancelled',
  1037: 'unreachable',
  2001: 'wrong_pin',
};
export const stkOutcome = (code: number): string => stkResultCodes[code] ?? 'failed';

export interface StkResult {
  merchantRequestId: string;
  checkoutRequestId: string;
  resultCode: number;
  resultDesc: string;
  outcome: string;
  /** Present when paid. */
  paid: { receipt: string; amountMinor: number; phone: string | null; transactedAt: Date | null } | null;
  /** Why a result that says "paid" lacks what a payment needs. */
  problem: string | null;
}

export function stkResult(body: StkCallback): StkResult {
  const cb = body.Body.stkCallback;
  const base = {
    merchantRequestId: cb.MerchantRequestID,
    checkoutRequestId: cb.CheckoutRequestID,
    resultCode: cb.ResultCode,
    resultDesc: cb.ResultDesc,
    outcome: stkOutcome(cb.ResultCode),
  };
  if (cb.ResultCode !== 0) return { ...base, paid: null, problem: null };
  const items = new Map((cb.CallbackMetadata?.Item ?? []).map((i) => [i.Name, i.Value]));
  const receipt = receiptSchema.safeParse(items.get('MpesaReceiptNumber'));
  const amount = items.get('Amount');
  const amountMinor = amount === undefined ? null : amountToMinor(amount);
  if (!receipt.success || amountMinor === null) {
    return { ...base, paid: null, problem: 'a successful STK callback without a valid MpesaReceiptNumber and Amount' };
  }
  const date = items.get('TransactionDate');
  const phone = items.get('PhoneNumber');
  return {
    ...base,
    paid: {
      receipt: receipt.data.toUpperCase(),
      amountMinor,
      phone: phone === undefined ? null : String(phone),
      transactedAt: date === undefined ? null : parseDarajaTime(date),
    },
    problem: null,
  };
}

// ---- Transaction Status / Reversal results ----

export const resultCallbackSchema = z.looseObject({
  Result: z.looseObject({
    ResultType: z.union([z.number(), z.string()]).optional(),
    ResultCode: z.union([z.number(), z.string()]),
    ResultDesc: z.string().max(500).default(''),
    OriginatorConversationID: z.string().max(100).optional(),
    ConversationID: z.string().max(100).optional(),
    TransactionID: z.string().max(100).optional(),
  }),
});

// ---- Pull Transactions ----

export const pullTransactionSchema = z.looseObject({
  transactionId: receiptSchema,
  trxDate: z.string().max(40),
  msisdn: stringish.optional(),
  transactiontype: z.string().max(64).optional(),
  billreference: z.string().max(100).default(''),
  amount: z.union([z.string(), z.number()]),
});
export type PullTransaction = z.infer<typeof pullTransactionSchema>;

/** The rows of a Pull Transactions answer (`Response` is a list, or a list of one list). */
export const pullResponseSchema = z.looseObject({
  ResponseCode: stringish.optional(),
  ResponseMessage: z.string().optional(),
  Response: z.array(z.union([pullTransactionSchema, z.array(pullTransactionSchema)])).default([]),
});
export const pullRows = (r: z.infer<typeof pullResponseSchema>): PullTransaction[] => r.Response.flatMap((x) => (Array.isArray(x) ? x : [x]));

/** trxDate: ISO with a zone, or "YYYY-MM-DD HH:mm:ss" in EAT. */
export function parsePullDate(value: string): Date | null {
  if (/[zZ]|[+-]\d{2}:?\d{2}$/.test(value)) {
    const d = new Date(value);
    return Number.isNaN(d.getTime()) ? null : d;
  }
  const m = /^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2}):(\d{2})/.exec(value);
  return m ? parseDarajaTime(m.slice(1).join('')) : null;
}

// ---- Phones, account references, callback URLs ----

/** A Kenyan mobile number as Daraja wants it (2547XXXXXXXX / 2541XXXXXXXX), from E.164 or local forms. */
export function darajaPhone(phone: string): string | null {
  const digits = phone.replace(/[\s-]/g, '').replace(/^\+/, '');
  const m = /^(?:254|0)?([17]\d{8})$/.exec(digits);
  return m ? `254${m[1]}` : null;
}

export const e164Schema = z.string().trim().regex(/^\+[1-9]\d{6,14}$/, 'must be a phone number in E.164 form (+2547...)');

/** STK Push AccountReference: at most 12 characters. */
export const maxAccountReferenceLength = 12;

/** Safaricom refuses callback URLs containing these words. */
export const forbiddenUrlWords = ['mpesa', 'safaricom', 'sql', 'query', 'exe', 'cmd'] as const;
export function callbackUrlProblem(url: string): string | null {
  const lower = url.toLowerCase();
  const word = forbiddenUrlWords.find((w) => lower.includes(w));
  return word ? `callback URLs may not contain "${word}"` : null;
}
