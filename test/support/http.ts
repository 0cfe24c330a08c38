// Talking to a running local platform in tests: the HTTP API with a bearer token, and waiting for
// something asynchronous (a batch, a dispatch) to become true.

export type ApiCall = <T>(method: string, path: string, body?: unknown) => Promise<{ status: number; body: T }>;

export function apiClient(baseUrl: string, token: () => string): ApiCall {
  return async <T>(method: string, path: string, body?: unknown) => {
    const res = await fetch(`${baseUrl}${path}`, {
      method,
      headers: { authorization: `Bearer ${token()}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      ...(body ? { body: JSON.stringify(body) } : {}),
    });
    const text = await res.text();
    // A 204 (a revoke, say) has no body.
    return { status: res.status, body: (text ? JSON.parse(text) : undefined) as T };
  };
}

/** Poll `fn` until it returns something other than undefined; fail naming `what` after `ms`. */
export async function eventually<T>(what: string, fn: () => Promise<T | undefined>, ms = 10_000): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    const value = await fn();
    if (value !== undefined) return value;
    if (Date.now() > until) throw new Error(`${what}: not in time`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
