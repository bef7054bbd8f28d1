// The ledger's client: clicks through the web app's own failover logic, unchanged.
//
// static/assets/regions.js is loaded as-is (its bytes, as a data: URL module, because the
// repository has no package.json to mark .js files as ES modules) and its RegionRouter sends
// every click, exactly as the page does: the fastest healthy region first, the same request
// (same clickId) once on another region when the first answers 503, another 5xx or nothing.
//
// Input: one JSON object on stdin:
//   {regions: [{region, api}], token, clicks, intervalMs, near?, farMs?}
// With `near`, the user sits near that region: every request to another region waits `farMs`
// first (the network's distance, as from Virginia to Oregon), so the router's latency probes
// prefer `near` while it is healthy. The router itself is unchanged: only its fetch is farther.
// Output: JSON lines on stdout, one per click and one per change of the router's view:
//   {type: "click", index, clickId, startedAt, elapsedMs, status, outcome, region, attempts}
//   {type: "router", at, preferred, states: {region: "ok" | "failed" | "unknown"}}
//   {type: "done", at}
// Times are epoch milliseconds, so the orchestrator can line them up with its commands.

import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';

const source = readFileSync(new URL('../static/assets/regions.js', import.meta.url));
const { RegionRouter } = await import(`data:text/javascript;base64,${source.toString('base64')}`);

const config = JSON.parse(readFileSync(0, 'utf8'));
const emit = (record) => process.stdout.write(`${JSON.stringify(record)}\n`);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

const apis = new Map(config.regions.map(({ region, api }) => [api.replace(/\/+$/, ''), region]));
const regionOf = (url) => [...apis].find(([api]) => String(url).startsWith(api))?.[1];
const distantFetch = async (url, init) => {
  if (config.near && regionOf(url) !== config.near) await sleep(config.farMs || 0);
  return globalThis.fetch(url, init);
};
const router = new RegionRouter({ regions: config.regions, fetch: distantFetch });
let last = '';
router.subscribe((snapshot) => {
  const states = Object.fromEntries(snapshot.regions.map((entry) => [entry.region, entry.state]));
  const key = JSON.stringify([snapshot.preferred, states]);
  if (key === last) return;
  last = key;
  emit({ type: 'router', at: Date.now(), preferred: snapshot.preferred, states });
});
await router.start();

for (let index = 0; index < config.clicks; index += 1) {
  const clickId = randomUUID();
  const startedAt = Date.now();
  // The page's own request: see click() in static/assets/app.js.
  const result = await router.request('/click', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${config.token}` },
    body: JSON.stringify({ clickId }),
  });
  emit({
    type: 'click',
    index,
    clickId,
    startedAt,
    elapsedMs: Date.now() - startedAt,
    status: result.status,
    outcome: result.outcome,
    region: result.region,
    eventId: result.body && result.body.eventId,
    attempts: result.attempts,
  });
  const wait = config.intervalMs - (Date.now() - startedAt);
  if (wait > 0) await sleep(wait);
}
router.stop();
emit({ type: 'done', at: Date.now() });
