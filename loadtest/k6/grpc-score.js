// k6: gRPC Score load test. Payloads are built in setup() from the served model's fields
// (GetModel), so the script works against any bundle.
//   k6 run -e GRPC_ADDR=127.0.0.1:50051 -e RATE=200 -e DURATION=60s -e CANDIDATES=100 [-e FORM=context -e SHARED=30] loadtest/k6/grpc-score.js
// See loadtest/k6/README.md for every variable and what each threshold means.
import grpc from 'k6/net/grpc';
import { check } from 'k6';
import { Rate } from 'k6/metrics';
import { defaultShared, env, envForm, envNum, probabilitiesOk, scenarios, scorePayloads, thresholds } from './lib/common.js';
import { ensureConnected, fetchModel } from './lib/grpc.js';

const CANDIDATES = envNum('CANDIDATES', 100);
// Request form (flat | columns | context | context-columns) and shared leading fields (SHARED), see lib/common.js.
const FORM = envForm('FORM', 'flat');
const client = new grpc.Client();
// Relative to this script: the repository's proto/ folder.
client.load([env('PROTO_DIR', '../../proto')], 'mpe/v1/embedding_service.proto');
const errors = new Rate('mpe_errors');

export const options = { scenarios: scenarios(), thresholds: thresholds('grpc_req_duration', 50) };

export function setup() {
  const { model } = fetchModel(client);
  if (CANDIDATES > model.maxRequestRows) throw new Error(`CANDIDATES ${CANDIDATES} exceeds the server's max_request_rows ${model.maxRequestRows}`);
  return { payloads: scorePayloads(model, CANDIDATES, envNum('POOL', 32), 42, 'grpc', FORM, envNum('SHARED', defaultShared(model, FORM))) };
}

export default function (data) {
  ensureConnected(client);
  const req = data.payloads[__ITER % data.payloads.length];
  // The ScoreResponse fields the checks read (protojson names).
  const res = /** @type {{ status: number, message: { probabilities?: number[], modelVersion?: string } | null }} */ (
    client.invoke('mpe.v1.EmbeddingService/Score', req, { timeout: env('TIMEOUT', '2s') })
  );
  const ok = check(res, {
    'status is OK': (r) => r && r.status === grpc.StatusOK,
    'one probability per candidate, each in [0,1]': (r) => probabilitiesOk(r?.message?.probabilities, CANDIDATES),
    'model version present': (r) => typeof r?.message?.modelVersion === 'string' && r.message.modelVersion !== '',
  });
  errors.add(!ok);
}

export function teardown() {
  client.close();
}
