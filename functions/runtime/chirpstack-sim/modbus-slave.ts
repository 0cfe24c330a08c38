// The UC100 with a meter on its RS485 bus, as far as the platform sees it: a Modbus write sent through the
// pass-through fPort is answered, after a short delay, by an uplink carrying the meter's response frame.
import { randomInt, randomUUID } from 'node:crypto';
import { expectedEcho, parseWriteRequest } from '#domain/modbus';
import { chirpstackTopic } from '#domain/topics';
import type { DeviceQueues, QueuedItem } from './device-queues.ts';
import type { PublishEvent } from './json.ts';

interface ModbusSlaveOptions {
  queues: DeviceQueues;
  publish: PublishEvent;
  now: () => Date;
  /** UC100 pass-through port: only downlinks on it reach the bus. */
  passThroughFPort: number;
  /** Delay between the downlink's txack and the answering uplink. */
  responseDelayMs: number;
  /** Gateway reported in the uplinks. */
  gatewayId: string;
  /** Whether the simulator still runs when an answer's delay is over. */
  running: () => boolean;
  /** Keeps a handle on the answer's publish (the simulator waits for it on stop and logs failures). */
  track: (work: Promise<void>) => void;
}

export class ModbusSlave {
  private readonly timers = new Set<NodeJS.Timeout>();

  constructor(private readonly options: ModbusSlaveOptions) {}

  /**
   * The UC100 forwards pass-through downlink bytes to RS485 unchanged ("Modbus transparent transmission",
   * UC100 User Guide §1.1) and uplinks what the bus answers on the same port, so the uplink's data is the
   * raw Modbus RTU response frame, CRC included. A slave answers a write it executed with the FC05/FC06
   * echo or the FC16 short response; anything else (reads, broadcasts, bad CRC) gets no answer here.
   */
  transmitted(devEui: string, item: QueuedItem): void {
    if (item.fPort !== this.options.passThroughFPort) return;
    const request = parseWriteRequest(item.data);
    if (!request) return;
    const response = expectedEcho(item.data);
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      if (!this.options.running()) return;
      this.options.track(this.answer(devEui, item.fPort, response));
    }, this.options.responseDelayMs);
    this.timers.add(timer);
  }

  /** Drop the answers still waiting for their delay (the simulator is stopping). */
  cancelPending(): void {
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
  }

  private async answer(devEui: string, fPort: number, data: Uint8Array): Promise<void> {
    const { queues, now, gatewayId } = this.options;
    const device = queues.device(devEui);
    const deviceInfo = device.deviceInfo ?? { applicationId: 'unknown', devEui };
    device.lastFCnt += 1;
    await this.options.publish(chirpstackTopic(deviceInfo.applicationId, devEui, 'up'), {
      deduplicationId: randomUUID(),
      time: now().toISOString(),
      deviceInfo,
      devAddr: device.devAddr ?? '00000000',
      adr: true,
      dr: 5,
      fCnt: device.lastFCnt,
      fPort,
      confirmed: false,
      data: Buffer.from(data).toString('base64'),
      rxInfo: [
        {
          gatewayId,
          uplinkId: randomInt(1, 0xffffffff),
          rssi: -57,
          snr: 9.5,
          context: '',
          metadata: { region_common_name: 'EU868', region_config_id: 'eu868' },
        },
      ],
      txInfo: {
        frequency: device.frequency ?? 868_100_000,
        modulation: { lora: { bandwidth: 125_000, spreadingFactor: device.spreadingFactor ?? 7, codeRate: 'CR_4_5' } },
      },
    });
    queues.counters.emulatedUplinks++;
  }
}
