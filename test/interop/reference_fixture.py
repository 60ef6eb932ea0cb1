#!/usr/bin/python3
"""Fixture of test/interop/torch-reference.test.ts: the MPE authors' own model objects (their
OptFP embedding with their dnn, dcn and deepfm backbones, imported from the reference code, not
copied), briefly trained through search -> discrete_gamma() -> retraining, then exported with
tools/torch/export.py. The reference code reads a hard-coded feat_cnt.pkl path while building
its groups; that one `open` is redirected to a pickle written here (as mperef/run_official.py does).

usage: /usr/bin/python3 reference_fixture.py MPEREF_OFFICIAL_DIR OUT_DIR
Writes OUT_DIR/<model>/ (the export) and OUT_DIR/<model>.probe.json {ids, prob, codes, bits,
search_refused}. Deterministic (seeded), CPU.
"""
import builtins
import json
import os
import pickle
import sys
import types

import torch

code, out = sys.argv[1], sys.argv[2]
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools", "torch"))
sys.path.insert(0, code)
sys.modules.setdefault("tensorflow", types.ModuleType("tensorflow"))  # imported, never used, by the reference loader
from export import ExportError, export_model, reference_codes  # noqa: E402
import model.embedding as ref_embedding  # noqa: E402
from model.models import get_model  # noqa: E402

torch.set_num_threads(1)
torch.manual_seed(5)
N, F, D = 500, 5, 8
os.makedirs(out, exist_ok=True)
counts = torch.randint(0, 50, (N,)).float()
cnt_path = os.path.join(out, "feat_cnt.pkl")
with open(cnt_path, "wb") as fo:
    pickle.dump(counts, fo)
_open = builtins.open
ref_embedding.open = lambda p, *a, **k: _open(cnt_path if str(p).endswith("/stats/feat_cnt.pkl") else p, *a, **k)

x = torch.randint(0, N, (512, F))
y = (torch.rand(512) < 0.3).float()
probe = torch.randint(0, N, (300, F))


def steps(model, k):
    opt = torch.optim.Adam(model.parameters(), 1e-3)  # a fresh optimiser per stage, as the reference trainer
    model.train()
    for _ in range(k):
        opt.zero_grad()
        torch.nn.functional.binary_cross_entropy_with_logits(model(x), y).backward()
        opt.step()


for name in ("dnn", "dcn", "deepfm"):
    mc = {"model": name, "emb_type": "optfp", "emb_dim": D, "mlp_dims": [32, 16], "emb_init": "normal_0.003",
          "mlp_dropout": 0.0, "use_bn": True, "tau": 3e-3, "group": 16, "bitsets": "0123456"}
    model = get_model(mc, {"dataset": "fixture", "feature_num": N, "field_num": F})
    e = model.embedding
    with torch.no_grad():  # spread the weights and bit choices beyond their initial values
        e.gamma.normal_(0, 0.01)
        e.weight.normal_(0, 0.05)
        e.alpha.mul_(torch.linspace(0.5, 2, e.alpha.numel()))
        e.beta.normal_(0, 0.001)
    steps(model, 5)
    try:
        export_model(model, os.path.join(out, name + "-search"), field_count=F)
        refused = None
    except ExportError as err:
        refused = str(err)
    e.discrete_gamma()
    steps(model, 5)
    model.eval()
    with torch.no_grad():
        prob = torch.sigmoid(model(probe)).tolist()
    export_model(model, os.path.join(out, name), field_count=F, feature_counts=counts, name="ref-" + name)
    bits = e.bitsets[e.gamma[:, 0, :].argmax(-1)][e.group_index]
    with open(os.path.join(out, name + ".probe.json"), "w") as fo:
        json.dump({"ids": probe.tolist(), "prob": prob, "codes": reference_codes(e, torch.arange(N)).tolist(),
                   "bits": bits.tolist(), "search_refused": refused}, fo)
print("ok")
