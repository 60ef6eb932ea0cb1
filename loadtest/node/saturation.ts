/**
 * Saturation-curve output for the benchmark report: bench/results/<name>.json (the shape
 * bench/report.ts reads: name, title, command, date, machine, markdown) and the plot
 * docs/<name>.svg (latency vs offered load, gRPC and HTTP).
 *
 * Plot library: Apache ECharts' server-side SVG renderer (`ssr: true` + `renderToSVGString()`):
 * pure JS, no DOM, no canvas, no native binary; 3 packages (echarts, zrender, tslib) against
 * vega + vega-lite's ~40 (vega-* modules and d3 pieces) for the same SVG.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as echarts from 'echarts';
import { describeMachine, writeBenchmarksDoc, writeResult } from '../../bench/report.js';
import { type knee, type RunSummary, table } from './report.js';

const REPO = fileURLToPath(new URL('../../', import.meta.url));

/** SVG of p50 and p99 latency (log scale) against offered load, one colour per target. */
export function saturationSvg(runs: readonly RunSummary[], title: string): string {
  const chart = echarts.init(null, null, { renderer: 'svg', ssr: true, width: 760, height: 420 });
  const series: echarts.SeriesOption[] = [];
  const colours: Record<string, string> = { grpc: '#1f77b4', http: '#d62728' };
  for (const target of ['grpc', 'http'] as const) {
    const rs = runs.filter((r) => r.target === target && r.offeredRate !== null && r.latencyMs !== null).sort((a, b) => a.offeredRate! - b.offeredRate!);
    if (rs.length === 0) continue;
    for (const [q, dash] of [['p50', 'solid'], ['p99', 'dashed']] as const) {
      series.push({
        name: `${target.toUpperCase()} ${q}`,
        type: 'line',
        symbol: 'circle',
        symbolSize: 6,
        lineStyle: { type: dash, color: colours[target] },
        itemStyle: { color: colours[target] },
        data: rs.map((r) => [r.offeredRate!, r.latencyMs![q]]),
      });
    }
  }
  chart.setOption({
    animation: false,
    backgroundColor: '#ffffff',
    title: { text: title, left: 'center', textStyle: { fontSize: 14 } },
    legend: { top: 28 },
    grid: { left: 70, right: 30, top: 70, bottom: 55 },
    xAxis: { type: 'value', name: 'offered load (requests/s)', nameLocation: 'middle', nameGap: 30 },
    yAxis: { type: 'log', name: 'latency (ms, log scale)', nameLocation: 'middle', nameGap: 50 },
    series,
  });
  const svg = chart.renderToSVGString();
  chart.dispose();
  return svg;
}

/** Writes bench/results/<name>.json and docs/<name>.svg, then regenerates docs/benchmarks.md; returns the paths. */
export function writeSaturationResults(
  name: string,
  command: string,
  runs: readonly RunSummary[],
  knees: Record<string, ReturnType<typeof knee>>,
  loadAverage: { start: number; end: number },
): { json: string; svg: string } {
  const first = runs[0];
  const what = first === undefined ? 'load' : first.method === 'score' ? `Score, ${first.size} candidates per request` : `Lookup, ${first.size} ids per request`;
  const title = `Saturation: ${what}`;
  const svgPath = `${REPO}docs/${name}.svg`;
  mkdirSync(`${REPO}docs`, { recursive: true });
  writeFileSync(svgPath, saturationSvg(runs, `Latency vs offered load (${what})`));
  const kneeLines = Object.entries(knees).map(([t, k]) =>
    k === null
      ? `- ${t.toUpperCase()}: no knee found (even the lowest rate missed 95% throughput or 3x the low-load p50).`
      : `- ${t.toUpperCase()} knee: **${k.rate} req/s** (${Math.round(k.rate * (first?.size ?? 1))} ${first?.method === 'score' ? 'candidates' : 'ids'}/s): the last offered rate served at >= 95% with p50 <= 3x the lowest-rate p50 (there: p50 ${k.p50Ms} ms, p99 ${k.p99Ms} ms, ${k.throughputRps} req/s).`,
  );
  const markdown = [
    'Open-loop arrivals from the Node driver (`loadtest/node`); latency from each request\'s scheduled send time (no coordinated omission), HDR histogram; driver and server share the same cores (CPU column), and the box is shared with other work: 1-minute load average ' +
      `${loadAverage.start.toFixed(1)} at the start, ${loadAverage.end.toFixed(1)} at the end.`,
    '',
    table(runs),
    '',
    ...kneeLines,
    '',
    `![latency vs offered load](${name}.svg)`,
  ].join('\n');
  const jsonPath = writeResult({ name, title, command, date: new Date().toISOString(), machine: describeMachine(), markdown, data: { runs, knees, loadAverage } });
  writeBenchmarksDoc();
  return { json: jsonPath, svg: svgPath };
}
