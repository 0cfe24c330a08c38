// Lambda entry: the deploy-time custom resource (CDK Provider framework onEvent) that applies schema/
// migrations through the Data API, with the same routine the local runtime runs at start.
import type { CloudFormationCustomResourceEvent } from 'aws-lambda';
import { cloudDb } from '#adapters/cloud';
import { loadMigrations, migrate } from '#adapters/db/migrate';
import { lambdaConfig } from '#shared/config';
import { logger } from '#shared/logger';

const config = lambdaConfig();
const db = cloudDb(config);

export async function handler(event: CloudFormationCustomResourceEvent) {
  const physicalResourceId = 'quantify-schema';
  if (event.RequestType === 'Delete') return { PhysicalResourceId: physicalResourceId };
  const result = await migrate(db, await loadMigrations(config.SCHEMA_DIR));
  logger.info('schema migrated', { applied: result.applied, alreadyApplied: result.alreadyApplied });
  return { PhysicalResourceId: physicalResourceId, Data: { Applied: result.applied.join(',') || 'none' } };
}
