// What the application layer needs from the outside world. The Lambda entries and the local runtime
// each build one of these from their own adapters; handlers receive it and never reach for globals.
import type { ClockPolicy } from '#domain/clock';
import type { Db } from '#store/db';
import type { Logger } from '#shared/logger';
import type { CommandQueue } from './commands/ports.ts';
import type { PaymentEvents, PaymentProvider } from './payments/ports.ts';
import type { InboundMessage } from './ingest/inbound.ts';
import type { IngestResult } from './ingest/ingest.ts';

export interface AppDeps {
  db: Db;
  logger: Logger;
  now: () => Date;
  /** Reachability checks beyond the database (e.g. the MQTT broker), reported by GET /health. */
  healthChecks: Record<string, () => Promise<boolean>>;
  /** GET /health reports a check that has not answered within this long as unreachable. @default 3000 */
  healthTimeoutMs?: number;
  /** The ingestion handler, for reprocessing quarantined messages. */
  ingest: (messages: InboundMessage[]) => Promise<IngestResult>;
  /** Hands stored device commands to the dispatcher (SQS in the cloud, the in-process queue locally). */
  commandQueue: CommandQueue;
  /** How long a command may wait for its device before it expires (COMMAND_EXPIRY_HOURS). @default 48 */
  commandExpiryHours?: number;
  /** M-Pesa: the Daraja client (or the simulator through it) and who hears of credits. Unset: STK Push answers 503. */
  payments?: { provider: PaymentProvider | undefined; currency: string; events?: PaymentEvents };
  /** How far ahead a posted reading's own time may be (INGEST_MAX_CLOCK_AHEAD_S / INGEST_FUTURE_TIME_POLICY). */
  clockPolicy?: ClockPolicy;
}
