// Types of common.js: the parts the Node driver shares with the k6 scripts (one payload generator
// for both), and the k6-only helpers, so that `npm run typecheck` checks the k6 scripts' calls
// (loadtest/k6/tsconfig.json, @types/k6).
export function env(name: string, fallback: string): string;
export function envNum(name: string, fallback: number): number;
export function scenarios(): Record<string, Record<string, unknown>>;
export function parseDurationSeconds(text: string): number;
export function thresholds(durationMetric: string, p99Ms: number): Record<string, string[]>;
export interface LoadModel {
  version: string;
  fields: { name: string; kind: string; oovId: number }[];
  featureCount: number;
  maxRequestRows: number;
}
export interface GrpcFeature {
  field: string;
  value: string;
}
export function normaliseModel(m: unknown): LoadModel;
export function prng(seed: number): () => number;
export type ScoreForm = 'flat' | 'columns' | 'context' | 'context-columns';
export const SCORE_FORMS: readonly ScoreForm[];
export function envForm(name: string, fallback: ScoreForm): ScoreForm;
export function defaultShared(model: LoadModel, form: ScoreForm): number;
export interface GrpcScoreBody {
  rows?: { features: GrpcFeature[] }[];
  context?: GrpcFeature[];
  candidates?: { features: GrpcFeature[] }[];
  columns?: { field: string; values: string[] }[];
}
export interface HttpScoreBody {
  rows?: Record<string, string | number>[];
  context?: Record<string, string | number>;
  candidates?: Record<string, string | number>[];
  columns?: Record<string, (string | number)[]>;
}
export function scorePayloads(model: LoadModel, candidates: number, pool: number, seed: number, format: 'grpc', form?: ScoreForm, shared?: number): GrpcScoreBody[];
export function scorePayloads(model: LoadModel, candidates: number, pool: number, seed: number, format: 'http', form?: ScoreForm, shared?: number): HttpScoreBody[];
export function lookupPayloads(model: LoadModel, features: number, pool: number, seed: number): { ids: number[] }[];
export function probabilitiesOk(probs: ArrayLike<unknown> | null | undefined, count: number): boolean;
