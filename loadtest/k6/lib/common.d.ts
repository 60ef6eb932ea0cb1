// Types of the parts of common.js the Node driver shares with the k6 scripts (one payload generator for both).
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
export function scorePayloads(model: LoadModel, candidates: number, pool: number, seed: number, format: 'grpc'): { rows: { features: GrpcFeature[] }[] }[];
export function scorePayloads(model: LoadModel, candidates: number, pool: number, seed: number, format: 'http'): { rows: Record<string, string | number>[] }[];
export function lookupPayloads(model: LoadModel, features: number, pool: number, seed: number): { ids: number[] }[];
export function probabilitiesOk(probs: ArrayLike<unknown> | null | undefined, count: number): boolean;
