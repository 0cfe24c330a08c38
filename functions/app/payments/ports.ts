// The payments' ports: the M-Pesa API the use cases call (Daraja REST, or its simulator locally, through
// the same client), and the "account credited" event the billing side acts on.
import type { PullTransaction } from '#domain/mpesa';

export interface StkPushRequest {
  /** 2547XXXXXXXX */
  phone: string;
  /** Whole shillings. */
  amount: number;
  accountReference: string;
  description: string;
}

export interface StkPushAccepted {
  merchantRequestId: string;
  checkoutRequestId: string;
  responseCode: string;
  customerMessage: string;
}

/** What STK Query says: still pending, or a result code (kept verbatim). */
export type StkQueryAnswer = { state: 'pending'; detail: string } | { state: 'done'; resultCode: number; resultDesc: string };

export interface PaymentProvider {
  stkPush(request: StkPushRequest): Promise<StkPushAccepted>;
  stkQuery(checkoutRequestId: string): Promise<StkQueryAnswer>;
  /** C2B transactions in [from, to], all pages. */
  pullTransactions(from: Date, to: Date): Promise<PullTransaction[]>;
  registerC2bUrls(urls: { confirmationUrl: string; validationUrl: string; responseType: 'Completed' | 'Cancelled' }): Promise<unknown>;
}

export interface AccountCredited {
  accountId: string;
  paymentId: string;
  receipt: string;
  channel: 'c2b' | 'stk' | 'pull' | 'manual';
  amountMinor: number;
  balanceAfterMinor: number;
  at: Date;
}

/**
 * Told after a credit has committed (never before, never for a repeat). A listener that fails is logged:
 * the credit stands, and the ledger is where a late consumer catches up from.
 */
export interface PaymentEvents {
  accountCredited(event: AccountCredited): Promise<void>;
  /** An admin adjustment was posted (told once, after it committed). */
  accountAdjusted?(event: AccountAdjusted): Promise<void>;
}

export interface AccountAdjusted {
  accountId: string;
  /** The adjustment's ledger entry. */
  entryId: number;
  amountMinor: number;
  balanceAfterMinor: number;
  at: Date;
}
