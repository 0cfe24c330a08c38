// Deployment settings of the Quantify stack, read once from CDK context (cdk.json or `-c key=value`) and
// validated, so a typo fails `cdk synth` with a message instead of deploying something else.
import type { Node } from 'constructs';
import * as z from 'zod';
import { issueLines } from '#domain/issues';

// `-c key=value` always arrives as a string; cdk.json may hold real booleans and numbers.
const bool = z.union([z.boolean(), z.enum(['true', 'false']).transform((v) => v === 'true')]);
const acu = z.coerce.number().min(0).max(256);
const list = z.union([
  z.array(z.string().min(1)),
  z.string().transform((v) => v.split(',').map((s) => s.trim()).filter((s) => s !== '')),
]);

export const stackConfigSchema = z
  .object({
    /** Protect the Aurora cluster and the user pool from deletion. Turn off only for throwaway stacks. */
    deletionProtection: bool.default(true),
    dbMinCapacity: acu.default(0.5),
    dbMaxCapacity: acu.default(4),
    /** IoT data endpoint host; when unset the stack asks IoT for it at deploy time. */
    iotDataEndpoint: z
      .string()
      .regex(/^[a-z0-9.-]+$/, 'must be a host name such as abc123-ats.iot.eu-west-1.amazonaws.com (no scheme)')
      .optional(),
    /** Default of the ChirpStackApiUrl stack parameter. */
    chirpstackApiUrl: z.string().url().optional(),
    /** Use an existing secret for the ChirpStack API key instead of creating one. */
    chirpstackApiKeySecretArn: z.string().startsWith('arn:').optional(),
    /** SNS topic every alarm notifies. */
    alarmTopicArn: z.string().startsWith('arn:').optional(),
    /** Raw readings older than this many days are deleted where rollups cover them (0: keep all; else 35-36500). */
    readingsRetentionDays: z.coerce.number().int().refine((d) => d === 0 || (d >= 35 && d <= 36_500), '0 (keep all) or 35-36500 days').default(0),
    /** Browser origins allowed by CORS (comma-separated on the command line). */
    corsAllowOrigins: list.default([]),
    /** Daraja: https://sandbox.safaricom.co.ke or https://api.safaricom.co.ke (unset: M-Pesa calls disabled). */
    darajaBaseUrl: z.string().url().optional(),
    /** The public base URL Daraja calls back (the HTTP API's URL or custom domain). */
    darajaPublicUrl: z.string().url().optional(),
    darajaShortCode: z.string().regex(/^\d{5,7}$/).optional(),
    /** Safaricom's callback source addresses, comma-separated (optional second check). */
    darajaAllowedIps: z.string().optional(),
    /** Cognito hosted UI domain prefix (<prefix>.auth.<region>.amazoncognito.com); default <stack name>-<account>. */
    cognitoDomainPrefix: z
      .string()
      .regex(/^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/, 'lower-case letters, digits and hyphens (1-63), not starting or ending with a hyphen')
      .refine((v) => !/aws|amazon|cognito/.test(v), 'must not contain aws, amazon or cognito (Cognito reserves them)')
      .optional(),
    /** Extra sign-in/sign-out URLs of the portal's app client besides the CloudFront URL (development). */
    portalDevUrls: list.default(['http://127.0.0.1:3000/']),
    /** How often the billing job runs, in minutes (EventBridge rate; 1-1440). */
    billingIntervalMinutes: z.coerce.number().int('a whole number of minutes').min(1).max(1440).default(15),
    /** Africa's Talking username for customer SMS ("sandbox" for their sandbox); unset: notifications are not sent. */
    atUsername: z.string().min(1).optional(),
    /** Africa's Talking sender id or short code (the account's default when unset). */
    atSenderId: z.string().min(1).max(20).optional(),
    /** Use an existing secret (plain text) for the Africa's Talking API key instead of creating one. */
    atApiKeySecretArn: z.string().startsWith('arn:').optional(),
  })
  .refine((c) => c.dbMinCapacity <= c.dbMaxCapacity, { message: 'dbMinCapacity must not exceed dbMaxCapacity' });

export type StackConfig = z.infer<typeof stackConfigSchema>;

export class StackConfigError extends Error {
  override name = 'StackConfigError';
}

const keys = ['deletionProtection', 'dbMinCapacity', 'dbMaxCapacity', 'iotDataEndpoint', 'chirpstackApiUrl',
  'chirpstackApiKeySecretArn', 'alarmTopicArn', 'corsAllowOrigins', 'cognitoDomainPrefix', 'portalDevUrls', 'billingIntervalMinutes', 'atUsername', 'atSenderId', 'atApiKeySecretArn', 'readingsRetentionDays'] as const;

/** Reads the stack settings from a construct node's context (the App's, in bin/quantify.ts). */
export function stackConfigFromContext(node: Node): StackConfig {
  const raw: Record<string, unknown> = {};
  for (const key of keys) {
    const value: unknown = node.tryGetContext(key);
    if (value !== undefined && value !== '') raw[key] = value;
  }
  const result = stackConfigSchema.safeParse(raw);
  if (!result.success) {
    const lines = issueLines(result.error, '(context)').map((l) => `  ${l.path}: ${l.message}`);
    throw new StackConfigError(`Invalid CDK context for the Quantify stack:\n${lines.join('\n')}`);
  }
  return result.data;
}
