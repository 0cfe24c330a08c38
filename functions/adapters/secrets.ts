// Secrets Manager, read the one way the Lambda entries need: a text secret, trimmed, cached by Powertools
// for five minutes (so a rotated value takes effect without a deploy). Missing, binary or blank is
// `undefined`; each caller decides what that means.
import { getSecret } from '@aws-lambda-powertools/parameters/secrets';

const MAX_AGE_S = 300;

export async function secretText(arn: string | undefined): Promise<string | undefined> {
  if (!arn) return undefined;
  const value: unknown = await getSecret(arn, { maxAge: MAX_AGE_S });
  return typeof value === 'string' && value.trim() !== '' ? value.trim() : undefined;
}
