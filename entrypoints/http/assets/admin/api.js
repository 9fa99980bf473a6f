// The admin API as the console calls it: the pasted token (kept in sessionStorage, this tab
// only), sent as `Authorization: Bearer`; errors in the contract's shape become ApiError.

const TOKEN_KEY = "payments.admin.token";
const signedOut = new Set();

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function signIn(value) {
  sessionStorage.setItem(TOKEN_KEY, value.trim());
}

export function signOut() {
  sessionStorage.removeItem(TOKEN_KEY);
}

/** Call `listener` whenever the API refuses the token (401): it expired or was revoked. */
export function onSignedOut(listener) {
  signedOut.add(listener);
}

/** Who the token names (its `sub`), read from its payload for display only: the server checks it. */
export function tokenSubject() {
  const value = token();
  if (!value) return null;
  try {
    const payload = value.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    return JSON.parse(atob(payload)).sub ?? null;
  } catch {
    return null;
  }
}

function queryString(query) {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(query || {})) {
    if (value !== undefined && value !== null && value !== "") params.set(name, String(value));
  }
  const text = params.toString();
  return text ? `?${text}` : "";
}

async function call(method, path, { query, body } = {}) {
  const headers = { Authorization: `Bearer ${token()}`, Accept: "application/json" };
  const init = { method, headers, cache: "no-store", credentials: "omit" };
  if (method === "POST") {
    headers["Content-Type"] = "application/json";
    headers["Idempotency-Key"] = crypto.randomUUID(); // a retried click never acts twice
    init.body = JSON.stringify(body ?? {});
  }
  const response = await fetch(`/api/v1/admin/${path}${queryString(query)}`, init);
  const data = await response.json().catch(() => null);
  if (!response.ok) {
    const error = (data && data.error) || {};
    if (response.status === 401) {
      signOut();
      signedOut.forEach((listener) => listener());
    }
    throw new ApiError(response.status, error.code || "unknown", error.message || `HTTP ${response.status}`);
  }
  return data;
}

export const get = (path, query) => call("GET", path, { query });
export const post = (path, body) => call("POST", path, { body });
