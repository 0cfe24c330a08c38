// One meter: what it is and which device serves it, its relay state and how that was learned,
// Disconnect/Reconnect behind a confirmation that says what will happen, its readings and its commands.
import { useState } from 'preact/hooks';
import { api } from '../api.ts';
import { CommStatus, ErrorLine, PageHeader, RelayBadge } from '../components/bits.tsx';
import { CommandTable } from '../components/command-table.tsx';
import { ConfirmDialog } from '../components/confirm-dialog.tsx';
import { ConsumptionChart } from '../components/consumption-chart.tsx';
import { ReadingsChart } from '../components/readings-chart.tsx';
import { ago, interval, num, when } from '../format.ts';
import { useLive } from '../live.ts';
import { href } from '../router.ts';
import type { Command, Items, Meter, Reading } from '../types.ts';
import { useApi } from '../use-api.ts';

const relaySources: Record<string, string> = {
  modbus_echo: "the meter's Modbus echo of the relay command",
};

function RelayConsequence({ meter, action }: { meter: Meter; action: 'on' | 'off' }) {
  const device = meter.device;
  const lorawan = device?.kind === 'lorawan';
  return (
    <>
      <p>
        {action === 'off' ? (
          <>
            This switches the relay of meter <strong>{meter.meterNo}</strong> <strong>off</strong>: the customer's supply is cut when the device carries
            out the command.
          </>
        ) : (
          <>
            This switches the relay of meter <strong>{meter.meterNo}</strong> <strong>on</strong>: supply is restored when the device carries out the
            command.
          </>
        )}
      </p>
      {lorawan ? (
        <p class="consequence">
          The command is queued at the network server for device <span class="mono">{device?.devEui}</span>. It is a LoRaWAN Class A device: it
          receives the command only after {interval(device?.expectedUplinkIntervalS)}, so until then the command shows <strong>awaiting device</strong>. It
          becomes <strong>confirmed</strong> when the meter echoes the relay frame. If the device is not heard before the command expires, nothing is
          switched and the command shows <strong>expired</strong>.
        </p>
      ) : (
        <p class="consequence">The command is sent to the device at once; it shows <strong>confirmed</strong> when the device reports the change.</p>
      )}
      <p class="small muted">The request is recorded in the audit log under your name, with the reason you give.</p>
    </>
  );
}

