// The CSC coordinator dashboard: plain JavaScript and SVG, no build step, no dependencies.
//
// It talks only to the CSC HTTP API of the server that serves it (/v1/...), with the bearer token
// the user pasted (kept in sessionStorage, never in an address). Every element is built with the DOM
// API (no innerHTML), so nothing the API returns is ever parsed as markup; the page's Content-Security-
// Policy enforces that (Trusted Types, no inline script or style).
//
// Views: overview cards, the cross-city matrix, the item list and an item's detail (indicator chart,
// milestones, history, the update form), the roster, the activity feed and the proposal form. New
// events arrive through the Server-Sent Events feed (coordinators, auditors, admins) or a light poll
// (members, who may not read the raw log) and the current view reloads in place. "As of" renders every
// view from the read models as of a past moment (?asOf=).

const TOKEN_KEY = 'csc.token';
const ASOF_KEY = 'csc.asOf';
const POLL_MS = 5000;
const REFRESH_DEBOUNCE_MS = 250;

const STAGES = ['proposed', 'changes_requested', 'approved', 'in_progress', 'on_hold', 'completed', 'rejected', 'cancelled'];
const STAGE_LABELS = {
  proposed: 'Proposed', changes_requested: 'Changes requested', approved: 'Approved', in_progress: 'In progress',
  on_hold: 'On hold', completed: 'Completed', rejected: 'Rejected', cancelled: 'Cancelled',
};
const HEALTHS = ['on_track', 'behind', 'at_risk', 'achieved', 'not_started'];
const HEALTH_LABELS = {
  not_started: 'Not started', on_track: 'On track', behind: 'Behind', at_risk: 'At risk', achieved: 'Achieved',
};
const THEMES = ['ecology', 'economics', 'politics', 'culture'];
const THEME_LABELS = { ecology: 'Ecology', economics: 'Economics', politics: 'Politics', culture: 'Culture' };
const SDG_TARGETS = ['11.1', '11.2', '11.3', '11.4', '11.5', '11.6', '11.7', '11.a', '11.b', '11.c'];
const SDG_LABELS = {
  '11.1': 'Housing and basic services', '11.2': 'Sustainable transport', '11.3': 'Inclusive planning',
  '11.4': 'Cultural and natural heritage', '11.5': 'Disaster losses', '11.6': 'Air quality and waste',
  '11.7': 'Green and public spaces', '11.a': 'Urban–rural links', '11.b': 'Resilience policies',
  '11.c': 'Support for least developed countries',
};
const EXPERTISE_LABELS = { mayor: 'Mayors', finance: 'Finance', culture: 'Culture', science: 'Science', staff: 'Staff' };
const ROLE_LABELS = { coordinator: 'Coordinator', auditor: 'Auditor', admin: 'Administrator', member: 'Member' };

// ---------------------------------------------------------------------------------------------
// DOM helpers

/** h builds an HTML element: h('a', {href: '#', class: 'x', onclick: fn}, 'text', child, ...). */
function h(tag, attrs, ...children) {
  return build(document.createElement(tag), attrs, children);
}

const SVG_NS = 'http://www.w3.org/2000/svg';

/** s builds an SVG element. */
function s(tag, attrs, ...children) {
  return build(document.createElementNS(SVG_NS, tag), attrs, children);
}

function build(el, attrs, children) {
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (v === undefined || v === null || v === false) continue;
    // The Content-Security-Policy refuses style attributes: styles are set through the CSSOM.
    if (k === 'style') throw new Error('h: set styles through el.style, not a style attribute');
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'text') el.textContent = String(v);
    else if (v === true) el.setAttribute(k, '');
    else el.setAttribute(k, String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === undefined || c === null || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

const $ = (sel, root = document) => root.querySelector(sel);
const $$ = (sel, root = document) => [...root.querySelectorAll(sel)];

/** replace swaps the children of el, keeping the focus on an element with the same data-key or id. */
function replace(el, ...children) {
  const active = document.activeElement;
  const key = active && el.contains(active) ? (active.dataset.key || active.id) : '';
  el.replaceChildren();
  append(el, children);
  if (key) {
    const again = el.querySelector(`[data-key="${CSS.escape(key)}"]`) || document.getElementById(key);
    if (again) again.focus({ preventScroll: true });
  }
}

function announce(text) {
  const el = $('#announce');
  el.textContent = '';
  // A new text node makes screen readers announce the same message again.
  setTimeout(() => { el.textContent = text; }, 30);
}

function banner(text, kind = 'error') {
  const el = $('#banner');
  if (!text) {
    el.hidden = true;
    el.textContent = '';
    return;
  }
  el.className = 'banner banner-' + kind;
  el.textContent = text;
  el.hidden = false;
}

// ---------------------------------------------------------------------------------------------
// Formatting for people

const LOCALE = (navigator.languages && navigator.languages[0]) || navigator.language || 'en';
const nf = new Intl.NumberFormat(LOCALE, { maximumFractionDigits: 2 });
const nfCompact = new Intl.NumberFormat(LOCALE, { notation: 'compact', maximumFractionDigits: 1 });
const pf = new Intl.NumberFormat(LOCALE, { style: 'percent', maximumFractionDigits: 0 });
const dayFmt = new Intl.DateTimeFormat(LOCALE, { dateStyle: 'medium', timeZone: 'UTC' });
const timeFmt = new Intl.DateTimeFormat(LOCALE, { dateStyle: 'medium', timeStyle: 'short' });
const secFmt = new Intl.DateTimeFormat(LOCALE, { dateStyle: 'medium', timeStyle: 'medium' });
const monthFmt = new Intl.DateTimeFormat(LOCALE, { month: 'short', year: 'numeric', timeZone: 'UTC' });
const yearFmt = new Intl.DateTimeFormat(LOCALE, { year: 'numeric', timeZone: 'UTC' });
const rtf = new Intl.RelativeTimeFormat(LOCALE, { numeric: 'auto' });
const moneyFmts = new Map();

const fmt = {
  num: (v) => nf.format(v),
  compact: (v) => nfCompact.format(v),
  pct: (v) => pf.format(v),
  day: (d) => (d ? dayFmt.format(new Date(d + 'T00:00:00Z')) : '—'),
  time: (iso) => (iso ? timeFmt.format(new Date(iso)) : '—'),
  seconds: (iso) => (iso ? secFmt.format(new Date(iso)) : '—'),
  money(amount, currency, compact = true) {
    const key = currency + compact;
    if (!moneyFmts.has(key)) {
      try {
        moneyFmts.set(key, new Intl.NumberFormat(LOCALE, {
          style: 'currency', currency, notation: compact ? 'compact' : 'standard',
          minimumFractionDigits: 0, maximumFractionDigits: compact ? 1 : 2,
        }));
      } catch {
        moneyFmts.set(key, { format: (v) => `${nf.format(v)} ${currency}` });
      }
    }
    return moneyFmts.get(key).format(amount);
  },
  relative(iso) {
    if (!iso) return '—';
    const secs = (new Date(iso).getTime() - Date.now()) / 1000;
    const abs = Math.abs(secs);
    const units = [['year', 31536000], ['month', 2592000], ['week', 604800], ['day', 86400], ['hour', 3600], ['minute', 60]];
    for (const [unit, size] of units) {
      if (abs >= size) return rtf.format(Math.round(secs / size), unit);
    }
    return rtf.format(Math.round(secs), 'second');
  },
  measure(v, unit) {
    return unit === '%' ? `${nf.format(v)} %` : `${nf.format(v)} ${unit}`;
  },
};

/** when renders a recorded time: relative while live (kept fresh), absolute when viewing as of a moment. */
function when(iso) {
  if (!iso) return h('span', { class: 'muted' }, '—');
  if (state.asOf) return h('time', { datetime: iso, title: fmt.seconds(iso) }, fmt.time(iso));
  return h('time', { datetime: iso, title: fmt.seconds(iso), 'data-rel': iso }, fmt.relative(iso));
}

// ---------------------------------------------------------------------------------------------
// State, session and API

const state = {
  token: '',
  principal: null, // {role, city, sub, exp}
  asOf: '', // RFC 3339, or '' for now
  minPosition: '', // reads wait until the read models include this position (read your writes)
  position: '', // the read models' position seen last
  roster: null,
  current: null, // the mounted view: {name, load}
  seq: 0,
  live: { ctrl: null, lastId: '', pending: 0 }, // the live feed: its abort controller, last SSE id, changes not shown
  refreshTimer: 0,
};

class ApiError extends Error {
  constructor(status, problem) {
    super((problem && (problem.detail || problem.title)) || `HTTP ${status}`);
    this.status = status;
    this.problem = problem || { title: `HTTP ${status}`, status };
  }
}

/** api calls the CSC API. Reads carry ?asOf= (or ?minPosition=) unless live is set. */
async function api(path, { method = 'GET', body, headers = {}, live = false, signal } = {}) {
  const url = new URL(path, location.origin);
  if (method === 'GET' && !live) {
    if (state.asOf) url.searchParams.set('asOf', state.asOf);
    else if (state.minPosition) url.searchParams.set('minPosition', state.minPosition);
  }
  const init = {
    method, signal, cache: 'no-store',
    headers: { Accept: 'application/json', Authorization: 'Bearer ' + state.token, ...headers },
  };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers['Content-Type'] = 'application/json';
  }
  const res = await fetch(url, init);
  const type = res.headers.get('Content-Type') || '';
  const data = type.includes('json') ? await res.json().catch(() => null) : null;
  if (!res.ok) {
    const err = new ApiError(res.status, data);
    if (res.status === 401 && state.token) signOut('The server refused the token: ' + err.message);
    throw err;
  }
  if (data && typeof data.position === 'string' && method === 'GET' && !live && !state.asOf) state.position = data.position;
  return { data, res };
}

