// The operator portal in the cloud: the Vite build of web/ in a private S3 bucket, served by CloudFront
// through Origin Access Control, HTTPS only, with security headers (a CSP that admits only this origin,
// Cognito's hosted UI domain and the live endpoint). The HTTP API is served by the same distribution
// under /api (the prefix is stripped before it reaches API Gateway), so the portal calls its own origin:
// no CORS, and no cycle between the API's allowed origins and the distribution's domain.
//
// What the portal must know at run time (API base, Cognito domain and client id, live endpoint) is not
// baked into the bundle: it reads /config.json, deployed beside the assets here and served with the local
// values by the local platform (functions/runtime/portal-files.ts).
//
// The build: `cdk synth` builds web/ itself (asset bundling with a local `vite build`, no Docker), so a
// clean clone synthesises without a prior `npm run build:web`; tests that skip bundling skip it too.
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { CfnOutput, DockerImage, Duration, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import * as cloudfront from 'aws-cdk-lib/aws-cloudfront';
import * as origins from 'aws-cdk-lib/aws-cloudfront-origins';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as s3deploy from 'aws-cdk-lib/aws-s3-deployment';
import { Construct } from 'constructs';
import { logicalIdOf } from './nag.ts';
import { resolveProjectRoot } from './quantify-function.ts';

/** The path prefix under which the distribution forwards to the HTTP API. */
export const API_PREFIX = '/api';

/** What /config.json tells the portal in the cloud (web/src/config.ts reads it). */
export interface PortalRuntimeConfig {
  readonly mode: 'cloud';
  /** Base of every API call: `/api` on the distribution. */
  readonly apiBase: string;
  readonly live: { readonly url: string; readonly host: string };
  readonly cognito: { readonly domain: string; readonly clientId: string; readonly scopes: readonly string[] };
}

export interface PortalProps {
  /** Host name of the HTTP API's default endpoint, e.g. abc123.execute-api.eu-west-1.amazonaws.com. */
  readonly apiDomain: string;
  /** Cognito hosted UI base URL (https://<prefix>.auth.<region>.amazoncognito.com). */
  readonly cognitoDomainUrl: string;
  /** The live endpoint's WebSocket URL (wss://…/event/realtime). */
  readonly liveUrl: string;
}

// CloudFront Functions (cloudfront-js-2.0), run at the viewer request.
// SPA fallback: a path without a file extension is a page of the portal, so it gets index.html. Done here
// rather than with the distribution's custom error responses, which would also turn the API's 403/404
// problem documents into index.html.
const SPA_FALLBACK = `function handler(event) {
  var uri = event.request.uri;
  if (uri === '/' || !/\\.[A-Za-z0-9]+$/.test(uri)) event.request.uri = '/index.html';
  return event.request;
}`;
// /api/meters → /meters at the HTTP API (its routes are the platform's, unprefixed).
const STRIP_API_PREFIX = `function handler(event) {
  var uri = event.request.uri.substring(${API_PREFIX.length});
  event.request.uri = uri === '' ? '/' : uri;
  return event.request;
}`;

export class Portal extends Construct {
  public readonly bucket: s3.Bucket;
  public readonly logBucket: s3.Bucket;
  public readonly distribution: cloudfront.Distribution;

  constructor(scope: Construct, id: string, props: PortalProps) {
    super(scope, id);
    this.logBucket = new s3.Bucket(this, 'Logs', {
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      encryption: s3.BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      // CloudFront standard logging writes with an ACL, so the log bucket must accept ACLs from its owner.
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_PREFERRED,
      lifecycleRules: [{ expiration: Duration.days(90) }],
      removalPolicy: RemovalPolicy.RETAIN,
    });
    Validations.of(this.logBucket).acknowledge({
      id: 'AwsSolutions-S1',
      reason: 'This bucket is the access-log destination of the portal bucket and the distribution; logging it into itself would loop.',
    });
    this.bucket = new s3.Bucket(this, 'Assets', {
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      encryption: s3.BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      serverAccessLogsBucket: this.logBucket,
      serverAccessLogsPrefix: 's3/',
      // The build is redeployed by every `cdk deploy`; nothing in this bucket is the only copy.
      removalPolicy: RemovalPolicy.RETAIN,
    });

    const headers = new cloudfront.ResponseHeadersPolicy(this, 'Headers', {
      comment: 'Quantify portal: CSP (self, Cognito, live endpoint), HSTS, no framing, no sniffing',
      securityHeadersBehavior: {
        contentSecurityPolicy: { contentSecurityPolicy: contentSecurityPolicy(props), override: true },
        strictTransportSecurity: { accessControlMaxAge: Duration.days(365), includeSubdomains: true, override: true },
        frameOptions: { frameOption: cloudfront.HeadersFrameOption.DENY, override: true },
        contentTypeOptions: { override: true },
        referrerPolicy: { referrerPolicy: cloudfront.HeadersReferrerPolicy.NO_REFERRER, override: true },
      },
    });
    const fn = (name: string, code: string) =>
      new cloudfront.Function(this, name, { code: cloudfront.FunctionCode.fromInline(code), runtime: cloudfront.FunctionRuntime.JS_2_0 });
    const viewerRequest = (f: cloudfront.Function) => [{ function: f, eventType: cloudfront.FunctionEventType.VIEWER_REQUEST }];

    this.distribution = new cloudfront.Distribution(this, 'Distribution', {
      comment: 'Quantify operator portal',
      defaultRootObject: 'index.html',
      httpVersion: cloudfront.HttpVersion.HTTP2_AND_3,
      enableLogging: true,
      logBucket: this.logBucket,
      logFilePrefix: 'cloudfront/',
      defaultBehavior: {
        origin: origins.S3BucketOrigin.withOriginAccessControl(this.bucket),
        viewerProtocolPolicy: cloudfront.ViewerProtocolPolicy.HTTPS_ONLY,
        cachePolicy: cloudfront.CachePolicy.CACHING_OPTIMIZED,
        responseHeadersPolicy: headers,
        functionAssociations: viewerRequest(fn('SpaFallback', SPA_FALLBACK)),
      },
      additionalBehaviors: {
        [`${API_PREFIX.slice(1)}/*`]: {
          origin: new origins.HttpOrigin(props.apiDomain, { protocolPolicy: cloudfront.OriginProtocolPolicy.HTTPS_ONLY }),
          viewerProtocolPolicy: cloudfront.ViewerProtocolPolicy.HTTPS_ONLY,
          allowedMethods: cloudfront.AllowedMethods.ALLOW_ALL,
          cachePolicy: cloudfront.CachePolicy.CACHING_DISABLED,
          // The Authorization header and the query string reach the API; the Host header is the API's own.
          // (An origin request policy forwards Authorization only with caching disabled, as here: AWS
          // re:Post knowledge center, "cloudfront-authorization-header".)
          originRequestPolicy: cloudfront.OriginRequestPolicy.ALL_VIEWER_EXCEPT_HOST_HEADER,
          responseHeadersPolicy: headers,
          functionAssociations: viewerRequest(fn('StripApiPrefix', STRIP_API_PREFIX)),
        },
      },
    });
    Validations.of(this.distribution).acknowledge(
      {
        id: 'AwsSolutions-CFR1',
        reason: 'Operators of an estate may sign in from anywhere they travel; access is controlled by Cognito sign-in with MFA, not by country.',
      },
      {
        id: 'AwsSolutions-CFR2',
        reason:
          'No WAF web ACL by default (a fixed monthly cost per ACL): the distribution serves static files and the API, whose routes ' +
          'need a Cognito token and are throttled at the API stage. Attach an ACL in front when the estate warrants it.',
      },
      {
        id: 'AwsSolutions-CFR4',
        reason:
          'The distribution uses the default *.cloudfront.net certificate, for which CloudFront fixes the TLS policy (no custom ' +
          'domain is configured); HTTPS is still required for every request (viewer protocol policy HTTPS only).',
      },
    );
    new CfnOutput(this, 'Url', { value: `https://${this.distribution.distributionDomainName}`, description: 'The operator portal' });
  }

  /** The portal's public URL (its callback and sign-out URL at Cognito). */
  get url(): string {
    return `https://${this.distribution.distributionDomainName}/`;
  }

  /**
   * Deploys the build and its /config.json. Separate from the constructor because the config names the
   * Cognito app client, whose callback URL names this distribution.
   */
  deploy(config: PortalRuntimeConfig): void {
    const root = resolveProjectRoot(this);
    const build = s3deploy.Source.asset(path.join(root, 'web'), {
      exclude: ['dist', 'node_modules'],
      bundling: {
        // Never used: the local build below always answers (vite is a devDependency of this repository).
        image: DockerImage.fromRegistry('public.ecr.aws/docker/library/node:24'),
        local: {
          tryBundle(outputDir: string): boolean {
            execFileSync(process.execPath, [path.join(root, 'node_modules/vite/bin/vite.js'), 'build', '--config', path.join(root, 'web/vite.config.ts'), '--outDir', outputDir, '--emptyOutDir'], {
              cwd: root,
              stdio: ['ignore', 'ignore', 'inherit'],
            });
            return true;
          },
        },
      },
    });
    // Hashed assets are immutable; index.html and config.json are looked at again on every load.
    const assets = new s3deploy.BucketDeployment(this, 'DeployAssets', {
      destinationBucket: this.bucket,
      sources: [build],
      exclude: ['index.html'],
      cacheControl: [s3deploy.CacheControl.fromString('public, max-age=31536000, immutable')],
      prune: false,
      memoryLimit: 256,
    });
    const pages = new s3deploy.BucketDeployment(this, 'DeployPages', {
      destinationBucket: this.bucket,
      sources: [build, s3deploy.Source.jsonData('config.json', config)],
      exclude: ['assets/*'],
      cacheControl: [s3deploy.CacheControl.noCache()],
      prune: false,
      memoryLimit: 256,
      distribution: this.distribution,
      distributionPaths: ['/index.html', '/config.json'],
    });
    // index.html names the hashed assets, so they must be there before it is replaced.
    pages.node.addDependency(assets);
    this.acknowledgeDeploymentFindings();
  }

  /** BucketDeployment's one handler (a CDK singleton at stack level) and its role, as CDK makes them. */
  private acknowledgeDeploymentFindings(): void {
    const stack = Stack.of(this);
    const handler = stack.node.children.find((c) => c.node.id.startsWith('Custom::CDKBucketDeployment'));
    if (!handler) throw new Error('BucketDeployment made no handler at stack level: CDK changed, review these acknowledgements');
    const reason = (what: string) => `CDK's BucketDeployment handler (a copy from the CDK asset bucket into the portal bucket) ${what}; CDK exposes no narrower option.`;
    Validations.of(handler).acknowledge(
      { id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]', reason: reason('runs with the basic execution policy') },
      { id: 'AwsSolutions-IAM5[Resource::*]', reason: reason('may write its logs to its own log streams (logs:* on its log group)') },
      { id: 'AwsSolutions-IAM5[Action::s3:GetObject*]', reason: reason('reads the staged build (grantRead: s3:GetObject*)') },
      { id: 'AwsSolutions-IAM5[Action::s3:GetBucket*]', reason: reason('reads the staged build and the target (grantRead: s3:GetBucket*)') },
      { id: 'AwsSolutions-IAM5[Action::s3:List*]', reason: reason('lists the staged build and the target to sync them (s3:List*)') },
      { id: 'AwsSolutions-IAM5[Action::s3:DeleteObject*]', reason: reason('replaces files in the portal bucket (grantReadWrite: s3:DeleteObject*)') },
      { id: 'AwsSolutions-IAM5[Action::s3:Abort*]', reason: reason('aborts its own failed multipart uploads to the portal bucket (s3:Abort*)') },
      { id: 'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:s3:::cdk-hnb659fds-assets-<AWS::AccountId>-<AWS::Region>/*]', reason: reason('reads the zipped build from the bootstrap asset bucket') },
      { id: `AwsSolutions-IAM5[Resource::<${logicalIdOf(this.bucket)}.Arn>/*]`, reason: reason('writes every object of the portal bucket (and only that bucket)') },
      { id: 'AwsSolutions-L1', reason: reason('runs on the Python runtime CDK pins for it (with the AWS CLI layer)') },
    );
  }
}

/** The portal's CSP in the cloud: like the local one, plus Cognito's token endpoint and the live endpoint. */
function contentSecurityPolicy(props: PortalProps): string {
  return [
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    `connect-src 'self' ${props.cognitoDomainUrl} ${props.liveUrl}`,
    "object-src 'none'",
    "base-uri 'none'",
    "frame-ancestors 'none'",
    `form-action 'self' ${props.cognitoDomainUrl}`,
  ].join('; ');
}