export function MeterDetail({ id, canOperate }: { id: string; canOperate: boolean }) {
  const meter = useApi<Meter>(`/meters/${id}`);
  const commands = useApi<Items<Command>>(`/meters/${id}/commands?limit=20`);
  const readings = useApi<Items<Reading>>(`/meters/${id}/readings?limit=500`);
  const [asking, setAsking] = useState<'on' | 'off' | undefined>(undefined);
  const [notice, setNotice] = useState<string | undefined>(undefined);
  const reloadAll = () => {
    meter.reload();
    commands.reload();
  };
  useLive('commands', reloadAll, (event) => event.meterId === id);
  useLive('meters', () => (meter.reload(), readings.reload()), (event) => event.meterId === id);
  const m = meter.data;
  const device = m?.device ?? null;
  const hasRelay = Boolean(device?.capabilities?.relay);
  const latest = readings.data?.items[0];
  return (
    <>
      <PageHeader title={m ? `Meter ${m.meterNo}` : 'Meter'}>
        <a href={href('/meters')}>← all meters</a>
      </PageHeader>
      <ErrorLine error={meter.error} />
      {m ? (
        <section class="grid">
          <div class="card">
            <h2>Meter</h2>
            <dl>
              <dt>Type</dt>
              <dd>
                {m.meterType} ({m.unit})
              </dd>
              <dt>Status</dt>
              <dd>
                <CommStatus status={m.communicationStatus} />
              </dd>
              <dt>Last reading</dt>
              <dd>
                {num(m.lastReading)} {m.unit} · {ago(m.lastReadingDate)}
              </dd>
              <dt>Serial</dt>
              <dd>{m.serialNumber ?? '—'}</dd>
              <dt>Account</dt>
              <dd>{m.accountId ? <a href={href(`/accounts/${m.accountId}`)}>account</a> : 'none'}</dd>
            </dl>
          </div>
          <div class="card">
            <h2>Device</h2>
            {device ? (
              <dl>
                <dt>Type</dt>
                <dd>{device.deviceType}</dd>
                <dt>{device.devEui ? 'DevEUI' : 'Meter no.'}</dt>
                <dd class="mono">{device.devEui ?? device.meterNo}</dd>
                <dt>Lifecycle</dt>
                <dd>{device.lifecycle}</dd>
                <dt>Last heard</dt>
                <dd>{ago(device.lastSeenAt)}</dd>
                <dt>Battery</dt>
                <dd>{device.batteryLevel === null ? '—' : `${device.batteryLevel} %`}</dd>
                <dt>Events</dt>
                <dd>
                  <a href={href(`/devices/${device.id}/events`, { meter: m.id })}>device events</a>
                  {device.deviceType === 'esp32_meter' ? (
                    <>
                      {' · '}
                      <a href={href('/discrepancies', { meter: m.meterNo })}>balance discrepancies</a>
                    </>
                  ) : null}
                </dd>
              </dl>
            ) : (
              <p class="muted">No device serves this meter.</p>
            )}
          </div>
          <div class="card relay" data-relay-state={m.relayState}>
            <h2>Relay</h2>
            <p>
              <RelayBadge state={m.relayState} />
            </p>
            <p class="small">
              {m.relayStateAt
                ? `Learned ${when(m.relayStateAt)} (${ago(m.relayStateAt)}) from ${relaySources[m.relayStateSource ?? ''] ?? m.relayStateSource ?? 'an unknown source'}.`
                : 'Not yet learned: no relay command has been confirmed by this meter.'}
            </p>
            {canOperate && hasRelay ? (
              <div class="actions">
                <button class="danger" onClick={() => setAsking('off')}>
                  Disconnect
                </button>
                <button class="primary" onClick={() => setAsking('on')}>
                  Reconnect
                </button>
              </div>
            ) : null}
            {!hasRelay ? <p class="small muted">This meter's device has no relay.</p> : null}
            {notice ? (
              <p class="notice" role="status">
                {notice}
              </p>
            ) : null}
          </div>
        </section>
      ) : null}
      {asking && m ? (
        <ConfirmDialog
          title={asking === 'off' ? `Disconnect meter ${m.meterNo}?` : `Reconnect meter ${m.meterNo}?`}
          confirmLabel={asking === 'off' ? 'Disconnect' : 'Reconnect'}
          danger={asking === 'off'}
          reasonLabel="Reason (kept in the audit log)"
          onClose={() => setAsking(undefined)}
          onConfirm={async (reason) => {
            // One key per confirmation: a repeated submit returns the same command instead of a second one.
            const command = await api<Command>(`/meters/${id}/relay`, { method: 'POST', body: { action: asking, reason, idempotencyKey: `portal-${crypto.randomUUID()}` } });
            setNotice(`${asking === 'off' ? 'Disconnect' : 'Reconnect'} ${command.status}: ${command.statusText}`);
            reloadAll();
          }}
        >
          <RelayConsequence meter={m} action={asking} />
        </ConfirmDialog>
      ) : null}
      <section>
        <h2>Readings</h2>
        <ErrorLine error={readings.error} />
        {latest ? (
          <p class="small" data-latest-reading={latest.readingValue}>
            Latest: <strong>{num(latest.readingValue)}</strong> {m?.unit} at {when(latest.readingDate)}
            {latest.power !== null ? ` · ${num(latest.power, 1)} W` : ''}
            {latest.voltage !== null ? ` · ${num(latest.voltage, 1)} V` : ''}
            {latest.current !== null ? ` · ${num(latest.current, 2)} A` : ''}
            {latest.rssi !== null ? ` · RSSI ${latest.rssi} dBm` : ''}
          </p>
        ) : null}
        {readings.data ? <ReadingsChart readings={readings.data.items} unit={m?.unit ?? ''} /> : null}
      </section>
      <section>
        <h2>Consumption</h2>
        <ConsumptionChart meterId={id} unit={m?.unit ?? ''} />
      </section>
      <section>
        <h2>Commands</h2>
        <ErrorLine error={commands.error} />
        {commands.data ? <CommandTable commands={commands.data.items} canCancel={canOperate} onChanged={reloadAll} /> : null}
      </section>
    </>
  );
}
