/**
 * regions.js: region selection and client-side failover for the active-active demo.
 *
 * This module never touches the DOM. Its I/O (fetch, clock, timers) comes in as arguments,
 * so the same code runs in the page, in a worker or under Node's test runner.
 *
 * How the pieces fit:
 * - timedFetch: one HTTP exchange with a timeout, always resolved (never thrown) as an
 *   "answer" `{status, body, error}`; status 0 means the network failed or timed out.
 * - probeRegion / probeAll: `GET <api>/health` with a short timeout, measuring latency.
 * - pickRegion: the fastest healthy region, with a small margin of hysteresis so two
 *   regions of near-equal latency don't swap places on every probe.
 * - classify: what an answer means for the client. Only a region problem fails over
 *   (503, another 5xx without `retry: true`, a network error or timeout); an injected
 *   failure (5xx with `retry: true`), 401, 429 and other 4xx are the caller's business.
 * - requestWithFailover: sends one request to the first candidate and, if that region is
 *   the problem, sends the SAME request (same body, so the same clickId) once to the next.
 * - RegionRouter: holds the latest probes, re-probes once right after start (the first probe
 *   also measures connection setup), then periodically and soon after a failover; orders
 *   the candidates, and marks a region unhealthy when it fails a request.
 */

export const PROBE_TIMEOUT_MS = 2000;
export const REQUEST_TIMEOUT_MS = 8000;
export const PROBE_INTERVAL_MS = 10000;
/** While no region is healthy, probe this often instead. */
export const PROBE_RETRY_MS = 3000;
/**
 * The first probe pays for opening a connection (DNS, TCP, TLS) to every region except the
 * page's own, so it favours the page's origin; probe again this soon on warm connections.
 */
export const PROBE_WARMUP_MS = 1000;
/** After a failover, confirm the regions' health this soon. */
export const PROBE_AFTER_FAILOVER_MS = 1000;
/** Keep the current region unless another healthy one is faster by more than this. */
export const SWITCH_MARGIN_MS = 25;

const FAILOVER_OUTCOMES = new Set(['unreachable', 'unavailable', 'server-error']);

const defaultNow = () => (globalThis.performance ? globalThis.performance.now() : Date.now());

/**
 * One HTTP exchange with a timeout. Resolves to `{status, body, error}`: `body` is the parsed
 * JSON (or null), `status` is 0 when no HTTP answer arrived (and `error` says why).
 */
export async function timedFetch(fetchFn, url, init = {}, timeoutMs = REQUEST_TIMEOUT_MS) {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeoutMs);
  try {
    const response = await fetchFn(url, { ...init, signal: controller.signal });
    const text = await response.text();
    let body = null;
    try {
      body = text ? JSON.parse(text) : null;
    } catch {
      body = null;
    }
    return { status: response.status, body, error: null };
  } catch {
    const error = controller.signal.aborted ? `timed out after ${timeoutMs} ms` : 'network error';
    return { status: 0, body: null, error };
  } finally {
    clearTimeout(timer);
  }
}

/** A short human reason for a failed answer: "HTTP 503", "timed out after 2000 ms", ... */
export function describeFailure(answer) {
  if (!answer.status) return answer.error || 'network error';
  return `HTTP ${answer.status}`;
}

/** The text to show a person for a failed answer: the server's message when it sent one. */
export function errorMessage(answer) {
  const body = answer.body;
  if (body && typeof body.error === 'string' && body.error) return body.error;
  // API Gateway's own answers (JWT authorizer 401, throttling 429) say `message`.
  if (body && typeof body.message === 'string' && body.message) return body.message;
  return describeFailure(answer);
}

/**
 * What an answer means for the client:
 * 'ok' | 'unauthorized' | 'throttled' | 'rejected' (other 4xx) | 'injected' (5xx with
 * retry: true) | 'unavailable' (503) | 'server-error' (other 5xx) | 'unreachable' (no answer).
 */
export function classify(answer) {
  const { status, body } = answer;
  if (status >= 200 && status < 300) return 'ok';
  if (!status) return 'unreachable';
  if (status === 401) return 'unauthorized';
  if (status === 429) return 'throttled';
  // A failed-over region answers 503 on every route: always a reason to move.
  if (status === 503) return 'unavailable';
  if (status >= 500 && body && body.retry === true) return 'injected';
  if (status >= 500) return 'server-error';
  return 'rejected';
}

/** True when the answer says the region, not the request, is the problem. */
export function shouldFailOver(answer) {
  return FAILOVER_OUTCOMES.has(classify(answer));
}

