// `npm run daraja -- <command>`: the Daraja set-up steps, with the same configuration as `npm start`.
//   urls                          print the callback URLs to give Safaricom (they contain the secret token)
//   register-urls [Completed|Cancelled]
//                                 C2B v2 RegisterURL for DARAJA_SHORTCODE (ResponseType: what Daraja does
//                                 when validation is late or down; default Completed, so no payment is lost)
//   register-pull <2547XXXXXXXX>  register the shortcode for Pull Transactions (reconciliation)
//   simulate-c2b <billRef> <amount> [msisdn]
//                                 a customer paying (sandbox, or the local simulator's URL as DARAJA_BASE_URL)
// Needs DARAJA_BASE_URL, DARAJA_CONSUMER_KEY, DARAJA_CONSUMER_SECRET, DARAJA_PASSKEY and DARAJA_PUBLIC_URL.
import 'dotenv/config';
import path from 'node:path';
import { DarajaClient } from '#adapters/daraja-client';
import { callbackUrls, loadOrCreateCallbackToken } from '#runtime/daraja';
import { localConfigSchema, parseConfig } from '#shared/config';

const [command, ...args] = process.argv.slice(2);
const usage = 'usage: npm run daraja -- urls | register-urls [Completed|Cancelled] | register-pull <2547XXXXXXXX> | simulate-c2b <billRef> <amount> [msisdn]';
const config = parseConfig(localConfigSchema, process.env);
const token = config.DARAJA_CALLBACK_TOKEN ?? (await loadOrCreateCallbackToken(path.resolve(config.DATA_DIR)));
const publicUrl = config.DARAJA_PUBLIC_URL ?? `http://${config.HOST}:${config.PORT}`;
const urls = callbackUrls(publicUrl, token);

function client(): DarajaClient {
  const { DARAJA_BASE_URL: baseUrl, DARAJA_CONSUMER_KEY: consumerKey, DARAJA_CONSUMER_SECRET: consumerSecret, DARAJA_PASSKEY: passkey } = config;
  if (!baseUrl || !consumerKey || !consumerSecret || !passkey) {
    console.error('set DARAJA_BASE_URL, DARAJA_CONSUMER_KEY, DARAJA_CONSUMER_SECRET and DARAJA_PASSKEY (and DARAJA_PUBLIC_URL)');
    process.exit(2);
  }
  return new DarajaClient({ baseUrl, consumerKey, consumerSecret, passkey, shortCode: config.DARAJA_SHORTCODE, transactionType: config.DARAJA_TRANSACTION_TYPE, stkCallbackUrl: urls.stkCallbackUrl });
}

switch (command) {
  case 'urls':
    console.log(JSON.stringify(urls, null, 2));
    break;
  case 'register-urls': {
    const responseType = args[0] === 'Cancelled' ? 'Cancelled' : 'Completed';
    console.log(JSON.stringify(await client().registerC2bUrls({ confirmationUrl: urls.confirmationUrl, validationUrl: urls.validationUrl, responseType }), null, 2));
    break;
  }
  case 'register-pull': {
    if (!args[0]) throw new Error(usage);
    console.log(JSON.stringify(await client().registerPull({ nominatedNumber: args[0], callbackUrl: urls.resultsUrl }), null, 2));
    break;
  }
  case 'simulate-c2b': {
    const [billRef, amount, msisdn = '254708374149'] = args;
    if (!billRef || !amount) throw new Error(usage);
    console.log(JSON.stringify(await client().simulateC2b({ billRef, amount: Number(amount), msisdn }), null, 2));
    break;
  }
  default:
    console.error(usage);
    process.exit(2);
}
