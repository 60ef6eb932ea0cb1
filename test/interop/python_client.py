"""A Python grpcio client of mpe.v1.EmbeddingService (stubs generated from proto/ by
grpc_tools.protoc into the directory given as argv[2]). Reads a JSON job from stdin, prints
the answers as JSON: embeddings as hex of the little-endian float32 bytes, probabilities as
floats (repr of the float32 value, exact)."""
import json
import sys

sys.path.insert(0, sys.argv[2])
import grpc  # noqa: E402
from mpe.v1 import embedding_service_pb2 as pb  # noqa: E402
from mpe.v1 import embedding_service_pb2_grpc as rpc  # noqa: E402

job = json.load(sys.stdin)
channel = grpc.insecure_channel(sys.argv[1])
stub = rpc.EmbeddingServiceStub(channel)
out = {}
lk = stub.Lookup(pb.LookupRequest(ids=job["lookupIds"]), timeout=30)
out["lookupIds"] = {"d": lk.d, "count": lk.count, "embeddings": lk.embeddings.hex(), "bits": list(lk.bits), "pruned": list(lk.pruned)}
feats = [pb.RawFeature(field=f, value=v) for f, v in job["lookupFeatures"]]
lf = stub.Lookup(pb.LookupRequest(features=feats), timeout=30)
out["lookupFeatures"] = {"ids": list(lf.ids), "oov": list(lf.oov), "embeddings": lf.embeddings.hex()}
rows = [pb.ScoreRow(features=[pb.RawFeature(field=f, value=v) for f, v in row]) for row in job["scoreRows"]]
sc = stub.Score(pb.ScoreRequest(rows=rows), timeout=30)
out["scoreRows"] = list(sc.probabilities)
si = stub.Score(pb.ScoreRequest(ids=job["scoreIds"]), timeout=30)
out["scoreIds"] = list(si.probabilities)
try:
    stub.Score(pb.ScoreRequest(), timeout=30)
    out["emptyError"] = None
except grpc.RpcError as e:
    md = dict(e.trailing_metadata() or ())
    out["emptyError"] = {"status": e.code().name, "code": md.get("mpe-error-code")}
model = stub.GetModel(pb.GetModelRequest(), timeout=30)
out["model"] = {"version": model.version, "d": model.d, "fields": [f.name for f in model.fields], "provider": model.provider}
print(json.dumps(out))
