// The operator portal: sign-in, then the shell (navigation, who is signed in, whether updates are live)
// around the page the URL's hash names.
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { setToken, setUnauthorizedHandler } from './api.ts';
import { onLiveState, startLive } from './live.ts';
import { AccountDetail } from './pages/account-detail.tsx';
import { Accounts } from './pages/accounts.tsx';
import { Audit } from './pages/audit.tsx';
import { Commands } from './pages/commands.tsx';
import { DeviceEvents } from './pages/device-events.tsx';
import { Discrepancies } from './pages/discrepancies.tsx';
import { Login } from './pages/login.tsx';
import { MeterDetail } from './pages/meter-detail.tsx';
import { Meters } from './pages/meters.tsx';
import { Overview } from './pages/overview.tsx';
import { Parking, ParkingSpaceDetail } from './pages/parking.tsx';
import { Payments } from './pages/payments.tsx';
import { Quarantine } from './pages/quarantine.tsx';
import { TariffDetail, Tariffs } from './pages/tariffs.tsx';
import { href, useRoute } from './router.ts';
import { loadPortalConfig } from './config.ts';
import { canOperate, clearSession, keepFresh, signOut, startSession, type Session } from './session.ts';
import './styles.css';

function LiveIndicator() {
  const [state, setState] = useState<'off' | 'connecting' | 'live'>('off');
  useEffect(() => onLiveState(setState), []);
  return (
    <span class={`live live-${state}`} data-live={state} title="Readings, command states, payments, balances and parking states update without reload while live">
      {state === 'live' ? '● live' : state === 'connecting' ? '○ connecting' : '○ offline'}
    </span>
  );
}

function App({ initial }: { initial: Session | string | undefined }) {
  const [session, setSession] = useState<Session | undefined>(typeof initial === 'string' ? undefined : initial);
  const [notice, setNotice] = useState<string | undefined>(typeof initial === 'string' ? initial : undefined);
  const route = useRoute();
  // Before the pages render: their effects (which call the API) run before this component's.
  setToken(session?.token);
  useEffect(() => {
    startLive(session?.token);
    setUnauthorizedHandler(() => {
      clearSession();
      setSession(undefined);
      setNotice('Your session ended (the token expired or is no longer valid): sign in again.');
    });
  }, [session]);
  // In the cloud the ID token is renewed before it expires (locally a token lives until it is replaced).
  useEffect(() => keepFresh(session, setSession), [session]);
  if (!session) return <Login onSignedIn={(s) => (setNotice(undefined), setSession(s))} notice={notice} />;
  const operate = canOperate(session);
  const admin = session.roles.includes('admin');
  const [section = '', id] = route.path;
  const page =
    section === 'meters' && id ? (
      <MeterDetail id={id} canOperate={operate} />
    ) : section === 'meters' ? (
      <Meters route={route} canOperate={operate} />
    ) : section === 'commands' ? (
      <Commands route={route} canOperate={operate} />
    ) : section === 'quarantine' ? (
      <Quarantine route={route} canOperate={operate} />
    ) : section === 'accounts' && id ? (
      <AccountDetail id={id} canOperate={operate} />
    ) : section === 'accounts' ? (
      <Accounts route={route} />
    ) : section === 'payments' ? (
      <Payments route={route} canOperate={operate} />
    ) : section === 'tariffs' && id ? (
      <TariffDetail id={id} canOperate={operate} />
    ) : section === 'tariffs' ? (
      <Tariffs canOperate={operate} />
    ) : section === 'discrepancies' ? (
      <Discrepancies route={route} />
    ) : section === 'parking' && id ? (
      <ParkingSpaceDetail id={id} canOperate={operate} />
    ) : section === 'parking' ? (
      <Parking />
    ) : section === 'devices' && id ? (
      <DeviceEvents id={id} route={route} />
    ) : section === 'audit' ? (
      <Audit route={route} />
    ) : (
      <Overview />
    );
  const nav = (to: string, label: string) => (
    <a href={href(to)} class={`/${section}` === to || (to === '/' && section === '') ? 'active' : ''}>
      {label}
    </a>
  );
  return (
    <>
      <header class="topbar">
        <strong class="brand">Quantify</strong>
        <nav>
          {nav('/', 'Overview')}
          {nav('/meters', 'Meters')}
          {nav('/commands', 'Commands')}
          {nav('/quarantine', 'Quarantine')}
          {nav('/accounts', 'Accounts')}
          {nav('/payments', 'Payments')}
          {nav('/tariffs', 'Tariffs')}
          {nav('/parking', 'Parking')}
          {admin ? nav('/audit', 'Audit') : null}
        </nav>
        <span class="spacer" />
        <LiveIndicator />
        <span class="who" data-roles={session.roles.join(' ')}>
          {session.subject} · {session.roles.join(', ') || 'no role'}
        </span>
        <button
          onClick={() => {
            signOut();
            setSession(undefined);
          }}
        >
          Sign out
        </button>
      </header>
      <main class="content">{page}</main>
    </>
  );
}

// config.json first (where the API and the live channel are), then any sign-in the hosted UI sent back.
const root = document.getElementById('app');
if (root) {
  loadPortalConfig()
    .then(startSession)
    .then(
      (initial) => render(<App initial={initial} />, root),
      (error: unknown) => {
        root.textContent = `The portal cannot start: ${error instanceof Error ? error.message : String(error)}`;
      },
    );
}