/** decodeToken reads a JWT's claims (for the page only: the server checks the signature). */
function decodeToken(token) {
  const parts = token.split('.');
  if (parts.length !== 3) throw new Error('This is not a token: a CSC token has three parts separated by dots.');
  let claims;
  try {
    const b64 = parts[1].replace(/-/g, '+').replace(/_/g, '/');
    const bin = atob(b64 + '='.repeat((4 - (b64.length % 4)) % 4));
    claims = JSON.parse(new TextDecoder().decode(Uint8Array.from(bin, (c) => c.charCodeAt(0))));
  } catch {
    throw new Error('This is not a token: its claims could not be read.');
  }
  if (!ROLE_LABELS[claims.role]) throw new Error('This token carries no CSC role.');
  if (claims.exp && claims.exp * 1000 < Date.now()) throw new Error('This token has expired: ask for a new one.');
  return { role: claims.role, city: claims.city || '', sub: claims.sub || '', exp: claims.exp || 0 };
}

const canWrite = (city) => {
  const p = state.principal;
  if (!p || state.asOf) return false;
  if (p.role === 'coordinator' || p.role === 'admin') return true;
  return p.role === 'member' && (!city || p.city === city);
};
const isCoordinator = () => ['coordinator', 'admin'].includes(state.principal?.role);
const isMember = () => state.principal?.role === 'member';
const readsLog = () => ['coordinator', 'auditor', 'admin'].includes(state.principal?.role);

function cityName(id) {
  const c = state.roster?.cities.find((x) => x.id === id);
  return c ? c.name : id;
}

function uuid() {
  // crypto.randomUUID needs a secure context; getRandomValues works everywhere.
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const x = [...b].map((v) => v.toString(16).padStart(2, '0')).join('');
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
}

async function signIn(token, { quiet = false } = {}) {
  const err = $('#token-error');
  err.textContent = '';
  let principal;
  try {
    principal = decodeToken(token.trim());
  } catch (e) {
    if (quiet) return showSignIn();
    err.textContent = e.message;
    $('#token').setAttribute('aria-invalid', 'true');
    $('#token').focus();
    return;
  }
  state.token = token.trim();
  try {
    const { data } = await api('/v1/cities', { live: true });
    state.roster = data;
  } catch (e) {
    state.token = '';
    showSignIn();
    err.textContent = e instanceof ApiError ? `Not signed in: ${e.message}` : `The server could not be reached: ${e.message}`;
    $('#token').setAttribute('aria-invalid', 'true');
    return;
  }
  state.principal = principal;
  sessionStorage.setItem(TOKEN_KEY, state.token);
  $('#token').value = '';
  $('#token').removeAttribute('aria-invalid');
  startApp();
}

function signOut(message) {
  stopLive();
  if (state.current && state.current.dispose) state.current.dispose();
  sessionStorage.removeItem(TOKEN_KEY);
  sessionStorage.removeItem(ASOF_KEY);
  Object.assign(state, { token: '', principal: null, roster: null, current: null, minPosition: '', position: '', asOf: '' });
  state.live = { ctrl: null, lastId: '', pending: 0 };
  $('#main').replaceChildren();
  showSignIn();
  if (message) $('#token-error').textContent = message;
}

function showSignIn() {
  $('#app').hidden = true;
  $('#session').hidden = true;
  $('#signin').hidden = false;
  document.body.className = '';
  $('#token').focus();
}

function startApp() {
  const p = state.principal;
  $('#signin').hidden = true;
  $('#app').hidden = false;
  $('#session').hidden = false;
  document.body.className = `role-${p.role}` + (canWrite() ? '' : ' readonly');
  const who = $('#who');
  replace(who, h('span', { class: 'role-chip' }, ROLE_LABELS[p.role]),
    p.city ? h('span', { class: 'who-city' }, cityName(p.city)) : null,
    p.role === 'auditor' ? h('span', { class: 'muted' }, 'read only') : null);
  who.title = `Signed in as ${p.sub || p.role}` + (p.exp ? `; the token expires ${fmt.time(new Date(p.exp * 1000).toISOString())}` : '');
  $('#collab-name').textContent = state.roster?.name || 'Cities Sustainability Collaboratory';
  $('#collab-phase').textContent = state.roster ? `Roadmap dashboard · phase ${state.roster.phase}` : 'Roadmap dashboard';
  applyAsOf(sessionStorage.getItem(ASOF_KEY) || '', { render: false });
  startLive();
  checkReady();
  if (!location.hash || location.hash === '#' || location.hash === '#/') location.replace('#/overview');
  else show();
}

/** checkReady warns while the server's read models are still catching up with the log. */
async function checkReady() {
  try {
    const res = await fetch('/readyz', { cache: 'no-store' });
    if (res.status === 503) {
      banner('The server is still reading its event log: the numbers are incomplete until it has caught up.', 'info');
      setTimeout(checkReady, 2000);
      return;
    }
    if ($('#banner').classList.contains('banner-info')) {
      banner('');
      refresh();
    }
  } catch {
    // The next request will say what is wrong.
  }
}

// ---------------------------------------------------------------------------------------------
// Live updates

function setLive(mode, text) {
  const el = $('#live');
  el.dataset.mode = mode;
  $('#live-text').textContent = text;
}

function startLive() {
  stopLive();
  const ctrl = new AbortController();
  state.live.ctrl = ctrl;
  if (readsLog()) sseLoop(ctrl.signal);
  else pollLoop(ctrl.signal);
}

function stopLive() {
  if (state.live.ctrl) state.live.ctrl.abort();
  state.live.ctrl = null;
  clearTimeout(state.refreshTimer);
}

function sleep(ms, signal) {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => { clearTimeout(t); resolve(); }, { once: true });
  });
}

/**
 * sseLoop follows /v1/events/live. EventSource cannot send an Authorization header (and the token
 * must not go into the address), so the stream is read with fetch and parsed here; a reconnection
 * resumes after the last event seen (Last-Event-ID).
 */
async function sseLoop(signal) {
  let backoff = 1000;
  while (!signal.aborted) {
    setLive('connecting', state.live.lastId ? 'Reconnecting…' : 'Connecting…');
    try {
      const headers = { Accept: 'text/event-stream', Authorization: 'Bearer ' + state.token };
      if (state.live.lastId) headers['Last-Event-ID'] = state.live.lastId;
      const res = await fetch('/v1/events/live', { headers, signal, cache: 'no-store' });
      if (res.status === 401) {
        signOut('The server refused the token.');
        return;
      }
      if (!res.ok || !res.body) throw new Error(`HTTP ${res.status}`);
      liveLabel();
      backoff = 1000;
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      let buf = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += value.replace(/\r\n?/g, '\n');
        let cut;
        while ((cut = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, cut);
          buf = buf.slice(cut + 2);
          const msg = parseSSE(block);
          if (msg) onEvent(msg);
        }
      }
    } catch {
      // The stream broke (or never came): reconnect below, after the last event seen.
    }
    if (signal.aborted) return;
    setLive('connecting', 'Reconnecting…');
    await sleep(backoff, signal);
    backoff = Math.min(backoff * 2, 15000);
  }
}

function parseSSE(block) {
  const msg = { id: '', event: 'message', data: '' };
  let has = false;
  for (const line of block.split('\n')) {
    if (!line || line.startsWith(':')) continue;
    const i = line.indexOf(':');
    const field = i < 0 ? line : line.slice(0, i);
    const value = i < 0 ? '' : line.slice(i + 1).replace(/^ /, '');
    if (field === 'id') msg.id = value;
    else if (field === 'event') msg.event = value;
    else if (field === 'data') { msg.data += (msg.data ? '\n' : '') + value; has = true; }
  }
  return has ? msg : null;
}

function onEvent(msg) {
  if (msg.id) {
    state.live.lastId = msg.id;
    state.minPosition = msg.id;
  }
  if (state.asOf) {
    state.live.pending++;
    liveLabel();
    return;
  }
  scheduleRefresh();
}

/** pollLoop is the live feed of members: the raw log is not theirs to read, so it asks for the read
 * models' position every few seconds and reloads the view when it moved. */
async function pollLoop(signal) {
  liveLabel();
  while (!signal.aborted) {
    await sleep(POLL_MS, signal);
    if (signal.aborted) return;
    try {
      const { data } = await api('/v1/activity?limit=1', { live: true, signal });
      if (data.position !== state.position) {
        state.position = data.position; // (the reload reads it again; this keeps an idle view from reloading on every poll)
        state.minPosition = data.position;
        if (state.asOf) {
          state.live.pending++;
          liveLabel();
        } else {
          scheduleRefresh();
        }
      }
      if (!state.asOf) liveLabel();
    } catch {
      if (signal.aborted) return;
      setLive('connecting', 'Server unreachable, retrying…');
    }
  }
}

function liveLabel() {
  if (state.asOf) {
    setLive('paused', state.live.pending ? 'Paused: there are newer changes' : 'Paused (as of)');
  } else if (readsLog()) {
    setLive('live', 'Live');
  } else {
    setLive('live', 'Live (checks every 5 s)');
  }
}

function scheduleRefresh() {
  clearTimeout(state.refreshTimer);
  state.refreshTimer = setTimeout(refresh, REFRESH_DEBOUNCE_MS);
}

async function refresh() {
  const view = state.current;
  if (!view || !view.load) return;
  try {
    await view.load();
    markReady(view);
  } catch (e) {
    if (!(e instanceof ApiError && e.status === 401)) banner(describe(e));
  }
}

function describe(e) {
  if (e instanceof ApiError) {
    const p = e.problem;
    return `${p.title || 'Request failed'}${p.detail ? ': ' + p.detail : ''} (HTTP ${e.status})`;
  }
  return `The server could not be reached: ${e.message}`;
}

// ---------------------------------------------------------------------------------------------
// As of

