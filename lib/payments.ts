// The payments capability: Daraja's callback endpoint (on the HTTP API without the JWT authorizer, see
// lib/api.ts), the M-Pesa jobs function (STK Query, Pull Transactions reconciliation; scheduled by
// lib/schedules.ts), and the secret holding the Daraja credentials and the callback path token.
import { Duration, Validations } from 'aws-cdk-lib';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import type { Database } from './database.ts';
import { QuantifyFunction } from './quantify-function.ts';

export interface PaymentsProps {
  readonly database: Database;
  /** https://sandbox.safaricom.co.ke or https://api.safaricom.co.ke; unset: M-Pesa calls are disabled. */
  readonly darajaBaseUrl?: string;
  /** The public base URL Daraja calls back (the API's custom domain). */
  readonly darajaPublicUrl?: string;
  readonly darajaShortCode?: string;
  /** Safaricom's callback source addresses, comma-separated (optional second check). */
  readonly darajaAllowedIps?: string;
}

export class Payments extends Construct {
  public readonly secret: secretsmanager.Secret;
  public readonly callbacks: QuantifyFunction;
  public readonly jobs: QuantifyFunction;

  constructor(scope: Construct, id: string, props: PaymentsProps) {
    super(scope, id);
    // The operator fills consumerKey/consumerSecret/passkey in; callbackToken is generated: 64 characters
    // of 0-9a-f, so none of the words Safaricom refuses in callback URLs can appear in it.
    this.secret = new secretsmanager.Secret(this, 'DarajaSecret', {
      description: 'Daraja consumer key/secret, STK passkey, and the secret token in the callback URLs',
      generateSecretString: {
        secretStringTemplate: JSON.stringify({ consumerKey: '', consumerSecret: '', passkey: '' }),
        generateStringKey: 'callbackToken',
        passwordLength: 64,
        excludePunctuation: true,
        excludeUppercase: true,
        excludeCharacters: 'ghijklmnopqrstuvwxyz',
      },
    });
    Validations.of(this.secret).acknowledge({
      id: 'AwsSolutions-SMG4',
      reason: 'Daraja credentials are issued by Safaricom and the callback token must be re-registered with Daraja when it changes: rotation is an operator procedure.',
    });

    const configure = (fn: QuantifyFunction) => {
      fn.readsSecret(this.secret, 'DARAJA_SECRET_ARN');
      if (props.darajaBaseUrl) fn.setsConfig('DARAJA_BASE_URL', props.darajaBaseUrl);
      if (props.darajaPublicUrl) fn.setsConfig('DARAJA_PUBLIC_URL', props.darajaPublicUrl);
      if (props.darajaShortCode) fn.setsConfig('DARAJA_SHORTCODE', props.darajaShortCode);
      if (props.darajaAllowedIps) fn.setsConfig('DARAJA_ALLOWED_IPS', props.darajaAllowedIps);
      props.database.grantDataApi(fn);
      return fn;
    };

    this.callbacks = configure(
      new QuantifyFunction(this, 'DarajaCallbacks', {
        entry: 'functions/payments/daraja-callbacks.ts',
        description: 'Daraja callbacks: C2B validation/confirmation, STK Push results, transaction results',
        // Daraja waits about 8 s for a validation answer.
        timeout: Duration.seconds(8),
      }),
    );
    this.jobs = configure(
      new QuantifyFunction(this, 'PaymentJobs', {
        entry: 'functions/payments/jobs.ts',
        description: 'M-Pesa jobs: STK Query for late STK results, Pull Transactions reconciliation',
        timeout: Duration.minutes(5),
      }),
    );
  }

  /** The HTTP API function starts STK Pushes: it reads the credentials too. */
  allowStkPush(fn: QuantifyFunction, props: Pick<PaymentsProps, 'darajaBaseUrl' | 'darajaPublicUrl' | 'darajaShortCode'>): void {
    fn.readsSecret(this.secret, 'DARAJA_SECRET_ARN');
    if (props.darajaBaseUrl) fn.setsConfig('DARAJA_BASE_URL', props.darajaBaseUrl);
    if (props.darajaPublicUrl) fn.setsConfig('DARAJA_PUBLIC_URL', props.darajaPublicUrl);
    if (props.darajaShortCode) fn.setsConfig('DARAJA_SHORTCODE', props.darajaShortCode);
  }
}
