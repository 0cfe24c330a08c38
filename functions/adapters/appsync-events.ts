// The portal's live events in the cloud: publishes to an AppSync Events API over HTTP (POST /event, at most
// five events per request, signed with SigV4 for the `appsync` service: the publishing Lambdas hold an IAM
// grant on the channel namespace, nothing else may publish). Browsers receive them on the API's WebSocket.
import { defaultProvider } from '@aws-sdk/credential-provider-node';
import type { AwsCredentialIdentity, AwsCredentialIdentityProvider } from '@smithy/types';
import { liveChannelOf, type LiveEvent, type LiveEventSink } from '#app/portal/live-events';
import { sha256Hex, signV4 } from './sigv4.ts';

/** AppSync Events takes at most five events in one publish request. */
export const MAX_EVENTS_PER_REQUEST = 5;

export class LivePublishError extends Error {
  override name = 'LivePublishError';
}

export interface AppSyncEventsOptions {
  /** The Events API's HTTP domain (LIVE_EVENTS_HTTP_DOMAIN). */
  httpDomain: string;
  region: string;
  credentials?: AwsCredentialIdentity | AwsCredentialIdentityProvider;
  /** Where requests go; https://<httpDomain>/event unless a test points it elsewhere (signed for httpDomain all the same). */
  endpoint?: string;
  fetch?: typeof fetch;
}

export function appSyncEventsPublisher(options: AppSyncEventsOptions): LiveEventSink {
  const credentials = options.credentials ?? defaultProvider();
  const credentialsNow = async (): Promise<AwsCredentialIdentity> => (typeof credentials === 'function' ? credentials() : credentials);
  const endpoint = new URL(options.endpoint ?? `https://${options.httpDomain}/event`);
  const send = options.fetch ?? fetch;

  async function post(channel: string, events: readonly LiveEvent[]): Promise<void> {
    const body = JSON.stringify({ channel, events: events.map((e) => JSON.stringify(e)) });
    const headers = signV4(
      { method: 'POST', host: options.httpDomain, path: '/event', headers: { 'content-type': 'application/json', 'x-amz-content-sha256': sha256Hex(body) }, body },
      { service: 'appsync', region: options.region, credentials: await credentialsNow(), at: new Date() },
    );
    const response = await send(endpoint, { method: 'POST', headers, body });
    const text = await response.text();
    if (!response.ok) throw new LivePublishError(`AppSync Events refused a publish to ${channel}: HTTP ${response.status} ${text.slice(0, 300)}`);
    let failed: unknown[] = [];
    try {
      const parsed = JSON.parse(text) as { failed?: unknown };
      if (Array.isArray(parsed.failed)) failed = parsed.failed;
    } catch {
      throw new LivePublishError(`AppSync Events answered a publish to ${channel} with something other than JSON`);
    }
    if (failed.length > 0) throw new LivePublishError(`AppSync Events did not take ${failed.length} of ${events.length} events on ${channel}: ${JSON.stringify(failed).slice(0, 300)}`);
  }

  return {
    async publish(events) {
      const byChannel = new Map<string, LiveEvent[]>();
      for (const event of events) {
        const channel = liveChannelOf[event.topic];
        byChannel.set(channel, [...(byChannel.get(channel) ?? []), event]);
      }
      for (const [channel, list] of byChannel) {
        for (let i = 0; i < list.length; i += MAX_EVENTS_PER_REQUEST) await post(channel, list.slice(i, i + MAX_EVENTS_PER_REQUEST));
      }
    },
  };
}

/** The cloud sink a Lambda publishes through, or undefined where the stack gave it no live endpoint. */
export function cloudLiveEvents(config: { LIVE_EVENTS_HTTP_DOMAIN?: string | undefined; AWS_REGION?: string | undefined }): LiveEventSink | undefined {
  if (!config.LIVE_EVENTS_HTTP_DOMAIN) return undefined;
  if (!config.AWS_REGION) throw new Error('AWS_REGION is not set (Lambda sets it): cannot sign live event publishes');
  return appSyncEventsPublisher({ httpDomain: config.LIVE_EVENTS_HTTP_DOMAIN, region: config.AWS_REGION });
}
