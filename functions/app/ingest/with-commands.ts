// Ingestion wired to the command system, written once for every composition root (the ingest queue
// Lambda, the API Lambda's quarantine reprocessing, the local platform): confirmations found in a batch
// move their commands (applyFeedback), ESP32 balance reports are compared with the ledger (a discrepancy is
// recorded and the correct balance pushed again: billing/resync.ts), and display commands created by occupancy changes go onto the
// command queue, or are left to the sweeper when the push fails (the batch is written either way).
import { enqueueOrLeaveToSweeper } from '#app/commands/enqueue';
import { applyFeedback } from '#app/commands/feedback';
import type { CommandQueue } from '#app/commands/ports';
import type { ClockPolicy } from '#domain/clock';
import type { Logger } from '#shared/logger';
import type { Db } from '#store/db';
import type { Metrics } from '../metrics.ts';
import { checkBalanceReports, DEFAULT_RESYNC, type DiscrepancySettings } from '../billing/resync.ts';
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
  /** ESP32 balance reports are checked against the ledger with these settings (default DEFAULT_RESYNC). */
  resync?: DiscrepancySettings;
}

export function ingestWithCommands(options: IngestWithCommandsOptions): IngestDeps {
  const { db, logger, now, commandQueue, commandExpiryHours, clock, metrics, resync = DEFAULT_RESYNC } = options;
  return {
    db,
    logger,
    now,
    commandExpiryHours,
    ...(clock ? { clock } : {}),
    ...(metrics ? { metrics } : {}),
    onFeedback: async (feedback) => {
      await applyFeedback({ db, logger, now, ...(metrics ? { metrics } : {}) }, feedback);
      if (!feedback.balanceReports.length) return;
      // The batch is written; a failed comparison is logged, not retried (the next report compares again).
      await checkBalanceReports({ db, logger, now, commandQueue, commandExpiryHours }, feedback.balanceReports, resync).catch((error: unknown) =>
        logger.error('ESP32 balance reports not compared with the ledger', { error: error as Error }),
      );
    },
    onCommandsCreated: (ids) => enqueueOrLeaveToSweeper({ db, logger, now, commandQueue }, ids),
  };
}
