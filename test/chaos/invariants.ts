// The invariants, checked from the database after each run (a direct connection, not the proxy).
import type { ChirpStack, Database } from './infra.ts';
import type { ExpectedReading, PoisonMessage } from './traffic.ts';

export interface ReadingTally {
  /** Distinct readings published (identities), and publishes including duplicates. */
  published: number;
  publishes: number;
  /** Readings the broker acknowledged at least one copy of. */
  acknowledged: number;
  /** Readings stored (distinct identities with at least one row). */
  stored: number;
  /** Acknowledged but not stored. */
  lost: number;
  /** Stored more than once (rows beyond the first). */
  doubled: number;
  /**
   * EM300-DI readings stored with a value other than the metered total at their position in fCnt order
   * (e.g. a ±2^32 spike). ESP32 readings are not counted here: a report arriving late may leave later
   * rows without its units (the notes show how many differ); their series and final total are checked.
   */
  wrongValue: number;
  /** Downward steps in a device's stored series, in the device's own order. */
  stepsDown: number;
  /**
   * Devices that do not end at the expected total: an EM300-DI's reading at its last fCnt, an ESP32
   * meter's last_reading (its running total of every report).
   */
  wrongFinal: number;
  /** Meters whose last_reading_date is more than a day ahead of now (a clock pinned them). */
  pinnedClock: number;
  /** Readings of the run's devices in quarantine (status reports are the poison scenario's). */
  quarantined: number;
}

/** The tally, and which kind of device the value and order violations were on (for the run's notes). */
export async function checkReadings(db: Database, expected: ExpectedReading[], acked: Set<string>, publishes: number): Promise<{ tally: ReadingTally; detail: string }> {
  const perKind = { em300: { lost: 0, wrongValue: 0, stepsDown: 0 }, esp32: { lost: 0, wrongValue: 0, stepsDown: 0 } };
  const rows = await storedReadings(db, expected);
  const counts = new Map<string, number>();
  const values = new Map<string, number>();
  for (const r of rows) {
    counts.set(r.identity, (counts.get(r.identity) ?? 0) + 1);
    values.set(r.identity, r.value);
  }
  const tally: ReadingTally = {
    published: expected.length,
    publishes,
    acknowledged: 0,
    stored: 0,
    lost: 0,
    doubled: 0,
    wrongValue: 0,
    stepsDown: 0,
    wrongFinal: 0,
    pinnedClock: 0,
    quarantined: 0,
  };
  const byOwner = new Map<string, ExpectedReading[]>();
  for (const e of expected) {
    const n = counts.get(e.identity) ?? 0;
    if (acked.has(e.identity)) tally.acknowledged++;
    if (n > 0) tally.stored++;
    if (n === 0 && acked.has(e.identity)) {
      tally.lost++;
      perKind[e.kind].lost++;
    }
    if (n > 1) tally.doubled += n - 1;
    const v = values.get(e.identity);
    if (v !== undefined && Math.abs(v - e.value) > 1e-6) {
      if (e.kind === 'em300') tally.wrongValue++;
      perKind[e.kind].wrongValue++;
    }
    byOwner.set(e.owner, [...(byOwner.get(e.owner) ?? []), e]);
  }
  for (const series of byOwner.values()) {
    series.sort((a, b) => a.position - b.position);
    let previous: number | undefined;
    for (const e of series) {
      const v = values.get(e.identity);
      if (v === undefined || e.displaced) continue;
      if (previous !== undefined && v < previous - 1e-9) {
        tally.stepsDown++;
        perKind[e.kind].stepsDown++;
      }
      previous = v;
    }
    const last = series[series.length - 1];
    if (last?.kind === 'em300') {
      const lastStored = [...series].reverse().find((e) => values.has(e.identity));
      if (lastStored && (lastStored !== last || Math.abs(values.get(last.identity)! - last.value) > 1e-6)) tally.wrongFinal++;
    }
  }
  const esp32Final = new Map<string, number>();
  for (const e of expected) if (e.kind === 'esp32') esp32Final.set(e.owner, Math.max(esp32Final.get(e.owner) ?? 0, e.value));
  if (esp32Final.size) {
    const meters = await db.query<{ meter_no: string; last: number | null }>(`SELECT meter_no, last_reading::float8 AS last FROM meters WHERE meter_no = ANY($1)`, [[...esp32Final.keys()]]);
    for (const m of meters) if (m.last === null || Math.abs(m.last - esp32Final.get(m.meter_no)!) > 1e-6) tally.wrongFinal++;
  }
  const meterNos = [...new Set(expected.map((e) => meterNoOf(e)))];
  const pinned = await db.query<{ n: string }>(`SELECT count(*)::text AS n FROM meters WHERE meter_no = ANY($1) AND last_reading_date > now() + interval '1 day'`, [meterNos]);
  tally.pinnedClock = Number(pinned[0]?.n ?? 0);
  const eui = [...new Set(expected.filter((e) => e.kind === 'em300').map((e) => e.owner))];
  const esp = [...new Set(expected.filter((e) => e.kind === 'esp32').map((e) => e.owner))];
  const quarantined = await db.query<{ n: string }>(`SELECT count(*)::text AS n FROM quarantine WHERE (dev_eui = ANY($1) OR meter_no = ANY($2)) AND coalesce(topic, '') NOT LIKE '%/status'`, [eui, esp]);
  tally.quarantined = Number(quarantined[0]?.n ?? 0);
  const detail = Object.entries(perKind)
    .filter(([, k]) => k.lost + k.wrongValue + k.stepsDown > 0)
    .map(([kind, k]) => `${kind}: lost ${k.lost}, ${kind === 'esp32' ? 'off its position (not a violation)' : 'wrong value'} ${k.wrongValue}, steps down ${k.stepsDown}`)
    .join('; ');
  return { tally, detail };
}

