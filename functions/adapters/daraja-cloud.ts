// Daraja in the cloud: the credentials and the callback token from one Secrets Manager JSON secret
// (DARAJA_SECRET_ARN: {consumerKey, consumerSecret, passkey, callbackToken}), cached for five minutes (a
// rotated value takes effect without a deploy), and the client built from them once per container.
// The SDK client, not Powertools' parameters: the runtime carries the SDK, so the HTTP API's bundle
// (which starts STK Pushes) stays within its size budget.
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import * as z from 'zod';
import type { LambdaConfig } from '#shared/config';
import { formatIssues } from '#domain/issues';
import { DarajaClient } from './daraja-client.ts';

const MAX_AGE_MS = 300_000;
let secrets: SecretsManagerClient | undefined;
let cached: { arn: string; at: number; text: string | undefined } | undefined;

async function secretText(arn: string | undefined): Promise<string | undefined> {
  if (!arn) return undefined;
  if (cached?.arn === arn && Date.now() - cached.at < MAX_AGE_MS) return cached.text;
  secrets ??= new SecretsManagerClient({});
  const { SecretString } = await secrets.send(new GetSecretValueCommand({ SecretId: arn }));
  const text = SecretString?.trim() ? SecretString.trim() : undefined;
  cached = { arn, at: Date.now(), text };
  return text;
}

const secretSchema = z.object({
  consumerKey: z.string().default(''),
  consumerSecret: z.string().default(''),
  passkey: z.string().default(''),
  callbackToken: z.string().min(32),
});
export type DarajaSecret = z.infer<typeof secretSchema>;

export async function darajaSecret(config: LambdaConfig): Promise<DarajaSecret | undefined> {
  const text = await secretText(config.DARAJA_SECRET_ARN);
  if (!text) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new Error('the Daraja secret is not JSON');
  }
  const parsed = secretSchema.safeParse(value);
  if (!parsed.success) throw new Error(`the Daraja secret is not valid: ${formatIssues(parsed.error)}`);
  return parsed.data;
}

let client: Promise<DarajaClient | undefined> | undefined;

/** The client, or undefined when DARAJA_BASE_URL or the credentials are not configured. */
export function cloudDarajaClient(config: LambdaConfig): Promise<DarajaClient | undefined> {
  client ??= (async () => {
    const secret = await darajaSecret(config);
    if (!config.DARAJA_BASE_URL || !config.DARAJA_PUBLIC_URL || !secret?.consumerKey || !secret.consumerSecret || !secret.passkey) return undefined;
    return new DarajaClient({
      baseUrl: config.DARAJA_BASE_URL,
      consumerKey: secret.consumerKey,
      consumerSecret: secret.consumerSecret,
      passkey: secret.passkey,
      shortCode: config.DARAJA_SHORTCODE,
      transactionType: config.DARAJA_TRANSACTION_TYPE,
      stkCallbackUrl: `${config.DARAJA_PUBLIC_URL.replace(/\/+$/, '')}/integrations/daraja/${secret.callbackToken}/stk/callback`,
    });
  })().catch((error: unknown) => {
    client = undefined;
    throw error;
  });
  return client;
}
