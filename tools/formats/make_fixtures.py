#!/usr/bin/env python3
"""Generates the small PyTorch-checkpoint and tar fixtures of tests/formats/ (torch_checkpoint_test,
tar_reader_test) plus expected.json with the values the C++ tests compare to.

Usage: python3 tools/formats/make_fixtures.py [OUT_DIR]   (default: tests/data/formats)
Needs python3-torch (Debian's torch 1.13 was used). Output is deterministic except for the gzip
header timestamp (fixed to 0 here) and torch's own zip layout; re-running rewrites every file.
The tests themselves never run Python.
"""
import collections
import gzip
import zlib
import io
import json
import os
import sys
import tarfile
import zipfile

import torch

OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "..", "tests", "data", "formats")
os.makedirs(OUT, exist_ok=True)
MTIME = 1764028800
DTYPES = {torch.float32: "f32", torch.float16: "f16", torch.bfloat16: "bf16", torch.int8: "i8",
          torch.int64: "int64", torch.int32: "int32", torch.float64: "float64"}


def describe(t):
    """Expected view of one tensor: dtype, shape, contiguity, first values, float64 sum."""
    flat = t.detach().contiguous().reshape(-1)
    vals = flat.to(torch.float64)
    return {
        "dtype": DTYPES[t.dtype],
        "shape": list(t.shape),
        "stride": list(t.stride()),
        "storage_offset": t.storage_offset(),
        "contiguous": t.is_contiguous(),
        "numel": t.numel(),
        "first": [float(v) for v in vals[:8].tolist()],
        "sum": float(vals.sum().item()) if t.numel() else 0.0,
    }


def flatten(d, prefix=""):
    out, skipped = collections.OrderedDict(), []
    for k, v in d.items():
        name = prefix + str(k)
        if isinstance(v, torch.Tensor):
            out[name] = v
        elif isinstance(v, dict):
            o, s = flatten(v, name + ".")
            out.update(o)
            skipped += s
        else:
            skipped.append(name)
    return out, skipped


def write(name, data):
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(data)


def save_bytes(obj, stem=None, **kw):
    """torch.save to bytes; with `stem` the zip prefix is that name (as for a file 'stem.xxx')."""
    if stem is None:
        buf = io.BytesIO()
        torch.save(obj, buf, **kw)
        return buf.getvalue()
    tmp = os.path.join(OUT, stem)
    torch.save(obj, tmp, **kw)
    with open(tmp, "rb") as f:
        data = f.read()
    os.remove(tmp)
    return data


expected = {"checkpoints": {}, "tars": {}}


def record(file_name, obj, prefix, root_key=""):
    top = obj if not root_key else obj[root_key]
    tensors, skipped = flatten(top)
    expected["checkpoints"][file_name] = {
        "prefix": prefix,
        "root_key": root_key,
        "names": list(tensors.keys()),
        "skipped": skipped,
        "tensors": {k: describe(v) for k, v in tensors.items()},
    }


