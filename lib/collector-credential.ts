// The Modbus collector's cloud credential: OAuth2 client credentials from the user pool. A resource server
// (`quantify`) with one scope (`readings.write`), an app client allowed only that scope and only the
// client-credentials grant (with a secret); the pool's one hosted domain (the portal's hosted UI domain,
// lib/api.ts) serves the /oauth2/token endpoint the collector asks for its access tokens (COLLECTOR_TOKEN_URL, COLLECTOR_CLIENT_ID, COLLECTOR_CLIENT_SECRET).
// The API's JWT authorizer accepts the client's tokens (its id is an audience); the API maps the scope to
// the collector role (app/http/principal.ts), which may only POST /readings.
import { CfnOutput, Duration } from 'aws-cdk-lib';
import * as cognito from 'aws-cdk-lib/aws-cognito';
import { Construct } from 'constructs';
import { COLLECTOR_RESOURCE_SERVER, COLLECTOR_SCOPE_NAME } from '#domain/roles';

export interface CollectorCredentialProps {
  readonly userPool: cognito.UserPool;
  /** The pool's hosted domain (a user pool has one): its /oauth2/token endpoint issues the tokens. */
  readonly domain: cognito.UserPoolDomain;
}

export class CollectorCredential extends Construct {
  public readonly resourceServer: cognito.UserPoolResourceServer;
  public readonly client: cognito.UserPoolClient;
  public readonly domain: cognito.UserPoolDomain;
  /** The token endpoint (https://<prefix>.auth.<region>.amazoncognito.com/oauth2/token). */
  public readonly tokenUrl: string;

  constructor(scope: Construct, id: string, props: CollectorCredentialProps) {
    super(scope, id);
    const writeReadings = new cognito.ResourceServerScope({ scopeName: COLLECTOR_SCOPE_NAME, scopeDescription: 'Post meter readings (POST /readings) and nothing else' });
    this.resourceServer = props.userPool.addResourceServer('Api', {
      identifier: COLLECTOR_RESOURCE_SERVER,
      userPoolResourceServerName: 'Quantify API',
      scopes: [writeReadings],
    });
    this.domain = props.domain;
    this.client = props.userPool.addClient('CollectorClient', {
      userPoolClientName: 'quantify-collector',
      generateSecret: true,
      authFlows: {},
      oAuth: {
        flows: { clientCredentials: true },
        scopes: [cognito.OAuthScope.resourceServer(this.resourceServer, writeReadings)],
      },
      accessTokenValidity: Duration.hours(1),
      enableTokenRevocation: true,
      preventUserExistenceErrors: true,
    });
    this.tokenUrl = `${this.domain.baseUrl()}/oauth2/token`;

    new CfnOutput(this, 'CollectorClientId', { value: this.client.userPoolClientId, description: 'COLLECTOR_CLIENT_ID of the Modbus collector' });
    new CfnOutput(this, 'CollectorTokenUrl', { value: this.tokenUrl, description: 'COLLECTOR_TOKEN_URL of the Modbus collector' });
  }
}