/** Probe one region's `/health`. Resolves (never throws) to a probe record. */
export async function probeRegion(fetchFn, { region, api }, { timeoutMs = PROBE_TIMEOUT_MS, now = defaultNow } = {}) {
  const started = now();
  const answer = await timedFetch(fetchFn, `${api}/health`, { method: 'GET', cache: 'no-store', credentials: 'omit' }, timeoutMs);
  const latencyMs = Math.max(0, Math.round(now() - started));
  const healthy = answer.status === 200 && Boolean(answer.body) && answer.body.status === 'ok';
  return {
    region,
    api,
    healthy,
    latencyMs: answer.status ? latencyMs : null,
    reason: healthy ? null : describeFailure(answer),
  };
}

/** Probe every region in parallel. */
export function probeAll(fetchFn, regions, options = {}) {
  return Promise.all(regions.map((target) => probeRegion(fetchFn, target, options)));
}

function byLatency(a, b) {
  return a.latencyMs - b.latencyMs || a.region.localeCompare(b.region);
}

/**
 * The region to use: the fastest healthy probe, or null when none is healthy. With `current`,
 * keep that region while it is healthy and no more than `marginMs` slower than the fastest.
 */
export function pickRegion(probes, { current = null, marginMs = SWITCH_MARGIN_MS } = {}) {
  const healthy = probes.filter((probe) => probe.healthy).sort(byLatency);
  if (healthy.length === 0) return null;
  const fastest = healthy[0];
  const incumbent = current ? healthy.find((probe) => probe.region === current) : undefined;
  if (incumbent && incumbent.latencyMs - fastest.latencyMs <= marginMs) return incumbent;
  return fastest;
}

/**
 * Every region in the order to try them: the preferred one, then the other healthy ones from
 * fastest to slowest, then the rest (unhealthy or not yet probed) in configuration order, so
 * a request still has somewhere to go when every probe failed.
 */
export function orderCandidates(regions, probes, preferred = null) {
  const byRegion = new Map(probes.map((probe) => [probe.region, probe]));
  const first = regions.filter((target) => target.region === preferred);
  const healthy = regions
    .filter((target) => target.region !== preferred && byRegion.get(target.region)?.healthy)
    .sort((a, b) => byLatency(byRegion.get(a.region), byRegion.get(b.region)));
  const rest = regions.filter((target) => target.region !== preferred && !byRegion.get(target.region)?.healthy);
  return [...first, ...healthy, ...rest];
}

/**
 * Send `init` to `path` on the first candidate; if that region is the problem (see
 * shouldFailOver), call `onFailover` and send the very same request once to the second
 * candidate. Resolves to
 * `{region, api, status, body, error, outcome, elapsedMs, attempts: [{region, status, outcome, reason, elapsedMs}]}`
 * describing the last answer.
 */
export async function requestWithFailover({
  fetch: fetchFn,
  candidates,
  path,
  init = {},
  timeoutMs = REQUEST_TIMEOUT_MS,
  now = defaultNow,
  onFailover = () => {},
}) {
  if (!candidates || candidates.length === 0) throw new Error('no region to send the request to');
  const attempts = [];
  const send = async (target) => {
    const started = now();
    const answer = await timedFetch(fetchFn, `${target.api}${path}`, init, timeoutMs);
    const elapsedMs = Math.round(now() - started);
    const outcome = classify(answer);
    attempts.push({ region: target.region, status: answer.status, outcome, reason: describeFailure(answer), elapsedMs });
    return { ...answer, region: target.region, api: target.api, outcome, elapsedMs, attempts };
  };

  const first = await send(candidates[0]);
  if (!shouldFailOver(first) || candidates.length < 2) return first;
  onFailover({ from: candidates[0].region, to: candidates[1].region, reason: describeFailure(first) });
  return send(candidates[1]);
}

/**
 * The client's view of every region, and the one place requests are sent from.
 *
 * `subscribe(listener)` gets a snapshot after every change:
 * `{preferred, probing, regions: [{region, api, state: 'unknown'|'ok'|'failed', latencyMs, reason, preferred}]}`.
 */
export class RegionRouter {
  constructor({
    regions,
    fetch: fetchFn,
    now = defaultNow,
    probeTimeoutMs = PROBE_TIMEOUT_MS,
    requestTimeoutMs = REQUEST_TIMEOUT_MS,
    probeIntervalMs = PROBE_INTERVAL_MS,
    probeRetryMs = PROBE_RETRY_MS,
    marginMs = SWITCH_MARGIN_MS,
    timers = { setTimeout: (fn, ms) => setTimeout(fn, ms), clearTimeout: (id) => clearTimeout(id) },
  }) {
    if (!regions || regions.length === 0) throw new Error('RegionRouter needs at least one region');
    this.regions = regions.map(({ region, api }) => ({ region, api: String(api).replace(/\/+$/, '') }));
    this.fetch = fetchFn;
    this.now = now;
    this.options = { probeTimeoutMs, requestTimeoutMs, probeIntervalMs, probeRetryMs, marginMs };
    this.timers = timers;
    this.probes = new Map();
    this.preferred = null;
    this.probing = null;
    this.timer = null;
    this.timerDue = Infinity;
    this.running = false;
    this.listeners = new Set();
    this.ready = null;
    // Counts markUnhealthy calls, so a probe that started before a failed request cannot
    // overwrite what that request just learned.
    this.marks = 0;
    this.markedAt = new Map();
    this.warmups = 0;
  }

