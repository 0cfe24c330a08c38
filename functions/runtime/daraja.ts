// M-Pesa on one machine: the Daraja client against DARAJA_BASE_URL (sandbox or production) or against the
// built-in simulator, the callback token (DARAJA_CALLBACK_TOKEN, or generated into DATA_DIR on first
// start like the signing key), and the callback URLs once the HTTP server knows its address. With the
// simulator, the C2B URLs are registered with it at start, as `npm run daraja -- register-urls` does.
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import * as z from 'zod';
import { DarajaClient } from '#adapters/daraja-client';
import { darajaCallbackPrefix } from '#app/payments/callbacks';
import { ConfigError, type LocalConfig } from '#shared/config';
import type { Logger } from '#shared/logger';
import { DarajaSimulator } from './daraja-sim/index.ts';

const tokenFile = z.object({ token: z.string().regex(/^[A-Za-z0-9_-]{32,128}$/) });

/** Hex: none of the words Safaricom refuses in callback URLs (mpesa, sql, exe, cmd…) can appear in it. */
export async function loadOrCreateCallbackToken(dataDir: string): Promise<string> {
  const file = path.join(dataDir, 'daraja-callback-token.json');
  try {
    return tokenFile.parse(JSON.parse(await readFile(file, 'utf8'))).token;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw new Error(`cannot read the Daraja callback token in ${file}: ${(error as Error).message}`);
  }
  await mkdir(dataDir, { recursive: true });
  const token = randomBytes(32).toString('hex');
  await writeFile(file, JSON.stringify({ token }), { mode: 0o600 });
  return token;
}

export const callbackUrls = (publicUrl: string, token: string) => {
  const base = `${publicUrl.replace(/\/+$/, '')}${darajaCallbackPrefix}/${token}`;
  return {
    validationUrl: `${base}/c2b/validation`,
    confirmationUrl: `${base}/c2b/confirmation`,
    stkCallbackUrl: `${base}/stk/callback`,
    resultsUrl: `${base}/results`,
  };
};

export async function startDaraja(config: LocalConfig, dataDir: string, logger: Logger) {
  const token = config.DARAJA_CALLBACK_TOKEN ?? (await loadOrCreateCallbackToken(dataDir));
  let publicUrl = config.DARAJA_PUBLIC_URL;
  const stkCallbackUrl = () => {
    if (!publicUrl) throw new ConfigError('the callback URL is not known yet');
    return callbackUrls(publicUrl, token).stkCallbackUrl;
  };
  let simulator: DarajaSimulator | undefined;
  let client: DarajaClient;
  if (config.DARAJA_BASE_URL) {
    const { DARAJA_CONSUMER_KEY: consumerKey, DARAJA_CONSUMER_SECRET: consumerSecret, DARAJA_PASSKEY: passkey } = config;
    if (!consumerKey || !consumerSecret || !passkey) throw new ConfigError('DARAJA_CONSUMER_KEY, DARAJA_CONSUMER_SECRET and DARAJA_PASSKEY are required when DARAJA_BASE_URL is set');
    client = new DarajaClient({ baseUrl: config.DARAJA_BASE_URL, consumerKey, consumerSecret, passkey, shortCode: config.DARAJA_SHORTCODE, transactionType: config.DARAJA_TRANSACTION_TYPE, stkCallbackUrl });
  } else {
    simulator = new DarajaSimulator({ host: config.HOST, shortCode: config.DARAJA_SHORTCODE, stkDelayMs: config.DARAJA_SIMULATOR_STK_DELAY_MS, logger });
    const { url } = await simulator.start();
    client = new DarajaClient({ baseUrl: url, ...simulator.credentials, transactionType: config.DARAJA_TRANSACTION_TYPE, stkCallbackUrl });
  }
  return {
    client,
    simulator,
    token,
    url: config.DARAJA_BASE_URL ?? simulator?.url ?? '',
    /** Once the HTTP server listens: where callbacks go; the simulator gets the C2B URLs registered. */
    async listening(httpUrl: string) {
      publicUrl ??= httpUrl;
      if (simulator) {
        const urls = callbackUrls(publicUrl, token);
        await client.registerC2bUrls({ confirmationUrl: urls.confirmationUrl, validationUrl: urls.validationUrl, responseType: 'Completed' });
      }
    },
    stop: async () => {
      await simulator?.stop();
    },
  };
}
