// The one way the portal talks to the platform: the same HTTP API as every other client, with the
// operator's bearer token. Errors arrive as RFC 9457 problem+json and become ApiError with its detail.
// Paths are the API's own (/meters); config.json says where the API is (beside the portal locally, under
// /api on the CloudFront distribution in the cloud).
import { portalConfig } from './config.ts';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly errors: { path: string; message: string }[] = [],
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

/** Called when the API answers 401: the token expired or was replaced (the key in DATA_DIR changed). */
let onUnauthorized: () => void = () => {};
export const setUnauthorizedHandler = (handler: () => void): void => {
  onUnauthorized = handler;
};

let token: string | undefined;
export const setToken = (value: string | undefined): void => {
  token = value;
};

export async function api<T>(path: string, init: { method?: 'GET' | 'POST'; body?: unknown; token?: string } = {}): Promise<T> {
  const bearer = init.token ?? token;
  const response = await fetch(`${portalConfig().apiBase}${path}`, {
    method: init.method ?? 'GET',
    headers: {
      accept: 'application/json',
      ...(bearer ? { authorization: `Bearer ${bearer}` } : {}),
      ...(init.body !== undefined ? { 'content-type': 'application/json' } : {}),
    },
    ...(init.body !== undefined ? { body: JSON.stringify(init.body) } : {}),
  });
  const text = await response.text();
  let body: unknown = undefined;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    body = undefined;
  }
  if (!response.ok) {
    const problem = (typeof body === 'object' && body !== null ? body : {}) as { title?: unknown; detail?: unknown; errors?: unknown };
    const message = typeof problem.detail === 'string' ? problem.detail : typeof problem.title === 'string' ? problem.title : `HTTP ${response.status}`;
    const errors = Array.isArray(problem.errors) ? (problem.errors as { path: string; message: string }[]) : [];
    if (response.status === 401 && !init.token) onUnauthorized();
    throw new ApiError(response.status, message, errors);
  }
  return body as T;
}

export const errorText = (error: unknown): string =>
  error instanceof ApiError
    ? [error.message, ...error.errors.map((e) => `${e.path}: ${e.message}`)].join('; ')
    : error instanceof Error
      ? error.message
      : String(error);

/**
 * Download what the API answers for `accept` (a CSV statement, say) as a file named by its
 * Content-Disposition: through the same API, with the same bearer token.
 */
export async function apiDownload(path: string, accept: string, fallbackName: string): Promise<void> {
  const response = await fetch(path, { headers: { accept, ...(token ? { authorization: `Bearer ${token}` } : {}) } });
  if (!response.ok) {
    if (response.status === 401) onUnauthorized();
    throw new ApiError(response.status, `HTTP ${response.status}`);
  }
  const name = /filename="?([^";]+)"?/.exec(response.headers.get('content-disposition') ?? '')?.[1] ?? fallbackName;
  const url = URL.createObjectURL(await response.blob());
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