function applyAsOf(iso, { render = true } = {}) {
  state.asOf = iso;
  state.live.pending = 0;
  if (iso) sessionStorage.setItem(ASOF_KEY, iso);
  else sessionStorage.removeItem(ASOF_KEY);
  document.body.classList.toggle('asof-mode', !!iso);
  document.body.classList.toggle('readonly', !canWrite());
  const label = $('#asof-label');
  if (iso) {
    replace(label, 'Showing the collaboratory ', h('strong', {}, `as of ${fmt.seconds(iso)}`));
    const d = new Date(iso);
    const pad = (n) => String(n).padStart(2, '0');
    $('#asof-date').value = `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
    $('#asof-time').value = `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  } else {
    replace(label, 'Showing ', h('strong', {}, 'now'));
    $('#asof-date').value = '';
    $('#asof-time').value = '';
  }
  $('#asof-now').hidden = !iso;
  liveLabel();
  if (render) show({ focus: false });
}

function onAsOfSubmit(ev) {
  ev.preventDefault();
  const day = $('#asof-date').value;
  if (!day) {
    applyAsOf('');
    return;
  }
  const [y, m, d] = day.split('-').map(Number);
  const [hh, mm, ss] = ($('#asof-time').value || '23:59:59').split(':').map(Number);
  const at = new Date(y, m - 1, d, hh, mm, ss || 0, 0);
  if (Number.isNaN(at.getTime())) {
    banner('That is not a day.');
    return;
  }
  if (at.getTime() >= Date.now()) {
    announce('That moment is not over yet: showing now.');
    applyAsOf('');
    return;
  }
  applyAsOf(at.toISOString());
  announce(`Showing the collaboratory as of ${fmt.seconds(at.toISOString())}.`);
}

// ---------------------------------------------------------------------------------------------
// Routing

function parseHash() {
  const raw = location.hash.replace(/^#\/?/, '');
  const [path, query = ''] = raw.split('?');
  const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  return { parts, query: new URLSearchParams(query) };
}

function route() {
  const { parts, query } = parseHash();
  switch (parts[0]) {
    case 'matrix': return { name: 'matrix', make: () => matrixView() };
    case 'items':
      if (parts[1]) return { name: 'items', make: () => itemView(parts[1]) };
      return { name: 'items', make: () => itemsView(query) };
    case 'roster': return { name: 'roster', make: () => rosterView() };
    case 'activity': return { name: 'activity', make: () => activityView() };
    case 'propose': return { name: 'propose', make: () => proposeView() };
    default: return { name: 'overview', make: () => overviewView() };
  }
}

async function show({ focus = true } = {}) {
  if (!state.principal) return;
  const seq = ++state.seq;
  const r = route();
  for (const a of $$('.tabs a')) {
    if (a.dataset.view === r.name) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  const main = $('#main');
  if (state.current && state.current.dispose) state.current.dispose();
  const view = r.make();
  view.name = r.name;
  state.current = view;
  main.dataset.view = r.name;
  main.dataset.state = 'loading';
  main.replaceChildren(view.node);
  banner('');
  if (focus) {
    // A new view: keyboard and screen reader users start at its content.
    main.focus({ preventScroll: true });
    window.scrollTo(0, 0);
  }
  try {
    await view.load();
    if (seq === state.seq) markReady(view);
  } catch (e) {
    if (seq !== state.seq) return;
    main.dataset.state = 'error';
    if (!(e instanceof ApiError && e.status === 401)) banner(describe(e));
  }
}

function markReady(view) {
  const main = $('#main');
  if (state.current !== view) return;
  main.dataset.state = 'ready';
  main.dataset.position = state.position;
  main.dataset.asof = state.asOf;
}

/** link makes a hash address for a view with query parameters. */
function link(path, params = {}) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v) q.set(k, v);
  const qs = q.toString();
  return '#/' + path + (qs ? '?' + qs : '');
}

// ---------------------------------------------------------------------------------------------
// Small pieces

function stageBadge(stage) {
  return h('span', { class: `badge stage stage-${stage}` }, STAGE_LABELS[stage] || stage);
}

function healthBadge(health) {
  if (!health) return h('span', { class: 'muted', title: 'Not committed to: no health' }, '—');
  return h('span', { class: `badge health health-${health}` },
    h('span', { class: 'dot', 'aria-hidden': 'true' }), HEALTH_LABELS[health] || health);
}

function meter(value, { expected, label } = {}) {
  const v = Math.max(0, Math.min(1, value || 0));
  const bar = h('span', { class: 'meter', role: 'img', 'aria-label': label || `${fmt.pct(v)} done` },
    h('span', { class: 'meter-fill' }));
  bar.firstChild.style.width = `${v * 100}%`;
  if (expected !== undefined) {
    const mark = h('span', { class: 'meter-expected', title: `expected by now: ${fmt.pct(expected)}` });
    mark.style.left = `${Math.max(0, Math.min(1, expected)) * 100}%`;
    bar.append(mark);
  }
  return bar;
}

function section(title, ...children) {
  return h('section', { class: 'panel' }, h('h2', {}, title), children);
}

function loading() {
  return h('p', { class: 'muted loading' }, 'Loading…');
}

function empty(text) {
  return h('p', { class: 'muted empty' }, text);
}

// ---------------------------------------------------------------------------------------------
// Overview

function overviewView() {
  const summary = h('div', { class: 'summary' });
  const grid = h('div', { class: 'cards' }, loading());
  const title = h('h1', {}, isMember() ? `${cityName(state.principal.city)}: progress` : 'Progress per city');
  const node = h('div', { class: 'view overview' }, h('div', { class: 'view-head' }, title, summary), grid);
  return {
    node,
    async load() {
      let rows;
      if (isMember()) {
        try {
          const { data } = await api('/v1/progress/' + encodeURIComponent(state.principal.city));
          rows = [data];
        } catch (e) {
          if (!(e instanceof ApiError && e.status === 404)) throw e;
          rows = []; // the city did not take part yet (as of that moment)
        }
      } else {
        const { data } = await api('/v1/progress');
        rows = data.cities;
      }
      replace(summary, overviewSummary(rows));
      replace(grid, rows.length ? rows.map(cityCard)
        : empty(state.asOf ? 'No city took part in the collaboratory yet at that moment.' : 'No city takes part yet.'));
    },
  };
}

function overviewSummary(rows) {
  let items = 0, committed = 0, overdue = 0, reached = 0, total = 0;
  for (const r of rows) {
    for (const st of STAGES) items += r.stages[st];
    committed += r.stages.approved + r.stages.in_progress + r.stages.on_hold + r.stages.completed;
    overdue += r.overdue;
    reached += r.milestones.reached;
    total += r.milestones.total;
  }
  const stat = (label, value, key, cls = '') => h('div', { class: 'stat ' + cls, 'data-field': key },
    h('span', { class: 'stat-value' }, value), h('span', { class: 'stat-label' }, label));
  return [
    stat(rows.length === 1 ? 'city' : 'cities', fmt.num(rows.length), 'cities'),
    stat('roadmap items', fmt.num(items), 'items'),
    stat('committed to', fmt.num(committed), 'committed'),
    stat('milestones reached', `${fmt.num(reached)} / ${fmt.num(total)}`, 'milestones'),
    stat('overdue', fmt.num(overdue), 'overdue', overdue ? 'stat-alert' : ''),
  ];
}

function cityCard(r) {
  const id = `city-${r.city}`;
  const field = (key, value, text, attrs = {}) => h('span', { 'data-field': key, 'data-value': value, ...attrs }, text);
  const total = STAGES.reduce((n, st) => n + r.stages[st], 0);
  return h('article', { class: 'card city-card', 'data-city': r.city, 'aria-labelledby': id },
    h('header', { class: 'card-head' },
      h('h2', { id }, h('a', { href: link('items', { city: r.city }), 'data-key': 'card-' + r.city }, r.name)),
      r.founding ? h('span', { class: 'badge founding', title: 'One of the seven founding cities' }, 'Founding city') : null),
    h('div', { class: 'completion' },
      field('completion', r.completion, fmt.pct(r.completion), { class: 'big' }),
      h('span', { class: 'muted', title: 'The mean progress of the items approved, in progress, on hold or completed' }, 'complete'),
      meter(r.completion, { label: `completion ${fmt.pct(r.completion)}` })),
    h('div', { class: 'block' },
      h('h3', {}, `Stages · ${fmt.num(total)} item${total === 1 ? '' : 's'}`),
      stageBar(r.stages, total),
      h('ul', { class: 'legend stages-legend' }, STAGES.map((st) => h('li', { class: r.stages[st] ? '' : 'zero' },
        h('span', { class: `swatch st-${st}`, 'aria-hidden': 'true' }),
        field('stages.' + st, r.stages[st], fmt.num(r.stages[st]), { class: 'count' }), ' ', STAGE_LABELS[st])))),
    h('div', { class: 'block' },
      h('h3', {}, 'Health'),
      h('ul', { class: 'health-list' }, HEALTHS.map((hl) => h('li', { class: `health-${hl}` + (r.health[hl] ? '' : ' zero') },
        h('a', { href: link('items', { city: r.city, health: hl }), 'aria-label': `${HEALTH_LABELS[hl]}: ${r.health[hl]} in ${r.name}` },
          h('span', { class: 'dot', 'aria-hidden': 'true' }),
          field('health.' + hl, r.health[hl], fmt.num(r.health[hl]), { class: 'count' }), ' ', HEALTH_LABELS[hl]))))),
    h('dl', { class: 'facts' },
      h('div', { class: r.overdue ? 'alert' : '' }, h('dt', {}, 'Overdue items'),
        h('dd', {}, r.overdue
          ? h('a', { href: link('items', { city: r.city, overdue: '1' }) }, field('overdue', r.overdue, fmt.num(r.overdue)))
          : field('overdue', r.overdue, 'none'))),
      h('div', {}, h('dt', {}, 'Milestones reached'),
        h('dd', {}, field('milestones.reached', r.milestones.reached, fmt.num(r.milestones.reached)), ' of ',
          field('milestones.total', r.milestones.total, fmt.num(r.milestones.total)))),
      h('div', {}, h('dt', {}, 'Budget planned'),
        h('dd', {}, r.budget.length
          ? r.budget.map((b, i) => [i ? ', ' : '', field('budget.' + b.currency, b.amount, fmt.money(b.amount, b.currency),
            { title: fmt.money(b.amount, b.currency, false) })])
          : h('span', { class: 'muted' }, 'none'))),
      h('div', {}, h('dt', {}, 'Last update'),
        h('dd', { 'data-field': 'lastUpdate', 'data-value': r.lastUpdate || '' }, when(r.lastUpdate)))));
}