  subscribe(listener) {
    this.listeners.add(listener);
    listener(this.snapshot());
    return () => this.listeners.delete(listener);
  }

  snapshot() {
    return {
      preferred: this.preferred,
      probing: Boolean(this.probing),
      regions: this.regions.map(({ region, api }) => {
        const probe = this.probes.get(region);
        return {
          region,
          api,
          state: probe ? (probe.healthy ? 'ok' : 'failed') : 'unknown',
          latencyMs: probe ? probe.latencyMs : null,
          reason: probe ? probe.reason : null,
          preferred: region === this.preferred,
        };
      }),
    };
  }

  emit() {
    const snapshot = this.snapshot();
    for (const listener of this.listeners) listener(snapshot);
  }

  /** Probe every region now (joining a probe already under way) and re-pick the preferred one. */
  probe() {
    if (!this.probing) {
      this.probing = this.runProbe();
      this.emit();
    }
    return this.probing;
  }

  async runProbe() {
    const startedAt = this.marks;
    let stale = false;
    try {
      const results = await probeAll(this.fetch, this.regions, { timeoutMs: this.options.probeTimeoutMs, now: this.now });
      for (const probe of results) {
        // A request failed on this region while we were probing: trust the request.
        if ((this.markedAt.get(probe.region) ?? -1) >= startedAt) stale = true;
        else this.probes.set(probe.region, probe);
      }
      this.repick();
    } finally {
      this.probing = null;
      this.emit();
      if (this.running) {
        let next = this.preferred ? this.options.probeIntervalMs : this.options.probeRetryMs;
        if (stale) next = PROBE_AFTER_FAILOVER_MS;
        else if (this.warmups > 0) {
          this.warmups -= 1;
          next = PROBE_WARMUP_MS;
        }
        this.schedule(next, true);
      }
    }
    return this.snapshot();
  }

  /** Probe now and then periodically. Resolves after the first probe. */
  start() {
    this.running = true;
    this.warmups = 1;
    this.ready = this.probe();
    return this.ready;
  }

  stop() {
    this.running = false;
    this.timers.clearTimeout(this.timer);
    this.timer = null;
    this.timerDue = Infinity;
  }

  /** Probe within `ms` (an earlier scheduled probe stays; `replace` moves it regardless). */
  schedule(ms, replace = false) {
    const due = this.now() + ms;
    if (!replace && this.timer !== null && this.timerDue <= due) return;
    this.timers.clearTimeout(this.timer);
    this.timerDue = due;
    this.timer = this.timers.setTimeout(() => {
      this.timer = null;
      this.timerDue = Infinity;
      this.probe();
    }, ms);
  }

  repick() {
    const choice = pickRegion([...this.probes.values()], { current: this.preferred, marginMs: this.options.marginMs });
    this.preferred = choice ? choice.region : null;
  }

  /** Record that a region failed a real request; it stays unhealthy until a probe says otherwise. */
  markUnhealthy(region, reason) {
    const previous = this.probes.get(region);
    const target = this.regions.find((entry) => entry.region === region);
    if (!target) return;
    this.markedAt.set(region, this.marks);
    this.marks += 1;
    this.probes.set(region, { region, api: target.api, healthy: false, latencyMs: previous ? previous.latencyMs : null, reason });
    this.repick();
    this.emit();
  }

  /** Regions in the order a request should try them. */
  candidates() {
    return orderCandidates(this.regions, [...this.probes.values()], this.preferred);
  }

  /**
   * Send a request to the preferred region, failing over once to the next candidate when the
   * region is the problem. Resolves to requestWithFailover's result plus `failovers`.
   */
  async request(path, init = {}) {
    if (this.ready) await this.ready;
    const failovers = [];
    const result = await requestWithFailover({
      fetch: this.fetch,
      candidates: this.candidates(),
      path,
      init,
      timeoutMs: this.options.requestTimeoutMs,
      now: this.now,
      onFailover: (failover) => {
        failovers.push(failover);
        this.markUnhealthy(failover.from, failover.reason);
      },
    });
    if (shouldFailOver(result)) this.markUnhealthy(result.region, describeFailure(result));
    if (failovers.length > 0 || shouldFailOver(result) || !this.preferred) {
      this.schedule(PROBE_AFTER_FAILOVER_MS);
    }
    return { ...result, failovers };
  }
}
