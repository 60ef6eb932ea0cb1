#!/usr/bin/python3
"""Export a trained PyTorch CTR model for `mpe import` (docs/interop.md).

Writes three files into an output directory:

  mpe-export.json      what the export holds: shapes, bit widths, the quantizer's formula, fields
  table.safetensors    the embedding table and its quantizer state (safetensors, written here)
  scorer.onnx          the dense part: input `embeddings` float32 [N, F*d] -> `probability` [N, 1]

Supported embeddings (duck-typed, so the authors' classes and look-alikes both work):

  * MPE after retraining: attributes `weight` [n, d], `group_index` [n] (feature -> group),
    `gamma` [G, 1, K] one-hot (after `discrete_gamma()`), `bitsets` [K], `alpha` [K] (raw step
    parameters, one per entry of bitsets), `beta` [d]; the forward pass quantizes with
    alpha_eff = |alpha| + 1e-10 (float32), q = clamp(round_half_even((w - beta) / alpha_eff), Qn, Qp).
  * LSQ+ with one bit width for every feature: `weight`, `alpha` (scalar), `beta` [d], `bit`.
  * A plain float32 table: `torch.nn.Embedding` or any module whose only tensor state is `weight`.

Anything else (soft gamma during the search, QR, PEP, OptFS, ALPT) is refused with ExportError.

The backbone must call `self.<embedding_attr>(x)` once with the [N, F] feature ids, use the
[N, F, d] result and nothing else of x, and return a logit per row ([N] or [N, 1]); pass
output="probability" if it already applies the sigmoid.

Usage from Python:

    import sys; sys.path.insert(0, "tools/torch")
    from export import export_model
    export_model(model, "out/dir", field_count=F, fields=[{"name": "C1"}, ...],
                 feature_counts=counts)

Needs torch (Debian: apt-get install python3-torch, which brings numpy) on a little-endian host.
"""
import json
import os
import struct
import sys
import tempfile

import torch

EXPORT_FORMAT = "mpe-torch-export"
EXPORT_VERSION = 1
EXPORT_JSON = "mpe-export.json"
TABLE_FILE = "table.safetensors"
SCORER_FILE = "scorer.onnx"
SCORER_INPUT = "embeddings"
SCORER_OUTPUT = "probability"
# torch's own forward pass adds this (as a float32 tensor) to |alpha|.
ALPHA_EPS = 1e-10

_ST_DTYPES = {torch.float32: ("F32", 4), torch.float64: ("F64", 8), torch.int64: ("I64", 8),
              torch.int32: ("I32", 4), torch.uint8: ("U8", 1)}


class ExportError(Exception):
    """The model cannot be exported as it is; the message says why."""