/** stageBar draws the items of a city by stage as one stacked bar. */
function stageBar(stages, total) {
  const W = 300, H = 14;
  const parts = STAGES.filter((st) => stages[st] > 0).map((st) => `${STAGE_LABELS[st]} ${stages[st]}`);
  const svg = s('svg', {
    class: 'stagebar', viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: 'none', role: 'img',
    'aria-label': total ? `Items by stage: ${parts.join(', ')}` : 'No items yet',
  });
  if (!total) {
    svg.append(s('rect', { x: 0, y: 0, width: W, height: H, rx: 3, class: 'empty-bar' }));
    return svg;
  }
  let x = 0;
  for (const st of STAGES) {
    const n = stages[st];
    if (!n) continue;
    const w = (n / total) * W;
    svg.append(s('rect', { x: x.toFixed(2), y: 0, width: Math.max(w - 1, 0.5).toFixed(2), height: H, class: `st-${st}` },
      s('title', {}, `${STAGE_LABELS[st]}: ${n}`)));
    x += w;
  }
  return svg;
}

// ---------------------------------------------------------------------------------------------
// Matrix

function matrixView() {
  const themes = h('div', { class: 'table-wrap' }, loading());
  const targets = h('div', { class: 'table-wrap' }, loading());
  const node = h('div', { class: 'view matrix' },
    h('div', { class: 'view-head' }, h('h1', {}, 'Cross-city matrix'),
      h('p', { class: 'muted' }, 'Each cell: the completion of the items committed to, and the number of items (rejected and cancelled ones left out). Select a cell to see its items.')),
    heatLegend(),
    section('Cities × themes', themes),
    section('Cities × SDG 11 targets', targets));
  return {
    node,
    async load() {
      const { data } = await api('/v1/matrix');
      let rows = data.rows;
      if (isMember()) rows = rows.filter((r) => r.city === state.principal.city);
      replace(themes, heatTable(rows, data.themes, 'themes', (t) => THEME_LABELS[t] || t, (t) => ({ theme: t })));
      replace(targets, heatTable(rows, data.targets, 'targets', (t) => t, (t) => ({ target: t }), (t) => SDG_LABELS[t]));
    },
  };
}

function heatLegend() {
  return h('div', { class: 'heat-legend', 'aria-hidden': 'true' },
    h('span', {}, 'Completion'),
    [0, 1, 2, 3, 4, 5].map((b) => h('span', { class: `heat-swatch heat-${b}` }, ['0–19 %', '20–39 %', '40–59 %', '60–79 %', '80–99 %', '100 %'][b])),
    h('span', { class: 'heat-swatch heat-none' }, 'nothing committed'));
}

function heatBucket(c) {
  if (c >= 1) return 5;
  return Math.min(4, Math.floor(c * 5));
}

function heatTable(rows, cols, key, label, filter, long) {
  const caption = key === 'themes' ? 'Completion per city and theme' : 'Completion per city and SDG 11 target';
  return h('table', { class: 'heat' },
    h('caption', { class: 'sr-only' }, caption),
    h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'City'),
      cols.map((c) => h('th', { scope: 'col', title: long ? long(c) : null },
        h('span', {}, label(c)), long ? h('span', { class: 'th-sub' }, long(c)) : null)))),
    h('tbody', {}, rows.map((r) => h('tr', {},
      h('th', { scope: 'row' }, r.name),
      cols.map((c) => {
        const cell = r[key][c] || { items: 0, committed: 0, completion: 0 };
        const name = long ? `${c} ${long(c)}` : label(c);
        if (!cell.items) return h('td', { class: 'heat-cell heat-empty', 'data-city': r.city, 'data-col': c }, h('span', { class: 'muted', 'aria-label': `${r.name}, ${name}: no items` }, '·'));
        const cls = cell.committed ? `heat-${heatBucket(cell.completion)}` : 'heat-none';
        const params = { city: r.city, ...filter(c) };
        const text = cell.committed ? fmt.pct(cell.completion) : '—';
        return h('td', { class: 'heat-cell ' + cls, 'data-city': r.city, 'data-col': c, 'data-value': cell.completion },
          h('a', {
            href: link('items', params),
            'aria-label': `${r.name}, ${name}: ${cell.items} item${cell.items === 1 ? '' : 's'}, ${cell.committed} committed, ${cell.committed ? fmt.pct(cell.completion) + ' complete' : 'nothing committed'}`,
          }, h('span', { class: 'heat-pct' }, text), h('span', { class: 'heat-n' }, `${cell.items} item${cell.items === 1 ? '' : 's'}`)));
      })))));
}

// ---------------------------------------------------------------------------------------------
// Items

const ITEM_PAGE = 200;

function itemsView(query) {
  const f = {
    city: isMember() ? state.principal.city : query.get('city') || '',
    stage: query.get('stage') || '', theme: query.get('theme') || '', health: query.get('health') || '',
    target: query.get('target') || '', overdue: query.get('overdue') || '', q: query.get('q') || '',
  };
  const select = (name, label, options, value, attrs = {}) => h('div', { class: 'field' },
    h('label', { for: 'f-' + name }, label),
    h('select', { id: 'f-' + name, name, ...attrs },
      h('option', { value: '' }, 'All'),
      options.map(([v, text]) => h('option', { value: v, selected: v === value }, text))));
  const cities = (state.roster?.cities || []).map((c) => [c.id, c.name]);
  const filters = h('form', { class: 'filters', role: 'search', 'aria-label': 'Filter the roadmap items', novalidate: true },
    select('city', 'City', cities, f.city, { disabled: isMember() }),
    select('stage', 'Stage', STAGES.map((x) => [x, STAGE_LABELS[x]]), f.stage),
    select('theme', 'Theme', THEMES.map((x) => [x, THEME_LABELS[x]]), f.theme),
    select('health', 'Health', HEALTHS.map((x) => [x, HEALTH_LABELS[x]]), f.health),
    select('target', 'SDG 11 target', SDG_TARGETS.map((x) => [x, `${x} ${SDG_LABELS[x]}`]), f.target),
    h('div', { class: 'field field-check' },
      h('input', { type: 'checkbox', id: 'f-overdue', name: 'overdue', checked: !!f.overdue }),
      h('label', { for: 'f-overdue' }, 'Overdue only')),
    h('div', { class: 'field field-grow' }, h('label', { for: 'f-q' }, 'Title contains'),
      h('input', { type: 'search', id: 'f-q', name: 'q', value: f.q, autocomplete: 'off' })));
  const count = h('p', { class: 'muted count', role: 'status' });
  const body = h('div', { class: 'table-wrap' }, loading());
  const more = h('button', { type: 'button', class: 'btn', hidden: true }, 'Load more');
  let items = [];
  let next = '';

  const params = () => {
    const q = new URLSearchParams();
    for (const k of ['city', 'stage', 'theme', 'health']) if (f[k]) q.set(k, f[k]);
    q.set('limit', String(ITEM_PAGE));
    return q;
  };
  const render = () => {
    const q = f.q.trim().toLowerCase();
    const shown = items.filter((it) => (!f.target || it.sdgTargets.includes(f.target)) &&
      (!f.overdue || it.overdue) && (!q || it.title.toLowerCase().includes(q)));
    count.textContent = `${fmt.num(shown.length)} item${shown.length === 1 ? '' : 's'}` + (next ? ' so far' : '');
    replace(body, shown.length ? itemsTable(shown) : empty('No roadmap item matches these filters.'));
    more.hidden = !next;
  };
  const onChange = (ev) => {
    const el = ev.target;
    f[el.name] = el.type === 'checkbox' ? (el.checked ? '1' : '') : el.value;
    const shown = { ...f };
    if (isMember()) delete shown.city;
    history.replaceState(null, '', link('items', shown));
    if (['city', 'stage', 'theme', 'health'].includes(el.name)) view.load().catch((e) => banner(describe(e)));
    else render();
  };
  filters.addEventListener('change', onChange);
  filters.addEventListener('input', (ev) => { if (ev.target.name === 'q') onChange(ev); });
  filters.addEventListener('submit', (ev) => ev.preventDefault());
  more.addEventListener('click', async () => {
    const q = params();
    q.set('after', next);
    try {
      const { data } = await api('/v1/roadmap-items?' + q);
      items = items.concat(data.items);
      next = data.next || '';
      render();
    } catch (e) {
      banner(describe(e));
    }
  });
  const view = {
    node: h('div', { class: 'view items' },
      h('div', { class: 'view-head' }, h('h1', {}, 'Roadmap items'),
        canWrite(f.city || undefined) ? h('a', { class: 'btn btn-primary write-only', href: '#/propose' }, 'Propose an item') : null),
      filters, count, body, more),
    async load() {
      const { data } = await api('/v1/roadmap-items?' + params());
      items = data.items;
      next = data.next || '';
      render();
    },
  };
  return view;
}

