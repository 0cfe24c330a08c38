// When an ESP32 meter comes back online, push its current balance (app/billing/resync.ts). Locally that is
// the embedded broker's connect event for a meter identity, or, with an external broker (MQTT_URL), the
// meter's first message after a silence (ESP32_RECONNECT_SILENCE_S). A meter first heard since this
// process started is not counted as back (a platform restart is not a meter reconnect). Each meter is
// looked at once per debounce window in this process; the resync's key debounces across processes.
import type { Logger } from '#shared/logger';
import { esp32Root, isMeterNo } from '#domain/topics';
import type { ResyncOutcome } from '#app/billing/resync';

export interface Esp32PresenceOptions {
  resync: (meterNo: string) => Promise<ResyncOutcome>;
  /** A gap longer than this between two messages of a meter counts as it coming back (external broker). */
  silenceMs: number;
  debounceMs: number;
  now: () => Date;
  logger: Logger;
}

export class Esp32Presence {
  private readonly lastMessage = new Map<string, number>();
  private readonly lastResync = new Map<string, number>();
  private readonly inFlight = new Set<Promise<unknown>>();
  private readonly busy = new Set<string>();

  constructor(private readonly options: Esp32PresenceOptions) {}

  /** The meter's connect event (embedded broker). */
  connected(meterNo: string): void {
    this.lastMessage.set(meterNo, this.options.now().getTime());
    this.resync(meterNo, 'connected');
  }

  /** A message on the platform's client: an ESP32's report after a silence counts as it coming back. */
  message(topic: string): void {
    const parts = topic.split('/');
    if (parts[0] !== esp32Root || parts.length !== 3 || !isMeterNo(parts[1] ?? '')) return;
    const meterNo = parts[1]!;
    const now = this.options.now().getTime();
    const last = this.lastMessage.get(meterNo);
    this.lastMessage.set(meterNo, now);
    if (last !== undefined && now - last > this.options.silenceMs) this.resync(meterNo, 'first message after a silence');
  }

  private resync(meterNo: string, why: string): void {
    const now = this.options.now().getTime();
    const last = this.lastResync.get(meterNo);
    // One look at a time per meter, and none for a window after its balance was pushed (or found pushed).
    if (this.busy.has(meterNo) || (last !== undefined && now - last < this.options.debounceMs)) return;
    this.busy.add(meterNo);
    const work = this.options
      .resync(meterNo)
      .then((outcome) => {
        if (outcome === 'pushed' || outcome === 'debounced') this.lastResync.set(meterNo, now);
        this.options.logger.debug('ESP32 back online', { meterNo, why, outcome });
      })
      .catch((error: unknown) => this.options.logger.warn('ESP32 back online: balance push failed', { meterNo, why, error: error as Error }))
      .finally(() => {
        this.busy.delete(meterNo);
        this.inFlight.delete(work);
      });
    this.inFlight.add(work);
  }

  /** Wait for the pushes under way. */
  async stop(): Promise<void> {
    await Promise.allSettled([...this.inFlight]);
  }
}