def write_safetensors(path, tensors, metadata=None):
    """Writes `tensors` (name -> contiguous CPU tensor) in the safetensors format: u64 LE header
    length, a JSON header {name: {dtype, shape, data_offsets}} padded with spaces to a multiple of
    8 bytes, then the raw little-endian data, tensors back to back in the header's order."""
    if sys.byteorder != "little":
        raise ExportError("safetensors data is little-endian: export on a little-endian host")
    header = {}
    blobs = []
    offset = 0
    for name, t in tensors.items():
        t = t.detach().cpu().contiguous()
        if t.dtype not in _ST_DTYPES:
            raise ExportError("tensor %s has dtype %s, not one of %s" % (name, t.dtype, list(_ST_DTYPES)))
        code, size = _ST_DTYPES[t.dtype]
        # numpy-free: view the storage as bytes (little-endian hosts only, checked below).
        raw = t.view(torch.uint8).reshape(-1).numpy().tobytes() if t.numel() else b""
        if len(raw) != t.numel() * size:
            raise ExportError("tensor %s: %d bytes for %d elements" % (name, len(raw), t.numel()))
        header[name] = {"dtype": code, "shape": list(t.shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)


def _is_mpe(emb):
    return all(hasattr(emb, a) for a in ("weight", "group_index", "gamma", "bitsets", "alpha", "beta"))


def _is_uniform_lsq(emb):
    return all(hasattr(emb, a) for a in ("weight", "alpha", "beta", "bit")) and not hasattr(emb, "gamma")


def _is_plain(emb):
    if isinstance(emb, torch.nn.Embedding):
        return True
    names = {n for n, _ in emb.named_parameters()} | {n for n, _ in emb.named_buffers()}
    return names == {"weight"}


def embedding_state(emb):
    """Returns (kind, tensors, info) for a supported embedding module; raises ExportError."""
    w = emb.weight.detach().float().cpu()
    if w.dim() != 2:
        raise ExportError("embedding weight must be [features, d], got %s" % list(w.shape))
    n, d = w.shape
    if isinstance(emb, torch.nn.Embedding) and emb.max_norm is not None:
        raise ExportError("nn.Embedding with max_norm rescales rows at lookup time: not supported")
    if _is_mpe(emb):
        if not getattr(emb, "retraining", True):
            raise ExportError("the MPE embedding is still searching (soft gamma): call discrete_gamma() / "
                              "export after retraining")
        gamma = emb.gamma.detach().float().cpu()
        bitsets = emb.bitsets.detach().long().cpu().reshape(-1)
        K = bitsets.numel()
        if gamma.dim() != 3 or gamma.shape[1] != 1 or gamma.shape[2] != K:
            raise ExportError("gamma must be [G, 1, %d], got %s" % (K, list(gamma.shape)))
        g2 = gamma[:, 0, :]
        onehot = ((g2 == 0) | (g2 == 1)).all() and bool((g2.sum(-1) == 1).all())
        if not onehot:
            raise ExportError("gamma is not one-hot per group: export after discrete_gamma()")
        group_bits = bitsets[g2.argmax(-1)]
        group_index = emb.group_index.detach().long().cpu().reshape(-1)
        if group_index.numel() != n:
            raise ExportError("group_index has %d entries for %d features" % (group_index.numel(), n))
        alpha = emb.alpha.detach().float().cpu().reshape(-1)
        if alpha.numel() != K:
            raise ExportError("alpha has %d entries, bitsets %d" % (alpha.numel(), K))
        beta = emb.beta.detach().float().cpu().reshape(-1)
        tensors = {"weight": w, "group_index": group_index, "group_bits": group_bits.long(),
                   "bitsets": bitsets, "alpha": alpha, "beta": beta}
        info = {"kind": "mpe", "groupCount": int(gamma.shape[0]), "bitsets": bitsets.tolist(),
                "groupBits": group_bits.tolist()}
        return tensors, info
    if _is_uniform_lsq(emb):
        bit = int(emb.bit)
        alpha = emb.alpha.detach().float().cpu().reshape(-1)
        if alpha.numel() != 1:
            raise ExportError("LSQ+ embedding: alpha must be a scalar, got %d values" % alpha.numel())
        beta = emb.beta.detach().float().cpu().reshape(-1)
        tensors = {"weight": w, "group_index": torch.zeros(n, dtype=torch.long),
                   "group_bits": torch.tensor([bit], dtype=torch.long), "bitsets": torch.tensor([bit], dtype=torch.long),
                   "alpha": alpha, "beta": beta}
        return tensors, {"kind": "mpe", "groupCount": 1, "bitsets": [bit], "groupBits": [bit]}
    if _is_plain(emb):
        return {"weight": w}, {"kind": "fp32"}
    raise ExportError("unsupported embedding module %s: export MPE (after retraining), LSQ+ or a plain "
                      "float32 table" % type(emb).__name__)


class _GivenEmbeddings(torch.nn.Module):
    """Stands in for the embedding module while the dense part is traced: returns the [N, F, d]
    view of the embeddings the scorer receives, whatever ids it is called with."""

    def __init__(self):
        super().__init__()
        self.value = None

    def forward(self, x):  # noqa: ARG002 - the ids are not needed
        return self.value


class DenseFromEmbeddings(torch.nn.Module):
    """The model with its embedding lookup cut off: [N, F*d] embeddings -> [N, 1] probability."""

    def __init__(self, model, field_count, d, embedding_attr="embedding", output="logit"):
        super().__init__()
        self.model = model
        self.field_count = field_count
        self.d = d
        self.embedding_attr = embedding_attr
        self.output = output
        self.given = _GivenEmbeddings()

    def forward(self, embeddings):
        n = embeddings.shape[0]
        self.given.value = embeddings.reshape(n, self.field_count, self.d)
        real = getattr(self.model, self.embedding_attr)
        setattr(self.model, self.embedding_attr, self.given)
        try:
            ids = torch.zeros((n, self.field_count), dtype=torch.long)
            out = self.model(ids)
        finally:
            setattr(self.model, self.embedding_attr, real)
            self.given.value = None
        out = out.reshape(-1, 1)
        return torch.sigmoid(out) if self.output == "logit" else out


def embedding_values(emb, ids):
    """The embedding module's own output for `ids` (eval mode, no grad): the reference values."""
    with torch.no_grad():
        return emb(ids)


def export_model(model, out_dir, field_count, embedding_attr="embedding", fields=None, feature_counts=None,
                 output="logit", opset=13, probe_rows=64, name=None, seed=0):
    """Exports `model` into `out_dir` (created; must not hold an export already). Returns the JSON
    written. `fields`: optional list of {name, kind, transform, oov} per field (oov = the field's
    out-of-vocabulary feature index; kind/transform as docs/format.md). `feature_counts`: optional
    [n] counts used to order features inside a bit width at import (most frequent first)."""
    if output not in ("logit", "probability"):
        raise ExportError("output must be 'logit' or 'probability'")
    emb = getattr(model, embedding_attr, None)
    if emb is None:
        raise ExportError("model has no attribute %r holding the embedding" % embedding_attr)
    tensors, info = embedding_state(emb)
    n, d = tensors["weight"].shape
    F = int(field_count)
    if fields is None:
        fields = [{"name": "f%d" % i} for i in range(F)]
    if len(fields) != F:
        raise ExportError("fields has %d entries, field_count is %d" % (len(fields), F))
    if feature_counts is not None:
        c = torch.as_tensor(feature_counts).detach().cpu().reshape(-1).to(torch.float64)
        if c.numel() != n:
            raise ExportError("feature_counts has %d entries for %d features" % (c.numel(), n))
        tensors["feature_count"] = c
    if not bool(torch.isfinite(tensors["weight"]).all()):
        bad = int((~torch.isfinite(tensors["weight"])).any(-1).nonzero()[0, 0])
        raise ExportError("embedding weight of feature %d is not finite" % bad)

    was_training = model.training
    model.eval()
    try:
        dense = DenseFromEmbeddings(model, F, d, embedding_attr, output).eval()
        # Probe: the cut-off model on the embedding module's own output must equal the full model.
        g = torch.Generator().manual_seed(seed)
        ids = torch.randint(0, n, (probe_rows, F), generator=g)
        with torch.no_grad():
            full = model(ids).reshape(-1, 1)
            full = torch.sigmoid(full) if output == "logit" else full
            e = embedding_values(emb, ids)
            if tuple(e.shape) != (probe_rows, F, d):
                raise ExportError("embedding output is %s, expected [N, F=%d, d=%d]" % (list(e.shape), F, d))
            cut = dense(e.reshape(probe_rows, F * d))
        if cut.shape != full.shape or not torch.allclose(cut, full, rtol=0, atol=1e-6):
            raise ExportError("the dense part does not reproduce the model (max diff %g): the backbone must use "
                              "x only through self.%s(x)" % (float((cut - full).abs().max()), embedding_attr))
        os.makedirs(out_dir, exist_ok=True)
        if os.path.exists(os.path.join(out_dir, EXPORT_JSON)):
            raise ExportError("%s already holds an export" % out_dir)
        tmp = tempfile.mkdtemp(prefix=".export-", dir=out_dir)
        torch.onnx.export(dense, (torch.zeros(2, F * d),), os.path.join(tmp, SCORER_FILE),
                          input_names=[SCORER_INPUT], output_names=[SCORER_OUTPUT],
                          dynamic_axes={SCORER_INPUT: {0: "N"}, SCORER_OUTPUT: {0: "N"}},
                          opset_version=opset, do_constant_folding=True)
    finally:
        model.train(was_training)

    meta = {
        "format": EXPORT_FORMAT,
        "formatVersion": EXPORT_VERSION,
        "name": name or type(model).__name__.lower(),
        "kind": info["kind"],
        "featureCount": int(n),
        "d": int(d),
        "fields": fields,
        "table": {"file": TABLE_FILE, "tensors": sorted(tensors)},
        "scorer": {"file": SCORER_FILE, "input": SCORER_INPUT, "output": SCORER_OUTPUT, "inputDim": F * int(d),
                   "opset": opset},
        "source": {"torch": torch.__version__, "model": type(model).__name__, "embedding": type(emb).__name__},
    }
    if info["kind"] == "mpe":
        meta["quantizer"] = {
            "groupCount": info["groupCount"],
            "bitsets": info["bitsets"],
            "groupBits": info["groupBits"],
            # How torch's forward pass uses these numbers, so the importer reproduces its codes.
            "alpha": {"abs": True, "eps": ALPHA_EPS, "dtype": "float32"},
            "rounding": "half-even",
            "codes": "signed",
            "division": "float32",
        }
    write_safetensors(os.path.join(tmp, TABLE_FILE), tensors, {"format": EXPORT_FORMAT})
    with open(os.path.join(tmp, EXPORT_JSON), "w") as f:
        json.dump(meta, f, indent=1)
        f.write("\n")
    for fn in (SCORER_FILE, TABLE_FILE, EXPORT_JSON):  # the JSON last: its presence marks a complete export
        os.replace(os.path.join(tmp, fn), os.path.join(out_dir, fn))
    os.rmdir(tmp)
    return meta


def reference_codes(emb, ids):
    """Signed integer codes torch's forward pass uses for features `ids` (an MPE embedding after
    retraining), computed with the same tensor operations; 0 for pruned features. For tests."""
    with torch.no_grad():
        w = emb.weight[ids]
        bitsets = emb.bitsets.long()
        gb = bitsets[emb.gamma[:, 0, :].argmax(-1)]
        bits = gb[emb.group_index[ids]]
        alpha_all = emb.alpha.abs() + torch.tensor(ALPHA_EPS)
        out = torch.zeros_like(w, dtype=torch.long)
        for i, b in enumerate(bitsets.tolist()):
            if b == 0:
                continue
            rows = bits == b
            v = (w[rows] - emb.beta) / alpha_all[i]
            out[rows] = v.round().clamp(-(2 ** (b - 1)), 2 ** (b - 1) - 1).long()
        return out


if __name__ == "__main__":
    sys.stderr.write(__doc__)
    sys.exit(2)
