// Parking: the spaces as a grid by zone with their live state, and a space's page with its reservation(s),
// the override/maintenance and release actions (operators and admins, each behind a confirmation with a
// reason) and its display actuation history.
//
// A space's state, occupancy or override changing is announced on the live channel's parking topic, and a
// display's actuation on the commands topic: the grid and a space's page reload on them (without the live
// channel, they look again every few seconds).
import { useState } from 'preact/hooks';
import { api } from '../api.ts';
import { Badge, ErrorLine, PageHeader } from '../components/bits.tsx';
import { ConfirmDialog } from '../components/confirm-dialog.tsx';
import { ago, when } from '../format.ts';
import { useLive } from '../live.ts';
import type { Actuation, Page, ParkingSpace, Reservation, SpaceState } from '../portal-types.ts';
import { href } from '../router.ts';
import { useApi } from '../use-api.ts';
import { usePoll } from '../use-poll.ts';
import './parking.css';

const POLL_MS = 5_000;
const tone: Record<SpaceState, 'ok' | 'bad' | 'info' | 'muted'> = { FREE: 'ok', OCCUPIED: 'bad', RESERVED: 'info', MAINTENANCE: 'muted' };

export function Parking() {
  const { data, error, reload } = useApi<Page<ParkingSpace>>('/parking/spaces?limit=500');
  useLive('parking', reload);
  useLive('commands', reload);
  usePoll(reload, POLL_MS);
  const zones = new Map<string, ParkingSpace[]>();
  for (const s of data?.items ?? []) {
    const zone = s.zone ?? '(no zone)';
    zones.set(zone, [...(zones.get(zone) ?? []), s]);
  }
  return (
    <>
      <PageHeader title="Parking">
        <span class="muted small">{data ? `${data.total} spaces` : ''}</span>
        <button onClick={reload}>Refresh</button>
      </PageHeader>
      <ErrorLine error={error} />
      <p class="small legend">
        {(Object.keys(tone) as SpaceState[]).map((s) => (
          <span key={s} class={`space-dot space-${s}`}>
            {s.toLowerCase()}
          </span>
        ))}
      </p>
      {[...zones.entries()].map(([zone, spaces]) => (
        <section key={zone} class="zone" data-zone={zone}>
          <h2>
            {zone} <span class="muted small">{spaces.filter((s) => s.state === 'FREE').length} free of {spaces.length}</span>
          </h2>
          <div class="space-grid">
            {spaces.map((s) => (
              <a key={s.id} class={`space space-${s.state}`} href={href(`/parking/${s.id}`)} data-space-code={s.code} data-space-state={s.state} title={`${s.name}: ${s.state}`}>
                <strong>{s.code}</strong>
                <span>{s.state.toLowerCase()}</span>
                {s.reservation ? <span class="small">{s.reservation.reference}</span> : null}
              </a>
            ))}
          </div>
        </section>
      ))}
      {data && data.items.length === 0 ? <p class="muted">No parking spaces yet (POST /parking/spaces).</p> : null}
    </>
  );
}

type Asking = { kind: 'override'; state: SpaceState } | { kind: 'release' } | { kind: 'cancel'; reservation: Reservation };

/** A `datetime-local` value (the browser's wall clock) for a moment. */
const localInput = (d: Date) => new Date(d.getTime() - d.getTimezoneOffset() * 60_000).toISOString().slice(0, 16);

function ReserveDialog({ space, onClose, onDone }: { space: ParkingSpace; onClose: () => void; onDone: () => void }) {
  const [from, setFrom] = useState(() => localInput(new Date()));
  const [to, setTo] = useState(() => localInput(new Date(Date.now() + 2 * 3_600_000)));
  const [reference, setReference] = useState('');
  return (
    <ConfirmDialog
      title={`Reserve space ${space.code}?`}
      confirmLabel="Reserve"
      onClose={onClose}
      onConfirm={async () => {
        if (!reference.trim()) throw new Error('Give the reservation a reference (a plate, a booking number).');
        await api(`/parking/spaces/${space.id}/reservations`, { method: 'POST', body: { from: new Date(from).toISOString(), to: new Date(to).toISOString(), reference: reference.trim() } });
        onDone();
      }}
    >
      <p>The space shows reserved for the window{space.displayDevEui ? ' and its display is switched' : ''}; a window overlapping another reservation is refused.</p>
      <label class="field">
        <span>From</span>
        <input type="datetime-local" value={from} onInput={(e) => setFrom(e.currentTarget.value)} />
      </label>
      <label class="field">
        <span>To</span>
        <input type="datetime-local" value={to} onInput={(e) => setTo(e.currentTarget.value)} />
      </label>
      <label class="field">
        <span>Reference</span>
        <input value={reference} maxLength={200} onInput={(e) => setReference(e.currentTarget.value)} />
      </label>
    </ConfirmDialog>
  );
}

