/**
 * app.js: the browser demo's DOM layer.
 *
 * The page is served by one region's `web` function, but talks to every region:
 * 1. `GET /config` (same origin) lists every region's API base URL.
 * 2. A RegionRouter (./regions.js, no DOM) probes each region's `/health`, picks the fastest
 *    healthy one, re-probes every 10 s, and sends every API request there, failing over once
 *    to the next region on a 503, another 5xx, a network error or a timeout.
 * 3. This file turns the router's answers into views: the login form, the card with the image
 *    and the count, the error with its Retry button, the region list, the activity log and
 *    the "served by" badge.
 *
 * Rules kept here: no inline scripts or styles (the page runs under a strict CSP), text is
 * always set with textContent, state changes are visible and announced (aria-live, role=alert),
 * and focus moves to what just changed (the hello heading after login, the error on failure).
 * Tokens live in sessionStorage only; the ID token is the bearer.
 */

import { RegionRouter, errorMessage, shouldFailOver } from './regions.js';

const SESSION_KEY = 'active-active-demo.session';
const SESSION_EXPIRED = 'session expired, please log in again';
const TOO_MANY_REQUESTS = 'too many requests, slow down';
const CONFIG_RETRY_MS = 3000;
const ACTIVITY_LIMIT = 8;

const ALT = {
  normal: 'Two clouds side by side. Click to count a page view.',
  clicked: 'A cloud with a check mark: your view was counted. Click to count another view.',
  error: 'A storm cloud: the click failed.',
};

const $ = (id) => {
  const node = document.getElementById(id);
  if (!node) throw new Error(`#${id} is missing from index.html`);
  return node;
};

const ui = {
  main: $('main'),
  loading: $('view-loading'),
  loadingText: $('loading-text'),
  login: $('view-login'),
  loginForm: $('login-form'),
  username: $('username'),
  password: $('password'),
  loginError: $('login-error'),
  loginSubmit: $('login-submit'),
  app: $('view-app'),
  hello: $('hello-message'),
  signedInAs: $('signed-in-as'),
  imageButton: $('image-button'),
  image: $('image'),
  viewCount: $('view-count'),
  viewDetail: $('view-detail'),
  clickError: $('click-error'),
  errorMessage: $('error-message'),
  retry: $('retry-button'),
  logout: $('logout'),
  badge: $('serving-region'),
  badgeText: $('serving-region-text'),
  regionList: $('region-list'),
  probeNow: $('probe-now'),
  activity: $('activity-log'),
  footer: $('footer-text'),
};

let config = null;
let router = null;
let lastSnapshot = null;
let busy = false;
let retryAction = null;

/* ---------- session (sessionStorage only) ---------- */

const session = {
  load() {
    try {
      const value = JSON.parse(sessionStorage.getItem(SESSION_KEY) || 'null');
      return value && typeof value.idToken === 'string' ? value : null;
    } catch {
      return null;
    }
  },
  save({ idToken, accessToken, refreshToken, expiresIn }, username) {
    const expiresAt = Date.now() + Math.max(0, Number(expiresIn) || 3600) * 1000;
    sessionStorage.setItem(SESSION_KEY, JSON.stringify({ idToken, accessToken, refreshToken, expiresAt, username }));
  },
  clear() {
    sessionStorage.removeItem(SESSION_KEY);
  },
  expired(value) {
    return !value || typeof value.expiresAt !== 'number' || value.expiresAt <= Date.now();
  },
};

function authorized(init = {}) {
  const current = session.load();
  return {
    ...init,
    headers: { ...(init.headers || {}), Authorization: `Bearer ${current ? current.idToken : ''}` },
  };
}

/* ---------- small DOM helpers ---------- */

function show(view) {
  for (const node of [ui.loading, ui.login, ui.app]) node.hidden = node !== view;
  ui.logout.hidden = view !== ui.app;
}

function setBusy(button, on, label) {
  button.setAttribute('aria-busy', String(on));
  button.classList.toggle('is-busy', on);
  if (label) button.querySelector('.button__label').textContent = label;
}

function newClickId() {
  if (globalThis.crypto && typeof crypto.randomUUID === 'function') return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[6] = (bytes[6] & 0x0f) | 0x40;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = [...bytes].map((b) => b.toString(16).padStart(2, '0')).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

function clock() {
  return new Date().toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false });
}

