// M-Pesa formats: amounts to minor units, Daraja's EAT timestamps, the STK password, phones, STK results
// from the real callbacks in test/fixtures/vectors/mpesa_callbacks.json, callback-URL words.
import { describe, expect, it } from 'vitest';
import {
  amountToMinor,
  c2bCallbackSchema,
  c2bPayment,
  callbackUrlProblem,
  darajaPhone,
  darajaTimestamp,
  parseDarajaTime,
  parsePullDate,
  pullResponseSchema,
  pullRows,
  stkCallbackSchema,
  stkPassword,
  stkResult,
} from '#domain/mpesa';
import { loadVectors } from '../support/vectors.ts';

interface Vector {
  input: { raw_body?: string; body?: unknown };
  expected: { kind: string; success?: boolean; ResultCode?: number; CallbackMetadata?: { Amount: number; MpesaReceiptNumber: string; PhoneNumber: number } | 'absent'; TransID?: string; MSISDN?: string };
}
const vectors = loadVectors<Vector>('mpesa_callbacks.json');
const bodyOf = (v: Vector): unknown => (v.input.raw_body ? JSON.parse(v.input.raw_body) : v.input.body);

describe('amounts', () => {
  it.each([
    ['250.00', 25_000],
    ['14.00', 1_400],
    ['1.0', 100],
    ['10', 1_000],
    [1.0, 100],
    [1, 100],
    ['0.5', 50],
    ['9996773.40', 999_677_340],
  ] as const)('reads %s as %i minor units', (value, minor) => {
    expect(amountToMinor(value)).toBe(minor);
  });

  it.each(['0.00', '-5', '1.234', 'abc', '', '1e3', '1,000.00'])('refuses %s', (value) => {
    expect(amountToMinor(value)).toBeNull();
  });
});

describe('Daraja time (EAT, UTC+3)', () => {
  it('reads TransTime as East Africa Time', () => {
    expect(parseDarajaTime('20221121123130')?.toISOString()).toBe('2022-11-21T09:31:30.000Z');
    expect(parseDarajaTime(20221121072038)?.toISOString()).toBe('2022-11-21T04:20:38.000Z');
  });
  it('refuses impossible dates', () => {
    expect(parseDarajaTime('20221131120000')).toBeNull();
    expect(parseDarajaTime('2022113112000')).toBeNull();
  });
  it('writes timestamps in EAT and reads them back', () => {
    const at = new Date('2026-11-30T21:30:05Z');
    expect(darajaTimestamp(at)).toBe('20261201003005');
    expect(parseDarajaTime(darajaTimestamp(at))?.getTime()).toBe(at.getTime());
  });
  it('reads Pull Transactions dates with a zone, or in EAT without one', () => {
    expect(parsePullDate('2020-08-05T10:13:00Z')?.toISOString()).toBe('2020-08-05T10:13:00.000Z');
    expect(parsePullDate('2020-08-05 13:13:00')?.toISOString()).toBe('2020-08-05T10:13:00.000Z');
  });
});

describe('STK password', () => {
  it('is base64(shortcode + passkey + timestamp)', () => {
    // Safaricom's sandbox shortcode with a made-up passkey: the rule, not a secret.
    expect(stkPassword('174379', 'passkey', '20170727154800')).toBe(Buffer.from('174379passkey20170727154800').toString('base64'));
  });
});

describe('phones', () => {
  it.each([
    ['+254712345678', '254712345678'],
    ['0712345678', '254712345678'],
    ['254110000001', '254110000001'],
    ['+254 712 345 678', '254712345678'],
  ])('reads %s as %s', (input, out) => expect(darajaPhone(input)).toBe(out));
  it.each(['+255712345678', '12345', '+2547123456789'])('refuses %s', (input) => expect(darajaPhone(input)).toBeNull());
});

describe('callbacks from the vectors', () => {
  it.each(vectors.filter((v) => v.expected.kind === 'stk_callback').map((v, i) => [i, v] as const))('STK vector %i gives its result', (_i, v) => {
    const result = stkResult(stkCallbackSchema.parse(bodyOf(v)));
    expect(result.resultCode).toBe(v.expected.ResultCode);
    const meta = v.expected.CallbackMetadata;
    if (v.expected.success && meta && meta !== 'absent') {
      expect(result.paid).toMatchObject({ receipt: meta.MpesaReceiptNumber, amountMinor: Math.round(meta.Amount * 100), phone: String(meta.PhoneNumber) });
    } else {
      expect(result.paid).toBeNull();
    }
  });

  it.each(vectors.filter((v) => v.expected.kind === 'c2b').map((v) => [v.expected.TransID, v] as const))('C2B %s keeps the masked MSISDN as sent', (_id, v) => {
    expect(c2bPayment(c2bCallbackSchema.parse(bodyOf(v))).phone).toBe(v.expected.MSISDN);
  });

  it('refuses a paid STK callback without a receipt as a problem, not a payment', () => {
    const result = stkResult(stkCallbackSchema.parse({ Body: { stkCallback: { MerchantRequestID: 'm', CheckoutRequestID: 'c', ResultCode: 0, ResultDesc: 'ok', CallbackMetadata: { Item: [{ Name: 'Amount', Value: 1 }] } } } }));
    expect(result.paid).toBeNull();
    expect(result.problem).toMatch(/MpesaReceiptNumber/);
  });

  it('keeps unknown result codes verbatim as failures', () => {
    const result = stkResult(stkCallbackSchema.parse({ Body: { stkCallback: { MerchantRequestID: 'm', CheckoutRequestID: 'c', ResultCode: '9999', ResultDesc: 'Something new' } } }));
    expect(result).toMatchObject({ resultCode: 9999, resultDesc: 'Something new', outcome: 'failed', paid: null });
  });
});

describe('Pull Transactions', () => {
  it('reads rows from a list or a list of one list', () => {
    const row = { transactionId: 'OEI2AK4Q16', trxDate: '2020-08-05T10:13:00Z', msisdn: 722000000, billreference: 'ACC1', amount: '1.0' };
    expect(pullRows(pullResponseSchema.parse({ ResponseCode: '1000', Response: [[row]] }))).toHaveLength(1);
    expect(pullRows(pullResponseSchema.parse({ ResponseCode: '1000', Response: [row, row] }))).toHaveLength(2);
  });
});

describe('callback URLs', () => {
  it.each(['https://x.example/mpesa/callback', 'https://x.example/cb?query=1', 'https://SAFARICOM.example/cb', 'https://x.example/run.exe'])('refuses %s', (url) => {
    expect(callbackUrlProblem(url)).not.toBeNull();
  });
  it('accepts ours', () => {
    expect(callbackUrlProblem(`https://api.example.com/integrations/daraja/${'0af9'.repeat(16)}/c2b/confirmation`)).toBeNull();
  });
});