# 1. An OrderedDict state dict with _metadata (BUILD), every loadable dtype, views and shared storage.
base = torch.arange(20, dtype=torch.float32) * 0.5 - 3.0
w = (torch.arange(12, dtype=torch.float32) - 5.5) * 0.25
w2d = w.view(3, 4)
sd = collections.OrderedDict()
sd["w2d"] = w2d                                           # f32 [3, 4]
sd["half"] = torch.tensor([0.5, -1.25, 3.0, 65504.0, 1e-4], dtype=torch.float16)
sd["bf16"] = torch.tensor([[1.0, -2.5, 3.140625], [0.0, -0.0078125, 100.0]], dtype=torch.bfloat16)
sd["base"] = base                                         # f32 [20]
sd["slice"] = base[4:10]                                  # contiguous, offset 4 into base's storage
sd["shared_view"] = base[10:16].view(2, 3)                # contiguous, offset 10, 2-D
sd["transposed"] = w2d.t()                                # non-contiguous [4, 3], strides [1, 4]
sd["strided"] = base[1::3]                                # non-contiguous [7], stride 3, offset 1
sd["expanded"] = torch.tensor([1.5, -2.0], dtype=torch.float32).view(2, 1).expand(2, 3)  # stride 0
sd["scalar"] = torch.tensor(2.5)                          # [] scalar
sd["param"] = torch.nn.Parameter(torch.tensor([0.25, -0.75]))
sd["int8"] = torch.tensor([-128, -1, 0, 127], dtype=torch.int8)
sd["long"] = torch.tensor([1, 2, 3], dtype=torch.int64)  # recognised, not loadable
sd["empty"] = torch.zeros(0, 3)
sd["row"] = torch.ones(1, 4, dtype=torch.float16) * 0.5   # size-1 dim
sd._metadata = collections.OrderedDict([("", {"version": 1}), ("layer", {"version": 2})])
write("state_dict.pt", save_bytes(sd, stem="state_dict.pt"))
record("state_dict.pt", sd, "state_dict")

# 2. Nested dicts, non-tensor leaves, int keys (Lightning/NeMo-style wrapper), saved to a buffer.
nested = {
    "state_dict": {
        "layer": {"weight": torch.tensor([[1.0, 2.0], [3.0, 4.0]]), "bias": torch.tensor([0.5, -0.5])},
        "blocks": {0: {"w": torch.tensor([7.0], dtype=torch.bfloat16)}, 1: {"w": torch.tensor([8.0], dtype=torch.bfloat16)}},
    },
    "epoch": 3,
    "global_step": 123456789012,
    "name": "demo",
    "hparams": {"lr": 0.1, "betas": (0.9, 0.999), "layers": [1, 2], "flag": True, "none": None,
                "blob": b"\x00\x01\xff"},
}
write("nested.ckpt", save_bytes(nested))
record("nested.ckpt", nested, "archive")
record("nested.ckpt#state_dict", nested, "archive", root_key="state_dict")

# 3. A PEFT-style flat dict (plain dict), as adapter_model.bin.
g = torch.Generator().manual_seed(7)
peft = {}
for li in range(2):
    for m in ("q_proj", "v_proj"):
        p = f"base_model.model.model.layers.{li}.self_attn.{m}."
        peft[p + "lora_A.weight"] = torch.randn(2, 8, generator=g)
        peft[p + "lora_B.weight"] = torch.randn(8, 2, generator=g) * 0.1
write("adapter_model.bin", save_bytes(peft, stem="adapter_model.bin"))
record("adapter_model.bin", peft, "adapter_model")

# 4. The torch >= 2 layout: prefix "archive", byteorder, .data/ members (re-zipped, stored, unaligned).
small = collections.OrderedDict([("a", torch.tensor([1.0, 2.0, 3.0])), ("b", torch.tensor([[4.0]], dtype=torch.float16))])
src = zipfile.ZipFile(io.BytesIO(save_bytes(small)))
out = io.BytesIO()
with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_STORED) as z:
    for info in src.infolist():
        rest = info.filename.split("/", 1)[1]
        if rest == "version":
            continue
        z.writestr(zipfile.ZipInfo("archive/" + rest, (2025, 1, 1, 0, 0, 0)), src.read(info))
    z.writestr(zipfile.ZipInfo("archive/byteorder", (2025, 1, 1, 0, 0, 0)), b"little")
    z.writestr(zipfile.ZipInfo("archive/.data/version", (2025, 1, 1, 0, 0, 0)), b"3\n")
    z.writestr(zipfile.ZipInfo("archive/.data/serialization_id", (2025, 1, 1, 0, 0, 0)), b"0123456789")
write("torch2_layout.pt", out.getvalue())
record("torch2_layout.pt", small, "archive")

# 5. The same with deflate-compressed members (read only when zlib is available).
out = io.BytesIO()
with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as z:
    for info in src.infolist():
        zi = zipfile.ZipInfo(info.filename, (2025, 1, 1, 0, 0, 0))
        zi.compress_type = zipfile.ZIP_DEFLATED
        z.writestr(zi, src.read(info))
