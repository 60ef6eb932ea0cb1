#!/usr/bin/python3
"""Fixture of test/interop/torch-parity.test.ts: small PyTorch CTR models with an MPE embedding
(an LSQ+ mixed-precision table written for this test, with the attribute interface of the
authors' OptFP embedding: weight, group_index, one-hot gamma, bitsets, alpha, beta), trained a few
steps, exported with tools/torch/export.py.

usage: /usr/bin/python3 torch_fixture.py OUT_DIR

Writes OUT_DIR/vocab.tsv and, per model M in (dnn, dcn, deepfm, fp32-dnn):
  OUT_DIR/M/export/   the export (mpe-export.json, table.safetensors, scorer.onnx)
  OUT_DIR/M/probe.json {ids: [[feature index]*F]*ROWS, tokens: [[token]*F]*ROWS,
                        prob: [torch probability]*ROWS, codes: [[signed code]*d]*n and
                        bits: [bit width]*n (MPE only)}
Deterministic (seeded); CPU, one thread.
"""
import json
import math
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as Fn

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools", "torch"))
from export import export_model, reference_codes  # noqa: E402

torch.set_num_threads(1)
FIELDS = 6
PER_FIELD = 100
N_FEATURES = FIELDS * PER_FIELD
D = 8
GROUPS = 16
BITSETS = [0, 1, 2, 3, 4, 5, 6, 7, 8]
ROWS = 1000
TRAIN_ROWS = 4096
STEPS = 40
EPS = 1e-10


class LsqPlusFn(torch.autograd.Function):
    """q = clamp(round_half_even((w - beta) / alpha), lo, hi) * alpha + beta; straight-through for w,
    LSQ+ style gradients for alpha and beta."""

    @staticmethod
    def forward(ctx, w, alpha, beta, lo, hi):
        v = (w - beta) / alpha
        ctx.save_for_backward(v)
        ctx.lo, ctx.hi = lo, hi
        return v.round().clamp(lo, hi) * alpha + beta

    @staticmethod
    def backward(ctx, g):
        (v,) = ctx.saved_tensors
        lo, hi = ctx.lo, ctx.hi
        below, above = (v < lo).float(), (v > hi).float()
        inside = 1.0 - below - above
        scale = 1.0 / math.sqrt(max(hi, 1)) / math.sqrt(v.numel())
        ga = ((below * lo + above * hi + inside * (v.round() - v)) * g).sum() * scale
        gb = ((below + above) * g).sum(dim=0) * scale
        return inside * g, ga, gb, None, None


class TinyMpeEmbedding(nn.Module):
    """Frequency groups (ascending count, equal size, the partial group the most frequent one, as
    the authors' code cuts them) with one bit width each (retraining stage: gamma one-hot)."""

    def __init__(self, counts, gen):
        super().__init__()
        n = counts.numel()
        self.weight = nn.Parameter(torch.randn(n, D, generator=gen) * 0.05)
        size = math.ceil(n / GROUPS)
        order = torch.argsort(counts, stable=True)  # ascending
        gi = torch.empty(n, dtype=torch.long)
        gi[order] = torch.arange(n) // size
        self.group_index = nn.Parameter(gi, requires_grad=False)
        groups = int(gi.max()) + 1
        bits = torch.tensor([BITSETS[(g * 5 + 3) % len(BITSETS)] for g in range(groups)])
        self.bitsets = nn.Parameter(torch.tensor(BITSETS), requires_grad=False)
        self.gamma = nn.Parameter((bits.reshape(-1, 1, 1) == self.bitsets).float(), requires_grad=False)
        levels = 2 ** (self.bitsets.float() - 1)
        self.alpha = nn.Parameter(2 * self.weight.detach().abs().mean() / levels.sqrt())
        self.beta = nn.Parameter(torch.zeros(D))
        self.retraining = True

    def forward(self, x):
        w = Fn.embedding(x, self.weight)
        bits = self.bitsets[self.gamma[:, 0, :].argmax(-1)][self.group_index[x]]
        alpha = self.alpha.abs() + torch.tensor(EPS)
        out = torch.zeros_like(w)
        for i, b in enumerate(BITSETS):
            if b == 0:
                continue
            q = LsqPlusFn.apply(w, alpha[i], self.beta, -(2 ** (b - 1)), 2 ** (b - 1) - 1)
            out = torch.where((bits == b).unsqueeze(-1), q, out)
        return out


def mlp(inp, dims):
    layers = []
    for o in dims:
        layers += [nn.Linear(inp, o), nn.BatchNorm1d(o), nn.ReLU()]
        inp = o
    return nn.Sequential(*layers), inp


class Dnn(nn.Module):
    def __init__(self, emb):
        super().__init__()
        self.embedding = emb
        self.mlp, last = mlp(FIELDS * D, [32, 16])
        self.out = nn.Linear(last, 1)

    def forward(self, x):
        e = self.embedding(x).reshape(-1, FIELDS * D)
        return self.out(self.mlp(e)).squeeze(1)


class Dcn(nn.Module):
    def __init__(self, emb):
        super().__init__()
        self.embedding = emb
        k = FIELDS * D
        self.mlp, last = mlp(k, [32, 16])
        self.cross_w = nn.ModuleList([nn.Linear(k, 1, bias=False) for _ in range(2)])
        self.cross_b = nn.ParameterList([nn.Parameter(torch.zeros(k)) for _ in range(2)])
        self.out = nn.Linear(last + k, 1)

    def forward(self, x):
        e = self.embedding(x).reshape(-1, FIELDS * D)
        c = e
        for w, b in zip(self.cross_w, self.cross_b):
            c = e * w(c) + b + c
        return self.out(torch.cat([self.mlp(e), c], dim=1)).squeeze(1)


