// Synth-time tests of the portal's cloud side: CloudFront in front of a private bucket (Origin Access
// Control, HTTPS only, security headers with a CSP naming exactly the origins the page talks to, the SPA
// fallback and the /api behaviour, access logs), the build and /config.json deployed beside it, the hosted
// UI and its PKCE app client, and the AppSync Events API (Cognito subscribers, IAM publishers with a grant
// on the one namespace). Bundling is skipped, as in stack.test.ts.
import { App } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import type { IConstruct } from 'constructs';
import { beforeAll, describe, expect, it } from 'vitest';
import { roles } from '#domain/roles';
import { logicalIdOf } from '../../lib/nag.ts';
import { QuantifyStack } from '../../lib/quantify-stack.ts';

type Json = Record<string, unknown>;
let stack: QuantifyStack;
let template: Template;
let resources: Record<string, { Type: string; Properties: Json }>;

beforeAll(() => {
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
  stack = new QuantifyStack(app, 'Quantify', { config: { cognitoDomainPrefix: 'quantify-test-estate' } });
  template = Template.fromStack(stack);
  resources = template.toJSON().Resources as typeof resources;
});

const ofType = (type: string) => Object.entries(resources).filter(([, r]) => r.Type === type);
const propsOf = (c: IConstruct) => resources[logicalIdOf(c)]?.Properties ?? {};
const getAtt = (c: IConstruct, attr: string) => ({ 'Fn::GetAtt': [logicalIdOf(c), attr] });