const meterNoOf = (e: ExpectedReading) => (e.kind === 'em300' ? `CH${e.owner.slice(0, 12)}` : e.owner);

/** Stored readings of the run's devices, named by identity (device order: fCnt / the ESP32's own timestamp). */
async function storedReadings(db: Database, expected: ExpectedReading[]): Promise<{ identity: string; value: number }[]> {
  const meterNos = [...new Set(expected.map(meterNoOf))];
  const rows = await db.query<{ meter_no: string; dev_eui: string | null; f_cnt: string | null; ts: string | null; value: number | null }>(
    `SELECT m.meter_no, d.dev_eui, r.f_cnt::text AS f_cnt,
            CASE WHEN d.kind = 'esp32' THEN (r.raw_payload::jsonb ->> 'timestamp') END AS ts,
            r.reading_value::float8 AS value
       FROM meter_readings r JOIN meters m ON m.id = r.meter_id LEFT JOIN devices d ON d.id = r.device_id
      WHERE m.meter_no = ANY($1)`,
    [meterNos],
  );
  return rows.map((r) => ({
    identity: r.dev_eui && r.f_cnt !== null ? `em:${r.dev_eui}:${r.f_cnt}` : `esp:${r.meter_no}:${r.ts}`,
    value: r.value ?? Number.NaN,
  }));
}

/** Stored identities (for waiting until ingest is quiet). */
export async function storedCount(db: Database, expected: ExpectedReading[]): Promise<number> {
  return new Set((await storedReadings(db, expected)).map((r) => r.identity)).size;
}

export interface CommandTally {
  requested: number;
  /** Queue items ChirpStack accepted (enqueued), over all commands. */
  enqueued: number;
  /** Downlinks ChirpStack transmitted (a relay would switch). */
  transmitted: number;
  confirmed: number;
  failed: number;
  cancelled: number;
  /** Still pending/queued/sent at the end (visible as such through the API). */
  open: number;
  /** A command enqueued at ChirpStack more than once (no flush in between) or transmitted more than once. */
  doubled: number;
  /** Marked failed, yet its downlink was transmitted. */
  failedButDelivered: number;
  /** Cancelled (or the cancel answered 200), yet its downlink was transmitted. */
  cancelledButDelivered: number;
  /** Transmitted, the meter echoed it, and the command is still not confirmed. */
  deliveredNotConfirmed: number;
}

/** One command per device, so ChirpStack's per-device counts are the command's. */
export async function checkCommands(db: Database, chirpstack: ChirpStack, commands: { id: string; devEui: string; cancelAnswered?: boolean }[]): Promise<CommandTally> {
  const t: CommandTally = { requested: commands.length, enqueued: 0, transmitted: 0, confirmed: 0, failed: 0, cancelled: 0, open: 0, doubled: 0, failedButDelivered: 0, cancelledButDelivered: 0, deliveredNotConfirmed: 0 };
  const rows = await db.query<{ id: string; status: string }>(`SELECT id::text, status FROM device_commands WHERE id = ANY($1::uuid[])`, [commands.map((c) => c.id)]);
  const status = new Map(rows.map((r) => [r.id, r.status]));
  for (const c of commands) {
    const s = status.get(c.id) ?? 'missing';
    const n = chirpstack.perDevice(c.devEui);
    t.enqueued += n.enqueued;
    t.transmitted += n.transmitted;
    if (s === 'confirmed') t.confirmed++;
    else if (s === 'failed') t.failed++;
    else if (s === 'cancelled') t.cancelled++;
    else if (s !== 'expired') t.open++;
    if ((n.enqueued > 1 && n.flushes === 0) || n.transmitted > 1) t.doubled++;
    if (s === 'failed' && n.transmitted > 0) t.failedButDelivered++;
    if ((s === 'cancelled' || c.cancelAnswered) && n.transmitted > 0) t.cancelledButDelivered++;
    if (n.transmitted > 0 && s !== 'confirmed' && s !== 'failed' && s !== 'cancelled') t.deliveredNotConfirmed++;
  }
  return t;
}

