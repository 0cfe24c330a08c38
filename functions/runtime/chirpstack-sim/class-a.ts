// Class A delivery: a device's queued downlink goes out only when that device sends an uplink, and is
// reported with the txack / ack / log events ChirpStack v4 publishes on its MQTT integration.
import { randomInt, randomUUID } from 'node:crypto';
import * as z from 'zod';
import { chirpstackTopic } from '#domain/topics';
import type { Logger } from '#shared/logger';
import { deviceInfoSchema, type DeviceQueues, type QueuedItem } from './device-queues.ts';
import { safeJson, type PublishEvent } from './json.ts';

const MAX_REMEMBERED_UPLINKS = 10_000;

// The parts of a ChirpStack v4 UplinkEvent the simulator reads; the rest is passed over.
const upEventSchema = z
  .object({
    deduplicationId: z.string().optional(),
    deviceInfo: deviceInfoSchema.optional(),
    devAddr: z.string().optional(),
    fCnt: z.number().int().min(0).optional(),
    txInfo: z
      .object({
        frequency: z.number().optional(),
        modulation: z
          .object({ lora: z.object({ spreadingFactor: z.number().optional() }).loose().optional() })
          .loose()
          .optional(),
      })
      .loose()
      .optional(),
  })
  .loose();

interface ClassADeliveryOptions {
  queues: DeviceQueues;
  publish: PublishEvent;
  now: () => Date;
  logger: Logger;
  /** Gateway reported in txack. */
  gatewayId: string;
  /** Called once a downlink has been transmitted (the device emulation answers it). */
  onTransmitted: (devEui: string, item: QueuedItem) => void;
}

export class ClassADelivery {
  private readonly seenUplinks = new Set<string>();

  constructor(private readonly options: ClassADeliveryOptions) {}

  /** An up event of the device: release the head of its queue, dropping expired items first. */
  async uplink(applicationId: string, devEui: string, payload: Buffer): Promise<void> {
    const { queues, publish, now } = this.options;
    const parsed = upEventSchema.safeParse(safeJson(payload.toString('utf8')));
    if (!parsed.success) {
      this.options.logger.warn('ChirpStack simulator: ignoring unreadable up event', { devEui });
      return;
    }
    const up = parsed.data;
    // A client subscribed through overlapping filters may receive one publish twice: deliver once.
    if (up.deduplicationId) {
      if (this.seenUplinks.has(up.deduplicationId)) return;
      this.remember(up.deduplicationId);
    }

    // All state changes happen before the first await, so two uplinks never take the same item.
    const device = queues.device(devEui);
    device.deviceInfo = up.deviceInfo ?? device.deviceInfo ?? { applicationId, devEui };
    device.devAddr = up.devAddr ?? device.devAddr;
    device.lastFCnt = Math.max(device.lastFCnt, up.fCnt ?? 0);
    device.frequency = up.txInfo?.frequency ?? device.frequency;
    device.spreadingFactor = up.txInfo?.modulation?.lora?.spreadingFactor ?? device.spreadingFactor;
    const expired = queues.dropExpired(device);
    const item = device.queue.shift();
    const fCntDown = item ? device.nextFCntDown++ : 0;
    const deviceInfo = device.deviceInfo;
    const topic = (type: string) => chirpstackTopic(deviceInfo.applicationId, devEui, type);

    for (const gone of expired) {
      await publish(topic('log'), {
        time: now().toISOString(),
        deviceInfo,
        // LogCode has no expiry code in the integration.proto we checked; UNKNOWN keeps strict consumers
        // parsing. Match on context.queue_item_id, not on the code.
        level: 'WARNING',
        code: 'UNKNOWN',
        description: 'Device queue-item discarded because it has expired',
        context: { queue_item_id: gone.id },
      });
    }
    if (!item) return;

    await publish(topic('txack'), {
      downlinkId: randomInt(1, 0xffffffff),
      time: now().toISOString(),
      deviceInfo,
      queueItemId: item.id,
      fCntDown,
      gatewayId: this.options.gatewayId,
      txInfo: {
        frequency: device.frequency ?? 868_100_000,
        power: 14,
        modulation: {
          lora: {
            bandwidth: 125_000,
            spreadingFactor: device.spreadingFactor ?? 7,
            codeRate: 'CR_4_5',
            polarizationInversion: true,
          },
        },
        timing: { delay: { delay: '1s' } },
      },
    });
    queues.counters.delivered++;

    // A real device acks in its next uplink; acking right away keeps the simulator stateless between
    // uplinks and is indistinguishable to the consumer, which only sees the event.
    if (item.confirmed) {
      await publish(topic('ack'), {
        deduplicationId: randomUUID(),
        time: now().toISOString(),
        deviceInfo,
        queueItemId: item.id,
        acknowledged: true,
        fCntDown,
      });
      queues.counters.acknowledged++;
    }

    this.options.onTransmitted(devEui, item);
  }

  private remember(deduplicationId: string): void {
    this.seenUplinks.add(deduplicationId);
    if (this.seenUplinks.size > MAX_REMEMBERED_UPLINKS) {
      const oldest = this.seenUplinks.values().next().value;
      if (oldest !== undefined) this.seenUplinks.delete(oldest);
    }
  }
}
