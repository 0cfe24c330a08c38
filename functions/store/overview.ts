// The estate at a glance, for the portal's overview: counts over meters, device commands, accounts by
// alert state, suspense payments and the quarantine in one statement (one round trip, also through the
// Data API), and today's money (payments received, consumption billed) per currency in a second.
import { sql } from 'kysely';
import { openStatuses } from '#domain/commands';
import type { Executor } from './db.ts';
import { mapDbError } from './errors.ts';

export interface EstateOverview {
  meters: { total: number; online: number; offline: number; unknown: number; relayOff: number };
  commands: { inFlight: number; awaitingDevice: number; deliveryUnknown: number; failedSince: number };
  quarantine: { new: number };
  /** Accounts by alert state (functions/domain/alerts.ts): low or critical, and exhausted (disconnected). */
  accounts: { total: number; low: number; exhausted: number };
  /** Payments no account could be found for, waiting to be allocated. */
  suspense: { count: number; amountMinor: number };
}

export interface MoneyToday {
  currency: string;
  /** Payments received since the day began (applied, in suspense or still being applied). */
  payments: number;
  revenueMinor: number;
  /** Consumption charged to accounts since the day began (billing's consumption entries). */
  consumptionMinor: number;
}

const open = sql.raw(`(${openStatuses.map((s) => `'${s}'`).join(', ')})`);

/** Counts now; `failedSince` counts commands that failed or expired at or after `since`. */
export async function estateOverview(db: Executor, since: Date): Promise<EstateOverview> {
  try {
    const result = await sql<Record<string, string | number>>`
      SELECT
        (SELECT count(*) FROM meters WHERE is_active) AS meters_total,
        (SELECT count(*) FROM meters WHERE is_active AND communication_status = 'online') AS meters_online,
        (SELECT count(*) FROM meters WHERE is_active AND communication_status = 'offline') AS meters_offline,
        (SELECT count(*) FROM meters WHERE is_active AND communication_status NOT IN ('online', 'offline')) AS meters_unknown,
        (SELECT count(*) FROM meters WHERE is_active AND relay_state = 'off') AS meters_relay_off,
        (SELECT count(*) FROM device_commands WHERE status IN ${open}) AS commands_in_flight,
        (SELECT count(*) FROM device_commands WHERE status = 'sent' AND delivery_state = 'awaiting_device') AS commands_awaiting_device,
        (SELECT count(*) FROM device_commands WHERE status = 'sent' AND delivery_state = 'unknown') AS commands_delivery_unknown,
        (SELECT count(*) FROM device_commands WHERE (status = 'failed' AND failed_at >= ${since}) OR (status = 'expired' AND expired_at >= ${since})) AS commands_failed,
        (SELECT count(*) FROM quarantine WHERE status = 'new') AS quarantine_new,
        (SELECT count(*) FROM accounts WHERE status <> 'closed') AS accounts_total,
        (SELECT count(*) FROM accounts WHERE status <> 'closed' AND alert_state IN ('low', 'critical')) AS accounts_low,
        (SELECT count(*) FROM accounts WHERE status <> 'closed' AND alert_state = 'exhausted') AS accounts_exhausted,
        (SELECT count(*) FROM payments WHERE status = 'suspense') AS suspense_count,
        (SELECT coalesce(sum(amount_minor), 0) FROM payments WHERE status = 'suspense') AS suspense_amount`.execute(db);
    const row = result.rows[0] ?? {};
    // count(*) is bigint: node-postgres returns it as text, PGlite and the Data API as numbers.
    const n = (key: string) => Number(row[key] ?? 0);
    return {
      meters: { total: n('meters_total'), online: n('meters_online'), offline: n('meters_offline'), unknown: n('meters_unknown'), relayOff: n('meters_relay_off') },
      commands: { inFlight: n('commands_in_flight'), awaitingDevice: n('commands_awaiting_device'), deliveryUnknown: n('commands_delivery_unknown'), failedSince: n('commands_failed') },
      quarantine: { new: n('quarantine_new') },
      accounts: { total: n('accounts_total'), low: n('accounts_low'), exhausted: n('accounts_exhausted') },
      suspense: { count: n('suspense_count'), amountMinor: n('suspense_amount') },
    };
  } catch (error) {
    throw mapDbError(error, 'overview query');
  }
}

/** The moment the day containing `now` began in `timeZone` (an IANA name; validated by the caller). */
export async function dayStart(db: Executor, now: Date, timeZone: string): Promise<Date> {
  try {
    const { rows } = await sql<{ start: Date | string }>`SELECT date_trunc('day', CAST(${now} AS timestamptz) AT TIME ZONE ${timeZone}) AT TIME ZONE ${timeZone} AS start`.execute(db);
    return new Date(rows[0]!.start);
  } catch (error) {
    throw mapDbError(error, 'overview query');
  }
}

/** Money since `since`, per currency: payments received (not failed, in conflict or reversed) and consumption billed. */
export async function moneySince(db: Executor, since: Date): Promise<MoneyToday[]> {
  try {
    const { rows } = await sql<{ currency: string; payments: string | number; revenue: string | number; consumption: string | number }>`
      SELECT currency, sum(payments) AS payments, sum(revenue) AS revenue, sum(consumption) AS consumption FROM (
        SELECT currency, count(*) AS payments, sum(amount_minor) AS revenue, 0 AS consumption
        FROM payments WHERE received_at >= ${since} AND status IN ('received', 'applied', 'suspense') GROUP BY currency
        UNION ALL
        SELECT currency, 0, 0, -sum(amount_minor)
        FROM ledger_entries WHERE entry_type = 'consumption' AND created_at >= ${since} GROUP BY currency
      ) t GROUP BY currency ORDER BY currency`.execute(db);
    return rows.map((r) => ({ currency: r.currency.trim(), payments: Number(r.payments), revenueMinor: Number(r.revenue), consumptionMinor: Number(r.consumption) }));
  } catch (error) {
    throw mapDbError(error, 'overview query');
  }
}
