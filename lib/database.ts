// The database capability: Aurora PostgreSQL Serverless v2 reached only through the RDS Data API, and the
// deploy-time custom resource that applies schema/ migrations (the same routine the local runtime runs).
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { CustomResource, Duration, RemovalPolicy, Validations } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as rds from 'aws-cdk-lib/aws-rds';
import * as cr from 'aws-cdk-lib/custom-resources';
import { Construct } from 'constructs';
import { arnWildcardFinding } from './nag.ts';
import { QuantifyFunction, resolveProjectRoot } from './quantify-function.ts';

export interface DatabaseProps {
  /** @default 'quantify' */
  readonly databaseName?: string;
  /** Aurora capacity units. @default 0.5 */
  readonly minCapacity?: number;
  /** @default 4 */
  readonly maxCapacity?: number;
  /** Refuse to delete the cluster (turn off for throwaway stacks). @default true */
  readonly deletionProtection?: boolean;
  /** @default 7 days */
  readonly backupRetention?: Duration;
  /** Where schema/*.sql is read for the migration hash. @default schema/ of the project root (the one bundled) */
  readonly schemaDir?: string;
}

/** Where the migration Lambda finds its bundled copy of schema/ (the bundle is unpacked in /var/task). */
export const BUNDLED_SCHEMA_DIR = '/var/task/schema';

export class Database extends Construct {
  public readonly cluster: rds.DatabaseCluster;
  public readonly vpc: ec2.Vpc;
  public readonly databaseName: string;
  /** Changes whenever a file in schema/ changes; the migration resource re-runs on a new value. */
  public readonly schemaHash: string;
  public readonly migrations: CustomResource;
  /** The custom resource's onEvent function (functions/migrate/handler.ts). */
  public readonly migrateFunction: QuantifyFunction;

  constructor(scope: Construct, id: string, props: DatabaseProps = {}) {
    super(scope, id);
    this.databaseName = props.databaseName ?? 'quantify';

    // Isolated subnets only: nothing in the VPC talks to the internet and no Lambda is attached to it,
    // because every query goes over HTTPS to the Data API. So no NAT gateway to pay for.
    this.vpc = new ec2.Vpc(this, 'Vpc', {
      maxAzs: 2,
      natGateways: 0,
      subnetConfiguration: [{ name: 'db', subnetType: ec2.SubnetType.PRIVATE_ISOLATED, cidrMask: 24 }],
      flowLogs: {
        rejected: {
          destination: ec2.FlowLogDestination.toCloudWatchLogs(
            new logs.LogGroup(this, 'VpcFlowLogs', { retention: logs.RetentionDays.THREE_MONTHS }),
          ),
          trafficType: ec2.FlowLogTrafficType.REJECT,
        },
      },
    });

    this.cluster = new rds.DatabaseCluster(this, 'Cluster', {
      engine: rds.DatabaseClusterEngine.auroraPostgres({ version: rds.AuroraPostgresEngineVersion.VER_16_6 }),
      credentials: rds.Credentials.fromGeneratedSecret('quantify_admin'),
      defaultDatabaseName: this.databaseName,
      writer: rds.ClusterInstance.serverlessV2('writer', { autoMinorVersionUpgrade: true, publiclyAccessible: false }),
      serverlessV2MinCapacity: props.minCapacity ?? 0.5,
      serverlessV2MaxCapacity: props.maxCapacity ?? 4,
      enableDataApi: true,
      iamAuthentication: true,
      vpc: this.vpc,
      vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_ISOLATED },
      storageEncrypted: true,
      deletionProtection: props.deletionProtection ?? true,
      removalPolicy: RemovalPolicy.SNAPSHOT,
      backup: { retention: props.backupRetention ?? Duration.days(7), preferredWindow: '02:00-03:00' },
      preferredMaintenanceWindow: 'sun:03:30-sun:04:30',
      copyTagsToSnapshot: true,
    });
    acknowledgeDatabaseFindings(this.cluster, props.deletionProtection ?? true);

