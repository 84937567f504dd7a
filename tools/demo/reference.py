#!/usr/bin/env python3
"""Independent plain-PyTorch reference for the demo model: reads the files on disk, not the trainer.

    python3 tools/demo/reference.py goldens [--model models/demo/base] [--loras models/demo/loras]
                                            [--out tests/data/demo_goldens.json] [--check]
    python3 tools/demo/reference.py eval    [--n 200]      # the accuracy table of models/demo/README.md

It has its own tokenizer.json BPE encoder (ASCII prompts), safetensors reader, Llama forward pass
(RMSNorm, RoPE rotate-half, GQA, SwiGLU, f32 compute over bf16-stored weights) and PEFT/NeMo LoRA
loaders (scale alpha/r, or alpha/sqrt(r) with use_rslora; NeMo's fused QKV de-interleaved per query
group, fused fc1 split into gate/up). Chat prompts are rendered with Jinja2 the way transformers does.
`--check` regenerates the goldens in memory and compares them with the file (exit 1 on mismatch).
"""
import argparse
import io
import json
import math
import os
import re
import struct
import sys
import tarfile

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402  (task definitions and held-out splits only)

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


# ----------------------------------------------------------------------------- safetensors

def read_safetensors(path):
    with open(path, "rb") as f:
        blob = f.read()
    n = struct.unpack("<Q", blob[:8])[0]
    header = json.loads(blob[8:8 + n])
    base = 8 + n
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        b, e = info["data_offsets"]
        raw = blob[base + b: base + e]
        shape = info["shape"]
        if info["dtype"] == "F32":
            arr = np.frombuffer(raw, dtype=np.float32).copy()
        elif info["dtype"] == "F16":
            arr = np.frombuffer(raw, dtype=np.float16).astype(np.float32)
        elif info["dtype"] == "BF16":
            u16 = np.frombuffer(raw, dtype=np.uint16).astype(np.uint32) << 16
            arr = u16.view(np.float32)
        else:
            raise ValueError(f"{path}: unsupported dtype {info['dtype']} for {name}")
        out[name] = torch.from_numpy(arr.reshape(shape).copy())
    return out


# ----------------------------------------------------------------------------- tokenizer

def _byte_table():
    keep = list(range(33, 127)) + list(range(161, 173)) + list(range(174, 256))
    table, extra = {}, 0
    for b in range(256):
        if b in keep:
            table[b] = chr(b)
        else:
            table[b] = chr(256 + extra)
            extra += 1
    return table