write("deflated.pt", out.getvalue())
record("deflated.pt", small, "archive")

# 6. The legacy (pre-1.6) format: must be refused.
write("legacy.pt", save_bytes({"a": torch.ones(2)}, _use_new_zipfile_serialization=False))

# 7. .nemo-like tars: ./model_config.yaml + ./model_weights.ckpt (saved to a buffer: prefix "archive").
nemo_sd = {
    "model.decoder.layers.0.self_attention.adapter_layer.lora_kqv_adapter.linear_in.weight":
        (torch.arange(16, dtype=torch.float32).view(2, 8) / 16).to(torch.bfloat16),
    "model.decoder.layers.0.self_attention.adapter_layer.lora_kqv_adapter.linear_out.weight":
        (torch.arange(24, dtype=torch.float32).view(12, 2) / -24).to(torch.bfloat16),
}
ckpt = save_bytes(nemo_sd)
yaml_text = b"precision: bf16\nnum_layers: 1\npeft:\n  peft_scheme: lora\n  lora_tuning:\n    adapter_dim: 2\n    alpha: 4\n"


def make_tar(fmt, extra=()):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tar:
        d = tarfile.TarInfo("./")
        d.type, d.mode, d.mtime = tarfile.DIRTYPE, 0o755, MTIME
        tar.addfile(d)
        for name, data in [("./model_config.yaml", yaml_text), ("./model_weights.ckpt", ckpt)] + list(extra):
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), 0o644, MTIME
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


nemo_tar = make_tar(tarfile.USTAR_FORMAT)
write("model.nemo", nemo_tar)
gz = io.BytesIO()
with gzip.GzipFile(fileobj=gz, mode="wb", mtime=0) as zf:
    zf.write(nemo_tar)
write("model_gz.nemo", gz.getvalue())
record("model.nemo#model_weights.ckpt", nemo_sd, "archive")


def tar_entries(data):
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return {os.path.normpath(m.name): {"size": m.size, "crc32": zlib.crc32(tar.extractfile(m).read())}
                for m in tar.getmembers() if m.isreg()}


expected["tars"]["model.nemo"] = tar_entries(nemo_tar)
expected["tars"]["model_gz.nemo"] = tar_entries(nemo_tar)

# 8. GNU and pax long names (> 100 bytes), a symlink and a hard link, a sub-folder.
long_dir = "./" + "d" * 60 + "/" + "e" * 50
long_name = long_dir + "/" + "f" * 80 + ".txt"


def make_links_tar(fmt):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tar:
        for name, data in [(long_name, b"long name contents\n"), ("./sub//x.bin", bytes(range(256)) * 3)]:
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), 0o644, MTIME
            tar.addfile(info, io.BytesIO(data))
        ln = tarfile.TarInfo("./link.yaml")
        ln.type, ln.linkname, ln.mtime = tarfile.SYMTYPE, "../../etc/passwd", MTIME
        tar.addfile(ln)
        hl = tarfile.TarInfo("./hard.bin")
        hl.type, hl.linkname, hl.mtime = tarfile.LNKTYPE, "sub/x.bin", MTIME
        tar.addfile(hl)
    return buf.getvalue()


for fname, fmt in [("gnu_long.tar", tarfile.GNU_FORMAT), ("pax_long.tar", tarfile.PAX_FORMAT)]:
    data = make_links_tar(fmt)
    write(fname, data)
    expected["tars"][fname] = tar_entries(data)

with open(os.path.join(OUT, "expected.json"), "w") as f:
    json.dump(expected, f, indent=1, sort_keys=True)
    f.write("\n")

total = sum(os.path.getsize(os.path.join(OUT, n)) for n in os.listdir(OUT))
print(f"wrote {len(os.listdir(OUT))} files, {total} bytes, to {OUT}")
