#!/usr/bin/python3
"""Driver of `npm run bench:interop`: trains the MPE authors' code (through the UNCHANGED harness
shared/tools/mperef/run_official.py, run in this process with runpy so that its trained model
object stays reachable), exports it with export.py and scores the test split with torch.

usage: /usr/bin/python3 bench_reference.py --mperef DIR --raw DIR --out DIR
                         [--epoch 1 --l2_gamma 3e-5 --threads 2]

--raw holds what bench/interop.ts wrote from the project's own ingestion (same ids, counts and
split on both sides): X.i32 (int32 [rows, F]), y.u8, split.u8 (0 train, 1 valid, 2 test),
feat_cnt.f64 (train counts per feature), meta.json {rows, fields: [{name, kind, transform, oovId}]}.
Writes --out/export/ (the export), --out/torch_test_prob.f32 (float32 per test row, in row
order) and --out/result.json.
"""
import argparse
import json
import os
import runpy
import sys
import time

import numpy as np
import torch

ap = argparse.ArgumentParser()
ap.add_argument("--mperef", required=True)
ap.add_argument("--raw", required=True)
ap.add_argument("--out", required=True)
ap.add_argument("--epoch", type=int, default=1)
ap.add_argument("--l2_gamma", type=float, default=3e-5)
ap.add_argument("--threads", type=int, default=2)
args = ap.parse_args()

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, here)
from export import export_model  # noqa: E402

raw = os.path.abspath(args.raw)
out = os.path.abspath(args.out)
os.makedirs(out, exist_ok=True)
meta = json.load(open(os.path.join(raw, "meta.json")))
F = len(meta["fields"])
X = np.fromfile(os.path.join(raw, "X.i32"), dtype="<i4").reshape(-1, F)
y = np.fromfile(os.path.join(raw, "y.u8"), dtype=np.uint8)
split = np.fromfile(os.path.join(raw, "split.u8"), dtype=np.uint8)
feat_cnt = np.fromfile(os.path.join(raw, "feat_cnt.f64"), dtype="<f8")
npz = os.path.join(out, "criteo-10k.npz")
np.savez(npz, X=X, y=y, split=split, feat_cnt=feat_cnt.astype(np.int64))

ref_json = os.path.join(out, "reference.json")
cwd = os.getcwd()
argv = sys.argv
sys.argv = ["run_official.py", "--code", os.path.join(os.path.abspath(args.mperef), "official"), "--npz", npz,
            "--emb_type", "optfp", "--l2_gamma", str(args.l2_gamma), "--epoch", str(args.epoch),
            "--early_stop", "1", "--threads", str(args.threads), "--out", ref_json, "--work", os.path.join(out, "work")]
t0 = time.perf_counter()
g = runpy.run_path(os.path.join(os.path.abspath(args.mperef), "run_official.py"), run_name="__main__")
train_s = time.perf_counter() - t0
sys.argv = argv
os.chdir(cwd)
trainer = g["trainer"]
model = trainer.model  # the best retrained checkpoint (test_best() loaded it)

fields = [{"name": f["name"], "kind": f["kind"], "transform": f["transform"], "oov": int(f["oovId"])} for f in meta["fields"]]
export_dir = os.path.join(out, "export")
export_model(model, export_dir, field_count=F, fields=fields, feature_counts=torch.from_numpy(feat_cnt),
             name="criteo-10k-optfp-dnn")

model.eval()
test = torch.from_numpy(X[split == 2].astype(np.int64))
with torch.no_grad():
    prob = torch.cat([torch.sigmoid(model(test[s:s + 2048])) for s in range(0, len(test), 2048)]).float().numpy()
prob.astype("<f4").tofile(os.path.join(out, "torch_test_prob.f32"))
from sklearn.metrics import roc_auc_score  # noqa: E402 (python3-sklearn, as the reference code)
ref = json.load(open(ref_json))
result = {
    "torch": torch.__version__,
    "train_wall_s": round(train_s, 2),
    "record": trainer.record,
    "torch_test_auc": float(roc_auc_score(y[split == 2], prob.astype(np.float64))),
    "test_rows": int(len(test)),
    "avg_bits_per_feature": ref.get("avg_bits_per_feature"),
    "group_hist": ref.get("group_hist"),
    "group_size": ref.get("group_size"),
}
json.dump(result, open(os.path.join(out, "result.json"), "w"), indent=1)
print(json.dumps(result))
