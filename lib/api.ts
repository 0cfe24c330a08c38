// The HTTP capability: an API Gateway HTTP API whose routes come from the shared HTTP route table (the
// local server dispatches the same table), a Cognito user pool whose groups are Quantify's roles, and a
// JWT authorizer on every route the table marks `jwt`. Routes marked `none` authenticate themselves.
import { CfnOutput, Duration, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import * as apigw from 'aws-cdk-lib/aws-apigateway';
import * as apigwv2 from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpUserPoolAuthorizer } from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import * as cognito from 'aws-cdk-lib/aws-cognito';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { roles } from '#domain/roles';
import { httpRoutes, type HttpRoute, type HttpTarget } from '#shared/routes';
import type { Database } from './database.ts';
import { CollectorCredential } from './collector-credential.ts';
import { QuantifyFunction } from './quantify-function.ts';

export interface ApiProps {
  readonly database: Database;
  /** The ChirpStack HTTP integration function (from the ingest capability). */
  readonly chirpstackHttpIntegration: lambda.IFunction;
  /** Daraja's callbacks (outside the JWT authorizer: they authenticate by their path token). */
  readonly darajaCallbacks: lambda.IFunction;
  /** Steady-state request rate across the API. @default 100 per second */
  readonly rateLimit?: number;
  /** @default 200 */
  readonly burstLimit?: number;
  /** Browser origins allowed to call the API (the operator portal). @default none: no CORS */
  readonly corsAllowOrigins?: readonly string[];
  /** Keep the user pool (and its users) when the stack is deleted. @default true */
  readonly deletionProtection?: boolean;
  /**
   * Where Cognito's hosted UI may send an operator back after sign-in and sign-out (the portal's URL, and
   * http://127.0.0.1:3000/ for development).
   */
  readonly portalUrls: readonly string[];
  /** The hosted UI domain prefix (<prefix>.auth.<region>.amazoncognito.com). @default <stack name>-<account> */
  readonly cognitoDomainPrefix?: string;
}

/** The OAuth scopes the portal asks the hosted UI for (the ID token carries the groups either way). */
export const PORTAL_SCOPES = ['openid', 'email', 'profile'] as const;

export class Api extends Construct {
  public readonly httpApi: apigwv2.HttpApi;
  public readonly stage: apigwv2.HttpStage;
  public readonly handler: QuantifyFunction;
  public readonly userPool: cognito.UserPool;
  public readonly userPoolClient: cognito.UserPoolClient;
  public readonly authorizer: HttpUserPoolAuthorizer;
  public readonly userPoolDomain: cognito.UserPoolDomain;
  /** The Modbus collector's client-credentials app client (POST /readings only). */
  public readonly collectorCredential: CollectorCredential;

