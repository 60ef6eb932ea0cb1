// Shared by the k6 scripts: options from environment variables, scenarios, a seeded PRNG and
// request payloads built from the served model's fields (GetModel / GET /v1/model), so the
// scripts work against any bundle. Plain ECMAScript: no Node-only API (k6 runs goja, not Node).

/** Reads an environment variable (k6's __ENV) with a default. */
export function env(name, fallback) {
  const v = __ENV[name];
  return v === undefined || v === '' ? fallback : v;
}

/** Reads a numeric environment variable. */
export function envNum(name, fallback) {
  const v = Number(env(name, String(fallback)));
  if (!Number.isFinite(v)) throw new Error(`${name} must be a number`);
  return v;
}

/**
 * The scenario picked by SCENARIO:
 * - constant: constant-arrival-rate, RATE requests/s for DURATION (open loop: k6 starts
 *   iterations on schedule whether or not earlier ones finished; late starts show up as
 *   dropped_iterations when MAX_VUS is exhausted);
 * - ramping: ramping-arrival-rate from RATE/10 up to RATE in four equal stages over DURATION,
 *   then holds RATE for a quarter of DURATION: a coarse saturation curve in one run.
 */
export function scenarios() {
  const kind = env('SCENARIO', 'constant');
  const rate = envNum('RATE', 50);
  const duration = env('DURATION', '30s');
  const preAllocatedVUs = envNum('VUS', 20);
  const maxVUs = envNum('MAX_VUS', 200);
  if (kind === 'constant') {
    return {
      constant: { executor: 'constant-arrival-rate', rate, timeUnit: '1s', duration, preAllocatedVUs, maxVUs },
    };
  }
  if (kind === 'ramping') {
    const seconds = parseDurationSeconds(duration);
    const stage = `${Math.max(1, Math.round(seconds / 5))}s`;
    const stages = [];
    for (let i = 1; i <= 4; i++) stages.push({ target: Math.round((rate * i) / 4), duration: stage });
    stages.push({ target: rate, duration: stage });
    return {
      ramping: {
        executor: 'ramping-arrival-rate',
        startRate: Math.max(1, Math.round(rate / 10)),
        timeUnit: '1s',
        preAllocatedVUs,
        maxVUs,
        stages,
      },
    };
  }
  throw new Error(`SCENARIO must be constant or ramping, got ${kind}`);
}

/** '30s' | '2m' | '1h' | '45' -> seconds. */
export function parseDurationSeconds(text) {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(String(text).trim());
  if (m === null) throw new Error(`bad duration ${text}`);
  const v = Number(m[1]);
  const unit = m[2] || 's';
  if (unit === 'ms') return v / 1000;
  if (unit === 'm') return v * 60;
  if (unit === 'h') return v * 3600;
  return v;
}

/**
 * Thresholds every script shares. `durationMetric` is grpc_req_duration or http_req_duration;
 * P99_MS (default `p99Ms`) bounds its 99th percentile, MAX_ERROR_RATE (default 0.001) the share of
 * failed or wrong answers; any dropped iteration (k6 ran out of VUs to start one on schedule)
 * fails the run, since the offered load was then not what was asked for.
 */
export function thresholds(durationMetric, p99Ms) {
  const maxErrorRate = envNum('MAX_ERROR_RATE', 0.001);
  const t = {
    mpe_errors: [`rate<${maxErrorRate}`],
    checks: [`rate>${1 - maxErrorRate}`],
    dropped_iterations: ['count<1'],
  };
  t[durationMetric] = [`p(99)<${envNum('P99_MS', p99Ms)}`];
  if (durationMetric === 'http_req_duration') t.http_req_failed = [`rate<${maxErrorRate}`];
  return t;
}

