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
