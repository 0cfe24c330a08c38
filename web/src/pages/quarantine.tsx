// Inbound messages that could not be processed, with their reason: run one through ingestion again (after
// registering its device, say) or close it with a reason.
import { useState } from 'preact/hooks';
import { api, errorText } from '../api.ts';
import { ErrorLine, PageHeader } from '../components/bits.tsx';
import { ConfirmDialog } from '../components/confirm-dialog.tsx';
import { when } from '../format.ts';
import { href, navigate, type Route } from '../router.ts';
import type { Items, Quarantined } from '../types.ts';
import { useApi } from '../use-api.ts';

export function Quarantine({ route, canOperate }: { route: Route; canOperate: boolean }) {
  const status = route.query.get('status') ?? 'new';
  const { data, error, reload } = useApi<Items<Quarantined>>(`/quarantine?limit=100&status=${encodeURIComponent(status)}`);
  const [discarding, setDiscarding] = useState<Quarantined | undefined>(undefined);
  const [message, setMessage] = useState<string | undefined>(undefined);
  const reprocess = async (q: Quarantined) => {
    try {
      const result = await api<{ resolved: boolean; item: Quarantined }>(`/quarantine/${q.id}/reprocess`, { method: 'POST' });
      setMessage(result.resolved ? 'Reprocessed: the message was ingested.' : `Still quarantined: ${result.item.reason}`);
      reload();
    } catch (e) {
      setMessage(errorText(e));
    }
  };
  return (
    <>
      <PageHeader title="Quarantine">
        <select aria-label="Quarantine status" value={status} onChange={(e) => navigate(href('/quarantine', { status: e.currentTarget.value }))}>
          <option value="new">open</option>
          <option value="reprocessed">reprocessed</option>
          <option value="discarded">discarded</option>
        </select>
      </PageHeader>
      <ErrorLine error={error} />
      {message ? (
        <p class="notice" role="status">
          {message}
        </p>
      ) : null}
      <table class="list">
        <thead>
          <tr>
            <th>Received</th>
            <th>From</th>
            <th>Reason</th>
            <th>Attempts</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {data?.items.map((q) => (
            <tr key={q.id}>
              <td class="small">{when(q.receivedAt)}</td>
              <td class="small">
                <div class="mono">{q.devEui ?? q.meterNo ?? q.source}</div>
                <div class="muted">{q.topic}</div>
              </td>
              <td>
                <strong>{q.reasonCode}</strong>
                <div class="small">{q.reason}</div>
              </td>
              <td class="num">{q.attempts}</td>
              <td>
                {canOperate && q.status === 'new' ? (
                  <div class="actions">
                    <button class="small-button" onClick={() => void reprocess(q)}>
                      Reprocess
                    </button>
                    <button class="small-button" onClick={() => setDiscarding(q)}>
                      Discard
                    </button>
                  </div>
                ) : null}
              </td>
            </tr>
          ))}
          {data && data.items.length === 0 ? (
            <tr>
              <td colSpan={5} class="muted">
                Nothing here.
              </td>
            </tr>
          ) : null}
        </tbody>
      </table>
      {discarding ? (
        <ConfirmDialog
          title="Discard this message?"
          confirmLabel="Discard"
          danger
          reasonLabel="Reason"
          onClose={() => setDiscarding(undefined)}
          onConfirm={async (reason) => {
            await api(`/quarantine/${discarding.id}/discard`, { method: 'POST', body: { reason } });
            reload();
          }}
        >
          <p>
            The message from <span class="mono">{discarding.devEui ?? discarding.meterNo ?? discarding.source}</span> ({discarding.reasonCode}) is closed and
            will not be ingested. It stays stored, with your reason.
          </p>
        </ConfirmDialog>
      ) : null}
    </>
  );
}