function itemsTable(items) {
  return h('table', { class: 'list' },
    h('caption', { class: 'sr-only' }, 'Roadmap items'),
    h('thead', {}, h('tr', {},
      ['Item', 'Theme', 'Stage', 'Health', 'Progress', 'Due', 'Milestones', 'Budget'].map((c) => h('th', { scope: 'col' }, c)))),
    h('tbody', {}, items.map((it) => h('tr', { 'data-item': it.id },
      h('td', { class: 'item-title' }, h('a', { href: '#/items/' + encodeURIComponent(it.id), 'data-key': 'item-' + it.id }, it.title),
        h('span', { class: 'sub' }, cityName(it.city), ' · ', it.sdgTargets.join(', '))),
      h('td', {}, THEME_LABELS[it.theme] || it.theme),
      h('td', {}, stageBadge(it.stage)),
      h('td', {}, healthBadge(it.health)),
      h('td', { class: 'num' }, h('span', { class: 'pct' }, fmt.pct(it.progress)), meter(it.progress)),
      h('td', { class: 'nowrap' }, fmt.day(it.dueDate), it.overdue ? h('span', { class: 'badge overdue' }, 'overdue') : null),
      h('td', { class: 'num' }, `${it.milestones.reached} / ${it.milestones.total}`),
      h('td', { class: 'num' }, it.budget ? h('span', { title: fmt.money(it.budget.amount, it.budget.currency, false) },
        fmt.money(it.budget.amount, it.budget.currency)) : '—')))));
}

// ---------------------------------------------------------------------------------------------
// Item detail

function itemView(id) {
  const head = h('div', { class: 'view-head item-head' }, loading());
  const facts = h('div', { class: 'panel facts-panel' });
  const chart = h('div', { class: 'panel chart-panel' });
  const milestones = h('div', { class: 'panel' });
  const actions = h('div', { class: 'panel write-only', hidden: true });
  const form = h('div', { class: 'panel write-only', hidden: true });
  const history = h('div', { class: 'panel' });
  let item = null;
  let formBuiltFor = '';

  const redrawChart = () => { if (item) replace(chart, indicatorPanel(item, chart)); };
  const onResize = debounce(redrawChart, 150);
  window.addEventListener('resize', onResize);

  const view = {
    node: h('div', { class: 'view item' },
      h('p', { class: 'crumbs' }, h('a', { href: '#/items' }, '← Roadmap items')),
      head, h('div', { class: 'item-grid' }, h('div', { class: 'col-main' }, chart, form, actions, history),
        h('div', { class: 'col-side' }, facts, milestones))),
    dispose() {
      window.removeEventListener('resize', onResize);
    },
    async load() {
      const { data } = await api('/v1/roadmap-items/' + encodeURIComponent(id));
      item = data;
      replace(head, itemHead(item));
      replace(facts, itemFacts(item));
      replace(chart, indicatorPanel(item, chart));
      chart.hidden = !item.indicator;
      replace(milestones, milestonePanel(item));
      replace(history, historyPanel(item));
      const writable = canWrite(item.city);
      replace(actions, writable ? actionsPanel(item, view) : null);
      actions.hidden = !writable || !actions.firstChild;
      // The update form is built once per stage, so that a live refresh keeps what is being typed.
      const wantForm = writable && item.stage === 'in_progress';
      if (!wantForm) {
        form.replaceChildren();
        formBuiltFor = '';
      } else if (formBuiltFor !== item.id) {
        replace(form, updateForm(item, view));
        formBuiltFor = item.id;
      } else {
        const f = $('#update-form', form);
        if (f) f.dataset.revision = String(item.revision);
      }
      form.hidden = !wantForm;
    },
  };
  return view;
}

function debounce(fn, ms) {
  let t = 0;
  return (...args) => {
    clearTimeout(t);
    t = setTimeout(() => fn(...args), ms);
  };
}

function itemHead(it) {
  return [
    h('h1', {}, it.title),
    h('p', { class: 'item-meta' },
      h('a', { href: link('items', { city: it.city }) }, cityName(it.city)), ' · ',
      THEME_LABELS[it.theme] || it.theme, ' · SDG ', it.sdgTargets.join(', '), ' ',
      stageBadge(it.stage), ' ', healthBadge(it.health), it.overdue ? [' ', h('span', { class: 'badge overdue' }, 'overdue')] : null),
    h('p', { class: 'description' }, it.description),
    it.lastComment && it.stage === 'changes_requested'
      ? h('p', { class: 'note' }, h('strong', {}, 'Changes requested: '), it.lastComment) : null,
  ];
}

function itemFacts(it) {
  const row = (label, ...value) => h('div', {}, h('dt', {}, label), h('dd', {}, value));
  const basis = it.healthBasis === 'indicator' ? 'on the indicator' : it.healthBasis === 'progress' ? 'on the reported percentage' : '';
  return [
    h('h2', {}, 'Progress'),
    h('div', { class: 'progress-big' },
      h('span', { class: 'big', 'data-field': 'progress', 'data-value': it.progress }, fmt.pct(it.progress)),
      h('span', { class: 'muted' }, it.healthBasis ? `done; ${fmt.pct(it.expectedProgress)} expected by ${state.asOf ? 'then' : 'now'}` : 'done')),
    meter(it.progress, { expected: it.healthBasis ? it.expectedProgress : undefined,
      label: `${fmt.pct(it.progress)} done, ${fmt.pct(it.expectedProgress)} expected` }),
    h('dl', { class: 'facts' },
      basis ? row('Health measured', basis) : null,
      it.progressPercent !== undefined ? row('Last reported', `${it.progressPercent} %`) : null,
      row('Start', fmt.day(it.startDate)),
      row('Due', fmt.day(it.dueDate), it.overdue ? [' ', h('span', { class: 'badge overdue' }, 'overdue')] : null),
      row('Budget', it.budget ? [fmt.money(it.budget.amount, it.budget.currency, false), h('span', { class: 'sub' }, it.budget.fundingSource)] : '—'),
      row('Proposed', when(it.proposedAt)),
      row('Last update', when(it.lastUpdate)),
      row('Revision', h('span', { 'data-field': 'revision', 'data-value': it.revision }, String(it.revision)),
        it.revisions ? ` (${it.revisions} revision${it.revisions === 1 ? '' : 's'} of the proposal)` : '')),
  ];
}

function milestonePanel(it) {
  return [
    h('h2', {}, 'Milestones'),
    it.milestoneList.length
      ? h('ol', { class: 'milestones' }, it.milestoneList.map((m) => h('li', { class: m.reached ? 'reached' : '' },
        h('span', { class: 'ms-mark', 'aria-hidden': 'true' }, m.reached ? '✓' : ''),
        h('span', { class: 'ms-title' }, m.title),
        h('span', { class: 'sub' }, m.reached ? ['reached ', when(m.reachedAt)] : `due ${fmt.day(m.due)}`),
        h('span', { class: 'sr-only' }, m.reached ? ' (reached)' : ' (not reached yet)'))))
      : empty('No milestones.'),
  ];
}

function historyPanel(it) {
  const entries = [...it.history].reverse();
  return [
    h('h2', {}, 'History'),
    h('ol', { class: 'timeline', reversed: true }, entries.map((e) => h('li', {},
      h('span', { class: 'tl-when' }, when(e.at)),
      h('span', { class: 'tl-text' }, h('strong', {}, e.actorName || e.actor || 'someone'),
        e.role ? h('span', { class: 'sub' }, ` (${e.role})`) : null, ' ', e.summary)))),
  ];
}

// ---- indicator chart ----

function indicatorPanel(it, container) {
  const ind = it.indicator;
  if (!ind) {
    return [h('h2', {}, 'Indicator'), empty('This item has no indicator: its health follows the progress percentages reported.')];
  }
  const width = Math.max(300, Math.min(900, (container && container.clientWidth) ? container.clientWidth - 32 : 720));
  const ms = ind.measurements;
  const dir = ind.direction === 'decrease' ? 'down' : 'up';
  return [
    h('h2', {}, `Indicator: ${ind.name}`),
    h('p', { class: 'muted' }, `From ${fmt.measure(ind.baseline.value, ind.unit)} in ${ind.baseline.year} to ${fmt.measure(ind.target.value, ind.unit)} by ${ind.target.year} (${dir === 'up' ? 'higher' : 'lower'} is better).`),
    indicatorChart(it, width),
    h('ul', { class: 'legend chart-legend', 'aria-hidden': 'true' },
      h('li', {}, h('span', { class: 'key key-measured' }), 'measured (value in force)'),
      h('li', {}, h('span', { class: 'key key-corrected' }), 'corrected: first reported value'),
      h('li', {}, h('span', { class: 'key key-expected' }), 'expected path'),
      h('li', {}, h('span', { class: 'key key-baseline' }), 'baseline and target')),
    h('details', { class: 'chart-data' },
      h('summary', {}, `The measurements (${ms.length})`),
      ms.length ? h('table', { class: 'list compact' },
        h('thead', {}, h('tr', {}, ['Period', 'Value', 'First reported', 'Reported', 'Corrections'].map((c) => h('th', { scope: 'col' }, c)))),
        h('tbody', {}, ms.map((m) => h('tr', {},
          h('td', {}, m.period), h('td', { class: 'num' }, fmt.measure(m.value, ind.unit)),
          h('td', { class: 'num' }, m.originalValue !== m.value ? fmt.measure(m.originalValue, ind.unit) : '—'),
          h('td', {}, fmt.time(m.at)),
          h('td', {}, m.corrections.length ? m.corrections.map((c) => h('div', {},
            `${fmt.num(c.oldValue)} → ${fmt.num(c.newValue)}: ${c.reason}`)) : '—')))))
        : empty('Nothing measured yet.')),
  ];
}

/** periodTime places a measurement period on the time axis: the middle of the period. */
function periodTime(p) {
  let m;
  if ((m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(p))) return Date.UTC(+m[1], +m[2] - 1, +m[3], 12);
  if ((m = /^(\d{4})-(\d{2})$/.exec(p))) return Date.UTC(+m[1], +m[2] - 1, 15);
  if ((m = /^(\d{4})-Q([1-4])$/.exec(p))) return Date.UTC(+m[1], (+m[2] - 1) * 3 + 1, 15);
  if ((m = /^(\d{4})$/.exec(p))) return Date.UTC(+m[1], 6, 1);
  return NaN;
}