  constructor(scope: Construct, id: string, props: ApiProps) {
    super(scope, id);

    this.userPool = new cognito.UserPool(this, 'Users', {
      // Operators are invited by an admin; nobody signs themselves up to a billing system.
      selfSignUpEnabled: false,
      signInAliases: { email: true },
      autoVerify: { email: true },
      mfa: cognito.Mfa.REQUIRED,
      mfaSecondFactor: { otp: true, sms: false },
      passwordPolicy: {
        minLength: 12,
        requireLowercase: true,
        requireUppercase: true,
        requireDigits: true,
        requireSymbols: true,
        tempPasswordValidity: Duration.days(3),
      },
      accountRecovery: cognito.AccountRecovery.EMAIL_ONLY,
      featurePlan: cognito.FeaturePlan.ESSENTIALS,
      deletionProtection: props.deletionProtection ?? true,
      removalPolicy: (props.deletionProtection ?? true) ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY,
    });
    Validations.of(this.userPool).acknowledge({
      id: 'AwsSolutions-COG8',
      reason:
        'The Plus tier (threat protection) is billed per user; the pool holds a handful of invited operators, ' +
        'sign-up is closed and TOTP MFA is required, which covers the risks it would mitigate.',
    });
    // Precedence follows privilege, so Cognito picks the strongest group when one role must be chosen.
    roles.forEach((role, precedence) => {
      new cognito.UserPoolGroup(this, `Group_${role}`, {
        userPool: this.userPool,
        groupName: role,
        precedence,
        description: `Quantify ${role}`,
      });
    });
    const stack = Stack.of(this);
    this.userPoolDomain = this.userPool.addDomain('HostedUi', {
      cognitoDomain: { domainPrefix: props.cognitoDomainPrefix ?? `${stack.stackName.toLowerCase()}-${stack.account}` },
    });
    const portalUrls = [...props.portalUrls];
    this.userPoolClient = this.userPool.addClient('PortalClient', {
      authFlows: { userSrp: true },
      // A public client (a browser app keeps no secret): the authorization code flow with PKCE, which
      // Cognito requires of public clients that send a code_challenge; the implicit flow stays off.
      generateSecret: false,
      supportedIdentityProviders: [cognito.UserPoolClientIdentityProvider.COGNITO],
      oAuth: {
        flows: { authorizationCodeGrant: true, implicitCodeGrant: false },
        scopes: PORTAL_SCOPES.map((s) => cognito.OAuthScope.custom(s)),
        callbackUrls: portalUrls,
        logoutUrls: portalUrls,
      },
      enableTokenRevocation: true,
      preventUserExistenceErrors: true,
      idTokenValidity: Duration.hours(1),
      accessTokenValidity: Duration.hours(1),
      refreshTokenValidity: Duration.days(30),
    });
    this.collectorCredential = new CollectorCredential(this, 'Collector', { userPool: this.userPool, domain: this.userPoolDomain });
    // Validates issuer (the pool) and audience (the client) of the ID tokens the API reads groups from,
    // and of the collector's access tokens (their client_id), whose scope the API reads.
    this.authorizer = new HttpUserPoolAuthorizer('Cognito', this.userPool, { userPoolClients: [this.userPoolClient, this.collectorCredential.client] });

    this.handler = new QuantifyFunction(this, 'Handler', {
      entry: 'functions/api/handler.ts',
      description: 'Quantify HTTP API: registry, readings, ledger, payments, device commands',
      timeout: Duration.seconds(29),
    });
    props.database.grantDataApi(this.handler);

    const corsOrigins = props.corsAllowOrigins ?? [];
    this.httpApi = new apigwv2.HttpApi(this, 'HttpApi', {
      description: 'Quantify HTTP API',
      createDefaultStage: false,
      ...(corsOrigins.length > 0
        ? {
            corsPreflight: {
              allowOrigins: [...corsOrigins],
              allowMethods: [apigwv2.CorsHttpMethod.ANY],
              allowHeaders: ['authorization', 'content-type', 'idempotency-key'],
              maxAge: Duration.hours(1),
            },
          }
        : {}),
    });

    const integrations: Record<HttpTarget, HttpLambdaIntegration> = {
      api: new HttpLambdaIntegration('Api', this.handler),
      chirpstack_http: new HttpLambdaIntegration('ChirpStackHttp', props.chirpstackHttpIntegration),
      daraja: new HttpLambdaIntegration('DarajaCallbacks', props.darajaCallbacks),
    };
    for (const route of httpRoutes) this.addRoute(route, integrations[route.target]);

    const accessLogs = new logs.LogGroup(this, 'AccessLogs', { retention: logs.RetentionDays.THREE_MONTHS });
    this.stage = new apigwv2.HttpStage(this, 'DefaultStage', {
      httpApi: this.httpApi,
      stageName: '$default',
      autoDeploy: true,
      throttle: { rateLimit: props.rateLimit ?? 100, burstLimit: props.burstLimit ?? 200 },
      accessLogSettings: {
        destination: new apigwv2.LogGroupLogDestination(accessLogs),
        format: apigw.AccessLogFormat.custom(JSON.stringify(ACCESS_LOG_FIELDS)),
      },
    });

    new CfnOutput(this, 'Url', { value: this.stage.url, description: 'Quantify HTTP API base URL' });
    new CfnOutput(this, 'UserPoolId', { value: this.userPool.userPoolId });
    new CfnOutput(this, 'UserPoolClientId', { value: this.userPoolClient.userPoolClientId });
    new CfnOutput(this, 'HostedUiUrl', { value: this.userPoolDomain.baseUrl(), description: 'Cognito hosted UI (portal sign-in)' });
  }

  private addRoute(route: HttpRoute, integration: HttpLambdaIntegration): void {
    const [created] = this.httpApi.addRoutes({
      path: route.path,
      methods: [apigwv2.HttpMethod[route.method]],
      integration,
      ...(route.auth === 'jwt' ? { authorizer: this.authorizer } : {}),
    });
    if (route.auth === 'none' && created) {
      Validations.of(created).acknowledge({
        id: 'AwsSolutions-APIG4',
        reason:
          `${route.method} ${route.path} is open at the gateway by design (route table: auth "none"): ` +
          'health and the API description (/openapi.json, /docs) carry no data, and integration callbacks verify ' +
          'their own shared token or signature.',
      });
    }
  }
}

// HTTP API access log fields ($context variables of HTTP APIs, not REST APIs).
const ACCESS_LOG_FIELDS = {
  requestId: '$context.requestId',
  requestTime: '$context.requestTime',
  sourceIp: '$context.identity.sourceIp',
  userAgent: '$context.identity.userAgent',
  routeKey: '$context.routeKey',
  method: '$context.httpMethod',
  path: '$context.path',
  status: '$context.status',
  responseLength: '$context.responseLength',
  latencyMs: '$context.responseLatency',
  integrationLatencyMs: '$context.integrationLatency',
  integrationError: '$context.integrationErrorMessage',
  authorizerError: '$context.authorizer.error',
  subject: '$context.authorizer.claims.sub',
};
