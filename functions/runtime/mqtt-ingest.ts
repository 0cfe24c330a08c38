// MQTT into the ingest batcher, each QoS 1 message acknowledged (PUBACK) only once the batch holding it
// has been committed or quarantined. A crash before that leaves the message unacknowledged, and a broker
// holding a persistent session (MQTT_CLIENT_ID) delivers it again after the restart; ingestion is
// idempotent (every row has its source key), so a redelivery is stored once.
//
// How MQTT.js acknowledges (mqtt 5.x, lib/handlers/publish.ts): for a QoS 1 PUBLISH it calls
// `client.handleMessage(packet, callback)` and sends the PUBACK when the callback is called without an
// error; called with an error, no PUBACK is sent. It also handles the connection's packets one at a
// time: the next packet (PUBLISH, PUBACK of our own publishes, SUBACK, PINGRESP) waits until that
// callback is called. Calling back only after the commit would therefore make every batch one message.
// So the callback is called as soon as the message is in the batcher, with `later` (an error: "no
// PUBACK now"), and the PUBACK is sent here once the batch is written — in the order the messages
// arrived (MQTT 3.1.1 §4.6 asks a receiver for that), over the connection they arrived on (after a
// reconnect the broker sends the unacknowledged ones again, and those are acknowledged instead).
//
// Back-pressure: when the batcher holds INGEST_MAX_IN_FLIGHT messages, the callback is held until there
// is room, which stops MQTT.js reading the connection, and the broker keeps the rest. On an MQTT 5
// broker the client's Receive Maximum (the same number) makes the broker itself stop sending first.
import type { IPublishPacket, MqttClient } from 'mqtt';
import type { InboundMessage } from '#app/ingest/inbound';
import type { MicroBatcher } from './batcher.ts';

/** What handleMessage's callback is given to mean "received, acknowledged later". */
const later = new Error('acknowledged after its batch is written');

/** MQTT.js's internal packet writer (what lib/handlers/publish.ts sends the PUBACK with). */
interface PacketSender {
  _sendPacket(packet: { cmd: 'puback'; messageId: number }, callback: () => void): void;
}

type AckState = 'waiting' | 'written' | 'dropped';

interface Ack {
  messageId: number;
  /** The connection the message came over (acknowledgements do not outlive it). */
  connection: number;
  state: AckState;
}

interface Waiting {
  message: InboundMessage;
  ack: Ack | undefined;
}

export interface MqttIngestOptions {
  /** Whether a topic is ingested (others are acknowledged at once, as MQTT.js does by default). */
  accepts: (topic: string) => boolean;
  now?: () => Date;
}

/**
 * Installed on the client before it connects, so messages a persistent session redelivers right at
 * connect are not acknowledged unseen; they wait here (unacknowledged) until the batcher is attached.
 */
export class MqttIngest {
  private batcher: MicroBatcher<InboundMessage> | undefined;
  /** Received, not yet in the batcher. */
  private readonly waiting: Waiting[] = [];
  /** handleMessage callbacks held back while the batcher is full. */
  private readonly held: (() => void)[] = [];
  /** QoS 1 messages in the order received, until acknowledged or dropped. */
  private readonly acks: Ack[] = [];
  private readonly settling = new Set<Promise<void>>();
  private connection = 0;
  private sequence = 0;
  private waitingForRoom = false;
  private closed = false;

  constructor(
    private readonly client: MqttClient,
    private readonly options: MqttIngestOptions,
  ) {
    // Whatever was not acknowledged on a connection that closed is the broker's again.
    client.on('close', () => {
      this.connection++;
      this.flushAcks();
    });
    client.handleMessage = (packet, callback) => this.receive(packet, callback);
  }

  /** Messages held by ingestion and not yet acknowledged (received, queued or being written). */
  get unacknowledged(): number {
    return this.acks.length;
  }

  /** Start handing messages to the batcher (those received so far first). */
  attach(batcher: MicroBatcher<InboundMessage>): void {
    this.batcher = batcher;
    this.feed();
  }

  /**
   * Stop taking messages: later ones stay unacknowledged (with a persistent session the broker delivers
   * them after the restart). Call drainAcks() once the batcher has drained.
   */
  close(): void {
    this.closed = true;
    for (const w of this.waiting.splice(0)) if (w.ack) w.ack.state = 'dropped';
    this.release();
    this.flushAcks();
  }

  /** Wait until every message handed to the batcher has settled and its PUBACK has been written. */
  async drainAcks(): Promise<void> {
    while (this.settling.size) await Promise.allSettled([...this.settling]);
    this.flushAcks();
  }

  private receive(packet: IPublishPacket, callback: (error?: Error) => void): void {
    const topic = packet.topic;
    if (!this.options.accepts(topic)) {
      callback();
      return;
    }
    const qos1 = packet.qos === 1 && packet.messageId !== undefined;
    if (this.closed) {
      // Not taken: no PUBACK (QoS 0 has none anyway), the broker keeps it.
      callback(qos1 ? later : undefined);
      return;
    }
    const payload = typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload;
    const message: InboundMessage = { id: `mqtt-${++this.sequence}`, topic, payload, receivedAt: (this.options.now ?? (() => new Date()))(), source: 'mqtt' };
    const ack: Ack | undefined = qos1 ? { messageId: packet.messageId as number, connection: this.connection, state: 'waiting' } : undefined;
    if (ack) this.acks.push(ack);
    this.waiting.push({ message, ack });
    this.feed();
    const done = () => callback(qos1 ? later : undefined);
    // Before the batcher is attached (start-up) nothing is held back: the stream must go on so the
    // start-up's own SUBACKs arrive; the broker's in-flight window bounds what waits here meanwhile.
    if (this.batcher && this.waiting.length) this.held.push(done);
    else done();
  }

  /** Move waiting messages into the batcher while it has room. */
  private feed(): void {
    const batcher = this.batcher;
    if (!batcher) return;
    while (this.waiting.length) {
      const next = this.waiting[0] as Waiting;
      const settled = batcher.tryPush(next.message);
      if (!settled) {
        if (!this.waitingForRoom) {
          this.waitingForRoom = true;
          batcher.room().then(
            () => {
              this.waitingForRoom = false;
              this.feed();
            },
            () => {
              // The batcher is draining: what still waits is not taken.
              this.waitingForRoom = false;
              this.close();
            },
          );
        }
        return;
      }
      this.waiting.shift();
      this.track(settled, next.ack);
    }
    this.release();
  }

  private track(settled: Promise<void>, ack: Ack | undefined): void {
    const tracked = settled.then(
      () => {
        if (ack) ack.state = 'written';
      },
      () => {
        // Not stored (shutting down while the database was unavailable): left to the broker.
        if (ack) ack.state = 'dropped';
      },
    );
    const done = tracked.finally(() => {
      this.settling.delete(done);
      this.flushAcks();
    });
    this.settling.add(done);
  }

  private release(): void {
    for (const done of this.held.splice(0)) done();
  }

  /** Acknowledge, in arrival order, every leading message that has been written. */
  private flushAcks(): void {
    while (this.acks.length) {
      const head = this.acks[0] as Ack;
      if (head.state === 'waiting' && head.connection === this.connection) return;
      this.acks.shift();
      if (head.state !== 'written' || head.connection !== this.connection || !this.client.connected) continue;
      // MQTT.js has no public call for a PUBACK of its own; this is the one its publish handler makes.
      (this.client as unknown as PacketSender)._sendPacket({ cmd: 'puback', messageId: head.messageId }, () => undefined);
    }
  }
}
