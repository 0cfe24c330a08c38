// The route table: which MQTT topics feed which handler. Read by the CDK constructs (IoT topic rules,
// each with an SQS action and an error action) and by the local runtime (broker subscriptions), so the
// two cannot drift. The topics themselves are spelled in domain/topics.ts.
import { chirpstackEventFilter, esp32ReportFilter, esp32ReportKinds, topicMatches } from '#domain/topics';

export type InboundHandlerName = 'chirpstack' | 'esp32';

export interface TopicRoute {
  /** Stable name, used for the IoT rule name and log fields. */
  name: string;
  /** MQTT topic filter the local runtime subscribes to. */
  topicFilter: string;
  /** IoT Core rule SQL: selects the message and adds the topic, so the handler sees the same envelope. */
  iotSql: string;
  handler: InboundHandlerName;
}

/**
 * The rule passes the message on untouched (base64, so binary and malformed payloads survive for the
 * quarantine) with its topic and arrival time: the SQS body functions/app/ingest/inbound.ts parses.
 * `encode(*, 'base64')` is AWS's documented form (IoT Core developer guide, "Working with binary payloads").
 */
const iotSqlFor = (filter: string) => `SELECT encode(*, 'base64') AS payloadBase64, topic() AS topic, timestamp() AS receivedAt FROM '${filter}'`;

export const topicRoutes: readonly TopicRoute[] = [
  { name: 'chirpstack_events', topicFilter: chirpstackEventFilter, iotSql: iotSqlFor(chirpstackEventFilter), handler: 'chirpstack' },
  ...esp32ReportKinds.map((kind): TopicRoute => ({ name: `esp32_${kind}`, topicFilter: esp32ReportFilter(kind), iotSql: iotSqlFor(esp32ReportFilter(kind)), handler: 'esp32' })),
];

export function routeFor(topic: string): TopicRoute | undefined {
  return topicRoutes.find((r) => topicMatches(r.topicFilter, topic));
}

// Scheduled jobs: EventBridge Scheduler in the cloud, the in-process scheduler locally; same expressions.
export type JobName = 'offline_meters' | 'command_sweeper' | 'stk_query' | 'daraja_reconcile' | 'parking_reservations' | 'billing' | 'notifications' | 'readings_retention';
export interface ScheduledJob {
  name: JobName;
  /** EventBridge schedule expression: rate(N minute|minutes|hour|hours) or cron(min hour dom mon dow year). */
  expression: string;
  description: string;
}
export const scheduledJobs: readonly ScheduledJob[] = [
  { name: 'offline_meters', expression: 'rate(5 minutes)', description: 'Mark meters offline when they miss their expected uplinks' },
  { name: 'command_sweeper', expression: 'rate(1 minute)', description: 'Re-enqueue stuck commands, release scheduled ones, expire stale ones' },
  { name: 'stk_query', expression: 'rate(2 minutes)', description: 'Query M-Pesa for STK Push requests pending past a few minutes' },
  { name: 'billing', expression: 'rate(15 minutes)', description: 'Bill prepaid meters from their last billed reading to their latest; act on the balances it moves' },
  { name: 'daraja_reconcile', expression: 'rate(15 minutes)', description: 'Pull Transactions for the last 2 hours: credit what callbacks missed, report mismatches' },
  { name: 'notifications', expression: 'rate(1 minute)', description: "Send due customer notifications (SMS through Africa's Talking), retrying failures with back-off" },
  { name: 'readings_retention', expression: 'cron(17 3 * * ? *)', description: 'Delete raw readings older than READINGS_RETENTION_DAYS where their rollups cover them' },
  { name: 'parking_reservations', expression: 'rate(1 minute)', description: 'Start parking reservations whose window opened, end those whose window closed' },
];

// HTTP routes in front of the Lambdas: API Gateway routes in the cloud, the local HTTP server's dispatch
// table locally. `auth: 'jwt'` routes need a bearer token (Cognito in the cloud, the local key locally);
// the others authenticate themselves (health and the API description are public, integrations check a
// shared token).
export type HttpTarget = 'api' | 'chirpstack_http' | 'daraja';
export interface HttpRoute {
  method: 'GET' | 'POST' | 'ANY';
  /** API Gateway route path; a trailing `{proxy+}` matches the rest. */
  path: string;
  target: HttpTarget;
  auth: 'jwt' | 'none';
}
export const httpRoutes: readonly HttpRoute[] = [
  { method: 'GET', path: '/health', target: 'api', auth: 'none' },
  { method: 'GET', path: '/openapi.json', target: 'api', auth: 'none' },
  { method: 'GET', path: '/docs', target: 'api', auth: 'none' },
  { method: 'POST', path: '/integrations/chirpstack', target: 'chirpstack_http', auth: 'none' },
  // Daraja's callbacks authenticate by the secret token in their path (app/payments/callbacks.ts).
  { method: 'POST', path: '/integrations/daraja/{proxy+}', target: 'daraja', auth: 'none' },
  { method: 'ANY', path: '/{proxy+}', target: 'api', auth: 'jwt' },
];

export function httpRouteFor(method: string, path: string): HttpRoute | undefined {
  return httpRoutes.find((r) => {
    if (r.method !== 'ANY' && r.method !== method) return false;
    if (r.path.endsWith('/{proxy+}')) return path.startsWith(r.path.slice(0, -'{proxy+}'.length));
    return r.path === path || `${r.path}/` === path;
  });
}
