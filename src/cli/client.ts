/**
 * `mpe client score|lookup|model`: a tiny gRPC client for the README and smoke tests.
 *   mpe client model
 *   mpe client lookup --ids 0,1,2
 *   mpe client lookup --feature C1=68fd1e64 --feature I1=3
 *   mpe client score --row 'I1=3,C1=68fd1e64,...'   (fields not given are sent as missing values)
 *   mpe client score --ids 0,1,2,...                (fields x rows ids, row-major)
 *   mpe client score --context 'I1=3,C1=68fd1e64' --row 'C2=a' --row 'C2=b'   (shared fields once, then per candidate)
 *   mpe client score [--context ...] --column 'C2=a,b' --column 'C3=x,y'     (columnar: per field one list)
 */
import * as grpc from '@grpc/grpc-js';
import type { Command } from 'commander';
import { MpeError } from '../errors.js';
import { embeddingProto } from '../server/proto.js';

type Unary = (req: object, cb: (e: grpc.ServiceError | null, v: unknown) => void) => void;

function call(addr: string, method: 'Lookup' | 'Score' | 'GetModel', req: object): Promise<Record<string, unknown>> {
  const client = new (embeddingProto().client)(addr, grpc.credentials.createInsecure());
  return new Promise((resolve, reject) => {
    (client as unknown as Record<string, Unary>)[method]!.call(client, req, (err, value) => {
      client.close();
      if (err) {
        const code = err.metadata?.get('mpe-error-code')[0];
        reject(new MpeError('MPE_ERR_REQ_INVALID', `server answered ${grpc.status[err.code]}${code ? ` ${String(code)}` : ''}: ${err.details}`));
      } else resolve(value as Record<string, unknown>);
    });
  });
}

function ids(v: string): number[] {
  return v.split(',').map((s) => {
    const n = Number(s);
    if (!Number.isInteger(n)) throw new MpeError('MPE_ERR_REQ_INVALID', `not an integer id: ${s}`);
    return n;
  });
}

function pair(s: string): { field: string; value: string } {
  const at = s.indexOf('=');
  if (at <= 0) throw new MpeError('MPE_ERR_REQ_INVALID', `expected FIELD=VALUE, got ${s}`);
  return { field: s.slice(0, at), value: s.slice(at + 1) };
}

const collect = (v: string, prev: string[] = []): string[] => [...prev, v];
const print = (x: unknown): void => {
  process.stdout.write(`${JSON.stringify(x, null, 2)}\n`);
};

/** Registers `client` with its three subcommands. */
export function register(program: Command): void {
  const client = program.command('client').description('tiny gRPC client for a running `mpe serve`').option('--addr <host:port>', 'server address', '127.0.0.1:50051');
  const addr = (): string => (client.opts() as { addr: string }).addr;
  client
    .command('model')
    .description('GetModel')
    .action(async () => print(await call(addr(), 'GetModel', {})));
  client
    .command('lookup')
    .description('Lookup by ids (--ids) or raw pairs (--feature FIELD=VALUE, repeatable); embeddings printed as float32 rows')
    .option('--ids <list>', 'comma-separated feature ids', ids)
    .option('--feature <FIELD=VALUE>', 'raw feature (repeatable)', collect)
    .action(async (o: { ids?: number[]; feature?: string[] }) => {
      const r = await call(addr(), 'Lookup', { ids: o.ids ?? [], features: (o.feature ?? []).map(pair) });
      const buf = r.embeddings as Buffer;
      const d = r.d as number;
      const flat = new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
      const rows: number[][] = [];
      for (let i = 0; i < (r.count as number); i++) rows.push(Array.from(flat.subarray(i * d, (i + 1) * d)));
      print({ ...r, embeddings: rows });
    });
  client
    .command('score')
    .description(
      'Score rows (--row FIELD=VALUE,..., repeatable; missing fields sent empty), ids (--ids), shared fields once (--context) with the rest per candidate (--row) or per field (--column FIELD=V1,V2,...)',
    )
    .option('--row <pairs>', 'one candidate as FIELD=VALUE,FIELD=VALUE (repeatable)', collect)
    .option('--ids <list>', 'fields x rows ids, row-major', ids)
    .option('--context <pairs>', 'fields shared by every candidate, sent once: FIELD=VALUE,FIELD=VALUE')
    .option('--column <FIELD=V1,V2,...>', "one field's values, one per candidate (repeatable; the columnar form)", collect)
    .action(async (o: { row?: string[]; ids?: number[]; context?: string; column?: string[] }) => {
      if (o.ids) {
        print(await call(addr(), 'Score', { ids: o.ids }));
        return;
      }
      const split = (spec: string): Map<string, string> => new Map(spec === '' ? [] : spec.split(',').map((p) => [pair(p).field, pair(p).value] as const));
      const context = o.context === undefined ? [] : [...split(o.context)].map(([field, value]) => ({ field, value }));
      if (o.column !== undefined) {
        const columns = o.column.map((spec) => {
          const { field, value } = pair(spec);
          return { field, values: value.split(',') };
        });
        print(await call(addr(), 'Score', { context, columns }));
        return;
      }
      const model = await call(addr(), 'GetModel', {});
      const shared = new Set(context.map((p) => p.field));
      const names = (model.fields as { name: string }[]).map((f) => f.name).filter((n) => !shared.has(n));
      const rows = (o.row ?? ['']).map((spec) => {
        const given = split(spec);
        return { features: names.map((field) => ({ field, value: given.get(field) ?? '' })) };
      });
      print(await call(addr(), 'Score', context.length > 0 ? { context, candidates: rows } : { rows }));
    });
}