export function ParkingSpaceDetail({ id, canOperate }: { id: string; canOperate: boolean }) {
  const space = useApi<ParkingSpace>(`/parking/spaces/${id}`);
  const reservations = useApi<Page<Reservation>>(`/parking/spaces/${id}/reservations?limit=20`);
  const actuations = useApi<Page<Actuation>>(`/parking/spaces/${id}/actuations?limit=50`);
  const [asking, setAsking] = useState<Asking | undefined>(undefined);
  const [overrideTo, setOverrideTo] = useState<SpaceState>('MAINTENANCE');
  const [reserving, setReserving] = useState(false);
  const reload = () => (space.reload(), reservations.reload(), actuations.reload());
  useLive('parking', reload, (e) => e.spaceId === id);
  useLive('commands', reload);
  usePoll(space.reload, POLL_MS);
  const s = space.data;
  return (
    <>
      <PageHeader title={s ? `Space ${s.code}` : 'Parking space'}>
        <a href={href('/parking')}>← all spaces</a>
      </PageHeader>
      <ErrorLine error={space.error} />
      {s ? (
        <section class="grid">
          <div class="card" data-space-state={s.state}>
            <h2>{s.name}</h2>
            <p>
              <Badge tone={tone[s.state]}>{s.state.toLowerCase()}</Badge> <span class="small muted">since {ago(s.stateChangedAt)}</span>
            </p>
            <dl>
              <dt>Zone</dt>
              <dd>{s.zone ?? '—'}</dd>
              <dt>Sensor</dt>
              <dd>
                {s.sensorState ?? '—'} <span class="mono small">{s.sensorDevEui ?? ''}</span>
              </dd>
              <dt>Display</dt>
              <dd class="mono small">{s.displayDevEui ?? 'none'}</dd>
              {s.overrideReason ? (
                <>
                  <dt>Override</dt>
                  <dd>
                    “{s.overrideReason}” by {s.overrideBy ?? '—'}
                  </dd>
                </>
              ) : null}
            </dl>
            {canOperate ? (
              <div class="actions">
                <select aria-label="Override to" value={overrideTo} onChange={(e) => setOverrideTo(e.currentTarget.value as SpaceState)}>
                  <option value="MAINTENANCE">maintenance</option>
                  <option value="FREE">free</option>
                  <option value="OCCUPIED">occupied</option>
                  <option value="RESERVED">reserved</option>
                </select>
                <button onClick={() => setAsking({ kind: 'override', state: overrideTo })}>Override</button>
                {s.overrideReason ? <button onClick={() => setAsking({ kind: 'release' })}>Release</button> : null}
              </div>
            ) : null}
          </div>
          <div class="card">
            <h2>Reservations</h2>
            {canOperate ? (
              <p>
                <button onClick={() => setReserving(true)}>Reserve</button>
              </p>
            ) : null}
            <ErrorLine error={reservations.error} />
            <table class="list">
              <tbody>
                {reservations.data?.items.map((r) => (
                  <tr key={r.id} data-reservation={r.reference}>
                    <td>
                      <strong>{r.reference}</strong>
                      <div class="small">
                        {when(r.from)} – {when(r.to)}
                      </div>
                    </td>
                    <td>{r.status}</td>
                    <td>
                      {canOperate && (r.status === 'scheduled' || r.status === 'active') ? (
                        <button class="small-button" onClick={() => setAsking({ kind: 'cancel', reservation: r })}>
                          Cancel
                        </button>
                      ) : null}
                    </td>
                  </tr>
                ))}
                {reservations.data?.items.length === 0 ? (
                  <tr>
                    <td class="muted">No reservations.</td>
                  </tr>
                ) : null}
              </tbody>
            </table>
          </div>
        </section>
      ) : null}
      {reserving && s ? <ReserveDialog space={s} onClose={() => setReserving(false)} onDone={reload} /> : null}
      {asking && s ? (
        <ConfirmDialog
          title={
            asking.kind === 'override' ? `Set space ${s.code} to ${asking.state.toLowerCase()}?` : asking.kind === 'release' ? `Release space ${s.code}?` : `Cancel reservation ${asking.reservation.reference}?`
          }
          confirmLabel={asking.kind === 'override' ? 'Override' : asking.kind === 'release' ? 'Release' : 'Cancel reservation'}
          reasonLabel="Reason (kept in the audit log)"
          onClose={() => setAsking(undefined)}
          onConfirm={async (reason) => {
            if (asking.kind === 'override') await api(`/parking/spaces/${id}/override`, { method: 'POST', body: { state: asking.state, reason } });
            else if (asking.kind === 'release') await api(`/parking/spaces/${id}/release`, { method: 'POST', body: { reason } });
            else await api(`/parking/reservations/${asking.reservation.id}/cancel`, { method: 'POST', body: { reason } });
            reload();
          }}
        >
          <p>
            {asking.kind === 'override'
              ? `The space shows ${asking.state.toLowerCase()} whatever its sensor says until it is released${s.displayDevEui ? '; its display is switched to match' : ''}.`
              : asking.kind === 'release'
                ? 'The override ends: the space goes back to its reservation or to what its sensor reports.'
                : 'The reservation ends now; a reserved space goes back to what its sensor reports.'}
          </p>
        </ConfirmDialog>
      ) : null}
      <section>
        <h2>Actuation history</h2>
        <ErrorLine error={actuations.error} />
        <table class="list actuations">
          <thead>
            <tr>
              <th>When</th>
              <th>Trigger</th>
              <th>Change</th>
              <th>Display</th>
            </tr>
          </thead>
          <tbody>
            {actuations.data?.items.map((a) => (
              <tr key={a.id} data-trigger={a.trigger}>
                <td class="small">{when(a.createdAt)}</td>
                <td>
                  {a.trigger.replace(/_/g, ' ')}
                  <div class="small muted">{a.triggerSource ?? ''}</div>
                </td>
                <td>
                  {a.previousState ?? '—'} → {a.newState}
                </td>
                <td class="small">
                  {a.displayCode === null ? 'no display' : a.downlinkConfirmed ? 'confirmed' : a.downlinkSent ? 'sent' : a.downlinkError ? <span class="error">{a.downlinkError}</span> : 'queued'}
                </td>
              </tr>
            ))}
            {actuations.data?.items.length === 0 ? (
              <tr>
                <td colSpan={4} class="muted">
                  No actuations yet.
                </td>
              </tr>
            ) : null}
          </tbody>
        </table>
      </section>
    </>
  );
}
