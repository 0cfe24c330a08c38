// HTTP routes for payments: every payment the platform has heard of (applied, suspense, conflict...),
// allocating a suspense payment, reversing a payment, STK requests, the raw Daraja callbacks, the
// reconciliation runs, and the ledger invariants for operators.
import * as z from 'zod';
import type { DarajaCallback } from '#store/schema';
import * as paymentStore from '#store/payments';
import { operators, readers } from '#domain/roles';
import type { AppDeps } from '../deps.ts';
import { defineRoute, uuidParam, type AnyRouteSpec } from '../http/kit.ts';
import { listBody, pagingQuery } from '../http/paging.ts';
import { allocate, checkInvariants, getPayment, reverse } from '../payments/payments.ts';
import { PaymentNotFoundError } from '../payments/errors.ts';
import { paymentDto, stkRequestDto } from './account-routes.ts';

const admins = ['admin'] as const;
const queryDate = z.coerce.date().refine((d) => d.getUTCFullYear() >= 1970 && d.getUTCFullYear() <= 9999, 'must be a date between 1970 and 9999');

const paymentListQuery = pagingQuery.extend({
  status: z.enum(['received', 'applied', 'suspense', 'conflict', 'failed', 'reversed']).optional(),
  accountId: z.string().uuid().optional(),
  receipt: z.string().trim().min(1).max(40).transform((r) => r.toUpperCase()).optional(),
  from: queryDate.optional(),
  to: queryDate.optional(),
});
const callbackListQuery = pagingQuery.extend({ outcome: z.enum(['received', 'accepted', 'rejected', 'processed', 'duplicate', 'invalid', 'conflict']).optional() });
const allocateBody = z.strictObject({ accountId: z.string().uuid() });
const reverseBody = z.strictObject({ reason: z.string().trim().min(3).max(500) });

const callbackDto = (c: DarajaCallback) => ({
  id: c.id,
  kind: c.kind,
  outcome: c.outcome,
  reason: c.reason,
  receipt: c.receipt,
  checkoutRequestId: c.checkout_request_id,
  paymentId: c.payment_id,
  sourceIp: c.source_ip,
  body: c.body,
  receivedAt: c.received_at,
  processedAt: c.processed_at,
});

export const paymentRoutes: AnyRouteSpec<AppDeps>[] = [
  defineRoute({
    method: 'GET',
    path: '/payments',
    access: readers,
    query: paymentListQuery,
    handle: async ({ query, deps }) => ({ status: 200, body: listBody(await paymentStore.listPayments(deps.db, query), query, paymentDto) }),
  }),
  defineRoute({
    method: 'GET',
    path: '/payments/{id}',
    access: readers,
    params: uuidParam,
    handle: async ({ params, deps }) => ({ status: 200, body: paymentDto(await getPayment(deps.db, params.id)) }),
  }),
  defineRoute({
    method: 'POST',
    path: '/payments/{id}/allocate',
    access: operators,
    params: uuidParam,
    body: allocateBody,
    handle: async ({ params, body, deps, principal, requestId }) => {
      const r = await allocate({ db: deps.db, logger: deps.logger, now: deps.now, events: deps.payments?.events }, params.id, body.accountId, { principal, requestId });
      return { status: 200, body: { ...paymentDto(r.payment), balanceAfterMinor: r.balanceAfterMinor, allocatedNow: r.created } };
    },
  }),
  defineRoute({
    method: 'POST',
    path: '/payments/{id}/reverse',
    access: admins,
    params: uuidParam,
    body: reverseBody,
    handle: async ({ params, body, deps, principal, requestId }) => {
      const r = await reverse(deps.db, params.id, body.reason, { principal, requestId });
      return { status: 200, body: { ...paymentDto(r.payment), reversalEntryId: r.entryId, balanceAfterMinor: r.balanceAfterMinor, reversedNow: r.created } };
    },
  }),
  defineRoute({
    method: 'GET',
    path: '/stk-requests/{id}',
    access: readers,
    params: uuidParam,
    handle: async ({ params, deps }) => {
      const request = await paymentStore.findStkRequest(deps.db, params.id);
      if (!request) throw new PaymentNotFoundError(`STK request ${params.id}`);
      return { status: 200, body: stkRequestDto(request) };
    },
  }),
  defineRoute({
    method: 'GET',
    path: '/integrations/daraja/callbacks',
    access: operators,
    query: callbackListQuery,
    handle: async ({ query, deps }) => ({ status: 200, body: listBody(await paymentStore.listCallbacks(deps.db, query), query, callbackDto) }),
  }),
  defineRoute({
    method: 'GET',
    path: '/integrations/daraja/reconciliations',
    access: operators,
    query: pagingQuery,
    handle: async ({ query, deps }) => ({ status: 200, body: { items: await paymentStore.listReconciliations(deps.db, query.limit) } }),
  }),
  defineRoute({
    method: 'GET',
    path: '/admin/ledger/invariants',
    access: admins,
    handle: async ({ deps }) => {
      const result = await checkInvariants(deps.db);
      return { status: 200, body: result };
    },
  }),
];
