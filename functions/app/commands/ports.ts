// What the command system needs from the outside: a queue to hand command ids to (SQS in the cloud, an
// in-process batcher locally), a publisher for MQTT commands (IoT data plane / the local broker) and the
// network server's device queue (ChirpStack, or its local simulator).
import * as z from 'zod';
import type { Db } from '#store/db';
import type { Logger } from '#shared/logger';

/** A downlink to queue for a device. */
export interface EnqueueItem {
  data: Uint8Array;
  /** Application fPort: 1..223 (224+ is reserved by LoRaWAN). */
  fPort: number;
  confirmed: boolean;
  /** The network server drops the item from the queue after this time. */
  expiresAt?: Date | undefined;
}

export interface DeviceQueueItem {
  id: string;
  devEui: string;
  confirmed: boolean;
  fPort: number;
  data: Uint8Array;
  /** Sent and awaiting the device's confirmation. */
  isPending: boolean;
  fCntDown: number;
  isEncrypted: boolean;
  expiresAt: Date | undefined;
}

export interface DeviceQueue {
  totalCount: number;
  items: DeviceQueueItem[];
}

/**
 * What the command dispatcher needs from a network server's downlink queue (ChirpStack). Every method
 * throws a DeviceQueueError (errors.ts) when the network server fails it, saying whether a retry can help.
 */
export interface DeviceQueueApi {
  /** Queue a downlink; resolves to the network server's queue-item id (UUID). */
  enqueue(devEui: string, item: EnqueueItem): Promise<string>;
  listQueue(devEui: string): Promise<DeviceQueue>;
  flushQueue(devEui: string): Promise<void>;
}

/** Hands command ids to the dispatcher. Delivery is at least once: the dispatcher's claim makes it once. */
export interface CommandQueue {
  enqueue(commandIds: string[]): Promise<void>;
}

/** Publishes a device command over MQTT (QoS 1, not retained). */
export interface DevicePublisher {
  publish(topic: string, payload: string, options: { qos: 1 }): Promise<void>;
}

/** The body of one command-queue message (SQS): one command per message, so failures are per command. */
export const commandMessageSchema = z.object({ commandId: z.uuid() });
export type CommandMessage = z.infer<typeof commandMessageSchema>;

/** What creating and enqueueing commands needs; AppDeps satisfies it. */
export interface CommandDeps {
  db: Db;
  logger: Logger;
  now: () => Date;
  commandQueue: CommandQueue;
  /** How long a command may wait for its device before it expires (COMMAND_EXPIRY_HOURS). */
  commandExpiryHours?: number;
}

export const DEFAULT_COMMAND_EXPIRY_HOURS = 48;
