// The portal's live channel in the cloud: an AppSync Events API. Browsers connect and subscribe with their
// Cognito ID token (user pool auth, the same token the HTTP API takes); only the Lambdas that change what
// the portal shows may publish (IAM auth, a grant on the one channel namespace). It speaks the protocol the
// local platform's /event/realtime speaks (functions/runtime/live-events.ts), so the browser has one code
// path. It is a separate service from IoT Core: devices' MQTT topics are not reachable from it at all.
import { CfnOutput, Stack } from 'aws-cdk-lib';
import * as appsync from 'aws-cdk-lib/aws-appsync';
import type * as cognito from 'aws-cdk-lib/aws-cognito';
import { Construct } from 'constructs';
import type { QuantifyFunction } from './quantify-function.ts';

/** The channel namespace: the portal's channels are /quantify/{commands,meters,payments,accounts,parking}. */
export const LIVE_NAMESPACE = 'quantify';

export interface LiveEventsProps {
  /** Subscribers sign in to this pool (the API's). */
  readonly userPool: cognito.IUserPool;
}

export class LiveEvents extends Construct {
  public readonly api: appsync.EventApi;
  public readonly namespace: appsync.ChannelNamespace;

  constructor(scope: Construct, id: string, props: LiveEventsProps) {
    super(scope, id);
    const USER_POOL = appsync.AppSyncAuthorizationType.USER_POOL;
    const IAM = appsync.AppSyncAuthorizationType.IAM;
    this.api = new appsync.EventApi(this, 'Api', {
      apiName: `${Stack.of(this).stackName}-portal-live`,
      authorizationConfig: {
        authProviders: [{ authorizationType: USER_POOL, cognitoConfig: { userPool: props.userPool } }, { authorizationType: IAM }],
        // Browsers connect and subscribe with a Cognito token; nothing subscribes with IAM, nothing publishes
        // over the WebSocket.
        connectionAuthModeTypes: [USER_POOL],
        defaultSubscribeAuthModeTypes: [USER_POOL],
        defaultPublishAuthModeTypes: [IAM],
      },
    });
    this.namespace = this.api.addChannelNamespace('Namespace', {
      channelNamespaceName: LIVE_NAMESPACE,
      authorizationConfig: { publishAuthModeTypes: [IAM], subscribeAuthModeTypes: [USER_POOL] },
    });
    new CfnOutput(this, 'HttpDomain', { value: this.api.httpDns, description: 'AppSync Events HTTP domain (publishing)' });
    new CfnOutput(this, 'RealtimeDomain', { value: this.api.realtimeDns, description: 'AppSync Events WebSocket domain (the portal subscribes here)' });
  }

  /** The WebSocket URL the portal connects to. */
  get realtimeUrl(): string {
    return `wss://${this.api.realtimeDns}/event/realtime`;
  }

  /** Lets the function publish to the portal's namespace (and nothing else) and tells it where. */
  allowPublish(fn: QuantifyFunction): void {
    this.namespace.grantPublish(fn);
    fn.setsConfig('LIVE_EVENTS_HTTP_DOMAIN', this.api.httpDns);
  }
}
