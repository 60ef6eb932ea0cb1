/**
 * Model metrics: what the served table costs (bytes by section and by bit width, features by bit
 * width, compression ratios) and which model/provider is live. Set once per loaded model.
 */
import { Gauge, type Registry } from 'prom-client';

/** What the model gauges show (the service's ModelInfo satisfies it). */
export interface ModelGaugeInfo {
  readonly version: string;
  readonly provider: string;
  readonly d: number;
  readonly featureCount: number;
  readonly fields: { readonly length: number };
  readonly sectionBytes: readonly { readonly section: string; readonly bytes: number }[];
  readonly bitsHistogram: readonly { readonly bits: number; readonly features: number; readonly bytes: number }[];
  readonly compressionRatioWeights: number;
  readonly compressionRatioAllIn: number;
}

export interface ModelMetrics {
  /** Replaces every model gauge with `info` (on load and on reload). */
  set(info: ModelGaugeInfo): void;
}

export function createModelMetrics(registry: Registry): ModelMetrics {
  const registers = [registry];
  const sectionBytes = new Gauge({ name: 'mpe_model_section_bytes', help: 'Bytes of each bundle section as loaded', labelNames: ['section'], registers });
  const bitsBytes = new Gauge({ name: 'mpe_table_bytes', help: 'Bytes of the packed table data section by stored bit width', labelNames: ['bits'], registers });
  const bitsFeatures = new Gauge({ name: 'mpe_table_features', help: 'Features stored at each bit width (0 = pruned)', labelNames: ['bits'], registers });
  const compression = new Gauge({
    name: 'mpe_table_compression_ratio',
    help: 'Compression ratio against fp32: weights = codes only (paper), all_in = table.bin + vocabulary',
    labelNames: ['measure'],
    registers,
  });
  const modelInfo = new Gauge({ name: 'mpe_model_info', help: 'Served model (value 1): version, execution provider, dimensions', labelNames: ['version', 'provider', 'd', 'fields'], registers });
  const provider = new Gauge({ name: 'mpe_scorer_provider', help: 'Active onnxruntime execution provider (value 1)', labelNames: ['provider'], registers });
  const featureCount = new Gauge({ name: 'mpe_model_features', help: 'Features (rows) in the served table', registers });
  return {
    set(info: ModelGaugeInfo): void {
      for (const g of [sectionBytes, bitsBytes, bitsFeatures, compression, modelInfo, provider]) g.reset();
      for (const s of info.sectionBytes) sectionBytes.set({ section: s.section }, s.bytes);
      for (const b of info.bitsHistogram) {
        bitsBytes.set({ bits: String(b.bits) }, b.bytes);
        bitsFeatures.set({ bits: String(b.bits) }, b.features);
      }
      compression.set({ measure: 'weights' }, info.compressionRatioWeights);
      compression.set({ measure: 'all_in' }, info.compressionRatioAllIn);
      modelInfo.set({ version: info.version, provider: info.provider, d: String(info.d), fields: String(info.fields.length) }, 1);
      provider.set({ provider: info.provider }, 1);
      featureCount.set(info.featureCount);
    },
  };
}
