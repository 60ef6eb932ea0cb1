/**
 * onnxruntime sessions for the scorer, and the choice of execution provider.
 *
 * Providers in this onnxruntime-node 1.30 build (`ort.listSupportedBackends()` on linux/x64):
 * cpu (bundled), webgpu (bundled; needs a Vulkan loader and a GPU adapter), cuda and tensorrt
 * (not bundled: their shared libraries are downloaded by onnxruntime-node's install script,
 * which this repository's .npmrc skips so that `npm ci` works offline).
 *
 * - `auto`: CUDA when its provider library is installed and a session starts on it, else CPU;
 *   the reason for falling back is reported through `onFallback` (default: a process warning).
 * - an explicitly requested provider that cannot start throws MPE_ERR_SCORER_PROVIDER whose
 *   message says how to install it.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import * as ort from 'onnxruntime-node';
import type { ProviderName } from '../config/config.js';
import { MpeError } from '../errors.js';

/** What the caller may ask for (the config's `provider`). */
export type ProviderRequest = ProviderName;
/** The provider a session actually runs on: the one provider type of the scorer, its pool and the service. */
export type ActiveProvider = Exclude<ProviderName, 'auto'>;

/** Options of {@link createScorerSession}. */
export interface ScorerSessionOptions {
  /** Execution provider (default 'auto'). */
  provider?: ProviderRequest;
  /** Threads of onnxruntime's intra-op pool (default: onnxruntime's choice, one per core). */
  intraOpThreads?: number;
  /**
   * Whether idle intra-op threads spin-wait (default true, onnxruntime's default). Set false when
   * several sessions share the cores (worker pool): spinning threads would steal CPU from the
   * other workers. Sets the session config entry `session.intra_op.allow_spinning` = '0'.
   */
  allowSpinning?: boolean;
  /** Called with the reason when `auto` falls back to CPU (default: `process.emitWarning`). */
  onFallback?: (reason: string) => void;
}

/** A ready session and the provider it runs on. */
export interface ScorerSession {
  readonly session: ort.InferenceSession;
  readonly provider: ActiveProvider;
  /** Why `auto` did not use CUDA; undefined when no fallback happened. */
  readonly fallbackReason?: string;
}

/** How to install each optional provider (part of the MPE_ERR_SCORER_PROVIDER message). */
export const PROVIDER_INSTALL_HINTS: Readonly<Record<Exclude<ActiveProvider, 'cpu'>, string>> = Object.freeze({
  cuda:
    'install the CUDA execution provider on a host with internet access and the CUDA 12 + cuDNN 9 runtime: ' +
    '`npm ci --onnxruntime-node-install=cuda12` (downloads libonnxruntime_providers_cuda.so next to onnxruntime-node); ' +
    'or use --provider cpu',
  webgpu:
    "onnxruntime-node's built-in WebGPU provider needs a Vulkan loader (Debian: apt-get install libvulkan1) and a GPU " +
    'with a Vulkan driver; or use --provider cpu',
});

const require = createRequire(import.meta.url);

/** Folder holding onnxruntime-node's native libraries for this platform. */
function ortBinDir(): string {
  const pkg = require.resolve('onnxruntime-node/package.json');
  return join(dirname(pkg), 'bin', 'napi-v6', process.platform, process.arch);
}

/** Providers compiled into this onnxruntime-node build, with whether their libraries ship in the package. */
export function listOrtBackends(): { name: string; bundled: boolean }[] {
  return ort.listSupportedBackends().map((b) => ({ name: b.name, bundled: b.bundled }));
}

/**
 * Whether the CUDA provider's shared library is installed. Checked before asking onnxruntime,
 * because a failed load makes onnxruntime print an error to stderr on every attempt.
 */
export function cudaProviderInstalled(): boolean {
  const ext = process.platform === 'win32' ? 'dll' : 'so';
  const name = process.platform === 'win32' ? 'onnxruntime_providers_cuda.dll' : `libonnxruntime_providers_cuda.${ext}`;
  return existsSync(join(ortBinDir(), name));
}

/**
 * Turns off onnxruntime's built-in telemetry unless the operator set ORT_DISABLE_TELEMETRY
 * themselves. The Linux build of onnxruntime-node 1.30 embeds Microsoft's 1DS client: an idle
 * `mpe serve` resolved mobile.events.data.microsoft.com about every 3 s (strace: connect to port
 * 53 from 3 short-lived threads per attempt; none with ORT_DISABLE_TELEMETRY=1, which also
 * leaves the process one thread fewer). The library reads the PROCESS environment when its
 * first session is created, so this must run on the main thread (a worker's process.env is a
 * private copy) before any session: the score pool calls it before starting its workers.
 */
export function disableOrtTelemetry(): void {
  if (process.env.ORT_DISABLE_TELEMETRY === undefined) process.env.ORT_DISABLE_TELEMETRY = '1';
}

function baseOptions(o: ScorerSessionOptions): ort.InferenceSession.SessionOptions {
  const opts: ort.InferenceSession.SessionOptions = { graphOptimizationLevel: 'all' };
  if (o.intraOpThreads !== undefined) {
    if (!Number.isInteger(o.intraOpThreads) || o.intraOpThreads < 0) {
      throw new MpeError('MPE_ERR_SCORER_PROVIDER', `intraOpThreads must be a non-negative integer, got ${o.intraOpThreads}`);
    }
    opts.intraOpNumThreads = o.intraOpThreads;
  }
  if (o.allowSpinning === false) opts.extra = { 'session.intra_op.allow_spinning': '0' };
  return opts;
}