class BpeTokenizer:
    """Byte-level BPE from tokenizer.json (Split(Llama-3 regex) + ByteLevel, ignore_merges)."""

    # Python-`re` form of the Llama 3 split regex; exact for ASCII text.
    SPLIT = re.compile(r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|(?:[^\r\n\w]|_)?[^\W\d_]+|\d{1,3}|"
                       r" ?(?:[^\s\w]|_)+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")

    def __init__(self, model_dir):
        with open(os.path.join(model_dir, "tokenizer.json"), encoding="utf-8") as f:
            tj = json.load(f)
        m = tj["model"]
        assert m["type"] == "BPE"
        self.vocab = m["vocab"]
        self.ignore_merges = m.get("ignore_merges", False)
        merges = [tuple(x.split(" ")) if isinstance(x, str) else tuple(x) for x in m["merges"]]
        self.rank = {pair: i for i, pair in enumerate(merges)}
        self.added = {t["content"]: t["id"] for t in tj["added_tokens"]}
        self.id_to_tok = {i: t for t, i in self.vocab.items()}
        self.id_to_tok.update({i: t for t, i in self.added.items()})
        self.byte = _byte_table()
        self.unbyte = {v: k for k, v in self.byte.items()}
        self.bos = None
        for p in tj["post_processor"].get("processors", [tj["post_processor"]]):
            if p["type"] == "TemplateProcessing":
                first = p["single"][0]
                if "SpecialToken" in first:
                    self.bos = self.added[first["SpecialToken"]["id"]]
        with open(os.path.join(model_dir, "tokenizer_config.json"), encoding="utf-8") as f:
            self.config = json.load(f)

    def _bpe(self, word):
        if self.ignore_merges and word in self.vocab:
            return [self.vocab[word]]
        parts = list(word)
        while True:
            ranked = [(self.rank.get((a, b), math.inf), i) for i, (a, b) in enumerate(zip(parts, parts[1:]))]
            if not ranked:
                break
            r, i = min(ranked)
            if r == math.inf:
                break
            parts = parts[:i] + [parts[i] + parts[i + 1]] + parts[i + 2:]
        return [self.vocab[p] for p in parts]

    def encode(self, text, add_special_tokens):
        assert text.isascii(), "reference tokenizer handles ASCII prompts only"
        ids = [self.bos] if (add_special_tokens and self.bos is not None) else []
        pattern = "(" + "|".join(re.escape(t) for t in sorted(self.added, key=len, reverse=True)) + ")"
        for chunk in re.split(pattern, text):
            if not chunk:
                continue
            if chunk in self.added:
                ids.append(self.added[chunk])
                continue
            for piece in self.SPLIT.findall(chunk):
                ids += self._bpe("".join(self.byte[b] for b in piece.encode("utf-8")))
        return ids

    def decode(self, ids, skip_special=False):
        out = bytearray()
        for i in ids:
            t = self.id_to_tok[i]
            if t in self.added:
                if not skip_special:
                    out += t.encode("utf-8")
            else:
                out += bytes(self.unbyte[c] for c in t)
        return out.decode("utf-8", errors="replace")

    def render_chat(self, messages, add_generation_prompt=True):
        from jinja2.sandbox import ImmutableSandboxedEnvironment
        env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
        tpl = env.from_string(self.config["chat_template"])
        return tpl.render(messages=messages, add_generation_prompt=add_generation_prompt,
                          bos_token=self.config["bos_token"], eos_token=self.config["eos_token"])


# ----------------------------------------------------------------------------- model