    this.schemaHash = hashSchema(props.schemaDir ?? path.join(resolveProjectRoot(this), 'schema'));
    this.migrateFunction = new QuantifyFunction(this, 'Migrate', {
      entry: 'functions/migrate/handler.ts',
      description: 'Applies schema/ migrations through the Data API on every deploy',
      // A paused Serverless v2 cluster takes a while to resume before the first statement runs.
      timeout: Duration.minutes(5),
      copyDirectories: ['schema'],
    });
    this.migrateFunction.setsConfig('SCHEMA_DIR', BUNDLED_SCHEMA_DIR);
    this.grantDataApi(this.migrateFunction);
    this.migrations = this.createMigrations(this.migrateFunction);
  }

  /**
   * Lets a function query the database: Data API calls on this cluster and reading its credentials
   * secret, plus the three variables the handler's config schema requires for them.
   */
  grantDataApi(fn: lambda.Function): void {
    this.cluster.grantDataApiAccess(fn);
    this.identifyTo(fn);
  }

  /**
   * Only the identifiers (ARNs and name), no permission: for a function whose config schema demands the
   * database variables although it never queries (`lambdaConfigSchema` requires them of every handler).
   */
  identifyTo(fn: lambda.Function): void {
    fn.addEnvironment('DB_CLUSTER_ARN', this.cluster.clusterArn);
    fn.addEnvironment('DB_SECRET_ARN', this.secret.secretArn);
    fn.addEnvironment('DB_NAME', this.databaseName);
  }

  get secret() {
    const secret = this.cluster.secret;
    // fromGeneratedSecret always attaches one; this guards a future change of credentials.
    if (!secret) throw new Error('the database cluster has no credentials secret');
    return secret;
  }

  private createMigrations(migrate: QuantifyFunction): CustomResource {
    const provider = new cr.Provider(this, 'MigrationsProvider', {
      onEventHandler: migrate,
      logGroup: new logs.LogGroup(this, 'MigrationsProviderLogs', { retention: logs.RetentionDays.ONE_MONTH }),
    });
    Validations.of(provider).acknowledge(
      {
        id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
        reason: 'The custom-resource Provider framework creates its own function role with the basic execution policy; CDK exposes no narrower option.',
      },
      {
        id: arnWildcardFinding(migrate),
        reason: 'The Provider framework may invoke any version/alias of the migration function (Arn:*), and only that function.',
      },
    );

    const migrations = new CustomResource(this, 'Migrations', {
      serviceToken: provider.serviceToken,
      resourceType: 'Custom::SchemaMigrations',
      // A new hash is a property change, so CloudFormation sends Update and the migrations run again;
      // unchanged migrations still re-run harmlessly (they are recorded with checksums).
      properties: { SchemaHash: this.schemaHash, DatabaseName: this.databaseName },
    });
    // The Data API answers only once the writer instance exists; the cluster resource alone is not enough.
    for (const child of this.cluster.node.findAll()) {
      if (child instanceof rds.CfnDBInstance) migrations.node.addDependency(child);
    }
    return migrations;
  }
}

/** sha256 over every migration file name and content, in order. */
export function hashSchema(dir: string): string {
  const hash = createHash('sha256');
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.sql')).sort()) {
    hash.update(file).update('\0').update(readFileSync(path.join(dir, file))).update('\0');
  }
  return hash.digest('hex');
}

function acknowledgeDatabaseFindings(cluster: rds.DatabaseCluster, deletionProtection: boolean): void {
  Validations.of(cluster).acknowledge(
    {
      id: 'AwsSolutions-SMG4',
      reason:
        'Rotation needs a rotation Lambda inside the VPC and a Secrets Manager interface endpoint (isolated subnets ' +
        'have no route out). Nobody connects with the password directly; the Data API reads it from the secret, so ' +
        'rotation can be added later without code changes.',
    },
  );
  if (!deletionProtection) {
    Validations.of(cluster).acknowledge({
      id: 'AwsSolutions-RDS10',
      reason: 'Deletion protection was turned off explicitly for this (non-production) deployment.',
    });
  }
}
