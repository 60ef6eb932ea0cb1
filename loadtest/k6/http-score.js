// k6: REST POST /v1/score load test. Payloads are built in setup() from GET /v1/model, so the
// script works against any bundle.
//   k6 run -e HTTP_URL=http://127.0.0.1:8080 -e RATE=200 -e DURATION=60s -e CANDIDATES=100 [-e FORM=context -e SHARED=30] loadtest/k6/http-score.js
// See loadtest/k6/README.md for every variable and what each threshold means.
import http from 'k6/http';
import { check } from 'k6';
import { Rate } from 'k6/metrics';
import { defaultShared, env, envForm, envNum, normaliseModel, parseDurationSeconds, probabilitiesOk, scenarios, scorePayloads, thresholds } from './lib/common.js';

const BASE = env('HTTP_URL', 'http://127.0.0.1:8080');
const CANDIDATES = envNum('CANDIDATES', 100);
// Request form (flat | columns | context | context-columns) and shared leading fields (SHARED), see lib/common.js.
const FORM = envForm('FORM', 'flat');
const errors = new Rate('mpe_errors');

export const options = { scenarios: scenarios(), thresholds: thresholds('http_req_duration', 50) };

export function setup() {
  const res = http.get(`${BASE}/v1/model`);
  if (res.status !== 200) throw new Error(`GET /v1/model answered ${res.status}: ${res.body}`);
  const model = normaliseModel(res.json());
  if (CANDIDATES > model.maxRequestRows) throw new Error(`CANDIDATES ${CANDIDATES} exceeds the server's max_request_rows ${model.maxRequestRows}`);
  // Serialised once here, not per iteration: the load generator should spend its CPU sending.
  const bodies = scorePayloads(model, CANDIDATES, envNum('POOL', 32), 42, 'http', FORM, envNum('SHARED', defaultShared(model, FORM))).map((p) => JSON.stringify(p));
  return { bodies };
}

const TIMEOUT = env('TIMEOUT', '2s');
// The server drops work whose client has given up when told the deadline (docs/api.md).
const params = {
  headers: { 'content-type': 'application/json', 'x-mpe-deadline-ms': String(Math.round(parseDurationSeconds(TIMEOUT) * 1000)) },
  timeout: TIMEOUT,
  tags: { name: 'POST /v1/score' },
};

export default function (data) {
  const res = http.post(`${BASE}/v1/score`, data.bodies[__ITER % data.bodies.length], params);
  const ok = check(res, {
    'status is 200': (r) => r.status === 200,
    'one probability per candidate, each in [0,1]': (r) => r.status === 200 && probabilitiesOk(/** @type {{ probabilities?: number[] }} */ (r.json()).probabilities, CANDIDATES),
  });
  errors.add(!ok);
}