class DeepFm(Dnn):
    """The DNN's layers plus a factorization-machine term on the field embeddings."""

    def forward(self, x):
        v = self.embedding(x)
        fm = 0.5 * (v.sum(1) ** 2 - (v ** 2).sum(1)).sum(1, keepdim=True)
        return (fm + self.out(self.mlp(v.reshape(-1, FIELDS * D)))).squeeze(1)


def make_data(gen):
    # Zipf-like ids per field; field f owns feature indices [f*PER_FIELD, (f+1)*PER_FIELD).
    ranks = torch.arange(1, PER_FIELD + 1, dtype=torch.float64)
    p = 1.0 / ranks ** 1.1
    local = torch.multinomial(p / p.sum(), (TRAIN_ROWS + ROWS) * FIELDS, replacement=True, generator=gen)
    local = local.reshape(-1, FIELDS)
    # Shuffle which local index is frequent per field so frequency is not the index order.
    perm = torch.stack([torch.randperm(PER_FIELD, generator=gen) for _ in range(FIELDS)], 1)
    local = torch.gather(perm, 0, local)
    ids = local + torch.arange(FIELDS) * PER_FIELD
    effect = torch.randn(N_FEATURES, generator=gen)
    logit = effect[ids].sum(1) * 0.7 - 1.0
    y = (torch.rand(ids.shape[0], generator=gen) < torch.sigmoid(logit)).float()
    return ids, y


def plant_ties(emb, gen):
    """Sets some weights so that (w - beta) / alpha is exactly k + 0.5 in float32 (round half to even
    matters) or far outside the clamp range (clamping matters)."""
    with torch.no_grad():
        bits = emb.bitsets[emb.gamma[:, 0, :].argmax(-1)][emb.group_index]
        alpha = emb.alpha.abs() + torch.tensor(EPS)
        planted = 0
        for f in torch.randperm(N_FEATURES, generator=gen)[:120].tolist():
            b = int(bits[f])
            if b == 0:
                continue
            i = BITSETS.index(b)
            j = f % D
            k = int(torch.randint(-(2 ** (b - 1)), 2 ** (b - 1), (1,), generator=gen))
            if f % 4 == 0:
                emb.weight[f, j] = emb.beta[j] + alpha[i] * (3 * 2 ** b)  # clamps to Qp
                planted += 1
                continue
            w = (emb.beta[j] + alpha[i] * (k + 0.5)).reshape(1)
            if float((w - emb.beta[j]) / alpha[i]) == k + 0.5:
                emb.weight[f, j] = w[0]
                planted += 1
        return planted


def train(model, ids, y, gen):
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    model.train()
    for s in range(STEPS):
        idx = torch.randint(0, TRAIN_ROWS, (256,), generator=gen)
        opt.zero_grad()
        loss = Fn.binary_cross_entropy_with_logits(model(ids[idx]), y[idx])
        loss.backward()
        opt.step()
    model.eval()


def main(out):
    gen = torch.Generator().manual_seed(7)
    torch.manual_seed(7)
    ids, y = make_data(gen)
    counts = torch.bincount(ids[:TRAIN_ROWS].reshape(-1), minlength=N_FEATURES).double()
    probe = ids[TRAIN_ROWS:]
    fields = [{"name": "f%d" % f, "kind": "categorical", "transform": "none", "oov": f * PER_FIELD + PER_FIELD - 1}
              for f in range(FIELDS)]
    os.makedirs(out, exist_ok=True)
    # Token of feature index i: "t<local index>"; the last local index of a field is its OOV
    # feature and has no token (as a min-count OOV bucket would not).
    with open(os.path.join(out, "vocab.tsv"), "w") as fo:
        fo.write("# field\tvalue\tindex\n")
        for i in range(N_FEATURES):
            f, l = divmod(i, PER_FIELD)
            if l != PER_FIELD - 1:
                fo.write("f%d\tt%d\t%d\n" % (f, l, i))
    tokens = [["t%d" % (int(i) % PER_FIELD) for i in row] for row in probe]
    summary = {}
    for name, cls, mpe in (("dnn", Dnn, True), ("dcn", Dcn, True), ("deepfm", DeepFm, True), ("fp32-dnn", Dnn, False)):
        torch.manual_seed(11)
        emb = TinyMpeEmbedding(counts, gen) if mpe else nn.Embedding(N_FEATURES, D)
        if not mpe:
            nn.init.normal_(emb.weight, std=0.05)
        model = cls(emb)
        train(model, ids, y, gen)
        planted = plant_ties(emb, gen) if mpe else 0
        with torch.no_grad():
            prob = torch.sigmoid(model(probe)).tolist()
        d = os.path.join(out, name)
        os.makedirs(d, exist_ok=True)
        meta = export_model(model, os.path.join(d, "export"), field_count=FIELDS, fields=fields,
                            feature_counts=counts, name="torch-" + name)
        rec = {"ids": probe.tolist(), "tokens": tokens, "prob": prob, "planted": planted}
        if mpe:
            rec["codes"] = reference_codes(emb, torch.arange(N_FEATURES)).tolist()
            rec["bits"] = emb.bitsets[emb.gamma[:, 0, :].argmax(-1)][emb.group_index].tolist()
        with open(os.path.join(d, "probe.json"), "w") as fo:
            json.dump(rec, fo)
        summary[name] = {"kind": meta["kind"], "planted": planted}
    print(json.dumps(summary))


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
