// ESP32 smart meter messages (seed: esp32-mqtt-architecture.md): `smartmeter/{meterNo}/consumption|
// status|balance` from the meter, `smartmeter/{meterNo}/command/balance` to it. Timestamps are Unix
// milliseconds in the seed's examples; seconds are accepted too (values below 1e11 are seconds).
import * as z from 'zod';
import { formatIssues } from './issues.ts';
import { parseEsp32Topic } from './topics.ts';

// JavaScript dates end at 8.64e15 ms; anything later is not a time a meter can report.
const epoch = z
  .number()
  .positive()
  .max(8.64e15)
  .transform((n) => new Date(n < 1e11 ? n * 1000 : n));

export const consumptionSchema = z.looseObject({
  meterNo: z.string().min(1).max(64).optional(),
  unitsConsumed: z.number().nonnegative(),
  remainingBalance: z.number().optional(),
  totalConsumed: z.number().nonnegative().optional(),
  timestamp: epoch,
});

export const statusSchema = z.looseObject({
  meterNo: z.string().min(1).max(64).optional(),
  status: z.string().max(64),
  message: z.string().max(1000).optional(),
  balance: z.number().optional(),
  wifi_rssi: z.number().optional(),
  timestamp: epoch,
});

export const balanceReportSchema = z.looseObject({
  meterNo: z.string().min(1).max(64).optional(),
  balance: z.number(),
  timestamp: epoch,
});

export type Esp32Message =
  | { type: 'consumption'; meterNo: string; body: z.infer<typeof consumptionSchema> }
  | { type: 'status'; meterNo: string; body: z.infer<typeof statusSchema> }
  | { type: 'balance'; meterNo: string; body: z.infer<typeof balanceReportSchema> };

export function parseEsp32(topic: string, body: unknown): { ok: true; value: Esp32Message } | { ok: false; reason: string; meterNo?: string } {
  const parsedTopic = parseEsp32Topic(topic);
  if (!parsedTopic) return { ok: false, reason: `not an ESP32 meter topic: ${topic}` };
  const { meterNo, kind: type } = parsedTopic;
  const schema = type === 'consumption' ? consumptionSchema : type === 'status' ? statusSchema : balanceReportSchema;
  const parsed = schema.safeParse(body);
  if (!parsed.success) {
    return { ok: false, meterNo, reason: `invalid ${type} message: ${formatIssues(parsed.error, '(root)', 5)}` };
  }
  if (parsed.data.meterNo !== undefined && parsed.data.meterNo !== meterNo) {
    return { ok: false, meterNo, reason: `meterNo ${parsed.data.meterNo} in the body does not match the topic's ${meterNo}` };
  }
  return { ok: true, value: { type, meterNo, body: parsed.data } as Esp32Message };
}

export const balanceCommandSchema = z.object({ balance: z.number(), timestamp: z.number().int() });
export type BalanceCommand = z.infer<typeof balanceCommandSchema>;
