// HTTP routes for customers, accounts and their money: create/list/get customers and accounts, look-ups
// by account number, meter number and phone, meter links, the balance with the last payment, statements
// (JSON, or CSV with Accept: text/csv), admin adjustments and reversals, and STK Push.
import * as z from 'zod';
import type { Account, Customer, Meter, Payment, StkRequest } from '#store/schema';
import * as accountStore from '#store/accounts';
import { e164Schema } from '#domain/mpesa';
import { operators, readers } from '#domain/roles';
import { UnavailableError } from '#shared/errors';
import type { AppDeps } from '../deps.ts';
import { defineRoute, uuidParam, type AnyRouteSpec } from '../http/kit.ts';
import { listBody, pagingQuery } from '../http/paging.ts';
import {
  accountInput,
  accountStatement,
  accountSummary,
  adjust,
  adjustmentInput,
  createAccount,
  createCustomer,
  customerInput,
  getCustomer,
  linkMeter,
  reverseEntry,
  reversalInput,
  setAccountStatus,
  type StatementLine,
} from '../payments/payments.ts';
import { initiateStkPush, stkPushInput } from '../payments/stk.ts';
import { csvResult, wantsCsv } from '../http/csv.ts';

const admins = ['admin'] as const;

const queryDate = z.coerce.date().refine((d) => d.getUTCFullYear() >= 1970 && d.getUTCFullYear() <= 9999, 'must be a date between 1970 and 9999');

const customerListQuery = pagingQuery.extend({ phone: e164Schema.optional(), siteId: z.string().uuid().optional() });
const accountListQuery = pagingQuery.extend({
  customerId: z.string().uuid().optional(),
  accountNo: z.string().trim().min(1).max(40).optional(),
  meterNo: z.string().trim().min(1).max(64).optional(),
  phone: e164Schema.optional(),
  status: z.enum(['active', 'suspended', 'closed']).optional(),
  /** One alert state or several, comma-separated: `low,critical`. */
  alertState: z
    .string()
    .transform((v) => v.split(',').map((s) => s.trim()))
    .pipe(z.array(z.enum(['ok', 'low', 'critical', 'exhausted'])).min(1).max(4))
    .optional(),
  q: z.string().trim().min(1).max(100).optional(),
});
const statementQuery = z.object({ from: queryDate.optional(), to: queryDate.optional(), limit: z.coerce.number().int().min(1).max(10_000).default(1_000) });
const statusBody = z.strictObject({ status: z.enum(['active', 'suspended', 'closed']) });
const linkBody = z.strictObject({ accountId: z.string().uuid().nullable() });

export const customerDto = (c: Customer) => ({ id: c.id, name: c.name, phone: c.phone, email: c.email, siteId: c.site_id, externalRef: c.external_ref, createdAt: c.created_at });

export const accountDto = (a: Account) => ({
  id: a.id,
  customerId: a.customer_id,
  accountNo: a.account_no,
  currency: a.currency,
  balanceMinor: Number(a.balance_minor),
  lowBalanceThresholdMinor: Number(a.low_balance_threshold_minor),
  status: a.status,
  alertState: a.alert_state,
  alertStateAt: a.alert_state_at,
  createdAt: a.created_at,
  updatedAt: a.updated_at,
});

export const paymentDto = (p: Payment) => ({
  id: p.id,
  provider: p.provider,
  receipt: p.provider_transaction_id,
  channel: p.channel,
  status: p.status,
  statusReason: p.status_reason,
  accountId: p.account_id,
  accountReference: p.account_reference,
  amountMinor: Number(p.amount_minor),
  currency: p.currency,
  phone: p.phone,
  transactedAt: p.transacted_at,
  receivedAt: p.received_at,
  appliedAt: p.applied_at,
});

export const stkRequestDto = (r: StkRequest) => ({
  id: r.id,
  accountId: r.account_id,
  phone: r.phone,
  amountMinor: Number(r.amount_minor),
  accountReference: r.account_reference,
  merchantRequestId: r.merchant_request_id,
  checkoutRequestId: r.checkout_request_id,
  status: r.status,
  resultCode: r.result_code,
  resultDesc: r.result_desc,
  receipt: r.receipt,
  paymentId: r.payment_id,
  createdAt: r.created_at,
  completedAt: r.completed_at,
});

const meterRefDto = (m: Meter) => ({ id: m.id, meterNo: m.meter_no, meterType: m.meter_type });

const statementColumns: (keyof StatementLine)[] = ['entryId', 'at', 'entryType', 'amountMinor', 'balanceAfterMinor', 'description', 'paymentId', 'reversesEntryId', 'reason', 'sourceRef'];

