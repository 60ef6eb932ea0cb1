#!/usr/bin/python3
"""Runs the reference runner (shared/tools/mperef/run_official.py) unchanged, and after every
validation pass of the SEARCH phase appends one JSON line to --trace: the epoch's validation AUC,
the group logits, their tempered softmax and the selected bits per group, read from the model's
own embedding module. Written for bench/fidelity.ts --trace (ours emits the same record).

usage: /usr/bin/python3 bench/fidelity-trace.py --trace OUT.jsonl RUNNER [runner args...]
The runner's --code directory is put on sys.path first so that the hook wraps the same classes
the runner then wraps with its timers.
"""
import json
import os
import runpy
import sys
import types

argv = sys.argv[1:]
if len(argv) < 3 or argv[0] != "--trace":
    sys.exit(__doc__)
trace_path, runner, rest = argv[1], argv[2], argv[3:]
code = os.path.abspath(rest[rest.index("--code") + 1])
sys.path.insert(0, code)
# The reference's modules import these at load time; stand-ins as the runner's own (it replaces them again).
sys.modules.setdefault("tensorflow", types.ModuleType("tensorflow"))
try:
    import tqdm  # noqa: F401
except ImportError:
    m = types.ModuleType("tqdm")
    m.tqdm = lambda it, **kw: it
    sys.modules["tqdm"] = m
lm = types.ModuleType("util.logger")
lm.get_log = lambda *a, **k: sys.modules["util.logger"].get_log(*a, **k)  # the runner's, at call time
sys.modules["util.logger"] = lm

import torch  # noqa: E402
import train.train_backbone as tb  # noqa: E402

_evaluate = tb.Trainer_BackBone.evaluate
epochs = {"n": 0}
out = open(trace_path, "w")


def evaluate(self, eval_type="valid", eval_steps=None):
    r = _evaluate(self, eval_type, eval_steps)
    e = getattr(self.model, "embedding", None)
    if eval_type == "valid" and e is not None and hasattr(e, "gamma") and not e.retraining:
        epochs["n"] += 1
        with torch.no_grad():
            logits = e.gamma.data[:, 0, :].double()
            p = torch.softmax(logits / e.tau, dim=-1)
            bits, _ = e.get_bit()
            sizes = torch.bincount(e.group_index.data, minlength=logits.shape[0]).double()
        rec = {
            "epoch": epochs["n"],
            "validAuc": float(r[0]),
            # reference numbering: group 0 = rarest; bench/fidelity.ts reverses to ours
            "bitsPerGroup": [int(b) for b in bits.tolist()],
            "groupSizes": [int(s) for s in sizes.tolist()],
            "groupCnt": [float(c) for c in e.group_cnt.data.view(-1).tolist()],
            "logits": [float(x) for x in logits.reshape(-1).tolist()],
            "probabilities": [float(x) for x in p.reshape(-1).tolist()],
            "selectedBits": float((bits.double() * sizes).sum() / sizes.sum()),
            "expectedBits": float(((p * e.bitsets.data.double()).sum(-1) * sizes).sum() / sizes.sum()),
        }
        out.write(json.dumps(rec) + "\n")
        out.flush()
    return r


tb.Trainer_BackBone.evaluate = evaluate
sys.argv = [runner] + rest
runpy.run_path(runner, run_name="__main__")
