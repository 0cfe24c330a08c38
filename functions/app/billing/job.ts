// The scheduled billing job (and POST /billing/runs): run billing, then act on the balances it moved.
import type { AppDeps } from '../deps.ts';
import { runBilling, type BillingOptions, type BillingResult } from './billing.ts';

export type BillingJobDeps = Pick<AppDeps, 'db' | 'logger' | 'now' | 'commandQueue'>;

export async function billingJob(deps: BillingJobDeps, options: BillingOptions): Promise<BillingResult> {
  return runBilling(deps, options);
}
