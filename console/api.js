// The JSON API of docs/api.md, same origin. Every failure becomes an ApiError carrying the
// API's own status, code and message, so callers can show the message verbatim.

export const TOKEN_KEY = 'shardjob.token';

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
  }
}

/** '/api/jobs/' + a name, with the name kept inside its path segment. */
export function apiPath(...segments) {
  return ['/api', ...segments.map((s) => encodeURIComponent(String(s)))].join('/');
}

/** Adds the query parameters that have a value. */
export function withQuery(path, params) {
  const query = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== '') query.set(key, String(value));
  }
  const text = query.toString();
  return text ? `${path}?${text}` : path;
}

/**
 * Calls the API and returns the parsed JSON answer. Mutating calls always send a JSON body
 * (`{}` when there is nothing to say): the API refuses other content types as cross-site
 * protection.
 */
export async function request(method, path, {body, ifMatch} = {}) {
  const headers = {Accept: 'application/json'};
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (token) headers.Authorization = `Bearer ${token}`;
  if (ifMatch !== undefined) headers['If-Match'] = String(ifMatch);
  const init = {method, headers, cache: 'no-store'};
  if (method !== 'GET') {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body ?? {});
  }

  let response;
  try {
    response = await fetch(path, init);
  } catch (error) {
    throw new ApiError(0, 'network', `Cannot reach the shardjob API (${error.message}).`);
  }
  const text = await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    // A proxy's HTML error page, say: reported below by status.
  }
  if (!response.ok) {
    const error = data?.error;
    throw new ApiError(response.status, error?.code ?? `http_${response.status}`,
      error?.message ?? `HTTP ${response.status} ${response.statusText}`.trim());
  }
  return data;
}

export const get = (path) => request('GET', path);
export const post = (path, body) => request('POST', path, {body});

/**
 * Parses a job config typed by the user. The error says where the JSON breaks ("line 3,
 * column 14") whatever the browser's own wording is.
 */
export function parseConfig(text) {
  let value;
  try {
    value = JSON.parse(text);
  } catch (error) {
    const match = /position (\d+)/.exec(error.message);
    const position = match ? Number(match[1]) : text.length;
    const before = text.slice(0, position);
    const line = before.split('\n').length;
    const column = position - before.lastIndexOf('\n');
    const detail = error.message.replace(/\s*\(line \d+ column \d+\)/, '').replace(/^JSON\.parse: /, '');
    throw new Error(`The config is not valid JSON: line ${line}, column ${column}: ${detail}`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new Error('The config must be a JSON object: { "name": …, "type": …, … }.');
  }
  return value;
}
