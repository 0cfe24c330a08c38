// `npm run sim:sdm630`: a Modbus TCP gateway with simulated Eastron meters for the collector and demos.
// SIM_PORT (default 5020; 502 needs root), SIM_HOST (127.0.0.1), SIM_SLAVE_IDS (default 1,2,3; or
// SIM_METERS=N for ids 1..N), SIM_MODEL (SDM630 or SDM320C), SIM_SILENT (ids that never answer).
// While it runs, type `silent 2`, `wake 2` or `reset 2` (counter back to 0) and Enter.
import 'dotenv/config';
import { createInterface } from 'node:readline';
import * as z from 'zod';
import { sdmModels } from '#domain/sdm-registers';
import { startSdm630Simulator } from '#runtime/sdm630-sim';

const idList = z
  .string()
  .regex(/^\d+(,\d+)*$/, 'a comma-separated list of slave ids')
  .transform((s) => s.split(',').map(Number))
  .pipe(z.array(z.number().int().min(1).max(247)));
const env = z
  .object({
    SIM_HOST: z.string().default('127.0.0.1'),
    SIM_PORT: z.coerce.number().int().min(0).max(65535).default(5020),
    SIM_SLAVE_IDS: idList.optional(),
    SIM_METERS: z.coerce.number().int().min(1).max(247).optional(),
    SIM_MODEL: z.enum(sdmModels).default('SDM630'),
    SIM_SILENT: idList.optional(),
  })
  .safeParse(process.env);
if (!env.success) {
  console.error(`sim:sdm630: ${env.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  process.exit(2);
}
const cfg = env.data;
const ids = cfg.SIM_SLAVE_IDS ?? Array.from({ length: cfg.SIM_METERS ?? 3 }, (_, i) => i + 1);
const sim = await startSdm630Simulator({
  host: cfg.SIM_HOST,
  port: cfg.SIM_PORT,
  meters: ids.map((slaveId) => ({ slaveId, model: cfg.SIM_MODEL })),
  silentSlaveIds: cfg.SIM_SILENT,
});
console.log(`SDM630 gateway simulator on modbus-tcp://${sim.host}:${sim.port}: ${cfg.SIM_MODEL} meters at slave ids ${ids.join(',')}`);
if (cfg.SIM_SILENT?.length) console.log(`silent (time out): ${cfg.SIM_SILENT.join(',')}`);
console.log('commands: silent <id> | wake <id> | reset <id>');

const rl = createInterface({ input: process.stdin });
rl.on('line', (line) => {
  const [cmd, arg] = line.trim().split(/\s+/);
  const id = Number(arg);
  if (!Number.isInteger(id) || !sim.slaveIds().includes(id)) return console.log(`unknown slave id ${arg ?? ''}`);
  if (cmd === 'silent') sim.setSilent(id, true);
  else if (cmd === 'wake') sim.setSilent(id, false);
  else if (cmd === 'reset') sim.resetCounter(id);
  else return console.log('commands: silent <id> | wake <id> | reset <id>');
  console.log(`${cmd} ${id}: ok`);
});
const stop = () => {
  rl.close();
  void sim.stop().then(() => process.exit(0));
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
