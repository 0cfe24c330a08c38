// A list of device commands with their lifecycle timestamps; open ones can be cancelled by an operator.
import { useState } from 'preact/hooks';
import { api } from '../api.ts';
import { when } from '../format.ts';
import { href } from '../router.ts';
import type { Command } from '../types.ts';
import { CommandBadge } from './bits.tsx';
import { ConfirmDialog } from './confirm-dialog.tsx';

const steps: [keyof Command, string][] = [
  ['createdAt', 'created'],
  ['queuedAt', 'queued'],
  ['sentAt', 'sent'],
  ['transmittedAt', 'transmitted'],
  ['confirmedAt', 'confirmed'],
  ['failedAt', 'failed'],
  ['cancelledAt', 'cancelled'],
  ['expiredAt', 'expired'],
];

function describe(c: Command): string {
  const action = c.data && typeof c.data.action === 'string' ? c.data.action : undefined;
  if (c.type === 'relay') return action === 'off' ? 'Disconnect' : action === 'on' ? 'Reconnect' : 'Relay';
  return c.type.replace(/_/g, ' ');
}

export function CommandTable({ commands, canCancel, showMeter, onChanged }: { commands: Command[]; canCancel: boolean; showMeter?: boolean; onChanged: () => void }) {
  const [cancelling, setCancelling] = useState<Command | undefined>(undefined);
  return (
    <>
      <table class="list commands">
        <thead>
          <tr>
            <th>Command</th>
            {showMeter ? <th>Meter</th> : null}
            <th>Status</th>
            <th>Lifecycle</th>
            <th>Requested</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {commands.map((c) => (
            <tr key={c.id} data-command-id={c.id}>
              <td>
                <strong>{describe(c)}</strong>
                {c.payloadHex ? (
                  <div class="mono small">
                    {c.payloadHex}
                    {c.fPort !== null ? ` on fPort ${c.fPort}` : ''}
                  </div>
                ) : null}
              </td>
              {showMeter ? <td>{c.meterId ? <a href={href(`/meters/${c.meterId}`)}>meter</a> : '—'}</td> : null}
              <td>
                <CommandBadge status={c.status} awaitingDevice={c.awaitingDevice} deliveryUnknown={c.deliveryUnknown} />
                <div class="small">{c.statusText}</div>
                {c.error ? <div class="small error">{c.error}</div> : null}
              </td>
              <td class="small">
                {steps
                  .filter(([key]) => c[key])
                  .map(([key, label]) => (
                    <div key={key}>
                      {label}: {when(c[key] as string)}
                    </div>
                  ))}
              </td>
              <td class="small">
                {c.requestedBy ?? '—'}
                {c.reason ? <div class="muted">“{c.reason}”</div> : null}
              </td>
              <td>
                {canCancel && (c.status === 'pending' || c.status === 'queued') ? (
                  <button class="small-button" onClick={() => setCancelling(c)}>
                    Cancel
                  </button>
                ) : null}
              </td>
            </tr>
          ))}
          {commands.length === 0 ? (
            <tr>
              <td colSpan={showMeter ? 6 : 5} class="muted">
                No commands.
              </td>
            </tr>
          ) : null}
        </tbody>
      </table>
      {cancelling ? (
        <ConfirmDialog
          title="Cancel this command?"
          confirmLabel="Cancel command"
          reasonLabel="Reason"
          onClose={() => setCancelling(undefined)}
          onConfirm={async (reason) => {
            await api(`/commands/${cancelling.id}/cancel`, { method: 'POST', body: { reason } });
            onChanged();
          }}
        >
          <p>
            {describe(cancelling)} has not been sent yet ({cancelling.status}). Cancelling it means it is never sent. A command the dispatcher is
            sending right now cannot be cancelled.
          </p>
        </ConfirmDialog>
      ) : null}
    </>
  );
}