function niceTicks(min, max, count) {
  if (min === max) { min -= Math.abs(min) * 0.1 || 1; max += Math.abs(max) * 0.1 || 1; }
  const raw = (max - min) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const norm = raw / mag;
  const step = (norm < 1.5 ? 1 : norm < 3 ? 2 : norm < 7 ? 5 : 10) * mag;
  const lo = Math.floor(min / step) * step;
  const hi = Math.ceil(max / step) * step;
  const ticks = [];
  for (let v = lo; v <= hi + step / 2; v += step) ticks.push(Number(v.toPrecision(12)));
  return { lo, hi, ticks };
}

function indicatorChart(it, W) {
  const ind = it.indicator;
  const H = Math.round(Math.min(320, Math.max(220, W * 0.42)));
  const M = { l: 64, r: 20, t: 24, b: 36 };
  const pw = W - M.l - M.r, ph = H - M.t - M.b;
  const t0 = Date.UTC(ind.baseline.year, 0, 1), t1 = Date.UTC(ind.target.year + 1, 0, 1);
  const pts = ind.measurements.map((m) => ({ ...m, t: periodTime(m.period) })).filter((m) => !Number.isNaN(m.t));
  const now = state.asOf ? new Date(state.asOf).getTime() : Date.now();
  const xs = [t0, t1, ...pts.map((p) => p.t)];
  const xmin = Math.min(...xs), xmax = Math.max(...xs);
  const vals = [ind.baseline.value, ind.target.value, ...pts.flatMap((p) => [p.value, p.originalValue])];
  const span = Math.max(...vals) - Math.min(...vals) || Math.abs(vals[0]) || 1;
  const yt = niceTicks(Math.min(...vals) - span * 0.05, Math.max(...vals) + span * 0.05, 5);
  const x = (t) => M.l + ((t - xmin) / (xmax - xmin)) * pw;
  const y = (v) => M.t + ph - ((v - yt.lo) / (yt.hi - yt.lo)) * ph;
  const f2 = (n) => n.toFixed(1);

  const measured = pts.map((p) => `${p.period}: ${fmt.measure(p.value, ind.unit)}`).join('; ');
  const svg = s('svg', {
    class: 'chart', viewBox: `0 0 ${W} ${H}`, width: W, height: H, role: 'img',
    'aria-label': `${ind.name}: baseline ${fmt.measure(ind.baseline.value, ind.unit)} in ${ind.baseline.year}, target ${fmt.measure(ind.target.value, ind.unit)} by ${ind.target.year}. ` +
      (pts.length ? `Measured: ${measured}.` : 'Nothing measured yet.'),
  });

  // Grid and axes.
  const grid = s('g', { class: 'grid' });
  for (const v of yt.ticks) {
    grid.append(s('line', { x1: M.l, x2: W - M.r, y1: f2(y(v)), y2: f2(y(v)) }),
      s('text', { x: M.l - 8, y: f2(y(v) + 4), class: 'tick tick-y' }, fmt.compact(v)));
  }
  const months = (xmax - xmin) / (30.4 * 864e5);
  const stepM = [1, 2, 3, 6, 12, 24, 60].find((k) => months / k <= Math.max(3, Math.floor(pw / 90))) || 120;
  const start = new Date(xmin);
  let tm = Date.UTC(start.getUTCFullYear(), Math.ceil(start.getUTCMonth() / stepM) * stepM, 1);
  for (; tm <= xmax; tm = Date.UTC(new Date(tm).getUTCFullYear(), new Date(tm).getUTCMonth() + stepM, 1)) {
    if (tm < xmin) continue;
    const anchor = x(tm) > W - M.r - 30 ? 'end' : x(tm) < M.l + 30 ? 'start' : 'middle';
    grid.append(s('line', { x1: f2(x(tm)), x2: f2(x(tm)), y1: M.t, y2: M.t + ph, class: 'vgrid' }),
      s('text', { x: f2(x(tm)), y: H - M.b + 18, class: 'tick tick-x', 'text-anchor': anchor }, stepM >= 12 ? yearFmt.format(tm) : monthFmt.format(tm)));
  }
  grid.append(s('line', { x1: M.l, x2: W - M.r, y1: M.t + ph, y2: M.t + ph, class: 'axis' }));
  svg.append(grid);

  // Now (or the as-of moment).
  if (now > xmin && now < xmax) {
    svg.append(s('g', { class: 'now' },
      s('line', { x1: f2(x(now)), x2: f2(x(now)), y1: M.t - 6, y2: M.t + ph }),
      s('text', { x: f2(x(now)), y: M.t - 10 }, state.asOf ? 'as of' : 'today')));
  }

  // The expected path: from the baseline at the start of its year to the target at the end of its year.
  svg.append(s('line', { class: 'expected', x1: f2(x(t0)), y1: f2(y(ind.baseline.value)), x2: f2(x(t1)), y2: f2(y(ind.target.value)) },
    s('title', {}, 'Expected path from the baseline to the target')));
  svg.append(s('line', { class: 'target-line', x1: M.l, x2: W - M.r, y1: f2(y(ind.target.value)), y2: f2(y(ind.target.value)) }));

  const mark = (cx, cy, cls, label, title) => s('g', { class: cls },
    s('rect', { x: f2(cx - 5), y: f2(cy - 5), width: 10, height: 10, transform: `rotate(45 ${f2(cx)} ${f2(cy)})` }),
    s('text', { x: f2(cx + (cls.includes('target') ? -9 : 9)), y: f2(cy + (cls.includes('target') ? -9 : 16)),
      'text-anchor': cls.includes('target') ? 'end' : 'start' }, label),
    s('title', {}, title));
  svg.append(mark(x(t0), y(ind.baseline.value), 'point-baseline', `Baseline ${fmt.compact(ind.baseline.value)}`,
    `Baseline ${ind.baseline.year}: ${fmt.measure(ind.baseline.value, ind.unit)}`));
  svg.append(mark(x(t1), y(ind.target.value), 'point-baseline point-target', `Target ${fmt.compact(ind.target.value)}`,
    `Target ${ind.target.year}: ${fmt.measure(ind.target.value, ind.unit)}`));

  // Corrections: the first reported value, linked to the value in force.
  for (const p of pts) {
    if (p.originalValue === p.value) continue;
    svg.append(s('g', { class: 'correction' },
      s('line', { x1: f2(x(p.t)), x2: f2(x(p.t)), y1: f2(y(p.originalValue)), y2: f2(y(p.value)) }),
      s('circle', { cx: f2(x(p.t)), cy: f2(y(p.originalValue)), r: 4.5 },
        s('title', {}, `${p.period}: first reported ${fmt.measure(p.originalValue, ind.unit)}, corrected to ${fmt.measure(p.value, ind.unit)}` +
          p.corrections.map((c) => ` (${c.reason})`).join('')))));
  }
  // Measurements (values in force).
  if (pts.length) {
    svg.append(s('polyline', { class: 'measured', points: pts.map((p) => `${f2(x(p.t))},${f2(y(p.value))}`).join(' ') }));
    for (const p of pts) {
      svg.append(s('circle', { class: 'measured-point' + (p.corrections.length ? ' is-corrected' : ''), cx: f2(x(p.t)), cy: f2(y(p.value)), r: 4 },
        s('title', {}, `${p.period}: ${fmt.measure(p.value, ind.unit)} (reported ${fmt.time(p.at)})`)));
    }
    const last = pts[pts.length - 1];
    svg.append(s('text', { class: 'last-label', x: f2(Math.min(x(last.t) + 8, W - M.r - 4)), y: f2(y(last.value) - 8),
      'text-anchor': x(last.t) > W - M.r - 80 ? 'end' : 'start' }, fmt.compact(last.value)));
  }
  return svg;
}

// ---- actions ----

const ACTIONS = [
  { path: 'approve', label: 'Approve', stages: ['proposed'], coordinator: true },
  { path: 'request-changes', label: 'Request changes', stages: ['proposed'], coordinator: true, text: 'comment', prompt: 'What should change?' },
  { path: 'reject', label: 'Reject', stages: ['proposed'], coordinator: true, text: 'reason', prompt: 'Why is it rejected?' },
  { path: 'start', label: 'Start implementation', stages: ['approved'] },
  { path: 'complete', label: 'Complete', stages: ['in_progress'] },
  { path: 'hold', label: 'Put on hold', stages: ['in_progress'], text: 'reason', prompt: 'Why is it on hold?' },
  { path: 'resume', label: 'Resume', stages: ['on_hold'] },
  { path: 'cancel', label: 'Cancel the item', stages: ['proposed', 'changes_requested', 'approved', 'in_progress', 'on_hold'], text: 'reason', prompt: 'Why is it cancelled?', danger: true },
];

function actionsPanel(it, view) {
  const list = ACTIONS.filter((a) => a.stages.includes(it.stage) && (!a.coordinator || isCoordinator()));
  if (!list.length) return null;
  const out = h('div', { class: 'action-out', role: 'status' });
  const box = h('div', { class: 'action-form' });
  const run = async (a, text) => {
    out.textContent = 'Sending…';
    try {
      const { res } = await api(`/v1/roadmap-items/${encodeURIComponent(it.id)}/${a.path}`, {
        method: 'POST', body: a.text ? { [a.text]: text } : {},
        headers: { 'Idempotency-Key': uuid(), 'If-Match': `"${it.revision}"` },
      });
      state.minPosition = res.headers.get('CSC-Position') || state.minPosition;
      out.textContent = `${a.label}: done.`;
      announce(`${a.label}: done.`);
      await view.load();
    } catch (e) {
      out.textContent = e instanceof ApiError && e.problem.errors?.length
        ? e.problem.errors.map((x) => x.message).join('; ') : describe(e);
    }
  };
  return [
    h('h2', {}, 'Actions'),
    h('div', { class: 'actions' }, list.map((a) => h('button', {
      type: 'button', class: 'btn' + (a.danger ? ' btn-danger' : ''), 'data-action': a.path,
      onclick: () => {
        if (!a.text) { box.replaceChildren(); run(a); return; }
        const input = h('input', { type: 'text', id: 'action-text', required: true, autocomplete: 'off' });
        const f = h('form', { class: 'inline-form', novalidate: true },
          h('label', { for: 'action-text' }, a.prompt), input,
          h('button', { type: 'submit', class: 'btn btn-primary' }, a.label),
          h('button', { type: 'button', class: 'btn btn-quiet', onclick: () => box.replaceChildren() }, 'Never mind'));
        f.addEventListener('submit', (ev) => { ev.preventDefault(); run(a, input.value); });
        box.replaceChildren(f);
        input.focus();
      },
    }, a.label))),
    box, out,
  ];
}

