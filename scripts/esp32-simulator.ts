// `npm run esp32 -- <meterNo>`: an ESP32 smart meter simulator, speaking the seed's topics
// (esp32-mqtt-architecture.md) through the AWS IoT Device SDK v2, the way a real meter connects: to the
// local broker (plain MQTT) or to AWS IoT Core (mTLS with the thing's certificate).
//
// It connects with its meterNo as client id (= its IoT thing name, what the IoT policy keys on; = its
// username on the local broker, with the password POST /devices/{id}/mqtt-credentials issued), listens on
// `smartmeter/{meterNo}/command/balance`, answers each balance command with a `balance` report, and every
// interval publishes `consumption` (units used, deducted from its local balance) and a `status`.
//
// Environment: ESP32_HOST (default 127.0.0.1), ESP32_PORT (1883; 8883 with certificates),
// ESP32_CERT / ESP32_KEY (PEM paths: IoT Core mTLS), ESP32_PASSWORD (the local broker's login), ESP32_INTERVAL_MS (30000), ESP32_UNITS (0.0048 per
// interval), ESP32_COUNT (reports before exiting; 0 = until Ctrl-C).
import { randomBytes } from 'node:crypto';
import { io, iot, mqtt } from 'aws-iot-device-sdk-v2';
import * as z from 'zod';
import { balanceCommandSchema } from '#domain/esp32';
import { formatIssues } from '#domain/issues';
import { esp32CommandTopic, esp32ReportTopic, isMeterNo, meterClientId, type Esp32ReportKind } from '#domain/topics';

const simulatorOptionsSchema = z.object({
  meterNo: z.string().refine(isMeterNo, 'meterNo: letters, digits, _ and - only'),
  host: z.string().min(1).default('127.0.0.1'),
  port: z.coerce.number().int().min(1).max(65535).optional(),
  cert: z.string().optional(),
  key: z.string().optional(),
  /** The meter's MQTT secret for the local broker (the username is the meterNo). */
  password: z.string().optional(),
  intervalMs: z.coerce.number().int().min(10).default(30_000),
  unitsPerInterval: z.coerce.number().nonnegative().default(0.0048),
  count: z.coerce.number().int().min(0).default(0),
  initialBalance: z.coerce.number().default(0),
});
export type SimulatorOptions = z.input<typeof simulatorOptionsSchema>;

export interface Esp32Simulator {
  /** The balance the meter holds now. */
  balance(): number;
  /** Balance commands received so far. */
  commands: { balance: number; timestamp: number }[];
  /** Publish one consumption report now. */
  report(): Promise<void>;
  stop(): Promise<void>;
}

export async function startEsp32Simulator(input: SimulatorOptions): Promise<Esp32Simulator> {
  const o = simulatorOptionsSchema.parse(input);
  const withTls = Boolean(o.cert && o.key);
  const config = withTls
    ? iot.AwsIotMqttConnectionConfigBuilder.new_mtls_builder_from_path(o.cert ?? '', o.key ?? '')
        .with_client_id(meterClientId(o.meterNo))
        .with_endpoint(o.host)
        .with_port(o.port ?? 8883)
        .with_clean_session(true)
        .with_keep_alive_seconds(30)
        .build()
    : ({
        client_id: meterClientId(o.meterNo),
        host_name: o.host,
        port: o.port ?? 1883,
        // The SDK would append its metrics to the username (`METER001?SDK=…`), which a broker checking
        // logins by name (the embedded one, Mosquitto) reads as another user.
        ...(o.password ? { username: o.meterNo, password: o.password, disable_metrics: true } : {}),
        clean_session: true,
        keep_alive: 30,
        socket_options: new io.SocketOptions(),
      } as mqtt.MqttConnectionConfig);
  const connection = new mqtt.MqttClient(new io.ClientBootstrap()).new_connection(config);
  await connection.connect();

  let balance = o.initialBalance;
  let total = 0;
  const commands: { balance: number; timestamp: number }[] = [];
  const publish = (kind: Esp32ReportKind, body: object, qos: mqtt.QoS) =>
    connection.publish(esp32ReportTopic(o.meterNo, kind), JSON.stringify(body), qos);

  await connection.subscribe(esp32CommandTopic(o.meterNo, 'balance'), mqtt.QoS.AtLeastOnce, (_topic, payload) => {
    let body: unknown;
    try {
      body = JSON.parse(Buffer.from(payload).toString('utf8'));
    } catch {
      body = undefined;
    }
    const command = balanceCommandSchema.safeParse(body);
    if (!command.success) return;
    commands.push(command.data);
    balance = command.data.balance;
    // The seed's acknowledgement: report the balance now held.
    void publish('balance', { meterNo: o.meterNo, balance, timestamp: Date.now() }, mqtt.QoS.AtMostOnce);
  });

  const report = async () => {
    // The relay stays off at zero balance, so nothing more is consumed.
    const units = balance > 0 ? Math.min(o.unitsPerInterval, balance) : 0;
    balance = +(balance - units).toFixed(6);
    total = +(total + units).toFixed(6);
    await publish('consumption', { meterNo: o.meterNo, unitsConsumed: units, remainingBalance: balance, totalConsumed: total, timestamp: Date.now() }, mqtt.QoS.AtLeastOnce);
    await publish(
      'status',
      { meterNo: o.meterNo, status: balance > 0 ? 'online' : 'low_balance', message: balance > 0 ? 'Device operating normally' : 'Balance exhausted: relay off', balance, wifi_rssi: -60 - (randomBytes(1)[0] ?? 0) % 20, timestamp: Date.now() },
      mqtt.QoS.AtMostOnce,
    );
  };

  return {
    balance: () => balance,
    commands,
    report,
    stop: async () => {
      await connection.disconnect();
    },
  };
}

// Run as a command.
if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop() ?? '')) {
  const meterNo = process.argv[2];
  if (!meterNo) {
    console.error('usage: npm run esp32 -- <meterNo>');
    process.exit(2);
  }
  const env = process.env;
  const options = simulatorOptionsSchema.safeParse({
    meterNo,
    host: env.ESP32_HOST,
    port: env.ESP32_PORT,
    cert: env.ESP32_CERT,
    key: env.ESP32_KEY,
    password: env.ESP32_PASSWORD,
    intervalMs: env.ESP32_INTERVAL_MS,
    unitsPerInterval: env.ESP32_UNITS,
    count: env.ESP32_COUNT,
    initialBalance: env.ESP32_BALANCE,
  });
  if (!options.success) {
    console.error(formatIssues(options.error, '', Number.POSITIVE_INFINITY, '\n'));
    process.exit(2);
  }
  const sim = await startEsp32Simulator(options.data);
  console.log(`ESP32 ${meterNo} connected to ${options.data.host}; reporting every ${options.data.intervalMs} ms (Ctrl-C to stop)`);
  let reports = 0;
  const timer = setInterval(() => {
    sim
      .report()
      .then(() => {
        reports++;
        console.log(`consumption reported; balance ${sim.balance()}`);
        if (options.data.count && reports >= options.data.count) process.kill(process.pid, 'SIGINT');
      })
      .catch((error: unknown) => console.error('report failed:', error));
  }, options.data.intervalMs);
  process.on('SIGINT', () => {
    clearInterval(timer);
    void sim.stop().then(() => process.exit(0));
  });
}
