// What `POST /readings` accepts: one reading or a batch, in the seed's shape (`meter_id, voltage, current,
// power, energy`, optional `timestamp`) or in ours (what the Modbus collector sends: per-phase values,
// import/export/total energy, plausibility flags). Both normalise to one PostedReading. The idempotency
// key of a reading is its meter and its timestamp (readingSourceKey).
import * as z from 'zod';
import { meterNoSchema } from './topics.ts';

// Measured values: finite numbers, or null when the meter reported "not available".
const measured = z.number().finite().nullable().optional();
const time = z.union([
  z.string().datetime({ offset: true }),
  // Epoch seconds or milliseconds, as a seed-style client may send.
  z.number().int().positive(),
]);
/** Our id (uuid) or a meter number; the seed sends its meters' slave ids as integers. */
const meterRef = z.union([z.string().uuid(), meterNoSchema, z.number().int().nonnegative().transform(String)]);

export const seedReadingSchema = z.strictObject({
  meter_id: meterRef,
  voltage: measured,
  current: measured,
  power: measured,
  energy: measured,
  timestamp: time.optional(),
});

export const phaseValuesSchema = z.strictObject({
  voltageL1: measured, voltageL2: measured, voltageL3: measured,
  currentL1: measured, currentL2: measured, currentL3: measured,
  powerL1: measured, powerL2: measured, powerL3: measured,
  powerFactorL1: measured, powerFactorL2: measured, powerFactorL3: measured,
});

export const collectorReadingSchema = z.strictObject({
  meterId: meterRef,
  timestamp: time,
  voltage: measured,
  current: measured,
  /** Total active power, W. */
  power: measured,
  powerFactor: measured,
  frequency: measured,
  /** Import active energy, kWh: the meter's cumulative value (reading_value). */
  energyImport: measured,
  energyExport: measured,
  energyTotal: measured,
  phases: phaseValuesSchema.optional(),
  model: z.string().max(32).optional(),
  slaveId: z.number().int().min(0).max(247).optional(),
  gateway: z.string().max(200).optional(),
  /** Plausibility flags the collector raised (NaN, negative or backwards energy, …). */
  flags: z.array(z.string().max(100)).max(50).optional(),
});

/** Where POST /readings puts what it quarantines (the quarantine's `topic`): reprocessing posts it again. */
export const POSTED_READINGS_TOPIC = 'POST /readings';

export interface PostedReading {
  meterRef: string;
  /** ISO time when the sender gave one; otherwise the platform stamps the receive time. */
  timestamp: string | undefined;
  voltage: number | null;
  current: number | null;
  power: number | null;
  powerFactor: number | null;
  frequency: number | null;
  energyImport: number | null;
  energyExport: number | null;
  extra: Record<string, unknown>;
}

const toIso = (t: string | number | undefined): string | undefined => {
  if (t === undefined) return undefined;
  if (typeof t === 'string') return new Date(t).toISOString();
  // Below 10^11 it is seconds (until the year 5138), above it milliseconds.
  return new Date(t < 1e11 ? t * 1000 : t).toISOString();
};
const v = (x: number | null | undefined): number | null => (x === undefined ? null : x);

const oneReading = z.union([
  collectorReadingSchema.transform((r): PostedReading => {
    const extra: Record<string, unknown> = {};
    if (r.phases) extra.phases = r.phases;
    if (r.energyTotal !== undefined) extra.energyTotalKwh = r.energyTotal;
    if (r.model) extra.model = r.model;
    if (r.slaveId !== undefined) extra.slaveId = r.slaveId;
    if (r.gateway) extra.gateway = r.gateway;
    if (r.flags?.length) extra.flags = r.flags;
    return {
      meterRef: r.meterId,
      timestamp: toIso(r.timestamp),
      voltage: v(r.voltage),
      current: v(r.current),
      power: v(r.power),
      powerFactor: v(r.powerFactor),
      frequency: v(r.frequency),
      energyImport: v(r.energyImport),
      energyExport: v(r.energyExport),
      extra,
    };
  }),
  seedReadingSchema.transform((r): PostedReading => ({
    meterRef: r.meter_id,
    timestamp: toIso(r.timestamp),
    voltage: v(r.voltage),
    current: v(r.current),
    power: v(r.power),
    powerFactor: null,
    frequency: null,
    energyImport: v(r.energy),
    energyExport: null,
    extra: { format: 'seed' },
  })),
]);

/** The most readings one request may carry. */
export const MAX_POSTED_READINGS = 1000;

/** The body of POST /readings: one reading, an array, or `{readings: [...]}`. */
export const postedReadingsSchema = z
  .union([oneReading.transform((r) => [r]), z.array(oneReading).min(1).max(MAX_POSTED_READINGS), z.strictObject({ readings: z.array(oneReading).min(1).max(MAX_POSTED_READINGS) }).transform((b) => b.readings)]);

/** A reading's idempotency key: the meter (our id) and the reading's time in milliseconds. */
export const readingSourceKey = (meterId: string, timestamp: string): string => `reading:${meterId}:${new Date(timestamp).getTime()}`;

/** A quarantined posted reading (stored as its PostedReading JSON), read back for reprocessing. */
export const storedPostedReadingSchema = z.object({
  meterRef: z.string().min(1),
  timestamp: z.string().datetime({ offset: true }),
  voltage: z.number().nullable(),
  current: z.number().nullable(),
  power: z.number().nullable(),
  powerFactor: z.number().nullable(),
  frequency: z.number().nullable(),
  energyImport: z.number().nullable(),
  energyExport: z.number().nullable(),
  extra: z.record(z.string(), z.unknown()),
}) satisfies z.ZodType<PostedReading>;