describe('portal hosting', () => {
  it('keeps the bucket private and lets only this distribution read it, through Origin Access Control', () => {
    const bucket = stack.portal.bucket;
    expect(propsOf(bucket).PublicAccessBlockConfiguration).toEqual({ BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true });
    expect(propsOf(bucket).LoggingConfiguration).toEqual({ DestinationBucketName: { Ref: logicalIdOf(stack.portal.logBucket) }, LogFilePrefix: 's3/' });
    const policy = ofType('AWS::S3::BucketPolicy').find(([, p]) => JSON.stringify(p.Properties.Bucket) === JSON.stringify({ Ref: logicalIdOf(bucket) }));
    const statements = (policy?.[1].Properties.PolicyDocument as { Statement: Json[] }).Statement;
    const read = statements.find((s) => s.Effect === 'Allow');
    expect(read?.Principal).toEqual({ Service: 'cloudfront.amazonaws.com' });
    expect(JSON.stringify(read?.Condition)).toContain(logicalIdOf(stack.portal.distribution));
    expect(statements.some((s) => s.Effect === 'Deny' && JSON.stringify(s.Condition).includes('aws:SecureTransport'))).toBe(true);
    expect(ofType('AWS::CloudFront::OriginAccessControl')).toHaveLength(1);
    expect(ofType('AWS::CloudFront::CloudFrontOriginAccessIdentity')).toHaveLength(0);
  });

  it('serves HTTPS only, logs access, falls back to index.html for pages and forwards /api/* to the HTTP API uncached', () => {
    const config = propsOf(stack.portal.distribution).DistributionConfig as Json & { DefaultCacheBehavior: Json; CacheBehaviors: Json[]; Origins: Json[] };
    expect(config.DefaultRootObject).toBe('index.html');
    expect(config.Logging).toEqual({ Bucket: getAtt(stack.portal.logBucket, 'RegionalDomainName'), Prefix: 'cloudfront/' });
    expect(config.DefaultCacheBehavior.ViewerProtocolPolicy).toBe('https-only');
    expect(config.CacheBehaviors).toHaveLength(1);
    const api = config.CacheBehaviors[0] as Json;
    expect(api).toMatchObject({ PathPattern: 'api/*', ViewerProtocolPolicy: 'https-only', CachePolicyId: '4135ea2d-6df8-44a3-9df3-4b5a84be39ad' });
    // The API's own error answers pass through: no distribution-wide custom error responses.
    expect(config.CustomErrorResponses).toBeUndefined();
    const apiOrigin = config.Origins.find((o) => o.Id === api.TargetOriginId) as Json;
    expect(JSON.stringify(apiOrigin.DomainName)).toContain(logicalIdOf(stack.api.httpApi));
    expect(apiOrigin.CustomOriginConfig).toMatchObject({ OriginProtocolPolicy: 'https-only' });
    const code = (id: string) => ofType('AWS::CloudFront::Function').find(([fid]) => fid.startsWith(id))?.[1].Properties.FunctionCode as string;
    expect(code('PortalSpaFallback')).toContain("'/index.html'");
    expect(code('PortalStripApiPrefix')).toContain('substring(4)');
  });

  it('sends a CSP that admits this origin, the hosted UI and the live endpoint only, with HSTS and no framing', () => {
    const policies = ofType('AWS::CloudFront::ResponseHeadersPolicy');
    expect(policies).toHaveLength(1);
    const headers = (policies[0]?.[1].Properties.ResponseHeadersPolicyConfig as { SecurityHeadersConfig: Json }).SecurityHeadersConfig as Record<string, Json>;
    const csp = JSON.stringify(headers.ContentSecurityPolicy?.ContentSecurityPolicy);
    expect(csp).toContain("default-src 'self'; script-src 'self'");
    expect(csp).toMatch(/connect-src 'self' https:\/\/",\{"Ref":"ApiUsersHostedUi[0-9A-F]+"\},".auth.",\{"Ref":"AWS::Region"\},".amazoncognito.com wss:\/\/",\{"Fn::GetAtt":\["LiveApi[0-9A-F]+","Dns.Realtime"\]\},"\/event\/realtime;/);
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).not.toContain('*');
    expect(headers.StrictTransportSecurity).toMatchObject({ AccessControlMaxAgeSec: 31_536_000, Override: true });
    expect(headers.FrameOptions).toMatchObject({ FrameOption: 'DENY' });
  });

  it('deploys the hashed assets immutable, then index.html and config.json uncached with an invalidation', () => {
    const deployments = ofType('Custom::CDKBucketDeployment').map(([, d]) => d.Properties);
    expect(deployments).toHaveLength(2);
    const assets = deployments.find((d) => JSON.stringify(d.Exclude) === '["index.html"]');
    const pages = deployments.find((d) => JSON.stringify(d.Exclude) === '["assets/*"]');
    expect(assets?.SystemMetadata).toEqual({ 'cache-control': 'public, max-age=31536000, immutable' });
    expect(pages).toMatchObject({ SystemMetadata: { 'cache-control': 'no-cache' }, DistributionPaths: ['/index.html', '/config.json'], Prune: false });
    // config.json's values are the deployment's own: the client id, the hosted UI and the live domains.
    const markers = JSON.stringify(pages?.SourceMarkers);
    for (const ref of [logicalIdOf(stack.api.userPoolClient), logicalIdOf(stack.api.userPoolDomain), 'Dns.Realtime', 'Dns.Http']) expect(markers).toContain(ref);
  });
});

describe('Cognito hosted UI', () => {
  it('has a domain and a public app client for the code flow with PKCE, back to the portal and the dev server', () => {
    template.hasResourceProperties('AWS::Cognito::UserPoolDomain', { Domain: 'quantify-test-estate' });
    const client = propsOf(stack.api.userPoolClient);
    expect(client).toMatchObject({
      GenerateSecret: false,
      AllowedOAuthFlows: ['code'],
      AllowedOAuthFlowsUserPoolClient: true,
      AllowedOAuthScopes: ['openid', 'email', 'profile'],
      SupportedIdentityProviders: ['COGNITO'],
      EnableTokenRevocation: true,
    });
    const portalUrl = { 'Fn::Join': ['', ['https://', getAtt(stack.portal.distribution, 'DomainName'), '/']] };
    expect(client.CallbackURLs).toEqual([portalUrl, 'http://127.0.0.1:3000/']);
    expect(client.LogoutURLs).toEqual([portalUrl, 'http://127.0.0.1:3000/']);
  });

  it('keeps the groups the API reads roles from', () => {
    const groups = ofType('AWS::Cognito::UserPoolGroup').map(([, g]) => g.Properties.GroupName);
    expect(groups).toEqual([...roles]);
  });

  it('refuses a domain prefix Cognito would refuse', () => {
    const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
    expect(() => new QuantifyStack(app, 'Bad', { config: { cognitoDomainPrefix: 'my-cognito' } })).toThrow(/aws, amazon or cognito/);
  });
});

