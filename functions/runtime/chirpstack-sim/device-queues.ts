// The simulator's memory: each device's downlink queue and what it last heard of the device's radio
// (DevAddr, frame counters, frequency, spreading factor), and the counters tests and benchmarks read.
import * as z from 'zod';

export interface QueuedItem {
  id: string;
  devEui: string;
  confirmed: boolean;
  fPort: number;
  data: Uint8Array;
  expiresAt: Date | undefined;
}

/** The deviceInfo of ChirpStack v4 events: what the simulator reads of it; the rest is passed on. */
export const deviceInfoSchema = z.object({ applicationId: z.string(), devEui: z.string() }).loose();
type DeviceInfo = z.infer<typeof deviceInfoSchema>;

interface DeviceState {
  queue: QueuedItem[];
  nextFCntDown: number;
  lastFCnt: number;
  deviceInfo?: DeviceInfo;
  devAddr?: string;
  frequency?: number;
  spreadingFactor?: number;
}

export interface ChirpStackSimulatorCounters {
  /** Queue items accepted by POST. */
  enqueued: number;
  /** Queue items transmitted (txack published). */
  delivered: number;
  /** Confirmed items acknowledged (ack published). */
  acknowledged: number;
  /** Items dropped because expiresAt passed before a delivery opportunity. */
  expired: number;
  /** Items removed by DELETE (flush). */
  flushed: number;
  /** Uplinks published by device emulation. */
  emulatedUplinks: number;
}

export class DeviceQueues {
  readonly counters: ChirpStackSimulatorCounters = {
    enqueued: 0,
    delivered: 0,
    acknowledged: 0,
    expired: 0,
    flushed: 0,
    emulatedUplinks: 0,
  };
  private readonly devices = new Map<string, DeviceState>();

  constructor(private readonly now: () => Date) {}

  /** The device's state, created on first mention. */
  device(devEui: string): DeviceState {
    let device = this.devices.get(devEui);
    if (!device) {
      device = { queue: [], nextFCntDown: 0, lastFCnt: -1 };
      this.devices.set(devEui, device);
    }
    return device;
  }

  /** The device's state, if it was ever mentioned. */
  find(devEui: string): DeviceState | undefined {
    return this.devices.get(devEui);
  }

  /** Remove expired items (ChirpStack drops them when it would otherwise send them); returns them. */
  dropExpired(device: DeviceState): QueuedItem[] {
    const now = this.now().getTime();
    const expired = device.queue.filter((item) => item.expiresAt !== undefined && item.expiresAt.getTime() <= now);
    if (expired.length > 0) {
      device.queue = device.queue.filter((item) => !expired.includes(item));
      this.counters.expired += expired.length;
    }
    return expired;
  }
}