async function createOn(modelBytes: Uint8Array, provider: ActiveProvider, base: ort.InferenceSession.SessionOptions): Promise<ort.InferenceSession> {
  return ort.InferenceSession.create(modelBytes, { ...base, executionProviders: [provider] });
}

function causeText(e: unknown): string {
  const s = e instanceof Error ? e.message : String(e);
  const line = s.split('\n')[0] ?? s;
  return line.length > 300 ? `${line.slice(0, 300)}...` : line;
}

/**
 * Creates an onnxruntime session on the requested provider.
 * @throws MpeError MPE_ERR_SCORER_PROVIDER when an explicit provider cannot start (message says how to install it)
 * @throws MpeError MPE_ERR_SCORER_RUN when the model itself cannot be loaded on CPU
 */
export async function createScorerSession(modelBytes: Uint8Array, options: ScorerSessionOptions = {}): Promise<ScorerSession> {
  disableOrtTelemetry();
  const requested = options.provider ?? 'auto';
  const base = baseOptions(options);
  switch (requested) {
    case 'cpu':
      return { session: await createCpu(modelBytes, base), provider: 'cpu' };
    case 'cuda': {
      if (!cudaProviderInstalled()) {
        throw new MpeError('MPE_ERR_SCORER_PROVIDER', `cuda: libonnxruntime_providers_cuda.so is not installed; ${PROVIDER_INSTALL_HINTS.cuda}`);
      }
      try {
        return { session: await createOn(modelBytes, 'cuda', base), provider: 'cuda' };
      } catch (e) {
        throw new MpeError('MPE_ERR_SCORER_PROVIDER', `cuda: ${causeText(e)}; ${PROVIDER_INSTALL_HINTS.cuda}`, { cause: e });
      }
    }
    case 'webgpu':
      try {
        return { session: await createOn(modelBytes, 'webgpu', base), provider: 'webgpu' };
      } catch (e) {
        throw new MpeError('MPE_ERR_SCORER_PROVIDER', `webgpu: ${causeText(e)}; ${PROVIDER_INSTALL_HINTS.webgpu}`, { cause: e });
      }
    case 'auto': {
      let reason: string;
      if (!cudaProviderInstalled()) {
        reason = 'CUDA provider library not installed (npm ci --onnxruntime-node-install=cuda12 on a GPU host)';
      } else {
        try {
          return { session: await createOn(modelBytes, 'cuda', base), provider: 'cuda' };
        } catch (e) {
          reason = `CUDA provider failed to start: ${causeText(e)}`;
        }
      }
      const report = options.onFallback ?? ((r: string) => process.emitWarning(`scorer: using CPU: ${r}`, 'MpeScorerFallback'));
      report(reason);
      return { session: await createCpu(modelBytes, base), provider: 'cpu', fallbackReason: reason };
    }
    default:
      throw new MpeError('MPE_ERR_SCORER_PROVIDER', `unknown provider ${JSON.stringify(requested)}: use auto, cpu, cuda or webgpu`);
  }
}

async function createCpu(modelBytes: Uint8Array, base: ort.InferenceSession.SessionOptions): Promise<ort.InferenceSession> {
  try {
    return await createOn(modelBytes, 'cpu', base);
  } catch (e) {
    throw new MpeError('MPE_ERR_SCORER_RUN', `cannot load the scorer model: ${causeText(e)}`, { cause: e });
  }
}

/**
 * Runs the scorer on `rows` rows of `inputDim` floats (input `embeddings`, output `probability`).
 * A SharedArrayBuffer-backed input is copied into a plain buffer first (onnxruntime-node rejects
 * shared memory); pass a plain Float32Array to avoid the copy.
 * @returns `rows` probabilities (the output tensor's own buffer).
 * @throws MpeError MPE_ERR_SCORER_RUN on a size mismatch or a runtime failure
 */
export async function scoreBatch(session: ort.InferenceSession, input: Float32Array, rows: number, inputDim: number): Promise<Float32Array> {
  const need = rows * inputDim;
  if (!Number.isInteger(rows) || rows < 1 || !Number.isInteger(inputDim) || inputDim < 1 || input.length < need) {
    throw new MpeError('MPE_ERR_SCORER_RUN', `input holds ${input.length} floats, need rows*inputDim = ${rows}*${inputDim}`);
  }
  let data = input.length === need ? input : input.subarray(0, need);
  if (!(data.buffer instanceof ArrayBuffer)) data = new Float32Array(data);
  let out: ort.InferenceSession.ReturnType;
  try {
    out = await session.run({ embeddings: new ort.Tensor('float32', data, [rows, inputDim]) });
  } catch (e) {
    throw new MpeError('MPE_ERR_SCORER_RUN', causeText(e), { cause: e });
  }
  const p = out.probability;
  if (p === undefined || !(p.data instanceof Float32Array) || p.data.length !== rows) {
    throw new MpeError('MPE_ERR_SCORER_RUN', 'model output "probability" is missing or not float32 [rows, 1]');
  }
  return p.data;
}