const REGION_NAME = /([a-z]{2}(?:-[a-z]+)+-\d+)/;

/** The text with region names kept on one line ("us-east-1" must not break at a hyphen). */
function withRegions(text) {
  return text.split(REGION_NAME).map((part, index) => {
    if (index % 2 === 0) return part;
    const name = document.createElement('span');
    name.className = 'nowrap';
    name.textContent = part;
    return name;
  });
}

/** Set a node's text, keeping region names whole. */
function setText(node, text) {
  node.replaceChildren(...withRegions(text));
}

/** Append a line to the activity log (newest first). kind: info | ok | warn | error. */
function logActivity(text, kind = 'info') {
  const empty = ui.activity.querySelector('.activity__empty');
  if (empty) empty.remove();
  const item = document.createElement('li');
  item.className = `activity__item activity__item--${kind}`;
  const time = document.createElement('time');
  time.dateTime = new Date().toISOString();
  time.textContent = clock();
  const message = document.createElement('span');
  message.append(...withRegions(text));
  item.append(time, message);
  ui.activity.prepend(item);
  while (ui.activity.children.length > ACTIVITY_LIMIT) ui.activity.lastElementChild.remove();
}

/** Log the failovers a request went through, so the audience sees what the user did not. */
function logFailovers(result) {
  for (const { from, to, reason } of result.failovers) {
    logActivity(`${from} failed (${reason}); retried the same request on ${to}`, 'warn');
  }
}

/** Text for a request that failed on every region it tried. */
function unavailableText(result) {
  const tried = result.attempts.map(({ region, reason }) => `${region}: ${reason}`).join(', ');
  return `No region could take the request right now (${tried}). Please try again in a moment.`;
}

function failureText(result) {
  if (result.outcome === 'throttled') return TOO_MANY_REQUESTS;
  if (shouldFailOver(result)) return unavailableText(result);
  return errorMessage(result);
}

/* ---------- regions: badge and list ---------- */

function renderRegions(snapshot) {
  const previous = lastSnapshot;
  lastSnapshot = snapshot;

  const preferred = snapshot.preferred;
  ui.badge.dataset.state = preferred ? 'ok' : snapshot.probing || !previous ? 'unknown' : 'failed';
  const badgeText = preferred
    ? `served by ${preferred}`
    : snapshot.regions.some((entry) => entry.state !== 'unknown')
      ? 'no healthy region'
      : 'finding the fastest region…';
  if (ui.badgeText.textContent !== badgeText) ui.badgeText.textContent = badgeText;
  ui.probeNow.setAttribute('aria-busy', String(snapshot.probing));
  ui.probeNow.classList.toggle('is-busy', snapshot.probing);

  const items = snapshot.regions.map((entry) => {
    const item = document.createElement('li');
    item.className = 'regions__item';
    item.dataset.region = entry.region;
    item.dataset.state = entry.state;

    const dot = document.createElement('span');
    dot.className = 'regions__dot';
    dot.setAttribute('aria-hidden', 'true');

    const name = document.createElement('span');
    name.className = 'regions__name';
    name.textContent = entry.region;

    const tags = document.createElement('span');
    tags.className = 'regions__tags';
    if (config && entry.region === config.primaryRegion) tags.append(tag('primary'));
    if (entry.preferred) tags.append(tag('in use', 'tag--active'));

    const status = document.createElement('span');
    status.className = 'regions__status';
    status.textContent = regionStatusText(entry, snapshot.probing);

    item.append(dot, name, tags, status);
    return item;
  });
  ui.regionList.replaceChildren(...items);

  if (previous) logRegionChanges(previous, snapshot);
}

function tag(text, extra = '') {
  const node = document.createElement('span');
  node.className = `tag ${extra}`.trim();
  node.textContent = text;
  return node;
}

function regionStatusText(entry, probing) {
  if (entry.state === 'unknown') return probing ? 'checking…' : 'not checked';
  if (entry.state === 'ok') return `healthy · ${entry.latencyMs} ms`;
  return `failed · ${entry.reason || 'unavailable'}`;
}

