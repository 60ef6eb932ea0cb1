// Writes deploy/k8s/base/prometheusrule.yaml (Prometheus Operator) from deploy/prometheus/alerts.yml,
// the one source of the alert rules. Run after editing alerts.yml:
//   node deploy/prometheus/sync-prometheusrule.mjs
// test/deploy/manifests.test.ts fails when the two disagree.
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse, stringify } from 'yaml';

const here = (p) => fileURLToPath(new URL(p, import.meta.url));
const rules = parse(readFileSync(here('./alerts.yml'), 'utf8'));
const resource = {
  apiVersion: 'monitoring.coreos.com/v1',
  kind: 'PrometheusRule',
  metadata: { name: 'mpe-serve' },
  spec: { groups: rules.groups },
};
const header = '# GENERATED from deploy/prometheus/alerts.yml by deploy/prometheus/sync-prometheusrule.mjs: edit that file.\n';
writeFileSync(here('../k8s/base/prometheusrule.yaml'), header + stringify(resource, { lineWidth: 0 }));
