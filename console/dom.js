// Small DOM helpers. Every piece of data reaches the page as a text node or an attribute value,
// never as markup: job names, failure causes and messages come from the cluster and from users.

function appendChildren(element, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child instanceof Node ? child : String(child));
  }
}

function applyProps(element, props) {
  for (const [key, value] of Object.entries(props)) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith('on')) element.addEventListener(key.slice(2), value);
    else element.setAttribute(key, value === true ? '' : String(value));
  }
}

/** h('button', {class: 'primary', onclick: fn}, 'Save') */
export function h(tag, props = {}, ...children) {
  const element = document.createElement(tag);
  applyProps(element, props);
  appendChildren(element, children);
  return element;
}

const SVG_NS = 'http://www.w3.org/2000/svg';

export function svg(tag, props = {}, ...children) {
  const element = document.createElementNS(SVG_NS, tag);
  applyProps(element, props);
  appendChildren(element, children);
  return element;
}

/** Writes only on change, so live regions and selections are left alone when nothing moved. */
export function setText(element, text) {
  const value = String(text);
  if (element.textContent !== value) element.textContent = value;
}

/** Replaces an element's content only when it would look different. */
export function setContent(element, ...children) {
  const next = document.createElement('div');
  appendChildren(next, children);
  const same = next.childNodes.length === element.childNodes.length &&
    [...next.childNodes].every((node, i) => node.isEqualNode(element.childNodes[i]));
  if (!same) element.replaceChildren(...next.childNodes);
}

const pad = (n) => String(n).padStart(2, '0');

export function clockTime(date) {
  return `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`;
}

export function localDateTime(ms) {
  const d = new Date(ms);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${clockTime(d)}`;
}

/** The value a datetime-local input shows for an instant, in local time. */
export function toDateTimeLocal(ms) {
  return localDateTime(ms).replace(' ', 'T');
}

/** Local time for people, the exact ISO instant on hover and for machines. */
export function timeElement(ms, extraTitle = '') {
  if (!ms) return '—';
  const iso = new Date(ms).toISOString();
  const [date, clock] = localDateTime(ms).split(' ');
  // Two spans so that a narrow column breaks between date and time, never inside the date.
  return h('time', {datetime: iso, title: extraTitle ? `${iso} (${extraTitle})` : iso},
    h('span', {}, date), ' ', h('span', {}, clock));
}

/** A fire id is the scheduled time in epoch ms, or a name such as "trigger-0000000003". */
export function fireElement(fire) {
  if (!fire) return '—';
  return /^\d+$/.test(fire) ? timeElement(Number(fire), `fire ${fire}`) : h('code', {}, fire);
}

export function duration(ms) {
  if (ms < 1000) return `${ms} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  return `${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1000)} s`;
}

/** A status word in a tinted box; the word itself carries the meaning, the tint only helps. */
export function badge(text) {
  const kind = String(text).toLowerCase().replace(/^task_/, '').replace(/[^a-z]+/g, '-');
  return h('span', {class: `badge badge-${kind}`}, text);
}

/**
 * A table inside a labelled, focusable wrapper that scrolls sideways on its own, so a wide
 * table never makes the whole page scroll on a phone and keyboard users can still scroll it.
 */
export function dataTable(label, columns) {
  const tbody = h('tbody', {}, emptyRow(columns.length, 'Loading…'));
  const table = h('table', {'aria-label': label},
    h('thead', {}, h('tr', {}, columns.map((name) => h('th', {scope: 'col'}, name)))), tbody);
  const wrapper = h('div', {class: 'table-wrap', tabindex: '0', role: 'region',
    'aria-label': `${label} (scrollable)`}, table);
  return {wrapper, table, tbody, columnCount: columns.length};
}

export function emptyRow(columnCount, text) {
  return h('tr', {'data-key': '(empty)'}, h('td', {colspan: columnCount, class: 'empty'}, text));
}

/**
 * Puts freshly built rows (each with data-key) into tbody without disturbing the user: a row
 * that renders the same as before is kept as it is, and when a focused row has to be replaced,
 * focus moves to the control with the same data-key in its replacement.
 */
export function syncRows(tbody, rows) {
  const focused = tbody.contains(document.activeElement) ? document.activeElement : null;
  const focusedRowKey = focused?.closest('tr')?.dataset.key;
  const focusedControlKey = focused?.dataset.key;

  const previous = new Map([...tbody.rows].map((row) => [row.dataset.key, row]));
  const wanted = rows.map((row) => {
    const old = previous.get(row.dataset.key);
    previous.delete(row.dataset.key);
    if (!old) return row;
    if (old.isEqualNode(row)) return old;
    old.replaceWith(row); // in place, so that the rows after it need not move
    return row;
  });
  for (const gone of previous.values()) gone.remove();
  // Insert new rows and move only rows that are out of place: moving a node blurs it.
  wanted.forEach((row, index) => {
    if (tbody.rows[index] !== row) tbody.insertBefore(row, tbody.rows[index] ?? null);
  });

  if (focused && document.activeElement !== focused) {
    const row = [...tbody.rows].find((r) => r.dataset.key === focusedRowKey);
    const control = focused.isConnected ? focused : row && [...row.querySelectorAll('[data-key]')]
      .find((el) => el.dataset.key === focusedControlKey);
    control?.focus();
  }
}