function logRegionChanges(previous, next) {
  const before = new Map(previous.regions.map((entry) => [entry.region, entry.state]));
  for (const entry of next.regions) {
    const was = before.get(entry.region);
    if (was === 'failed' && entry.state === 'ok') logActivity(`${entry.region} is healthy again`, 'ok');
    if (was === 'ok' && entry.state === 'failed') logActivity(`${entry.region} is unhealthy (${entry.reason})`, 'error');
  }
  if (previous.preferred !== next.preferred && next.preferred) {
    logActivity(`now using ${next.preferred}${previous.preferred ? ` instead of ${previous.preferred}` : ''}`, 'info');
  }
}

/* ---------- views ---------- */

function showLogin(message = '', { focus = true } = {}) {
  session.clear();
  resetApp();
  show(ui.login);
  setBusy(ui.loginSubmit, false, 'Sign in');
  ui.password.value = '';
  if (message) {
    showLoginError(message);
  } else {
    hideLoginError();
    if (focus) ui.username.focus();
  }
}

function showLoginError(message) {
  setText(ui.loginError, message);
  ui.loginError.hidden = false;
  ui.password.setAttribute('aria-describedby', 'login-error');
  ui.password.setAttribute('aria-invalid', 'true');
  ui.loginError.focus();
}

function hideLoginError() {
  ui.loginError.hidden = true;
  ui.loginError.textContent = '';
  ui.password.removeAttribute('aria-describedby');
  ui.password.removeAttribute('aria-invalid');
}

function showImage(kind, src) {
  if (src) ui.image.src = src;
  ui.image.alt = ALT[kind];
  ui.imageButton.dataset.kind = kind;
  ui.imageButton.classList.remove('is-swapped');
  // Restart the swap animation (a no-op under prefers-reduced-motion).
  void ui.imageButton.offsetWidth;
  ui.imageButton.classList.add('is-swapped');
}

function showError(message, onRetry) {
  retryAction = onRetry;
  ui.clickError.hidden = false;
  ui.retry.hidden = !onRetry;
  setText(ui.errorMessage, message);
  ui.errorMessage.focus();
}

function hideError() {
  retryAction = null;
  ui.clickError.hidden = true;
  ui.errorMessage.textContent = '';
}

function setImageBusy(on) {
  busy = on;
  ui.imageButton.setAttribute('aria-busy', String(on));
  ui.imageButton.classList.toggle('is-busy', on);
  ui.retry.setAttribute('aria-disabled', String(on));
}

/* ---------- actions ---------- */

async function login(event) {
  event.preventDefault();
  if (busy) return;
  const username = ui.username.value.trim();
  const password = ui.password.value;
  if (!username || !password) {
    showLoginError('enter your username and password');
    (username ? ui.password : ui.username).focus();
    return;
  }
  hideLoginError();
  busy = true;
  setBusy(ui.loginSubmit, true, 'Signing in…');
  try {
    const result = await router.request('/login', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ username, password }),
    });
    logFailovers(result);
    if (result.outcome === 'ok' && result.body && result.body.idToken) {
      session.save(result.body, username);
      ui.password.value = '';
      logActivity(`signed in as ${username} on ${result.region}`, 'ok');
      await enterApp({ focusHeading: true });
      return;
    }
    logActivity(`sign-in failed on ${result.region}: ${failureText(result)}`, 'error');
    showLoginError(failureText(result));
  } finally {
    busy = false;
    setBusy(ui.loginSubmit, false, 'Sign in');
  }
}

/** Forget what the previous session showed, so none of it flashes up on the next login. */
function resetApp() {
  hideError();
  ui.hello.textContent = 'Saying hello…';
  ui.signedInAs.textContent = '';
  ui.viewCount.textContent = 'No views counted yet.';
  ui.viewCount.classList.add('is-empty');
  ui.viewDetail.textContent = '';
  ui.viewDetail.title = '';
  ui.image.src = '/assets/images/normal.svg';
  ui.image.alt = ALT.normal;
}

async function enterApp({ focusHeading = false } = {}) {
  const current = session.load();
  if (session.expired(current)) {
    showLogin(current ? SESSION_EXPIRED : '');
    return;
  }
  resetApp();
  if (current.username) ui.signedInAs.textContent = `Signed in as ${current.username}`;
  show(ui.app);
  await hello({ focusHeading });
}