export const accountRoutes: AnyRouteSpec<AppDeps>[] = [
  defineRoute({
    method: 'POST',
    path: '/customers',
    access: operators,
    body: customerInput,
    handle: async ({ body, deps, principal, requestId }) => {
      const customer = await createCustomer(deps.db, body, { principal, requestId });
      return { status: 201, body: customerDto(customer), headers: { location: `/customers/${customer.id}` } };
    },
  }),
  defineRoute({
    method: 'GET',
    path: '/customers',
    access: readers,
    query: customerListQuery,
    handle: async ({ query, deps }) => ({ status: 200, body: listBody(await accountStore.listCustomers(deps.db, query), query, customerDto) }),
  }),
  defineRoute({
    method: 'GET',
    path: '/customers/{id}',
    access: readers,
    params: uuidParam,
    handle: async ({ params, deps }) => {
      const customer = await getCustomer(deps.db, params.id);
      const { items: accounts } = await accountStore.listAccounts(deps.db, { customerId: customer.id, limit: 500, offset: 0 });
      return { status: 200, body: { ...customerDto(customer), accounts: accounts.map(accountDto) } };
    },
  }),
  defineRoute({
    method: 'POST',
    path: '/accounts',
    access: operators,
    body: accountInput,
    handle: async ({ body, deps, principal, requestId }) => {
      const account = await createAccount(deps.db, body, { principal, requestId });
      return { status: 201, body: accountDto(account), headers: { location: `/accounts/${account.id}` } };
    },
  }),
  defineRoute({
    method: 'GET',
    path: '/accounts',
    access: readers,
    query: accountListQuery,
    handle: async ({ query, deps }) => {
      const { alertState, ...filter } = query;
      const accounts = await accountStore.listAccounts(deps.db, { ...filter, alertStates: alertState });
      return { status: 200, body: listBody(accounts, query, (a) => ({ ...accountDto(a), customerName: a.customer_name })) };
    },
  }),
  defineRoute({
    method: 'GET',
    path: '/accounts/{id}',
    access: readers,
    params: uuidParam,
    handle: async ({ params, deps }) => {
      const { account, lastPayment, meters, forecast } = await accountSummary(deps.db, params.id, deps.now());
      return { status: 200, body: { ...accountDto(account), forecast, lastPayment: lastPayment ? paymentDto(lastPayment) : null, meters: meters.map(meterRefDto) } };
    },
  }),
  defineRoute({
    method: 'POST',
    path: '/accounts/{id}/status',
    access: operators,
    params: uuidParam,
    body: statusBody,
    handle: async ({ params, body, deps, principal, requestId }) => ({
      status: 200,
      body: accountDto(await setAccountStatus(deps.db, params.id, body.status, { principal, requestId }, deps.now())),
    }),
  }),
  defineRoute({
    method: 'GET',
    path: '/accounts/{id}/statement',
    access: readers,
    params: uuidParam,
    query: statementQuery,
    handle: async ({ params, query, headers, deps }) => {
      const s = await accountStatement(deps.db, params.id, query);
      if (wantsCsv(headers)) return csvResult(statementColumns, s.lines, `statement-${s.account.account_no}.csv`);
      return {
        status: 200,
        body: { account: accountDto(s.account), from: query.from ?? null, to: query.to ?? null, openingBalanceMinor: s.openingBalanceMinor, closingBalanceMinor: s.closingBalanceMinor, items: s.lines },
      };
    },
  }),
  defineRoute({
    method: 'POST',
    path: '/accounts/{id}/adjustments',
    access: admins,
    params: uuidParam,
    body: adjustmentInput,
    handle: async ({ params, body, deps, principal, requestId }) => {
      const r = await adjust({ db: deps.db, logger: deps.logger, now: deps.now, events: deps.payments?.events }, params.id, body, { principal, requestId });
      return { status: r.created ? 201 : 200, body: r };
    },
  }),
  defineRoute({
    method: 'POST',
    path: '/accounts/{id}/reversals',
    access: admins,
    params: uuidParam,
    body: reversalInput,
    handle: async ({ params, body, deps, principal, requestId }) => {
      const r = await reverseEntry(deps.db, params.id, body, { principal, requestId });
      return { status: r.created ? 201 : 200, body: r };
    },
  }),
  defineRoute({
    method: 'POST',
    path: '/accounts/{id}/stk-push',
    access: operators,
    params: uuidParam,
    body: stkPushInput,
    handle: async ({ params, body, deps, principal, requestId }) => {
      const provider = deps.payments?.provider;
      if (!provider || !deps.payments) throw new UnavailableError('M-Pesa is not configured (DARAJA_BASE_URL and credentials, or the local simulator)');
      const { currency, events } = deps.payments;
      const request = await initiateStkPush({ db: deps.db, logger: deps.logger, now: deps.now, provider, currency, ...(events ? { events } : {}) }, params.id, body, { principal, requestId });
      return { status: 202, body: stkRequestDto(request), headers: { location: `/stk-requests/${request.id}` } };
    },
  }),
  defineRoute({
    method: 'POST',
    path: '/meters/{id}/account',
    access: operators,
    params: uuidParam,
    body: linkBody,
    handle: async ({ params, body, deps, principal, requestId }) => {
      await linkMeter(deps.db, params.id, body.accountId, { principal, requestId }, deps.now());
      const history = await accountStore.meterLinkHistory(deps.db, params.id);
      return {
        status: 200,
        body: { meterId: params.id, accountId: body.accountId, history: history.map((h) => ({ accountId: h.account_id, validFrom: h.valid_from, validTo: h.valid_to })) },
      };
    },
  }),
];
