#!/usr/bin/env python3
"""Writes tests/data/lora/demo_reference.json from the trained demo adapters, as seen by the
independent loader of tools/demo/reference.py (Reference.load_lora / _load_nemo), for
tests/lora/adapter_loader_test.cpp (AdapterLoader.DemoAdaptersMatchReferenceLoader).

    /usr/bin/python3 tests/data/lora/make_demo_reference.py [--root models/demo]

Per adapter and adapted (layer, module): the scale as float32 (what multiplies the f32 product), A
and B shapes, a few sampled elements (exact f32 values) and sum(v[i] * (i % 97 + 1)) in float64
over the flattened tensor; and the size and CRC-32 of every file of the adapter folder, so the test
can tell when the adapters were retrained without regenerating this file. Needs Debian's python3-torch/numpy/yaml; never run by the tests.
"""
import argparse
import json
import os
import sys
import zlib

import torch

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tools", "demo"))
import reference  # noqa: E402


def describe(t):
    v = t.float().contiguous().view(-1)
    n = v.numel()
    idx = sorted({0, n - 1, n // 2} | {(k * 7919 + 13) % n for k in range(3)})
    w = (torch.arange(n, dtype=torch.float64) % 97) + 1
    return [[i, float(v[i])] for i in idx], float((v.double() * w).sum())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--root", default=os.path.join(ROOT, "models", "demo"))
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "demo_reference.json"))
    args = ap.parse_args()
    ref = reference.Reference(os.path.join(args.root, "base"))
    out = {"generator": "tests/data/lora/make_demo_reference.py (tools/demo/reference.py loaders)", "adapters": {}}
    loras = os.path.join(args.root, "loras")
    for name in sorted(d for d in os.listdir(loras) if os.path.isdir(os.path.join(loras, d))):
        folder = os.path.join(loras, name)
        files = {}
        for fname in sorted(os.listdir(folder)):
            with open(os.path.join(folder, fname), "rb") as f:
                data = f.read()
            files[fname] = {"size": len(data), "crc32": zlib.crc32(data)}
        ref.lora = {}
        ref.load_lora(folder)
        mods = {}
        for (li, mod), (A, B, s) in sorted(ref.lora.items()):
            a_samples, a_sum = describe(A)
            b_samples, b_sum = describe(B)
            mods[f"{li}.{mod}"] = {
                "layer": li, "module": mod,
                "scale": float(torch.tensor(s, dtype=torch.float32)),
                "a_shape": list(A.shape), "b_shape": list(B.shape),
                "a_samples": a_samples, "a_weighted_sum": a_sum,
                "b_samples": b_samples, "b_weighted_sum": b_sum,
            }
        out["adapters"][name] = {"files": files, "modules": mods}
        print(f"{name}: {len(mods)} modules")
    # One line per module keeps the file small and its diffs readable.
    lines = ["{", f' "generator": {json.dumps(out["generator"])},', ' "adapters": {']
    names = list(out["adapters"])
    for i, name in enumerate(names):
        ad = out["adapters"][name]
        lines.append(f'  {json.dumps(name)}: {{"files": {json.dumps(ad["files"])}, "modules": {{')
        keys = list(ad["modules"])
        for j, k in enumerate(keys):
            sep = "," if j + 1 < len(keys) else ""
            lines.append(f'   {json.dumps(k)}: {json.dumps(ad["modules"][k], separators=(",", ":"))}{sep}')
        lines.append("  }}" + ("," if i + 1 < len(names) else ""))
    lines += [" }", "}"]
    with open(args.out, "w") as f:
        f.write("\n".join(lines) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
