// Stopping the local runtime drains the command queue before the ChirpStack simulator, the MQTT client
// and the database close: commands accepted just before the stop are sent, not stranded mid-claim.
// Real PostgreSQL and Mosquitto when DATABASE_URL / MQTT_URL are set, PGlite and aedes otherwise.
import { rm } from 'node:fs/promises';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { randomEui } from '../support/chirpstack.ts';
import { databaseUrl } from '../support/db.ts';
import { startTestPlatform } from '../support/platform.ts';

describe('stopping the runtime', () => {
  it('sends the commands accepted just before the stop', async () => {
    const first = await startTestPlatform({ SCHEDULER_ENABLED: 'false' });
    const token = await first.token('operator');
    const post = (path: string, body: unknown) =>
      fetch(`${first.httpUrl}${path}`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const meterIds: string[] = [];
    for (let i = 0; i < 20; i++) {
      const devEui = randomEui();
      const res = await post('/meters', { meterNo: `SD${devEui.slice(0, 10)}`, meterType: 'electricity', device: { deviceType: 'milesight_uc100', devEui } });
      meterIds.push(((await res.json()) as { id: string }).id);
    }
    const bulk = await post('/commands/bulk', { meterIds, action: 'off', reason: 'shutdown test' });
    const ids = ((await bulk.json()) as { items: { id: string }[] }).items.map((c) => c.id);
    const schema = first.db.driver === 'postgres' ? (new URL(first.config.DATABASE_URL ?? '').searchParams.get('options') ?? '').replace(/.*search_path=/, '') : undefined;

    await first.stop();

    const second = await startTestPlatform({ SCHEDULER_ENABLED: 'false' }, { dataDir: first.dataDir, ...(schema ? { schema } : {}) });
    try {
      const rows = await second.db.db.selectFrom('device_commands').select(['status', 'network_queue_item_id', 'claim_token']).where('id', 'in', ids).execute();
      expect(bulk.status).toBe(202);
      expect(rows).toHaveLength(20);
      expect(rows.every((r) => r.status === 'sent' && r.network_queue_item_id !== null && r.claim_token === null)).toBe(true);
    } finally {
      await second.dispose();
      await rm(first.dataDir, { recursive: true, force: true });
      if (schema && databaseUrl) {
        const c = new pg.Client({ connectionString: databaseUrl });
        await c.connect();
        await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
        await c.end();
      }
    }
  });
});