describe('live events (AppSync Events)', () => {
  it('lets browsers connect and subscribe with Cognito only, and publishing only with IAM', () => {
    expect(propsOf(stack.live.api).EventConfig).toEqual({
      AuthProviders: [{ AuthType: 'AMAZON_COGNITO_USER_POOLS', CognitoConfig: { AwsRegion: { Ref: 'AWS::Region' }, UserPoolId: { Ref: logicalIdOf(stack.api.userPool) } } }, { AuthType: 'AWS_IAM' }],
      ConnectionAuthModes: [{ AuthType: 'AMAZON_COGNITO_USER_POOLS' }],
      DefaultPublishAuthModes: [{ AuthType: 'AWS_IAM' }],
      DefaultSubscribeAuthModes: [{ AuthType: 'AMAZON_COGNITO_USER_POOLS' }],
    });
    expect(propsOf(stack.live.namespace)).toMatchObject({
      Name: 'quantify',
      PublishAuthModes: [{ AuthType: 'AWS_IAM' }],
      SubscribeAuthModes: [{ AuthType: 'AMAZON_COGNITO_USER_POOLS' }],
    });
    expect(ofType('AWS::AppSync::ApiKey')).toHaveLength(0);
  });

  it('grants EventPublish on the one namespace to the functions that change what the portal shows, and to no other', () => {
    // The API too: an allocation, an override or a reservation made through it is announced (its writes only).
    const publishers = [stack.api.handler, stack.ingest.decoder, stack.commands.dispatcher, stack.commands.sweeper, stack.payments.callbacks, stack.payments.jobs, stack.billing, stack.offlineMeters, stack.parkingReservations];
    const namespaceArn = {
      'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':appsync:', { Ref: 'AWS::Region' }, ':', { Ref: 'AWS::AccountId' }, ':apis/', getAtt(stack.live.api, 'ApiId'), '/channelNamespace/quantify']],
    };
    const appsyncStatements = ofType('AWS::IAM::Policy').flatMap(([, p]) =>
      (p.Properties.PolicyDocument as { Statement: Json[] }).Statement.filter((s) => JSON.stringify(s.Action).includes('appsync')).map((s) => ({ roles: p.Properties.Roles, s })),
    );
    expect(appsyncStatements).toHaveLength(publishers.length);
    for (const { s } of appsyncStatements) expect(s).toEqual({ Action: 'appsync:EventPublish', Effect: 'Allow', Resource: namespaceArn });
    const granted = appsyncStatements.map(({ roles }) => JSON.stringify(roles)).sort();
    expect(granted).toEqual(publishers.map((fn) => JSON.stringify([{ Ref: logicalIdOf(fn.executionRole) }])).sort());
    for (const fn of publishers) {
      expect((propsOf(fn).Environment as { Variables: Json }).Variables.LIVE_EVENTS_HTTP_DOMAIN).toEqual(getAtt(stack.live.api, 'Dns.Http'));
    }
    template.hasResourceProperties('AWS::Lambda::Function', { Environment: { Variables: Match.not(Match.objectLike({ LIVE_EVENTS_HTTP_DOMAIN: Match.anyValue() })) }, Description: Match.stringLikeRegexp('ChirpStack HTTP integration') });
  });
});