// ---------------------------------------------------------------------------------------------
// Forms

let fieldSeq = 0;

/** field builds a labelled input whose API field errors show right under it. */
function field(name, label, input, { hint, wide } = {}) {
  const id = input.id || `fld-${++fieldSeq}`;
  input.id = id;
  input.name = name;
  const errId = `${id}-error`;
  const hintId = hint ? `${id}-hint` : '';
  input.setAttribute('aria-describedby', [hintId, errId].filter(Boolean).join(' '));
  return h('div', { class: 'field' + (wide ? ' field-wide' : ''), 'data-field-for': name },
    h('label', { for: id }, label),
    hint ? h('p', { class: 'hint', id: hintId }, hint) : null,
    input,
    h('p', { class: 'field-error', id: errId, 'data-error-for': name }));
}

function errorSlot(form, name) {
  let key = name;
  for (;;) {
    const el = form.querySelector(`[data-error-for="${CSS.escape(key)}"]`);
    if (el) return el;
    const cut = Math.max(key.lastIndexOf('.'), key.lastIndexOf('['));
    if (cut <= 0) return null;
    key = key.slice(0, cut);
  }
}

function clearErrors(form) {
  for (const el of $$('[data-error-for]', form)) el.textContent = '';
  for (const el of $$('[aria-invalid]', form)) el.removeAttribute('aria-invalid');
  const sum = $('.form-summary', form);
  sum.hidden = true;
  sum.replaceChildren();
}

/** showProblem puts a problem's field errors next to their fields, and the rest in the summary. */
function showProblem(form, e) {
  const sum = $('.form-summary', form);
  const rest = [];
  const errors = e instanceof ApiError ? e.problem.errors || [] : [];
  for (const fe of errors) {
    const slot = errorSlot(form, fe.field);
    const text = fe.message.startsWith(fe.field + ': ') ? fe.message.slice(fe.field.length + 2) : fe.message;
    if (!slot) {
      rest.push(fe.message);
      continue;
    }
    slot.textContent = (slot.textContent ? slot.textContent + ' ' : '') + cap(text) + '.';
    const input = $$(`[name="${CSS.escape(fe.field)}"]`, form).find((el) => el.type !== 'checkbox');
    if (input) input.setAttribute('aria-invalid', 'true');
  }
  const title = e instanceof ApiError
    ? (errors.length ? `${e.problem.title || 'The form has errors'}: see the fields marked below.` : describe(e))
    : `${describe(e)}. Nothing was lost: send it again.`;
  sum.replaceChildren();
  append(sum, [h('p', {}, title), rest.length ? h('ul', {}, rest.map((r) => h('li', {}, r))) : null]);
  sum.hidden = false;
  // The focus goes to the first field with an error, in the order of the form.
  const slot = $$('[data-error-for]', form).find((el) => el.textContent);
  const target = slot && !rest.length
    ? slot.closest('[data-field-for]')?.querySelector('input:not([type=hidden]):not([disabled]), select:not([disabled]), textarea')
    : null;
  (target || sum).focus();
}

const cap = (t) => t.charAt(0).toUpperCase() + t.slice(1);

/** send posts a form's body once per attempt with a stable Idempotency-Key (kept when the answer
 * never came, so that sending again cannot record the command twice). */
async function send(form, path, body, extraHeaders = {}) {
  clearErrors(form);
  const btn = $('[type=submit]', form);
  const out = $('.form-status', form);
  btn.disabled = true;
  out.textContent = 'Sending…';
  form.dataset.key = form.dataset.key || uuid();
  try {
    const r = await api(path, { method: 'POST', body, headers: { 'Idempotency-Key': form.dataset.key, ...extraHeaders } });
    delete form.dataset.key;
    state.minPosition = r.res.headers.get('CSC-Position') || state.minPosition;
    out.textContent = '';
    return r;
  } catch (e) {
    if (e instanceof ApiError) delete form.dataset.key;
    out.textContent = '';
    showProblem(form, e);
    return null;
  } finally {
    btn.disabled = false;
  }
}

const numberOrUndefined = (el) => (el.value.trim() === '' ? undefined : Number(el.value));

function updateForm(it, view) {
  const num = (attrs) => h('input', { type: 'number', inputmode: 'decimal', ...attrs });
  const progress = num({ min: 0, max: 100, step: 1, id: 'upd-progress' });
  const now = new Date();
  const period = h('input', { type: 'text', id: 'upd-period', value: `${now.getFullYear()}-${String(now.getMonth() + 1).padStart(2, '0')}`, autocomplete: 'off' });
  const value = num({ step: 'any', id: 'upd-value' });
  const narrative = h('textarea', { id: 'upd-narrative', rows: 3 });
  const uri = h('input', { type: 'url', id: 'upd-uri', autocomplete: 'off', placeholder: 'https://' });
  const sha = h('input', { type: 'text', id: 'upd-sha', autocomplete: 'off', spellcheck: 'false', class: 'mono' });
  const open = it.milestoneList.filter((m) => !m.reached);
  const form = h('form', { id: 'update-form', class: 'form', novalidate: true, 'data-revision': it.revision, 'aria-labelledby': 'update-title' },
    h('h2', { id: 'update-title' }, 'Submit a roadmap update'),
    h('div', { class: 'form-summary', role: 'alert', tabindex: '-1', hidden: true }),
    h('div', { class: 'form-grid' },
      field('progressPercent', 'Progress (%)', progress, { hint: 'Of the whole item, 0 to 100.' }),
      it.indicator ? h('fieldset', { class: 'field-group', 'data-field-for': 'measurement' },
        h('legend', {}, `Measurement of “${it.indicator.name}” (${it.indicator.unit})`),
        h('p', { class: 'field-error', 'data-error-for': 'measurement' }),
        h('div', { class: 'form-row' },
          field('measurement.value', 'Value', value),
          field('measurement.period', 'Period', period, { hint: 'YYYY, YYYY-Qn, YYYY-MM or YYYY-MM-DD' }))) : null,
      open.length ? h('fieldset', { class: 'field-group field-wide', 'data-field-for': 'milestonesReached', 'aria-describedby': 'upd-ms-error' },
        h('legend', {}, 'Milestones reached with this update'),
        open.map((m) => h('label', { class: 'check' },
          h('input', { type: 'checkbox', name: 'milestonesReached', value: m.id }), ` ${m.title} `, h('span', { class: 'sub' }, `due ${fmt.day(m.due)}`))),
        h('p', { class: 'field-error', id: 'upd-ms-error', 'data-error-for': 'milestonesReached' })) : null,
      field('narrative', 'What happened', narrative, { wide: true }),
      h('fieldset', { class: 'field-group field-wide', 'data-field-for': 'evidence' },
        h('legend', {}, 'Evidence (optional)'),
        h('p', { class: 'field-error', 'data-error-for': 'evidence' }),
        h('div', { class: 'form-row' },
          field('evidence[0].uri', 'Document address', uri, { hint: 'A full address, https://…' }),
          field('evidence[0].sha256', 'SHA-256 of the document', sha, { hint: '64 hexadecimal digits' })))),
    h('div', { class: 'form-actions' },
      h('button', { type: 'submit', class: 'btn btn-primary', id: 'update-submit' }, 'Submit the update'),
      h('span', { class: 'form-status', role: 'status' })));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const body = {
      progressPercent: numberOrUndefined(progress),
      milestonesReached: $$('input[name=milestonesReached]:checked', form).map((c) => c.value),
      narrative: narrative.value,
      evidence: uri.value.trim() || sha.value.trim() ? [{ uri: uri.value.trim(), sha256: sha.value.trim() }] : [],
    };
    if (it.indicator && (value.value.trim() !== '')) body.measurement = { value: Number(value.value), period: period.value.trim() };
    const r = await send(form, `/v1/roadmap-items/${encodeURIComponent(it.id)}/updates`, body,
      { 'If-Match': `"${form.dataset.revision}"` });
    if (!r) return;
    for (const el of [progress, value, narrative, uri, sha]) el.value = '';
    $('.form-status', form).textContent = 'Update recorded.';
    announce('Update recorded.');
    form.closest('.panel').dataset.done = 'true';
    await view.load();
  });
  return form;
}