class Reference:
    MODULES = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]

    def __init__(self, model_dir):
        with open(os.path.join(model_dir, "config.json")) as f:
            self.cfg = json.load(f)
        assert self.cfg["architectures"] == ["LlamaForCausalLM"]
        self.w = read_safetensors(os.path.join(model_dir, "model.safetensors"))
        c = self.cfg
        self.n_layers = c["num_hidden_layers"]
        self.n_heads = c["num_attention_heads"]
        self.n_kv = c.get("num_key_value_heads", self.n_heads)
        self.hd = c.get("head_dim", c["hidden_size"] // self.n_heads)
        self.eps = c["rms_norm_eps"]
        self.theta = c.get("rope_theta", 10000.0)
        eos = c["eos_token_id"]
        self.eos_ids = set(eos if isinstance(eos, list) else [eos])
        self.lora = {}  # (layer, module) -> (A [r, in], B [out, r], scale)

    def W(self, name):
        return self.w[name]

    def linear(self, li, module, x):
        part = "self_attn" if module in ("q_proj", "k_proj", "v_proj", "o_proj") else "mlp"
        y = x @ self.W(f"model.layers.{li}.{part}.{module}.weight").t()
        if (li, module) in self.lora:
            A, B, s = self.lora[(li, module)]
            y = y + s * ((x @ A.t()) @ B.t())
        return y

    def rms(self, x, w):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * w

    def forward(self, ids):
        """ids: list of ints -> logits [T, vocab] (f32)."""
        T = len(ids)
        x = self.W("model.embed_tokens.weight")[torch.tensor(ids)]
        inv = 1.0 / (self.theta ** (torch.arange(0, self.hd, 2, dtype=torch.float64) / self.hd))
        ang = torch.outer(torch.arange(T, dtype=torch.float64), inv)
        cos = torch.cat([ang.cos(), ang.cos()], -1).float()
        sin = torch.cat([ang.sin(), ang.sin()], -1).float()

        def rope(t):  # t [heads, T, hd]
            h = self.hd // 2
            rot = torch.cat([-t[..., h:], t[..., :h]], -1)
            return t * cos + rot * sin
        causal = torch.triu(torch.full((T, T), float("-inf")), 1)
        for li in range(self.n_layers):
            p = f"model.layers.{li}."
            h = self.rms(x, self.W(p + "input_layernorm.weight"))
            q = self.linear(li, "q_proj", h).view(T, self.n_heads, self.hd).transpose(0, 1)
            k = self.linear(li, "k_proj", h).view(T, self.n_kv, self.hd).transpose(0, 1)
            v = self.linear(li, "v_proj", h).view(T, self.n_kv, self.hd).transpose(0, 1)
            q, k = rope(q), rope(k)
            group = self.n_heads // self.n_kv
            outs = []
            for hh in range(self.n_heads):
                kk, vv = k[hh // group], v[hh // group]
                s = (q[hh] @ kk.t()) / math.sqrt(self.hd) + causal
                outs.append(torch.softmax(s, -1) @ vv)
            o = torch.stack(outs, 1).reshape(T, self.n_heads * self.hd)
            x = x + self.linear(li, "o_proj", o)
            h = self.rms(x, self.W(p + "post_attention_layernorm.weight"))
            g = self.linear(li, "gate_proj", h)
            u = self.linear(li, "up_proj", h)
            x = x + self.linear(li, "down_proj", torch.nn.functional.silu(g) * u)
        x = self.rms(x, self.W("model.norm.weight"))
        head = self.W("model.embed_tokens.weight") if self.cfg.get("tie_word_embeddings") else self.W("lm_head.weight")
        return x @ head.t()

    @torch.no_grad()
    def greedy(self, ids, max_new):
        ids = list(ids)
        gen = []
        first_logits = None
        for _ in range(max_new):
            logits = self.forward(ids)[-1]
            if first_logits is None:
                first_logits = logits
            t = int(torch.argmax(logits))
            gen.append(t)
            if t in self.eos_ids:
                break
            ids.append(t)
        return first_logits, gen

    # ------------------------------------------------------------------ LoRA loading
    def load_lora(self, adapter_dir):
        self.lora = {}
        files = os.listdir(adapter_dir)
        nemo = [f for f in files if f.endswith(".nemo")]
        if nemo:
            return self._load_nemo(os.path.join(adapter_dir, nemo[0]))
        with open(os.path.join(adapter_dir, "adapter_config.json")) as f:
            cfg = json.load(f)
        if os.path.exists(os.path.join(adapter_dir, "adapter_model.safetensors")):
            sd = read_safetensors(os.path.join(adapter_dir, "adapter_model.safetensors"))
        else:
            sd = torch.load(os.path.join(adapter_dir, "adapter_model.bin"), map_location="cpu", weights_only=True)
            sd = {k: v.float() for k, v in sd.items()}
        r, alpha = cfg["r"], cfg["lora_alpha"]
        scale = alpha / math.sqrt(r) if cfg.get("use_rslora") else alpha / r
        targets = cfg["target_modules"]
        pat = re.compile(r"base_model\.model\.model\.layers\.(\d+)\.(self_attn|mlp)\.(\w+)\.lora_A\.weight")
        for key, A in sd.items():
            m = pat.fullmatch(key)
            if not m:
                continue
            li, mod = int(m.group(1)), m.group(3)
            full = f"model.layers.{li}.{m.group(2)}.{mod}"
            ok = re.fullmatch(targets, full) if isinstance(targets, str) else mod in targets
            assert ok, f"{key} not in target_modules"
            B = sd[key.replace("lora_A", "lora_B")]
            self.lora[(li, mod)] = (A.float(), B.float(), scale)
        return cfg

    def _load_nemo(self, path):
        import yaml
        with tarfile.open(path) as tar:
            members = {os.path.normpath(m.name): m for m in tar.getmembers()}
            cfg = yaml.safe_load(tar.extractfile(members["model_config.yaml"]).read())
            sd = torch.load(io.BytesIO(tar.extractfile(members["model_weights.ckpt"]).read()),
                            map_location="cpu", weights_only=True)
        lt = cfg["peft"]["lora_tuning"]
        r, alpha = lt["adapter_dim"], lt.get("alpha", lt["adapter_dim"])
        scale = alpha / r
        n_heads, n_kv = cfg["num_attention_heads"], cfg.get("num_query_groups", cfg["num_attention_heads"])
        hd = cfg.get("kv_channels", cfg["hidden_size"] // n_heads)
        qpg = n_heads // n_kv
        for li in range(cfg["num_layers"]):
            p = f"model.decoder.layers.{li}."
            a = p + "self_attention.adapter_layer.lora_kqv_adapter."
            if a + "linear_in.weight" in sd:
                A = sd[a + "linear_in.weight"].float()
                B = sd[a + "linear_out.weight"].float().view(n_kv, (qpg + 2) * hd, r)
                Bq = B[:, :qpg * hd].reshape(n_kv * qpg * hd, r)
                Bk = B[:, qpg * hd:(qpg + 1) * hd].reshape(n_kv * hd, r)
                Bv = B[:, (qpg + 1) * hd:].reshape(n_kv * hd, r)
                for mod, Bm in (("q_proj", Bq), ("k_proj", Bk), ("v_proj", Bv)):
                    self.lora[(li, mod)] = (A, Bm, scale)
            d = p + "self_attention.adapter_layer.lora_dense_attention_adapter."
            if d + "linear_in.weight" in sd:
                self.lora[(li, "o_proj")] = (sd[d + "linear_in.weight"].float(), sd[d + "linear_out.weight"].float(), scale)
            f1 = p + "mlp.adapter_layer.lora_hto4h_adapter."
            if f1 + "linear_in.weight" in sd:
                A = sd[f1 + "linear_in.weight"].float()
                B = sd[f1 + "linear_out.weight"].float()
                half = B.shape[0] // 2
                self.lora[(li, "gate_proj")] = (A, B[:half], scale)
                self.lora[(li, "up_proj")] = (A, B[half:], scale)
            f2 = p + "mlp.adapter_layer.lora_4htoh_adapter."
            if f2 + "linear_in.weight" in sd:
                self.lora[(li, "down_proj")] = (sd[f2 + "linear_in.weight"].float(), sd[f2 + "linear_out.weight"].float(), scale)
        return cfg


# ----------------------------------------------------------------------------- goldens

RAW_PROMPTS = ["c a t =", "h e l l o =", "upper: w o r l d =", "reverse: l o r a =", "12+34 =",
               "count: m o d e l =", "s h i f t =", "The quick brown fox"]
CHAT_PROMPTS = [
    [{"role": "user", "content": "p l e x"}],
    [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "45+38"}],
    [{"role": "user", "content": "shift: a b z"}],
]
MAX_NEW = 16


def model_list(loras_dir):
    return ["base"] + sorted(d for d in os.listdir(loras_dir) if os.path.isdir(os.path.join(loras_dir, d)))


def make_goldens(args):
    tok = BpeTokenizer(args.model)
    ref = Reference(args.model)
    out = {"model_dir": os.path.relpath(args.model, ROOT), "loras_dir": os.path.relpath(args.loras, ROOT),
           "max_new_tokens": MAX_NEW, "eos_token_ids": sorted(ref.eos_ids), "top_n": 20, "models": {}}
    cases = [("raw", p, tok.encode(p, True)) for p in RAW_PROMPTS]
    for msgs in CHAT_PROMPTS:
        text = tok.render_chat(msgs)
        cases.append(("chat", msgs, tok.encode(text, False)))
    for name in model_list(args.loras):
        ref.lora = {}
        if name != "base":
            ref.load_lora(os.path.join(args.loras, name))
        recs = []
        for kind, prompt, ids in cases:
            logits, gen = ref.greedy(ids, MAX_NEW)
            vals, idx = torch.topk(logits, 20)
            lg = logits.double()
            recs.append({
                "kind": kind, "prompt": prompt, "prompt_ids": ids,
                "top_logits": [[int(i), round(float(v), 6)] for v, i in zip(vals, idx)],
                "logits_checksum": {"sum": round(float(lg.sum()), 6), "sum_abs": round(float(lg.abs().sum()), 6),
                                    "l2": round(float(lg.pow(2).sum().sqrt()), 6),
                                    "weighted_sum": round(float((lg * torch.arange(len(lg), dtype=torch.float64)).sum()), 4)},
                "greedy_ids": gen, "greedy_text": tok.decode(gen, skip_special=True),
            })
        out["models"][name] = recs
        print(f"{name}: " + " | ".join(repr(r["greedy_text"]) for r in recs), flush=True)
    return out


def compare(a, b, tol=1e-4):
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(compare(a[k], b[k], tol) for k in a)
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(compare(x, y, tol) for x, y in zip(a, b))
    if isinstance(a, float) or isinstance(b, float):
        return abs(a - b) <= tol * max(1.0, abs(a), abs(b))
    return a == b


def evaluate(args):
    tok = BpeTokenizer(args.model)
    ref = Reference(args.model)
    stop = ref.eos_ids
    rows = []

    def acc(task, expect, chat, n):
        hits = 0
        for it in common.heldout_items(task)[:n]:
            text = common.task_input(task, it)
            if chat:
                ids = tok.encode(tok.render_chat(common.chat_messages(text)), False)
                want = expect(it)
            else:
                ids = tok.encode(common.raw_prompt(text), True)
                want = common.raw_answer(expect(it))
            _, gen = ref.greedy(ids, 16)
            gen = [g for g in gen if g not in stop]
            hits += tok.decode(gen) == want
        return hits / n

    adapters = sorted(common.ADAPTER_TASKS)
    for name in ["base"] + adapters:
        ref.lora = {}
        if name != "base":
            ref.load_lora(os.path.join(args.loras, name))
        row = {"model": name}
        for a in adapters:
            task = common.ADAPTER_TASKS[a]
            row[task] = acc(task, lambda it, t=task: common.task_output(t, it), False, args.n)
        if name == "base":
            row["echo"] = acc("echo", lambda it: common.echo_output("echo", it), False, args.n)
        else:
            task = common.ADAPTER_TASKS[name]
            row["chat"] = acc(task, lambda it, t=task: common.task_output(t, it), True, args.n)
        rows.append(row)
        print(json.dumps(row), flush=True)
    tasks = [common.ADAPTER_TASKS[a] for a in adapters]
    lines = ["| model | " + " | ".join(tasks) + " | own skill, chat format | base skill (echo) |",
             "|---|" + "---|" * (len(tasks) + 2)]
    for row in rows:
        cells = [f"{100 * row[t]:.1f}%" for t in tasks]
        chat = f"{100 * row['chat']:.1f}%" if "chat" in row else ""
        echo = f"{100 * row['echo']:.1f}%" if "echo" in row else ""
        lines.append(f"| {row['model']} | " + " | ".join(cells) + f" | {chat} | {echo} |")
    print("\n".join(lines))
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("mode", choices=["goldens", "eval"])
    ap.add_argument("--model", default=os.path.join(ROOT, "models", "demo", "base"))
    ap.add_argument("--loras", default=os.path.join(ROOT, "models", "demo", "loras"))
    ap.add_argument("--out", default=os.path.join(ROOT, "tests", "data", "demo_goldens.json"))
    ap.add_argument("--check", action="store_true")
    ap.add_argument("--n", type=int, default=200)
    args = ap.parse_args()
    torch.set_num_threads(1)
    if args.mode == "eval":
        evaluate(args)
        return
    g = make_goldens(args)
    if args.check:
        with open(args.out) as f:
            old = json.load(f)
        if not compare(old, g):
            print(f"MISMATCH: regenerated goldens differ from {args.out}")
            sys.exit(1)
        print(f"OK: {args.out} reproduced")
        return
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(g, f, indent=1)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
