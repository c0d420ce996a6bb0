// The JSON API of docs/api.md, same origin. Every failure becomes an ApiError carrying the
// API's own status, code and message, so callers can show the message verbatim.

export const TOKEN_KEY = 'shardjob.token';

class ApiError extends Error {
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

/** Enables (`on`) or disables what `path` names: a job, a shard or an instance. */
export const setEnabled = (path, on) => post(`${path}/${on ? 'enable' : 'disable'}`);

/** What the pages say when historyOrNull found no trace store. */
export const NO_TRACE_STORE = 'No trace store that can be read back: set tracing.type to SQLITE or ' +
  'POSTGRESQL in the config of the instance serving this console.';

/** A history read, or null when the instance has no trace store it can read back. */
export async function historyOrNull(path) {
  try {
    return await get(path);
  } catch (error) {
    if (error.code === 'no_trace_store') return null;
    throw error;
  }
}

/** The browser's JSON error message without its location or the quoted input V8 appends. */
const errorHead = (message) => message.replace(/^JSON\.parse: /, '').replace(/,?\s*".*" is not valid JSON$/s, '')
  .replace(/\s*(in JSON )?at position \d+.*$/s, '').replace(/\s*\(?at line \d+ column \d+.*$/s, '')
  .replace(/\s*\(line \d+ column \d+\)$/, '');

/**
 * Where JSON.parse stopped, as an offset into `text`, or null when it cannot be told. Browsers
 * word this differently: Firefox says "line L column C", V8 "position N", and V8 says nothing
 * for "Unexpected token" (there the offset is the shortest prefix failing the same way).
 */
function errorOffset(text, message) {
  const lineColumn = /line (\d+) column (\d+)/.exec(message);
  if (lineColumn) {
    const lines = text.split('\n').slice(0, Number(lineColumn[1]) - 1);
    return lines.reduce((sum, line) => sum + line.length + 1, 0) + Number(lineColumn[2]) - 1;
  }
  const position = /position (\d+)/.exec(message);
  if (position) return Number(position[1]);
  if (/end of (JSON )?(input|data)/i.test(message)) return text.length;
  const head = errorHead(message);
  if (!head) return null; // V8's '"undefined" is not valid JSON': no token named, no place
  for (let length = 1; length <= text.length; ++length) {
    try {
      JSON.parse(text.slice(0, length));
    } catch (error) {
      if (errorHead(error.message) === head) return length - 1;
    }
  }
  return null;
}

/**
 * Parses a job config typed by the user. The error says where the JSON breaks ("line 3,
 * column 14") whatever the browser's own wording is, or no place at all rather than a wrong one.
 */
function parseConfig(text) {
  let value;
  try {
    value = JSON.parse(text);
  } catch (error) {
    const offset = errorOffset(text, error.message);
    let where = '';
    if (offset !== null) {
      const before = text.slice(0, offset);
      where = ` line ${before.split('\n').length}, column ${offset - before.lastIndexOf('\n')}:`;
    }
    throw new Error(`The config is not valid JSON:${where} ${errorHead(error.message) || error.message}.`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new Error('The config must be a JSON object: { "name": …, "type": …, … }.');
  }
  return value;
}

/** parseConfig for a form: the problem goes to `say` as an error, and the answer is null. */
export function parseConfigOrSay(text, say) {
  try {
    return parseConfig(text);
  } catch (error) {
    say(error.message, 'error');
    return null;
  }
}
