// The notifications capability: the drain that sends the outbox's customer notifications (SMS through
// Africa's Talking) every minute (scheduled by lib/schedules.ts), and the secret holding the Africa's
// Talking API key (plain text). The function reads that one secret and uses the Data API; nothing else.
import { Duration, Validations } from 'aws-cdk-lib';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import type { Database } from './database.ts';
import { QuantifyFunction } from './quantify-function.ts';

export interface NotificationsProps {
  readonly database: Database;
  /** The Africa's Talking username ("sandbox" for their sandbox); unset: nothing is sent. */
  readonly atUsername?: string;
  /** A registered sender id or short code (the account's default when unset). */
  readonly atSenderId?: string;
  /** An existing secret holding the API key; when unset the stack creates an empty one for the operator to fill. */
  readonly atApiKeySecret?: secretsmanager.ISecret;
}

export class Notifications extends Construct {
  public readonly apiKey: secretsmanager.ISecret;
  public readonly drain: QuantifyFunction;

  constructor(scope: Construct, id: string, props: NotificationsProps) {
    super(scope, id);
    if (props.atApiKeySecret) {
      this.apiKey = props.atApiKeySecret;
    } else {
      const secret = new secretsmanager.Secret(this, 'AfricasTalkingApiKey', {
        description: "Africa's Talking API key (plain text) for customer SMS",
      });
      Validations.of(secret).acknowledge({
        id: 'AwsSolutions-SMG4',
        reason: "The API key is issued by Africa's Talking: rotating it is an operator procedure in their dashboard.",
      });
      this.apiKey = secret;
    }
    this.drain = new QuantifyFunction(this, 'Drain', {
      entry: 'functions/jobs/notifications.ts',
      description: "Sends due customer notifications (SMS through Africa's Talking), retrying failures with back-off",
      // A drain sends at most 100 messages (each with a 10 s timeout); the next tick takes the rest.
      timeout: Duration.minutes(1),
    });
    this.drain.readsSecret(this.apiKey, 'AT_API_KEY_SECRET_ARN');
    if (props.atUsername) this.drain.setsConfig('AT_USERNAME', props.atUsername);
    if (props.atSenderId) this.drain.setsConfig('AT_SENDER_ID', props.atSenderId);
    props.database.grantDataApi(this.drain);
  }
}
