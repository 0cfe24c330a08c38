// Ingestion wired to the command system, written once for every composition root (the ingest queue
// Lambda, the API Lambda's quarantine reprocessing, the local platform): confirmations found in a batch
// move their commands (applyFeedback), and display commands created by occupancy changes go onto the
// command queue, or are left to the sweeper when the push fails (the batch is written either way).
import { enqueueOrLeaveToSweeper } from '#app/commands/enqueue';
import { applyFeedback } from '#app/commands/feedback';
import type { CommandQueue } from '#app/commands/ports';
import type { ClockPolicy } from '#domain/clock';
import type { Logger } from '#shared/logger';
import type { Db } from '#store/db';
import type { Metrics } from '../metrics.ts';
import type { IngestDeps } from './ingest.ts';

export interface IngestWithCommandsOptions {
  db: Db;
  logger: Logger;
  now: () => Date;
  commandQueue: CommandQueue;
  /** How long a display command created by ingestion may wait for its device (COMMAND_EXPIRY_HOURS). */
  commandExpiryHours: number;
  /** Tolerance and policy for message times ahead of their receive time (INGEST_MAX_CLOCK_AHEAD_S, INGEST_FUTURE_TIME_POLICY). */
  clock?: ClockPolicy;
  metrics?: Metrics;
}

export function ingestWithCommands(options: IngestWithCommandsOptions): IngestDeps {
  const { db, logger, now, commandQueue, commandExpiryHours, clock, metrics } = options;
  return {
    db,
    logger,
    now,
    commandExpiryHours,
    ...(clock ? { clock } : {}),
    ...(metrics ? { metrics } : {}),
    onFeedback: async (feedback) => void (await applyFeedback({ db, logger, now, ...(metrics ? { metrics } : {}) }, feedback)),
    onCommandsCreated: (ids) => enqueueOrLeaveToSweeper({ db, logger, now, commandQueue }, ids),
  };
}
