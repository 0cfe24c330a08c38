// Sign in. Locally with a token the platform signed (`npm run token -- admin`); the token is checked
// against the API before it is kept. In the cloud through Cognito's hosted UI (cognito.ts).
import { useState } from 'preact/hooks';
import { api, errorText } from '../api.ts';
import { beginSignIn } from '../cognito.ts';
import { portalConfig, type CognitoConfig } from '../config.ts';
import { saveSession, sessionFromToken, type Session } from '../session.ts';

function CloudLogin({ cognito, notice }: { cognito: CognitoConfig; notice: string | undefined }) {
  const [busy, setBusy] = useState(false);
  return (
    <main class="login">
      <div class="card">
        <h1>Quantify</h1>
        <p>Sign in to the operator portal with your Quantify account.</p>
        {notice ? (
          <p class="error" role="alert">
            {notice}
          </p>
        ) : null}
        <button
          type="button"
          class="primary"
          disabled={busy}
          onClick={() => {
            setBusy(true);
            beginSignIn(cognito).catch(() => setBusy(false));
          }}
        >
          Sign in
        </button>
      </div>
    </main>
  );
}

export function Login({ onSignedIn, notice }: { onSignedIn: (s: Session) => void; notice: string | undefined }) {
  const config = portalConfig();
  if (config.mode === 'cloud') return <CloudLogin cognito={config.cognito} notice={notice} />;
  return <TokenLogin onSignedIn={onSignedIn} notice={notice} />;
}

function TokenLogin({ onSignedIn, notice }: { onSignedIn: (s: Session) => void; notice: string | undefined }) {
  const [token, setToken] = useState('');
  const [error, setError] = useState<string | undefined>(notice);
  const [busy, setBusy] = useState(false);
  const submit = async (event: Event) => {
    event.preventDefault();
    const session = sessionFromToken(token);
    if (typeof session === 'string') {
      setError(session);
      return;
    }
    setBusy(true);
    try {
      await api('/overview', { token: session.token });
      saveSession(session);
      onSignedIn(session);
    } catch (e) {
      setError(`The API refused this token: ${errorText(e)}`);
      setBusy(false);
    }
  };
  return (
    <main class="login">
      <form onSubmit={(e) => void submit(e)} class="card">
        <h1>Quantify</h1>
        <p>Sign in to the operator portal with a token.</p>
        <p class="hint">
          On this machine: <code>npm run token -- admin</code> (or <code>operator</code>, <code>viewer</code>) prints one.
        </p>
        <label class="field">
          <span>Token</span>
          <textarea name="token" rows={4} value={token} onInput={(e) => setToken(e.currentTarget.value)} autoComplete="off" spellcheck={false} />
        </label>
        {error ? (
          <p class="error" role="alert">
            {error}
          </p>
        ) : null}
        <button type="submit" class="primary" disabled={busy || !token.trim()}>
          Sign in
        </button>
      </form>
    </main>
  );
}
