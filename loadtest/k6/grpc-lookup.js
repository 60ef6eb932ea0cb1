// k6: gRPC Lookup load test. Ids are drawn from [0, feature_count) of the served model (GetModel
// in setup()), skewed towards frequent features, so the script works against any bundle.
//   k6 run -e GRPC_ADDR=127.0.0.1:50051 -e RATE=500 -e DURATION=60s -e FEATURES=1000 loadtest/k6/grpc-lookup.js
// See loadtest/k6/README.md for every variable and what each threshold means.
import grpc from 'k6/net/grpc';
import encoding from 'k6/encoding';
import { check } from 'k6';
import { Rate } from 'k6/metrics';
import { env, envNum, lookupPayloads, scenarios, thresholds } from './lib/common.js';
import { ensureConnected, fetchModel } from './lib/grpc.js';

const FEATURES = envNum('FEATURES', 1000);
const client = new grpc.Client();
// Relative to this script: the repository's proto/ folder.
client.load([env('PROTO_DIR', '../../proto')], 'mpe/v1/embedding_service.proto');
const errors = new Rate('mpe_errors');

export const options = { scenarios: scenarios(), thresholds: thresholds('grpc_req_duration', 20) };

export function setup() {
  const { model, raw } = fetchModel(client);
  return { d: Number(raw.d), payloads: lookupPayloads(model, FEATURES, envNum('POOL', 32), 7) };
}

function idsEcho(m, ids) {
  if (Number(m.count) !== ids.length || !m.ids || m.ids.length !== ids.length) return false;
  for (let i = 0; i < ids.length; i++) if (m.ids[i] !== ids[i]) return false;
  return true;
}

function prunedMatchesBits(m) {
  if (!m.bits || !m.pruned || m.bits.length !== m.pruned.length) return false;
  for (let i = 0; i < m.bits.length; i++) if ((m.bits[i] === 0) !== (m.pruned[i] === true)) return false;
  return true;
}

export default function (data) {
  ensureConnected(client);
  const req = data.payloads[__ITER % data.payloads.length];
  // The LookupResponse fields the checks read (protojson: bytes as base64 text, uint64 as text).
  const res = /** @type {{ status: number, message: { d: number | string, embeddings: string, bits?: number[], pruned?: boolean[] } | null }} */ (
    client.invoke('mpe.v1.EmbeddingService/Lookup', req, { timeout: env('TIMEOUT', '2s') })
  );
  const ok = check(res, {
    'status is OK': (r) => r && r.status === grpc.StatusOK,
    'count and ids echo the request': (r) => r?.message !== undefined && r.message !== null && idsEcho(r.message, req.ids),
    // protojson sends bytes as base64: count*d float32 values are count*d*4 bytes.
    'embeddings hold count*d float32': (r) => r?.message && Number(r.message.d) === data.d && encoding.b64decode(r.message.embeddings, 'std').byteLength === FEATURES * data.d * 4,
    'pruned features are the 0-bit ones': (r) => r?.message && prunedMatchesBits(r.message),
  });
  errors.add(!ok);
}

export function teardown() {
  client.close();
}