function proposeView() {
  if (!canWrite()) {
    return { node: h('div', { class: 'view' }, h('h1', {}, 'Propose a roadmap item'),
      empty(state.asOf ? 'Go back to now to propose an item.' : 'Your role may not propose items.')), load: async () => {} };
  }
  const text = (id, attrs = {}) => h('input', { type: 'text', id, autocomplete: 'off', ...attrs });
  const num = (id, attrs = {}) => h('input', { type: 'number', id, inputmode: 'decimal', step: 'any', ...attrs });
  const city = isMember()
    ? h('select', { id: 'p-city', disabled: true }, h('option', { value: state.principal.city }, cityName(state.principal.city)))
    : h('select', { id: 'p-city' }, h('option', { value: '' }, 'Choose a city'),
      (state.roster?.cities || []).map((c) => h('option', { value: c.id }, c.name)));
  const theme = h('select', { id: 'p-theme' }, h('option', { value: '' }, 'Choose a theme'),
    THEMES.map((t) => h('option', { value: t }, THEME_LABELS[t])));
  const year = new Date().getFullYear();
  const msRows = h('div', { class: 'ms-rows' });
  const addMilestone = () => {
    const i = msRows.children.length;
    msRows.append(h('div', { class: 'form-row ms-row' },
      field(`milestones[${i}].title`, `Milestone ${i + 1}`, text(`p-ms-${i}-title`)),
      field(`milestones[${i}].due`, 'Due', h('input', { type: 'date', id: `p-ms-${i}-due` })),
      h('p', { class: 'field-error', 'data-error-for': `milestones[${i}]` })));
  };
  addMilestone();
  const form = h('form', { id: 'propose-form', class: 'form', novalidate: true, 'aria-labelledby': 'propose-title' },
    h('div', { class: 'form-summary', role: 'alert', tabindex: '-1', hidden: true }),
    h('div', { class: 'form-grid' },
      field('city', 'City', city),
      field('theme', 'Theme', theme),
      field('title', 'Title', text('p-title', { maxlength: 200 }), { wide: true }),
      field('description', 'Description', h('textarea', { id: 'p-description', rows: 4 }), { wide: true }),
      h('fieldset', { class: 'field-group field-wide', 'data-field-for': 'sdgTargets', 'aria-describedby': 'p-sdg-error' },
        h('legend', {}, 'SDG 11 targets it serves'),
        h('div', { class: 'checks' }, SDG_TARGETS.map((t) => h('label', { class: 'check' },
          h('input', { type: 'checkbox', name: 'sdgTargets', value: t }), ` ${t} `, h('span', { class: 'sub' }, SDG_LABELS[t])))),
        h('p', { class: 'field-error', id: 'p-sdg-error', 'data-error-for': 'sdgTargets' })),
      field('startDate', 'Start', h('input', { type: 'date', id: 'p-start' })),
      field('dueDate', 'Due', h('input', { type: 'date', id: 'p-due' })),
      h('fieldset', { class: 'field-group field-wide', 'data-field-for': 'indicator' },
        h('legend', {}, 'Indicator (optional)'),
        h('p', { class: 'field-error', 'data-error-for': 'indicator' }),
        h('div', { class: 'form-row' },
          field('indicator.name', 'Name', text('p-ind-name')),
          field('indicator.unit', 'Unit', text('p-ind-unit', { placeholder: 'e.g. km, homes, %' })),
          field('indicator.direction', 'Better when', h('select', { id: 'p-ind-dir' },
            h('option', { value: 'increase' }, 'it increases'), h('option', { value: 'decrease' }, 'it decreases')))),
        h('div', { class: 'form-row' },
          field('indicator.baseline.value', 'Baseline value', num('p-ind-bv')),
          field('indicator.baseline.year', 'Baseline year', num('p-ind-by', { step: 1, value: year })),
          field('indicator.target.value', 'Target value', num('p-ind-tv')),
          field('indicator.target.year', 'Target year', num('p-ind-ty', { step: 1, value: year + 2 })))),
      h('fieldset', { class: 'field-group field-wide', 'data-field-for': 'milestones' },
        h('legend', {}, 'Milestones'),
        h('p', { class: 'field-error', 'data-error-for': 'milestones' }),
        msRows,
        h('button', { type: 'button', class: 'btn btn-quiet', onclick: addMilestone }, '+ Add a milestone')),
      h('fieldset', { class: 'field-group field-wide', 'data-field-for': 'budget' },
        h('legend', {}, 'Budget (optional)'),
        h('p', { class: 'field-error', 'data-error-for': 'budget' }),
        h('div', { class: 'form-row' },
          field('budget.amount', 'Amount', num('p-b-amount', { min: 0 })),
          field('budget.currency', 'Currency', text('p-b-cur', { value: 'EUR', maxlength: 3, class: 'short', autocapitalize: 'characters' }), { hint: 'ISO 4217, e.g. EUR' }),
          field('budget.fundingSource', 'Funding source', text('p-b-src'))))),
    h('div', { class: 'form-actions' },
      h('button', { type: 'submit', class: 'btn btn-primary', id: 'propose-submit' }, 'Propose the item'),
      h('span', { class: 'form-status', role: 'status' })));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const v = (id) => $('#' + id, form).value.trim();
    const n = (id) => numberOrUndefined($('#' + id, form));
    const body = {
      city: city.value, title: v('p-title'), description: v('p-description'), theme: theme.value,
      sdgTargets: $$('input[name=sdgTargets]:checked', form).map((c) => c.value),
      startDate: v('p-start'), dueDate: v('p-due'),
      milestones: [...msRows.children].map((row, i) => ({ id: `m${i + 1}`, title: v(`p-ms-${i}-title`), due: v(`p-ms-${i}-due`) }))
        .filter((m) => m.title || m.due),
    };
    if (v('p-ind-name') || v('p-ind-unit') || v('p-ind-bv') || v('p-ind-tv')) {
      body.indicator = {
        name: v('p-ind-name'), unit: v('p-ind-unit'), direction: $('#p-ind-dir', form).value,
        baseline: { value: n('p-ind-bv') ?? 0, year: n('p-ind-by') ?? 0 },
        target: { value: n('p-ind-tv') ?? 0, year: n('p-ind-ty') ?? 0 },
      };
    }
    if (v('p-b-amount') || v('p-b-src')) {
      body.budget = { amount: n('p-b-amount') ?? 0, currency: v('p-b-cur').toUpperCase(), fundingSource: v('p-b-src') };
    }
    const r = await send(form, '/v1/roadmap-items', body);
    if (!r) return;
    announce('Item proposed.');
    location.hash = '#/items/' + encodeURIComponent(r.data.id);
  });
  return {
    node: h('div', { class: 'view propose' },
      h('div', { class: 'view-head' }, h('h1', { id: 'propose-title' }, 'Propose a roadmap item'),
        h('p', { class: 'muted' }, 'A coordinator reviews it: approves it, asks for changes or rejects it.')),
      h('div', { class: 'panel' }, form)),
    load: async () => {},
  };
}

// ---------------------------------------------------------------------------------------------
// Roster and activity

function rosterView() {
  const head = h('p', { class: 'muted' });
  const cities = h('div', { class: 'table-wrap' }, loading());
  const members = h('div', { class: 'groups' });
  return {
    node: h('div', { class: 'view roster' }, h('div', { class: 'view-head' }, h('h1', {}, 'Roster'), head),
      section('Cities taking part', cities), section('Members by expertise', members)),
    async load() {
      const { data } = await api('/v1/cities');
      if (!state.asOf) state.roster = data;
      replace(head, `${data.name} · phase ${data.phase}`, data.launched ? [' · launched ', fmt.day(data.launched.slice(0, 10))] : null);
      replace(cities, data.cities.length ? h('table', { class: 'list' },
        h('caption', { class: 'sr-only' }, 'Cities taking part'),
        h('thead', {}, h('tr', {}, ['City', 'Country', 'Founding', 'Joined', 'Members'].map((c) => h('th', { scope: 'col', class: c === 'Members' ? 'num' : null }, c)))),
        h('tbody', {}, data.cities.map((c) => h('tr', {},
          h('th', { scope: 'row' }, h('a', { href: link('items', { city: c.id }) }, c.name)),
          h('td', {}, c.country),
          h('td', {}, c.founding ? h('span', { class: 'badge founding' }, 'Founding city') : 'Joined later'),
          h('td', {}, fmt.day(c.joined.slice(0, 10))),
          h('td', { class: 'num' }, fmt.num(c.members))))))
        : empty('No city takes part yet.'));
      replace(members, data.expertise.map((g) => h('section', { class: 'group' },
        h('h3', {}, `${EXPERTISE_LABELS[g.expertise] || g.expertise} (${g.members.length})`),
        g.members.length ? h('ul', { class: 'people' }, g.members.map((m) => h('li', {},
          h('span', {}, m.name), h('span', { class: 'sub' }, cityName(m.city))))) : empty('Nobody yet.'))));
    },
  };
}

function activityView() {
  const list = h('div', {}, loading());
  let seen = null;
  return {
    node: h('div', { class: 'view activity' },
      h('div', { class: 'view-head' }, h('h1', {}, 'Activity'),
        h('p', { class: 'muted' }, isMember() ? `The latest changes in ${cityName(state.principal.city)}, newest first.` : 'The latest changes, newest first.')),
      list),
    async load() {
      const { data } = await api('/v1/activity?limit=100');
      let entries = data.activity;
      if (isMember()) entries = entries.filter((a) => !a.city || a.city === state.principal.city);
      const fresh = seen ? new Set(entries.map((a) => a.position).filter((p) => !seen.has(p))) : new Set();
      seen = new Set(entries.map((a) => a.position));
      replace(list, entries.length ? h('ol', { class: 'feed' }, entries.map((a) => h('li', { class: fresh.has(a.position) ? 'fresh' : '', 'data-position': a.position },
        h('span', { class: 'feed-when' }, when(a.at)),
        h('span', { class: 'feed-city' }, a.city ? h('span', { class: 'chip' }, cityName(a.city)) : null),
        h('span', { class: 'feed-text' }, a.text),
        a.itemId ? h('a', { class: 'feed-link', href: '#/items/' + encodeURIComponent(a.itemId), 'aria-label': 'Open the item' }, 'Open →') : null)))
        : empty('Nothing has happened yet.'));
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Start

function main() {
  $('#signin-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    signIn($('#token').value);
  });
  $('#signout').addEventListener('click', () => signOut(''));
  $('#asof-form').addEventListener('submit', onAsOfSubmit);
  $('#asof-now').addEventListener('click', () => {
    applyAsOf('');
    announce('Showing now.');
  });
  const today = new Date();
  $('#asof-date').max = `${today.getFullYear()}-${String(today.getMonth() + 1).padStart(2, '0')}-${String(today.getDate()).padStart(2, '0')}`;
  window.addEventListener('hashchange', () => show());
  // Relative times ("5 minutes ago") stay true while the page is open.
  setInterval(() => {
    for (const el of $$('[data-rel]')) el.textContent = fmt.relative(el.dataset.rel);
  }, 30000);
  const saved = sessionStorage.getItem(TOKEN_KEY);
  if (saved) signIn(saved, { quiet: true });
  else showSignIn();
}

main();
