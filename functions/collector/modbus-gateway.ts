// One connection to a Modbus gateway (modbus-serial): Modbus TCP, or RTU frames over a transparent TCP
// gateway. Requests go one at a time (the RS485 bus behind a gateway is half duplex, and ZLAN gateways
// answer one request at a time); a lost connection is reopened by the next request.
import ModbusRTU from 'modbus-serial';
import type { GatewayConfig } from './config.ts';

export interface RegisterReader {
  /** FC04: `count` input registers from `start` of one slave; rejects on timeout, exception or a dead link. */
  readInputRegisters(slaveId: number, start: number, count: number): Promise<number[]>;
  close(): Promise<void>;
}

/** A Modbus exception answer (the meter or gateway said no): the link itself is fine. */
export const isModbusException = (error: unknown): boolean =>
  typeof error === 'object' && error !== null && typeof (error as { modbusCode?: unknown }).modbusCode === 'number';

/** What went wrong, in words: modbus-serial rejects with plain objects ({name, message, errno}) as well as Errors. */
export function describeModbusError(error: unknown): string {
  if (typeof error === 'object' && error !== null) {
    const e = error as { message?: unknown; errno?: unknown; modbusCode?: unknown };
    const message = typeof e.message === 'string' ? e.message : JSON.stringify(error);
    return typeof e.errno === 'string' && !message.includes(e.errno) ? `${message} (${e.errno})` : message;
  }
  return String(error);
}

const isTimeout = (error: unknown): boolean =>
  typeof error === 'object' && error !== null && (error as { errno?: unknown }).errno === 'ETIMEDOUT';

export class ModbusGateway implements RegisterReader {
  private client: ModbusRTU | undefined;
  private connecting: Promise<ModbusRTU> | undefined;

  constructor(private readonly config: Pick<GatewayConfig, 'host' | 'port' | 'protocol' | 'timeoutMs'>) {}

  private async connect(): Promise<ModbusRTU> {
    if (this.client?.isOpen) return this.client;
    this.connecting ??= (async () => {
      const client = new ModbusRTU();
      // `timeout` bounds the TCP connect too: a gateway that is off does not hold the cycle for minutes.
      const options = { port: this.config.port, timeout: this.config.timeoutMs };
      if (this.config.protocol === 'rtu-over-tcp') await client.connectTcpRTUBuffered(this.config.host, options);
      else await client.connectTCP(this.config.host, options);
      client.setTimeout(this.config.timeoutMs);
      this.client = client;
      return client;
    })().finally(() => {
      this.connecting = undefined;
    });
    return this.connecting;
  }

  async readInputRegisters(slaveId: number, start: number, count: number): Promise<number[]> {
    const client = await this.connect();
    client.setID(slaveId);
    try {
      const result = await client.readInputRegisters(start, count);
      return result.data;
    } catch (error) {
      // A timeout or an exception concerns this meter; anything else (reset, closed socket) the link:
      // drop it so the next request reconnects.
      if (!isTimeout(error) && !isModbusException(error)) await this.close();
      throw error;
    }
  }

  async close(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    if (client?.isOpen) await new Promise<void>((resolve) => client.close(() => resolve()));
  }
}
