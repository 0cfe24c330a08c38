// Scheduled job: the retention of raw readings. With READINGS_RETENTION_DAYS set (0, the default, keeps
// everything), raw readings older than that are deleted in batches where their quarter-hour rollups cover
// them; consumption and series for those days then come from the rollups (store/readings.ts).
import type { Logger } from '#shared/logger';
import type { Db } from '#store/db';
import { pruneRawReadings } from '#store/readings';

/** Readings deleted per statement: short statements, so writers of new readings are never held up long. */
export const RETENTION_BATCH = 5_000;
/** Statements per run at most; the next run goes on where this one stopped. */
export const RETENTION_MAX_BATCHES = 200;

export async function pruneOldReadings(deps: { db: Db; logger: Logger; retentionDays: number }, now: Date): Promise<{ deleted: number; before: Date | null }> {
  if (deps.retentionDays <= 0) return { deleted: 0, before: null };
  const before = new Date(now.getTime() - deps.retentionDays * 86_400_000);
  let deleted = 0;
  for (let i = 0; i < RETENTION_MAX_BATCHES; i++) {
    const batch = (await pruneRawReadings(deps.db, before, RETENTION_BATCH)).deleted;
    deleted += batch;
    if (batch < RETENTION_BATCH) break;
  }
  if (deleted) deps.logger.info('raw readings past retention deleted (their rollups kept)', { deleted, before: before.toISOString(), retentionDays: deps.retentionDays });
  return { deleted, before };
}
