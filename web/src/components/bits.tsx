// Small pieces every page uses: status badges, an error line, a page header, a list's empty row and pager.
import type { ComponentChildren } from 'preact';
import { href } from '../router.ts';

export function Badge({ tone, children }: { tone: 'ok' | 'warn' | 'bad' | 'muted' | 'info'; children: ComponentChildren }) {
  return <span class={`badge badge-${tone}`}>{children}</span>;
}

export function CommStatus({ status }: { status: string }) {
  return <Badge tone={status === 'online' ? 'ok' : status === 'offline' ? 'bad' : 'muted'}>{status}</Badge>;
}

export function RelayBadge({ state }: { state: string }) {
  return <Badge tone={state === 'on' ? 'ok' : state === 'off' ? 'warn' : 'muted'}>{state === 'on' ? 'supply on' : state === 'off' ? 'disconnected' : 'relay unknown'}</Badge>;
}

const commandTone = (status: string, awaiting: boolean): 'ok' | 'warn' | 'bad' | 'muted' | 'info' =>
  status === 'confirmed' ? 'ok' : status === 'failed' || status === 'expired' ? 'bad' : status === 'cancelled' ? 'muted' : awaiting ? 'warn' : 'info';

export function CommandBadge({ status, awaitingDevice, deliveryUnknown }: { status: string; awaitingDevice: boolean; deliveryUnknown: boolean }) {
  const label = awaitingDevice ? 'awaiting device' : deliveryUnknown ? 'delivery unknown' : status;
  return (
    <Badge tone={commandTone(status, awaitingDevice || deliveryUnknown)}>
      <span data-command-status={status}>{label}</span>
    </Badge>
  );
}

export function ErrorLine({ error }: { error: string | undefined }) {
  return error ? (
    <p class="error" role="alert">
      {error}
    </p>
  ) : null;
}

export function PageHeader({ title, children }: { title: string; children?: ComponentChildren }) {
  return (
    <header class="page-header">
      <h1>{title}</h1>
      <div class="page-actions">{children}</div>
    </header>
  );
}

/** The one row of a list table that matched nothing. */
export function EmptyRow({ columns, children }: { columns: number; children: ComponentChildren }) {
  return (
    <tr>
      <td colSpan={columns} class="muted">
        {children}
      </td>
    </tr>
  );
}

/** Previous/next links of a paged list (`more`: a next page exists); `newest` lists read newer/older. */
export function Pager({ path, query, offset, page, more, newest }: { path: string; query: Record<string, string | undefined>; offset: number; page: number; more: boolean; newest?: boolean }) {
  return (
    <nav class="pager">
      {offset > 0 ? <a href={href(path, { ...query, offset: String(Math.max(0, offset - page)) })}>{newest ? '← newer' : '← previous'}</a> : null}
      {more ? <a href={href(path, { ...query, offset: String(offset + page) })}>{newest ? 'older →' : 'next →'}</a> : null}
    </nav>
  );
}
