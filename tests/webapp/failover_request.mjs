// One request through the web app's own failover (static/assets/regions.js, loaded unchanged,
// as bench/ledger_client.mjs loads it) with Node's fetch: what the page does in a browser.
//
// Input: one JSON object on stdin: {candidates: [{region, api}], path, init}
// Output: one JSON line: requestWithFailover's result plus the failovers it reported.

import { readFileSync } from 'node:fs';

const source = readFileSync(new URL('../../static/assets/regions.js', import.meta.url));
const { requestWithFailover } = await import(`data:text/javascript;base64,${source.toString('base64')}`);

const { candidates, path, init } = JSON.parse(readFileSync(0, 'utf8'));
const failovers = [];
const result = await requestWithFailover({
  fetch: globalThis.fetch,
  candidates,
  path,
  init: init || {},
  onFailover: (failover) => failovers.push(failover),
});
process.stdout.write(`${JSON.stringify({ ...result, failovers })}\n`);
