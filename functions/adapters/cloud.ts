// Cloud adapters, built once per Lambda container (module scope) from the validated configuration.
import { RDSDataClient } from '@aws-sdk/client-rds-data';
import { Kysely } from 'kysely';
import type { LambdaConfig } from '#shared/config';
import type { Db } from '#store/db';
import { DataApiDialect } from './db/data-api-dialect.ts';
import type { Database } from '#store/schema';

export function cloudDb(config: LambdaConfig, client = new RDSDataClient({})): Db {
  return new Kysely<Database>({
    dialect: new DataApiDialect({ client, resourceArn: config.DB_CLUSTER_ARN, secretArn: config.DB_SECRET_ARN, database: config.DB_NAME }),
  });
}