async function hello({ focusHeading = false } = {}) {
  const result = await router.request('/hello', authorized({ method: 'GET', cache: 'no-store' }));
  logFailovers(result);
  if (result.outcome === 'unauthorized') {
    showLogin(SESSION_EXPIRED);
    return;
  }
  if (result.outcome !== 'ok' || !result.body) {
    ui.hello.textContent = 'Could not say hello';
    showError(failureText(result), () => hello({ focusHeading: true }));
    return;
  }
  const { message, region, username, image } = result.body;
  hideError();
  ui.hello.textContent = message || `hello from ${region || result.region}`;
  if (username) ui.signedInAs.textContent = `Signed in as ${username}`;
  if (image) showImage('normal', image);
  logActivity(`${message || 'hello'} (${result.elapsedMs} ms)`, 'ok');
  if (focusHeading) ui.hello.focus();
}

async function click({ fromRetry = false } = {}) {
  if (busy) return;
  setImageBusy(true);
  // One id per click: a failover resends the same body, so the writer stores it once.
  const clickId = newClickId();
  try {
    const result = await router.request(
      '/click',
      authorized({ method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ clickId }) }),
    );
    logFailovers(result);
    if (result.outcome === 'ok' && result.body) {
      const { views, message, region, image, eventId } = result.body;
      hideError();
      showImage('clicked', image);
      ui.viewCount.textContent = message || `page viewed ${views} ${views === 1 ? 'time' : 'times'}`;
      ui.viewCount.classList.remove('is-empty');
      const parts = [`counted by ${region || result.region}`, `${result.elapsedMs} ms`];
      if (result.failovers.length) parts.push(`after failing over from ${result.failovers[0].from}`);
      setText(ui.viewDetail, parts.join(' · '));
      ui.viewDetail.title = eventId ? `event ${eventId}` : '';
      logActivity(`${ui.viewCount.textContent} (${region || result.region})`, 'ok');
      if (fromRetry) ui.imageButton.focus();
      return;
    }
    if (result.outcome === 'unauthorized') {
      showLogin(SESSION_EXPIRED);
      return;
    }
    if (result.outcome === 'injected') {
      showImage('error', result.body.image);
      logActivity(`injected failure on ${result.region}: ${errorMessage(result)}`, 'error');
      showError(errorMessage(result), () => click({ fromRetry: true }));
      return;
    }
    logActivity(`click failed: ${failureText(result)}`, 'error');
    showError(failureText(result), () => click({ fromRetry: true }));
  } finally {
    setImageBusy(false);
  }
}

function logout() {
  logActivity('logged out', 'info');
  showLogin();
}

/* ---------- start-up ---------- */

async function loadConfig() {
  for (let attempt = 1; ; attempt += 1) {
    try {
      const response = await fetch('/config', { cache: 'no-store', credentials: 'same-origin' });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      const body = await response.json();
      const regions = Array.isArray(body.regions) && body.regions.length ? body.regions : [{ region: body.region, api: location.origin }];
      return { ...body, regions };
    } catch (error) {
      ui.loadingText.textContent = `Could not load the configuration (${error.message}); retrying (attempt ${attempt + 1})…`;
      await new Promise((resolve) => setTimeout(resolve, CONFIG_RETRY_MS));
    }
  }
}

function wireEvents() {
  ui.loginForm.addEventListener('submit', login);
  ui.imageButton.addEventListener('click', () => click());
  ui.retry.addEventListener('click', () => {
    if (!busy && retryAction) retryAction();
  });
  ui.logout.addEventListener('click', logout);
  ui.probeNow.addEventListener('click', () => router.probe());
  document.addEventListener('visibilitychange', () => {
    if (document.visibilityState === 'hidden') router.stop();
    else router.start();
  });
}

async function main() {
  wireEvents();
  config = await loadConfig();
  ui.footer.textContent =
    `This page was loaded from ${config.region}; primary region ${config.primaryRegion}. ` +
    `Every region serves the page and the API.`;
  router = new RegionRouter({ regions: config.regions, fetch: (url, init) => fetch(url, init) });
  router.subscribe(renderRegions);
  const ready = router.start();

  const current = session.load();
  if (current && !session.expired(current)) {
    await ready;
    await enterApp();
  } else {
    showLogin(current ? SESSION_EXPIRED : '', { focus: false });
  }
}

main().catch((error) => {
  show(ui.loading);
  ui.loadingText.textContent = `Something went wrong while starting: ${error.message}. Reload the page to try again.`;
  throw error;
});
