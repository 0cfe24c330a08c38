// Every Quantify Lambda is built here, so the defaults (runtime, architecture, ESM bundle, logs) are fixed
// in one place, and an environment variable is only ever set together with the grant that makes it usable.
import path from 'node:path';
import { Duration } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import type { LambdaConfig } from '#shared/config';

/** The repository root: entry files, schema/, tsconfig.json and the lock file are found from here. */
export const repoRoot = path.resolve(import.meta.dirname, '..');

/**
 * Context key that points the functions at another project root. Only tests use it (to synthesise
 * against stand-in entry files); `cdk synth` always bundles the repository itself.
 */
export const PROJECT_ROOT_CONTEXT = 'quantify:projectRoot';

/** Names the handlers read through `lambdaConfigSchema`: a typo here is a type error, not a cold-start crash. */
export type LambdaEnvName = keyof LambdaConfig;

export interface QuantifyFunctionProps {
  /** Entry file relative to the project root, e.g. `functions/api/handler.ts`; it exports `handler`. */
  readonly entry: string;
  readonly description: string;
  /** @default 30 seconds */
  readonly timeout?: Duration;
  /** @default 512 MB (on ARM64 this buys the CPU the decoders and JSON work want) */
  readonly memorySize?: number;
  /** @default one month */
  readonly logRetention?: logs.RetentionDays;
  /** Directories (relative to the project root) copied next to the bundle, e.g. `['schema']`. */
  readonly copyDirectories?: readonly string[];
  /** Caps parallel invocations (protects the database from a burst). @default unreserved */
  readonly reservedConcurrentExecutions?: number;
}

// ESM output cannot `require`, yet some dependencies still do (the AWS SDK's optional CRT probe, older
// CJS packages bundled as ESM). The banner gives the module a real `require`, as Powertools recommends.
const ESM_REQUIRE_BANNER = "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);";

/**
 * The one place the Lambda runtime is chosen (the bundle target follows it). Locally the platform runs
 * on Node.js 20 or later; in Lambda it runs on the current LTS, Node.js 24, because Lambda deprecated
 * Node.js 20 on 2026-04-30 and blocks creating functions on it from 2027-02-01. The code uses nothing
 * that differs between the two (ES2022, node: built-ins), and the tests also pass on newer Node.
 */
export const LAMBDA_RUNTIME = lambda.Runtime.NODEJS_24_X;
const ESBUILD_TARGET = LAMBDA_RUNTIME.name.replace(/^nodejs(\d+)\.x$/, 'node$1');

export class QuantifyFunction extends NodejsFunction {
  /** The function's own role (also `role`, typed as a concrete Role for acknowledgements and grants). */
  public readonly executionRole: iam.Role;

  constructor(scope: Construct, id: string, props: QuantifyFunctionProps) {
    const projectRoot = resolveProjectRoot(scope);
    // An explicit log group (retention set, no log-retention custom resource) and an explicit role whose
    // only log permission is on that group: narrower than AWSLambdaBasicExecutionRole's logs:* on every
    // group in the account.
    const logGroup = new logs.LogGroup(scope, `${id}Logs`, {
      retention: props.logRetention ?? logs.RetentionDays.ONE_MONTH,
    });
    const role = new iam.Role(scope, `${id}Role`, {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: `Execution role of ${props.entry}`,
    });
    logGroup.grantWrite(role);

    const copies = props.copyDirectories ?? [];
    super(scope, id, {
      entry: path.join(projectRoot, props.entry),
      handler: 'handler',
      description: props.description,
      runtime: LAMBDA_RUNTIME,
      architecture: lambda.Architecture.ARM_64,
      memorySize: props.memorySize ?? 512,
      timeout: props.timeout ?? Duration.seconds(30),
      role,
      logGroup,
      loggingFormat: lambda.LoggingFormat.JSON,
      reservedConcurrentExecutions: props.reservedConcurrentExecutions,
      projectRoot,
      depsLockFilePath: path.join(projectRoot, 'package-lock.json'),
      bundling: {
        format: OutputFormat.ESM,
        target: ESBUILD_TARGET,
        mainFields: ['module', 'main'],
        banner: ESM_REQUIRE_BANNER,
        // No source map in the asset and no --enable-source-maps: a 1.1–1.4 MB map shipped beside the
        // bundle, and the flag makes Node read and parse it at module load, i.e. on every cold start. The
        // build is deterministic, so a stack trace from a deployed commit is mapped by bundling that commit
        // again with `sourceMap: true` (same esbuild, same lock file) and reading the positions off its map.
        sourceMap: false,
        minify: true,
        tsconfig: path.join(projectRoot, 'tsconfig.json'),
        externalModules: [
          // The AWS SDK v3 comes from the runtime (the CDK default, spelled out because this list replaces
          // it). Weighed against bundling: bundled, the SDK core, the default credential chain and its SSO/STS
          // clients are ~330 KB of every bundle even with only the clients the function calls, which is more
          // than the whole function otherwise; the Node.js 24 runtime already carries v3, and ES modules
          // import it from there (Lambda supports that since Node.js 18). The cost is that the runtime's SDK
          // version, not our lock file's, answers in production: we call only long-stable operations (RDS
          // Data ExecuteStatement and Begin/Commit/RollbackTransaction, SQS SendMessage(Batch), IoT Data
          // Publish, Secrets Manager GetSecretValue through Powertools), so that skew is accepted.
          // test/cdk/bundle-size.test.ts bounds the result.
          '@aws-sdk/*',
          // Local-only database drivers: the connect module imports them lazily and Lambdas only ever open
          // the Data API, so they stay out of the bundle (pg's optional native binding cannot be bundled).
          '@electric-sql/pglite',
          'pg',
          'pg-native',
        ],
        commandHooks: {
          beforeBundling: () => [],
          beforeInstall: () => [],
          afterBundling: (inputDir: string, outputDir: string) =>
            copies.map((dir) => `cp -R "${path.join(inputDir, dir)}" "${path.join(outputDir, dir)}"`),
        },
      },
    });
    this.executionRole = role;
  }

  /** Sets `envName` to the queue URL and grants sending to it: one call, so neither can be forgotten. */
  sendsTo(queue: sqs.IQueue, envName: LambdaEnvName): this {
    this.addEnvironment(envName, queue.queueUrl);
    queue.grantSendMessages(this);
    return this;
  }

  /** Sets `envName` to the secret ARN and grants reading that one secret. */
  readsSecret(secret: secretsmanager.ISecret, envName: LambdaEnvName): this {
    this.addEnvironment(envName, secret.secretArn);
    secret.grantRead(this);
    return this;
  }

  /** Sets a plain configuration value the handler reads through its config schema. */
  setsConfig(envName: LambdaEnvName, value: string): this {
    this.addEnvironment(envName, value);
    return this;
  }
}

/** The project root functions under `scope` are bundled from (the repository unless a test says otherwise). */
export function resolveProjectRoot(scope: Construct): string {
  const fromContext: unknown = scope.node.tryGetContext(PROJECT_ROOT_CONTEXT);
  return typeof fromContext === 'string' && fromContext !== '' ? path.resolve(fromContext) : repoRoot;
}