/** Acknowledged poison messages that are neither a stored event nor in quarantine. */
export async function unaccountedPoison(db: Database, poison: PoisonMessage[], acked: Set<string>): Promise<number> {
  const mine = poison.filter((p) => acked.has(p.identity));
  if (mine.length === 0) return 0;
  const events = await db.query<{ source_key: string }>(`SELECT source_key FROM device_events WHERE source_key = ANY($1)`, [mine.map((p) => p.sourceKey)]);
  const stored = new Set(events.map((e) => e.source_key));
  const quarantined = await db.query<{ meter_no: string; n: string }>(
    `SELECT meter_no, count(*)::text AS n FROM quarantine WHERE meter_no = ANY($1) AND topic LIKE '%/status' GROUP BY meter_no`,
    [[...new Set(mine.map((p) => p.meterNo))]],
  );
  const q = new Map(quarantined.map((r) => [r.meter_no, Number(r.n)]));
  let missing = 0;
  for (const p of mine) {
    if (stored.has(p.sourceKey)) continue;
    const left = q.get(p.meterNo) ?? 0;
    if (left > 0) q.set(p.meterNo, left - 1);
    else missing++;
  }
  return missing;
}

export interface PaymentTally {
  /** Distinct payments (receipts) whose callbacks the harness sent, C2B confirmations and paid STK callbacks. */
  sent: number;
  /** Callback deliveries: the first, the ~30% sent again with the same receipt, and every retry. */
  sends: number;
  /** Payments delivered more than once on purpose (same TransID / MpesaReceiptNumber). */
  duplicated: number;
  /** Payments with at least one delivery answered 2xx (Daraja would stop retrying). */
  acknowledged: number;
  /** Payments with a row in payments. */
  stored: number;
  /** Payments with a ledger credit. */
  credited: number;
  /** Stored in suspense (a reference no account or meter has: expected for those, wrong for the others). */
  suspense: number;
  /** Acknowledged, and not stored, or (for a known reference) not credited. */
  lost: number;
  /** Payment rows, and ledger credits, beyond the first for a receipt. */
  doubled: number;
  /** Credited to another account than its reference's, in suspense with a known reference, or credited with an unknown one. */
  wrongAccount: number;
  /** Stored or credited with another amount than the callback's. */
  wrongAmount: number;
  /** The run's accounts whose balance is not the sum of their ledger entries and of their payments' amounts. */
  balanceMismatch: number;
  /** Deliveries answered 2xx beyond the callbacks the platform recorded as processed or duplicate. */
  ackedNotRecorded: number;
  /** Rows of ledger_invariant_violations() and arrears_invariant_violations(). */
  ledgerViolations: number;
}

/** A payment tally with nothing counted yet (a run's start, the summary's sum). */
export const zeroPayments = (): PaymentTally => ({
  sent: 0,
  sends: 0,
  duplicated: 0,
  acknowledged: 0,
  stored: 0,
  credited: 0,
  suspense: 0,
  lost: 0,
  doubled: 0,
  wrongAccount: 0,
  wrongAmount: 0,
  balanceMismatch: 0,
  ackedNotRecorded: 0,
  ledgerViolations: 0,
});

export interface ExpectedPayment {
  receipt: string;
  channel: 'c2b' | 'stk';
  amountMinor: number;
  /** The account it must be credited to; null: suspense (a reference no account or meter has). */
  accountId: string | null;
}

/**
 * The payments the harness sent, from the database: stored once, credited once to the right account with
 * the right amount, the run's balances adding up, and the ledger's own invariant functions empty.
 * `acked` counts the 2xx answers per receipt; `sends` is every delivery the harness made.
 */