/** mulberry32: a small seeded PRNG, so every run sends the same payloads. */
export function prng(seed) {
  let a = seed >>> 0;
  return function next() {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Normalises a model description from either transport to { version, fields: [{name, kind, oovId}], featureCount, maxRequestRows }.
 * gRPC (protojson) gives camelCase keys and uint64 as strings; REST may use either case.
 */
export function normaliseModel(m) {
  const fields = [];
  const src = m.fields || [];
  for (let i = 0; i < src.length; i++) {
    const f = src[i];
    fields.push({ name: f.name, kind: f.kind, oovId: Number(f.oovId !== undefined ? f.oovId : f.oov_id) });
  }
  const limits = m.limits || {};
  const fc = m.featureCount !== undefined ? m.featureCount : m.feature_count;
  const maxRows = limits.maxRequestRows !== undefined ? limits.maxRequestRows : limits.max_request_rows;
  return { version: m.version, fields, featureCount: Number(fc), maxRequestRows: Number(maxRows || 1024) };
}

/** A raw value for a field: small integers for numeric fields, 8-hex-digit tokens (Criteo-like) for categorical ones. */
function rawValue(field, rnd) {
  if (field.kind === 'numeric') return Math.floor(rnd() * rnd() * 1000);
  const h = Math.floor(rnd() * 4294967296).toString(16);
  return '00000000'.slice(h.length) + h;
}

/** The Score request forms (docs/api.md): flat rows, columns, context + candidates, context + columns. */
export const SCORE_FORMS = ['flat', 'columns', 'context', 'context-columns'];

/** Reads a Score form (SCORE_FORMS) from an environment variable; a clear error on anything else. */
export function envForm(name, fallback) {
  const v = env(name, fallback);
  if (SCORE_FORMS.indexOf(v) < 0) throw new Error(`${name} must be one of ${SCORE_FORMS.join(', ')}, got ${v}`);
  return v;
}

/**
 * Shared (context) fields when none are asked for: context forms share all but the last 9 fields
 * (39 fields: 30 shared, 9 per candidate, like a ranking request's user/page vs item fields);
 * the other forms share none.
 */
export function defaultShared(model, form) {
  return form === 'context' || form === 'context-columns' ? Math.max(1, model.fields.length - 9) : 0;
}

/**
 * POOL distinct Score request bodies of CANDIDATES rows each.
 * format 'grpc': values as text (RawFeature.value is a string); format 'http': JSON values.
 * `shared`: the first `shared` fields of the model hold the same value in every row of a body
 * (user / page / context fields); 0 = every value drawn independently (the PRNG draws of the
 * shared values are skipped, so `shared` changes the traffic, `form` only its wire shape).
 * `form` (SCORE_FORMS): how the rows travel:
 * - flat: { rows: [{ field: value }] } (gRPC { rows: [{ features: [{ field, value }] }] });
 * - columns: { columns: { field: [values] } } (gRPC { columns: [{ field, values }] });
 * - context: the first `shared` fields once in `context`, the rest per candidate in `candidates`;
 * - context-columns: `context` plus the rest as `columns`.
 */
export function scorePayloads(model, candidates, pool, seed, format, form, shared) {
  const kind = form || 'flat';
  if (SCORE_FORMS.indexOf(kind) < 0) throw new Error(`form must be one of ${SCORE_FORMS.join(', ')}, got ${kind}`);
  const nShared = Math.min(shared || 0, model.fields.length);
  const rnd = prng(seed);
  const out = [];
  for (let p = 0; p < pool; p++) {
    const rows = [];
    for (let r = 0; r < candidates; r++) {
      const row = [];
      for (let f = 0; f < model.fields.length; f++) {
        const v = r > 0 && f < nShared ? rows[0][f] : rawValue(model.fields[f], rnd);
        row.push(format === 'grpc' ? String(v) : v);
      }
      rows.push(row);
    }
    out.push(encodeScore(model, rows, format, kind, kind === 'context' || kind === 'context-columns' ? nShared : 0));
  }
  return out;
}

/** One body: `rows` are value arrays in model field order; the first `nContext` fields go to `context`. */
function encodeScore(model, rows, format, form, nContext) {
  const names = model.fields.map((f) => f.name);
  const grpc = format === 'grpc';
  const body = {};
  if (nContext > 0) {
    if (grpc) {
      body.context = [];
      for (let f = 0; f < nContext; f++) body.context.push({ field: names[f], value: rows[0][f] });
    } else {
      body.context = {};
      for (let f = 0; f < nContext; f++) body.context[names[f]] = rows[0][f];
    }
  }
  if (form === 'columns' || form === 'context-columns') {
    const cols = grpc ? [] : {};
    for (let f = nContext; f < names.length; f++) {
      const values = rows.map((row) => row[f]);
      if (grpc) cols.push({ field: names[f], values });
      else cols[names[f]] = values;
    }
    body.columns = cols;
    return body;
  }
  const list = rows.map((row) => {
    if (grpc) {
      const features = [];
      for (let f = nContext; f < names.length; f++) features.push({ field: names[f], value: row[f] });
      return { features };
    }
    const o = {};
    for (let f = nContext; f < names.length; f++) o[names[f]] = row[f];
    return o;
  });
  if (form === 'context') body.candidates = list;
  else body.rows = list;
  return body;
}

/** POOL distinct Lookup request bodies of FEATURES frequency-rank ids each, skewed towards frequent ids. */
export function lookupPayloads(model, features, pool, seed) {
  const rnd = prng(seed);
  const n = model.featureCount;
  const out = [];
  for (let p = 0; p < pool; p++) {
    const ids = [];
    // rnd()^3 favours small ranks, like real traffic where frequent features dominate.
    for (let i = 0; i < features; i++) ids.push(Math.min(n - 1, Math.floor(n * rnd() * rnd() * rnd())));
    out.push({ ids });
  }
  return out;
}

/**
 * True when there are `count` probabilities, each a number in [0, 1]. Closed interval on purpose:
 * a float32 sigmoid rounds to exactly 1 for logits above ~17 (and 0 below ~-104).
 */
export function probabilitiesOk(probs, count) {
  if (!probs || probs.length !== count) return false;
  for (let i = 0; i < probs.length; i++) {
    const p = probs[i];
    if (typeof p !== 'number' || !(p >= 0 && p <= 1)) return false;
  }
  return true;
}
