// The one Secrets Manager reader the Lambda entries share: text secrets trimmed, anything unusable undefined.
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import { secretText } from '#adapters/secrets';

const secrets = mockClient(SecretsManagerClient);
afterEach(() => secrets.reset());

describe('secretText', () => {
  it('returns a text secret trimmed', async () => {
    secrets.on(GetSecretValueCommand, { SecretId: 'arn:test:trimmed' }).resolves({ SecretString: '  token-value-1234567890 \n' });
    expect(await secretText('arn:test:trimmed')).toBe('token-value-1234567890');
  });

  it('gives undefined for a blank or binary secret, and for no ARN, without asking Secrets Manager for nothing', async () => {
    secrets.on(GetSecretValueCommand, { SecretId: 'arn:test:blank' }).resolves({ SecretString: '   ' });
    secrets.on(GetSecretValueCommand, { SecretId: 'arn:test:binary' }).resolves({ SecretBinary: new Uint8Array([1, 2, 3]) });
    expect(await secretText('arn:test:blank')).toBeUndefined();
    expect(await secretText('arn:test:binary')).toBeUndefined();
    expect(await secretText(undefined)).toBeUndefined();
    expect(secrets.commandCalls(GetSecretValueCommand)).toHaveLength(2);
  });
});