export async function checkPayments(
  db: Database,
  expected: ExpectedPayment[],
  acked: Map<string, number>,
  sends: { total: number; duplicated: number },
  accountIds: string[],
): Promise<{ tally: PaymentTally; detail: string }> {
  const receipts = expected.map((p) => p.receipt);
  const rows = await db.query<{ receipt: string; status: string; account_id: string | null; amount: string; credits: string; credited_to: string[] | null; credited_amounts: string[] | null }>(
    `SELECT p.provider_transaction_id AS receipt, p.status, p.account_id::text, p.amount_minor::text AS amount,
            (SELECT count(*) FROM ledger_entries e WHERE e.payment_id = p.id AND e.entry_type = 'payment')::text AS credits,
            (SELECT array_agg(e.account_id::text) FROM ledger_entries e WHERE e.payment_id = p.id AND e.entry_type = 'payment') AS credited_to,
            (SELECT array_agg(e.amount_minor::text) FROM ledger_entries e WHERE e.payment_id = p.id AND e.entry_type = 'payment') AS credited_amounts
       FROM payments p WHERE p.provider = 'mpesa' AND upper(p.provider_transaction_id) = ANY($1)`,
    [receipts],
  );
  const byReceipt = new Map<string, typeof rows>();
  for (const r of rows) byReceipt.set(r.receipt.toUpperCase(), [...(byReceipt.get(r.receipt.toUpperCase()) ?? []), r]);
  const recorded = await db.query<{ receipt: string; n: string }>(
    `SELECT upper(receipt) AS receipt, count(*)::text AS n FROM daraja_callbacks
      WHERE upper(receipt) = ANY($1) AND kind IN ('c2b_confirmation', 'stk_callback') AND outcome IN ('processed', 'duplicate') GROUP BY 1`,
    [receipts],
  );
  const recordedOf = new Map(recorded.map((r) => [r.receipt, Number(r.n)]));
  const t: PaymentTally = { ...zeroPayments(), sent: expected.length, sends: sends.total, duplicated: sends.duplicated };
  const problems: string[] = [];
  const owed = new Map<string, number>(accountIds.map((id) => [id, 0]));
  for (const p of expected) {
    const stored = byReceipt.get(p.receipt) ?? [];
    const first = stored[0];
    const credits = stored.reduce((n, r) => n + Number(r.credits), 0);
    const ackedTimes = acked.get(p.receipt) ?? 0;
    if (ackedTimes > 0) t.acknowledged++;
    if (first) t.stored++;
    if (credits > 0) t.credited++;
    if (first?.status === 'suspense') t.suspense++;
    t.doubled += Math.max(0, stored.length - 1) + Math.max(0, credits - 1);
    if (ackedTimes > 0 && (!first || (p.accountId !== null && credits === 0))) {
      t.lost++;
      problems.push(`${p.receipt} (${p.channel}) acknowledged ${ackedTimes}x, ${first ? `stored ${first.status}, not credited` : 'not stored'}`);
    }
    if (ackedTimes > (recordedOf.get(p.receipt) ?? 0)) t.ackedNotRecorded += ackedTimes - (recordedOf.get(p.receipt) ?? 0);
    if (!first) continue;
    const creditedTo = first.credited_to ?? [];
    const wrongPlace = p.accountId === null ? creditedTo.length > 0 || first.status !== 'suspense' : creditedTo.some((a) => a !== p.accountId) || first.account_id !== p.accountId;
    if (wrongPlace) {
      t.wrongAccount++;
      problems.push(`${p.receipt} (${p.channel}) ${first.status} on ${first.account_id ?? 'no account'}, credited to [${creditedTo.join(', ')}], expected ${p.accountId ?? 'suspense'}`);
    }
    if (Number(first.amount) !== p.amountMinor || (first.credited_amounts ?? []).some((a) => Number(a) !== p.amountMinor)) t.wrongAmount++;
    for (const [i, a] of creditedTo.entries()) if (owed.has(a)) owed.set(a, owed.get(a)! + Number(first.credited_amounts?.[i] ?? 0));
  }
  const balances = await db.query<{ id: string; balance: string; entries: string }>(
    `SELECT a.id::text, a.balance_minor::text AS balance, COALESCE((SELECT sum(e.amount_minor) FROM ledger_entries e WHERE e.account_id = a.id), 0)::text AS entries
       FROM accounts a WHERE a.id = ANY($1::uuid[])`,
    [accountIds],
  );
  for (const b of balances) {
    if (Number(b.balance) !== Number(b.entries) || Number(b.balance) !== owed.get(b.id)) {
      t.balanceMismatch++;
      problems.push(`account ${b.id}: balance ${b.balance}, entries ${b.entries}, its payments ${owed.get(b.id)}`);
    }
  }
  const violations = await db.query<{ rule: string; subject: string; detail: string }>(`SELECT * FROM ledger_invariant_violations() UNION ALL SELECT * FROM arrears_invariant_violations()`);
  t.ledgerViolations = violations.length;
  for (const v of violations.slice(0, 5)) problems.push(`${v.rule} ${v.subject}: ${v.detail}`);
  return { tally: t, detail: problems.slice(0, 8).join('; ') };
}
