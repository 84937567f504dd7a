#!/usr/bin/env python3
"""Trains the loraplex demo model and its LoRA adapters, and writes them in the formats users bring.

    python3 tools/demo/train.py [--out models/demo] [--base-steps N] [--lora-steps N]

Needs Debian's python3-torch, python3-numpy, python3-yaml (scripts/install-deps.sh --dev).
Only needed to regenerate models/demo; never to build or test. Deterministic (fixed seeds).

Writes:
  OUT/base/      config.json, generation_config.json, model.safetensors (bf16),
                 tokenizer.json (byte-level BPE), tokenizer_config.json (Llama-3-style chat template)
  OUT/loras/count/    PEFT adapter_config.json + adapter_model.safetensors (f32, r16, all 7 modules)
  OUT/loras/upper/    PEFT adapter_config.json + adapter_model.safetensors (bf16, r4, rsLoRA, attention)
  OUT/loras/reverse/  PEFT adapter_config.json + adapter_model.bin (torch.save zip+pickle, f32, r8,
                      target_modules given as a regex string)
  OUT/loras/shift/    shift.nemo (tar: model_config.yaml + model_weights.ckpt; Megatron key names,
                      fused interleaved attention_qkv, fused mlp_fc1 (gate;up), mlp_fc2; bf16, r32)

Recipe (see ../shared/design/DEMO-MODEL-NOTES.md): the base learns every skill when tagged
("upper: c a t =") and echoes untagged input ("c a t =" -> " c a t"); each adapter learns to do
its skill on untagged input. Loss is on answer tokens only.
"""
import argparse
import collections
import io
import json
import math
import os
import random
import re
import struct
import sys
import tarfile
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

SEED = 20261125
MODEL_NAME = "loraplex-demo"

# ----------------------------------------------------------------------------- tokenizer

# Llama 3's pre-tokenizer regex (as written into tokenizer.json) and an equivalent for Python's
# `re` (which lacks \p{..}): letters = [^\W\d_], numbers = \d. Exact on ASCII, which is all the
# training corpus holds.
LLAMA3_SPLIT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|"
                r" ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
PY_SPLIT = re.compile(r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|(?:[^\r\n\w]|_)?[^\W\d_]+|\d{1,3}|"
                      r" ?(?:[^\s\w]|_)+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")


def bytes_to_unicode():
    """GPT-2's reversible byte -> printable unicode char table."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + \
        list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, [chr(c) for c in cs]))


B2U = bytes_to_unicode()


def pretokenize(text):
    return ["".join(B2U[b] for b in piece.encode("utf-8")) for piece in PY_SPLIT.findall(text)]


def train_bpe(corpus, n_merges):
    """Plain BPE training over pre-tokenized words; returns the list of merges (pairs)."""
    words = collections.Counter()
    for text in corpus:
        for w in pretokenize(text):
            words[tuple(w)] += 1
    merges = []
    words = {w: c for w, c in words.items()}
    for _ in range(n_merges):
        pairs = collections.Counter()
        for w, c in words.items():
            for a, b in zip(w, w[1:]):
                # Digits stay single tokens (as in Llama 2): arithmetic is then learnable digit by digit.
                if not any(ch.isdigit() for ch in a + b):
                    pairs[(a, b)] += c
        if not pairs:
            break
        best = max(pairs.items(), key=lambda kv: (kv[1], kv[0]))[0]
        merges.append(best)
        new_words = {}
        for w, c in words.items():
            out, i = [], 0
            while i < len(w):
                if i + 1 < len(w) and (w[i], w[i + 1]) == best:
                    out.append(w[i] + w[i + 1])
                    i += 2
                else:
                    out.append(w[i])
                    i += 1
            new_words[tuple(out)] = new_words.get(tuple(out), 0) + c
        words = new_words
    return merges


class Tok:
    """The trainer's own encoder (reference.py has an independent one that reads the file)."""

    def __init__(self, merges):
        self.vocab = {}
        for b in range(256):
            self.vocab[B2U[b]] = b
        for a, b in merges:
            self.vocab[a + b] = len(self.vocab)
        self.ranks = {m: i for i, m in enumerate(merges)}
        self.special = {}
        for s in common.SPECIAL_TOKENS:
            self.special[s] = len(self.vocab) + len(self.special)
        self.n_vocab = len(self.vocab) + len(self.special)
        self.id_to_tok = {v: k for k, v in self.vocab.items()}
        self.id_to_tok.update({v: k for k, v in self.special.items()})
        self.special_re = re.compile("(" + "|".join(re.escape(s) for s in common.SPECIAL_TOKENS) + ")")
        self.cache = {}

    def bpe(self, word):
        if word in self.vocab:  # ignore_merges: a whole word in the vocab is one token
            return [self.vocab[word]]
        if word in self.cache:
            return self.cache[word]
        parts = list(word)
        while len(parts) > 1:
            best, bi = None, -1
            for i in range(len(parts) - 1):
                r = self.ranks.get((parts[i], parts[i + 1]))
                if r is not None and (best is None or r < best):
                    best, bi = r, i
            if best is None:
                break
            parts[bi:bi + 2] = [parts[bi] + parts[bi + 1]]
        ids = [self.vocab[p] for p in parts]
        self.cache[word] = ids
        return ids

    def encode(self, text, add_bos=False):
        ids = [self.special[common.BOS]] if add_bos else []
        for chunk in self.special_re.split(text):
            if not chunk:
                continue
            if chunk in self.special:
                ids.append(self.special[chunk])
            else:
                for w in pretokenize(chunk):
                    ids.extend(self.bpe(w))
        return ids

    def decode(self, ids):
        u2b = {v: k for k, v in B2U.items()}
        out = bytearray()
        for i in ids:
            t = self.id_to_tok[i]
            if t in self.special:
                out += t.encode()
            else:
                out += bytes(u2b[c] for c in t)
        return out.decode("utf-8", errors="replace")


def tokenizer_json(tok, merges):
    added = [{"id": i, "content": s, "single_word": False, "lstrip": False, "rstrip": False,
              "normalized": False, "special": True} for s, i in tok.special.items()]
    bos_id = tok.special[common.BOS]
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": added,
        "normalizer": None,
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": LLAMA3_SPLIT}, "behavior": "Isolated", "invert": False},
            {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False}]},
        "post_processor": {"type": "Sequence", "processors": [
            {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": False, "use_regex": True},
            {"type": "TemplateProcessing",
             "single": [{"SpecialToken": {"id": common.BOS, "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
             "pair": [{"SpecialToken": {"id": common.BOS, "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                      {"SpecialToken": {"id": common.BOS, "type_id": 1}}, {"Sequence": {"id": "B", "type_id": 1}}],
             "special_tokens": {common.BOS: {"id": common.BOS, "ids": [bos_id], "tokens": [common.BOS]}}}]},
        "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
        "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
                  "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False,
                  "ignore_merges": True, "vocab": tok.vocab, "merges": [f"{a} {b}" for a, b in merges]},
    }


# ----------------------------------------------------------------------------- model


class Cfg:
    vocab_size = 0
    hidden = 128
    layers = 4
    heads = 4
    kv_heads = 2
    head_dim = 32
    inter = 384
    eps = 1e-5
    theta = 10000.0
    max_pos = 256


def rms_norm(x, w, eps):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


class LoRA(nn.Module):
    """One LoRA pair; `out_split` > 1 makes a fused adapter (one A shared by several outputs)."""

    def __init__(self, d_in, d_out, r, alpha, rslora=False):
        super().__init__()
        self.A = nn.Parameter(torch.empty(r, d_in))
        nn.init.kaiming_uniform_(self.A, a=math.sqrt(5))
        self.B = nn.Parameter(torch.zeros(d_out, r))
        self.scale = alpha / math.sqrt(r) if rslora else alpha / r

    def forward(self, x):
        return (x @ self.A.t() @ self.B.t()) * self.scale


class Llama(nn.Module):
    MODS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]

    def __init__(self, c):
        super().__init__()
        self.c = c
        H, Q, KV, I = c.hidden, c.heads * c.head_dim, c.kv_heads * c.head_dim, c.inter
        self.embed = nn.Embedding(c.vocab_size, H)
        self.layers = nn.ModuleList()
        for _ in range(c.layers):
            L = nn.Module()
            L.attn_norm = nn.Parameter(torch.ones(H))
            L.ffn_norm = nn.Parameter(torch.ones(H))
            L.q_proj = nn.Linear(H, Q, bias=False)
            L.k_proj = nn.Linear(H, KV, bias=False)
            L.v_proj = nn.Linear(H, KV, bias=False)
            L.o_proj = nn.Linear(Q, H, bias=False)
            L.gate_proj = nn.Linear(H, I, bias=False)
            L.up_proj = nn.Linear(H, I, bias=False)
            L.down_proj = nn.Linear(I, H, bias=False)
            self.layers.append(L)
        self.norm = nn.Parameter(torch.ones(H))
        self.lm_head = nn.Linear(H, c.vocab_size, bias=False)
        for p in self.parameters():
            if p.dim() == 2:
                nn.init.normal_(p, std=0.02)
        inv = 1.0 / (c.theta ** (torch.arange(0, c.head_dim, 2).float() / c.head_dim))
        t = torch.arange(c.max_pos).float()
        fr = torch.outer(t, inv)
        emb = torch.cat((fr, fr), dim=-1)
        self.register_buffer("cos", emb.cos(), persistent=False)
        self.register_buffer("sin", emb.sin(), persistent=False)
        self.lora = None  # dict: (layer, module) -> callable(x) giving the delta

    def proj(self, li, name, x):
        y = getattr(self.layers[li], name)(x)
        if self.lora is not None and (li, name) in self.lora:
            y = y + self.lora[(li, name)](x)
        return y

    def forward(self, ids):
        c = self.c
        B, T = ids.shape
        x = self.embed(ids)
        cos, sin = self.cos[:T], self.sin[:T]
        mask = torch.full((T, T), float("-inf")).triu(1)
        for li, L in enumerate(self.layers):
            h = rms_norm(x, L.attn_norm, c.eps)
            q = self.proj(li, "q_proj", h).view(B, T, c.heads, c.head_dim).transpose(1, 2)
            k = self.proj(li, "k_proj", h).view(B, T, c.kv_heads, c.head_dim).transpose(1, 2)
            v = self.proj(li, "v_proj", h).view(B, T, c.kv_heads, c.head_dim).transpose(1, 2)
            q = q * cos + rotate_half(q) * sin
            k = k * cos + rotate_half(k) * sin
            rep = c.heads // c.kv_heads
            k = k.repeat_interleave(rep, dim=1)
            v = v.repeat_interleave(rep, dim=1)
            att = (q @ k.transpose(-1, -2)) / math.sqrt(c.head_dim) + mask
            o = (att.softmax(-1) @ v).transpose(1, 2).reshape(B, T, -1)
            x = x + self.proj(li, "o_proj", o)
            h = rms_norm(x, L.ffn_norm, c.eps)
            g = self.proj(li, "gate_proj", h)
            u = self.proj(li, "up_proj", h)
            x = x + self.proj(li, "down_proj", F.silu(g) * u)
        return self.lm_head(rms_norm(x, self.norm, c.eps))


# ----------------------------------------------------------------------------- data


class Data:
    def __init__(self, tok):
        self.tok = tok
        self.heldout = common.heldout_set()
        self.eos = tok.special[common.EOS]
        self.eot = tok.special[common.EOT]

    def chat_prompt_ids(self, text, tag, system):
        from_template = render_chat(common.chat_messages(text, tag, system))
        return self.tok.encode(from_template)

    def example(self, rng, task, tagged):
        while True:
            item = common.random_item(rng, task)
            if item not in self.heldout:
                break
        text = common.task_input(task, item)
        answer = common.task_output(task, item) if (tagged or self.untagged_task == task) \
            else common.echo_output(task, item)
        tag = task if tagged else None
        if rng.random() < 0.5:
            p = self.tok.encode(common.raw_prompt(text, tag), add_bos=True)
            a = self.tok.encode(common.raw_answer(answer)) + [self.eos]
        else:
            system = rng.choice(common.SYSTEM_PROMPTS) if rng.random() < 0.15 else None
            p = self.chat_prompt_ids(text, tag, system)
            a = self.tok.encode(answer) + [self.eot]
        return p, a

    untagged_task = None  # set for adapter training: untagged prompts get this task's answer

    def batch(self, rng, n, mode):
        seqs = []
        for _ in range(n):
            if mode == "base":
                task = rng.choice(common.TASKS)
                tagged = task != "echo" and rng.random() < 0.75
                if not tagged and task == "echo":
                    tagged = rng.random() < 0.3
                seqs.append(self.example(rng, task, tagged))
            else:
                seqs.append(self.example(rng, self.untagged_task, False))
        T = max(len(p) + len(a) for p, a in seqs)
        ids = torch.zeros(n, T, dtype=torch.long)
        tgt = torch.full((n, T), -100, dtype=torch.long)
        for i, (p, a) in enumerate(seqs):
            s = p + a
            ids[i, :len(s)] = torch.tensor(s)
            # predict answer tokens: position j predicts token j+1
            for j in range(len(p) - 1, len(s) - 1):
                tgt[i, j] = s[j + 1]
        return ids, tgt


_JINJA = None


def render_chat(messages, add_generation_prompt=True):
    global _JINJA
    if _JINJA is None:
        import jinja2
        env = jinja2.Environment(trim_blocks=True, lstrip_blocks=True)
        _JINJA = env.from_string(common.CHAT_TEMPLATE)
    return _JINJA.render(messages=messages, add_generation_prompt=add_generation_prompt,
                         bos_token=common.BOS, eos_token=common.EOT)


@torch.no_grad()
def greedy(model, prompts, stop_ids, max_new=12):
    """Greedy continuation for a list of prompt id lists (left as separate sequences)."""
    outs = []
    for p in prompts:
        ids = list(p)
        gen = []
        for _ in range(max_new):
            logits = model(torch.tensor([ids]))[0, -1]
            t = int(logits.argmax())
            if t in stop_ids:
                break
            gen.append(t)
            ids.append(t)
        outs.append(gen)
    return outs


def accuracy(model, data, task, tagged, expect_task, n=40, chat=False):
    items = common.heldout_items(task)[:n]
    prompts, wants = [], []
    for it in items:
        text = common.task_input(task, it)
        tag = task if tagged else None
        if chat:
            prompts.append(data.chat_prompt_ids(text, tag, None))
            wants.append((common.task_output(expect_task, it) if expect_task != "echo"
                           else common.echo_output(task, it)))
        else:
            prompts.append(data.tok.encode(common.raw_prompt(text, tag), add_bos=True))
            wants.append(common.raw_answer(common.task_output(expect_task, it) if expect_task != "echo"
                                           else common.echo_output(task, it)))
    gens = greedy(model, prompts, {data.eos, data.eot})
    return sum(data.tok.decode(g) == w for g, w in zip(gens, wants)) / len(items)


def train_loop(model, params, data, rng, steps, lr, mode, batch=32, log_every=250, eval_fn=None):
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.0 if mode != "base" else 0.01, betas=(0.9, 0.98))
    t0 = time.time()
    for step in range(1, steps + 1):
        cur = lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * step / steps)))
        warm = min(1.0, step / 100)
        for g in opt.param_groups:
            g["lr"] = cur * warm
        ids, tgt = data.batch(rng, batch, mode)
        logits = model(ids)
        loss = F.cross_entropy(logits.view(-1, logits.shape[-1]), tgt.view(-1), ignore_index=-100)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        if step % 100 == 0 or step % log_every == 0 or step == steps:
            msg = f"[{mode}] step {step}/{steps} loss {loss.item():.4f} ({time.time() - t0:.0f}s)"
            if eval_fn is not None and (step % log_every == 0 or step == steps):
                model.eval()
                msg += " " + eval_fn()
                model.train()
            print(msg, flush=True)


# ----------------------------------------------------------------------------- writers


def to_bf16_round(t):
    return t.detach().float().to(torch.bfloat16).float()


def write_safetensors(path, tensors, metadata=None):
    """tensors: name -> torch tensor (f32 / bf16 / f16). Written in sorted name order."""
    header, blobs, off = {}, [], 0
    dt = {torch.float32: "F32", torch.bfloat16: "BF16", torch.float16: "F16"}
    for name in sorted(tensors):
        t = tensors[name].detach().contiguous()
        if t.dtype == torch.bfloat16:
            raw = t.view(torch.int16).numpy().tobytes()
        else:
            raw = t.numpy().tobytes()
        header[name] = {"dtype": dt[t.dtype], "shape": list(t.shape), "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    if metadata:
        header["__metadata__"] = metadata
    hb = json.dumps(header, separators=(",", ":")).encode()
    hb += b" " * ((8 - len(hb) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hb)))
        f.write(hb)
        for b in blobs:
            f.write(b)


def hf_state(model):
    """The model's parameters under Hugging Face Llama tensor names."""
    sd = {"model.embed_tokens.weight": model.embed.weight, "model.norm.weight": model.norm,
          "lm_head.weight": model.lm_head.weight}
    for i, L in enumerate(model.layers):
        p = f"model.layers.{i}."
        sd[p + "input_layernorm.weight"] = L.attn_norm
        sd[p + "post_attention_layernorm.weight"] = L.ffn_norm
        for m in ["q_proj", "k_proj", "v_proj", "o_proj"]:
            sd[p + f"self_attn.{m}.weight"] = getattr(L, m).weight
        for m in ["gate_proj", "up_proj", "down_proj"]:
            sd[p + f"mlp.{m}.weight"] = getattr(L, m).weight
    return sd


def write_base(out, model, tok, merges, c):
    os.makedirs(out, exist_ok=True)
    sd = hf_state(model)
    write_safetensors(os.path.join(out, "model.safetensors"),
                      {k: v.detach().to(torch.bfloat16) for k, v in sd.items()}, {"format": "pt"})
    bos, eos, eot = tok.special[common.BOS], tok.special[common.EOS], tok.special[common.EOT]
    config = {
        "architectures": ["LlamaForCausalLM"], "model_type": "llama",
        "hidden_size": c.hidden, "intermediate_size": c.inter, "num_hidden_layers": c.layers,
        "num_attention_heads": c.heads, "num_key_value_heads": c.kv_heads, "head_dim": c.head_dim,
        "hidden_act": "silu", "max_position_embeddings": c.max_pos, "rms_norm_eps": c.eps,
        "rope_theta": c.theta, "rope_scaling": None, "tie_word_embeddings": False,
        "vocab_size": c.vocab_size, "bos_token_id": bos, "eos_token_id": [eos, eot],
        "attention_bias": False, "mlp_bias": False, "torch_dtype": "bfloat16",
        "initializer_range": 0.02, "pretraining_tp": 1, "use_cache": True,
        "transformers_version": "4.46.0",
    }
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
    with open(os.path.join(out, "generation_config.json"), "w") as f:
        json.dump({"bos_token_id": bos, "eos_token_id": [eos, eot], "do_sample": False,
                   "max_new_tokens": 32, "transformers_version": "4.46.0"}, f, indent=2)
    with open(os.path.join(out, "tokenizer.json"), "w", encoding="utf-8") as f:
        json.dump(tokenizer_json(tok, merges), f, ensure_ascii=False, indent=2)
    added = {str(i): {"content": s, "lstrip": False, "normalized": False, "rstrip": False,
                      "single_word": False, "special": True} for s, i in tok.special.items()}
    with open(os.path.join(out, "tokenizer_config.json"), "w", encoding="utf-8") as f:
        json.dump({"added_tokens_decoder": added, "bos_token": common.BOS, "eos_token": common.EOT,
                   "clean_up_tokenization_spaces": True, "model_input_names": ["input_ids", "attention_mask"],
                   "model_max_length": c.max_pos, "tokenizer_class": "PreTrainedTokenizerFast",
                   "chat_template": common.CHAT_TEMPLATE}, f, ensure_ascii=False, indent=2)


def load_base(path, model):
    """The inverse of write_base: fills the model from a model.safetensors it wrote."""
    blob = open(path, "rb").read()
    n = struct.unpack("<Q", blob[:8])[0]
    header = json.loads(blob[8:8 + n])
    sd = hf_state(model)
    with torch.no_grad():
        for name, param in sd.items():
            info = header[name]
            assert info["dtype"] == "BF16" and list(info["shape"]) == list(param.shape), (path, name)
            b, e = info["data_offsets"]
            u16 = np.frombuffer(blob[8 + n + b: 8 + n + e], dtype=np.uint16).astype(np.uint32) << 16
            param.copy_(torch.from_numpy(u16.view(np.float32).reshape(param.shape).copy()))
    print(f"base: loaded {len(sd)} tensors from {path}", flush=True)


def peft_config(r, alpha, targets, rslora=False):
    return {
        "alpha_pattern": {}, "auto_mapping": None, "base_model_name_or_path": MODEL_NAME, "bias": "none",
        "fan_in_fan_out": False, "inference_mode": True, "init_lora_weights": True,
        "layer_replication": None, "layers_pattern": None, "layers_to_transform": None,
        "loftq_config": {}, "lora_alpha": alpha, "lora_dropout": 0.0, "megatron_config": None,
        "megatron_core": "megatron.core", "modules_to_save": None, "peft_type": "LORA", "r": r,
        "rank_pattern": {}, "revision": None, "target_modules": targets, "task_type": "CAUSAL_LM",
        "use_dora": False, "use_rslora": rslora,
    }


def peft_state(loras, dtype):
    sd = {}
    for (li, m), mod in loras.items():
        part = "self_attn" if m in ("q_proj", "k_proj", "v_proj", "o_proj") else "mlp"
        p = f"base_model.model.model.layers.{li}.{part}.{m}."
        sd[p + "lora_A.weight"] = mod.A.detach().to(dtype).contiguous().clone()
        sd[p + "lora_B.weight"] = mod.B.detach().to(dtype).contiguous().clone()
    return sd


# ----------------------------------------------------------------------------- adapters

ADAPTERS = [
    # name, rank, alpha, modules, rslora, format, dtype
    ("count", 16, 32, Llama.MODS, False, "safetensors", torch.float32),
    ("upper", 4, 8, ["q_proj", "k_proj", "v_proj", "o_proj"], True, "safetensors", torch.bfloat16),
    ("reverse", 8, 16, ["q_proj", "v_proj", "o_proj", "up_proj", "down_proj"], False, "bin", torch.float32),
    ("shift", 32, 64, "nemo", False, "nemo", torch.bfloat16),
]


class FusedLoRA(nn.Module):
    """NeMo-style fused adapter: one A shared by q/k/v (or gate/up); B rows per output."""

    def __init__(self, d_in, d_outs, r, alpha):
        super().__init__()
        self.A = nn.Parameter(torch.empty(r, d_in))
        nn.init.kaiming_uniform_(self.A, a=math.sqrt(5))
        self.B = nn.Parameter(torch.zeros(sum(d_outs), r))
        self.d_outs = d_outs
        self.scale = alpha / r

    def part(self, k):
        s = sum(self.d_outs[:k])
        A, B, sc = self.A, self.B, self.scale
        return lambda x: (x @ A.t() @ B[s:s + self.d_outs[k]].t()) * sc


def make_loras(model, c, r, alpha, modules, rslora):
    dims = {"q_proj": (c.hidden, c.heads * c.head_dim), "k_proj": (c.hidden, c.kv_heads * c.head_dim),
            "v_proj": (c.hidden, c.kv_heads * c.head_dim), "o_proj": (c.heads * c.head_dim, c.hidden),
            "gate_proj": (c.hidden, c.inter), "up_proj": (c.hidden, c.inter), "down_proj": (c.inter, c.hidden)}
    mods, hooks = nn.ModuleDict(), {}
    if modules == "nemo":
        for li in range(c.layers):
            qkv = FusedLoRA(c.hidden, [c.heads * c.head_dim, c.kv_heads * c.head_dim, c.kv_heads * c.head_dim], r, alpha)
            fc1 = FusedLoRA(c.hidden, [c.inter, c.inter], r, alpha)
            fc2 = LoRA(c.inter, c.hidden, r, alpha)
            mods[f"{li}_qkv"], mods[f"{li}_fc1"], mods[f"{li}_fc2"] = qkv, fc1, fc2
            hooks[(li, "q_proj")], hooks[(li, "k_proj")], hooks[(li, "v_proj")] = qkv.part(0), qkv.part(1), qkv.part(2)
            hooks[(li, "gate_proj")], hooks[(li, "up_proj")] = fc1.part(0), fc1.part(1)
            hooks[(li, "down_proj")] = fc2
    else:
        for li in range(c.layers):
            for m in modules:
                mod = LoRA(*dims[m], r, alpha, rslora)
                mods[f"{li}_{m}"] = mod
                hooks[(li, m)] = mod
    return mods, hooks


def write_nemo(path, mods, c, r, alpha, dtype):
    """A .nemo: tar with model_config.yaml + model_weights.ckpt (Megatron key names).

    Megatron's fused QKV output is interleaved per query group: for each KV group g, the rows of
    the group's query heads, then its key head, then its value head. The adapter's linear_out
    follows the same layout because its output is added to linear_qkv's output. linear_fc1 of a
    gated MLP is [gate; up] (the first half goes through the activation).
    """
    import yaml
    sd = {}
    hd, qpg = c.head_dim, c.heads // c.kv_heads
    for li in range(c.layers):
        qkv, fc1, fc2 = mods[f"{li}_qkv"], mods[f"{li}_fc1"], mods[f"{li}_fc2"]
        Bq, Bk, Bv = torch.split(qkv.B.detach(), qkv.d_outs, dim=0)
        rows = []
        for g in range(c.kv_heads):
            rows.append(Bq[g * qpg * hd:(g + 1) * qpg * hd])
            rows.append(Bk[g * hd:(g + 1) * hd])
            rows.append(Bv[g * hd:(g + 1) * hd])
        B_inter = torch.cat(rows, dim=0)
        p = f"model.decoder.layers.{li}."
        a = p + "self_attention.adapter_layer.lora_kqv_adapter."
        sd[a + "linear_in.weight"] = qkv.A.detach()
        sd[a + "linear_out.weight"] = B_inter
        m1 = p + "mlp.adapter_layer.lora_hto4h_adapter."
        sd[m1 + "linear_in.weight"] = fc1.A.detach()
        sd[m1 + "linear_out.weight"] = fc1.B.detach()  # [gate; up]
        m2 = p + "mlp.adapter_layer.lora_4htoh_adapter."
        sd[m2 + "linear_in.weight"] = fc2.A.detach()
        sd[m2 + "linear_out.weight"] = fc2.B.detach()
    sd = {k: v.to(dtype).contiguous().clone() for k, v in sd.items()}
    cfg = {
        "precision": "bf16", "num_layers": c.layers, "hidden_size": c.hidden, "ffn_hidden_size": c.inter,
        "num_attention_heads": c.heads, "num_query_groups": c.kv_heads, "kv_channels": c.head_dim,
        "encoder_seq_length": c.max_pos, "max_position_embeddings": c.max_pos,
        "normalization": "rmsnorm", "layernorm_epsilon": c.eps, "activation": "fast-swiglu",
        "bias": False, "position_embedding_type": "rope", "rotary_base": c.theta,
        "share_embeddings_and_output_weights": False, "mcore_gpt": True,
        "tensor_model_parallel_size": 1, "pipeline_model_parallel_size": 1,
        "restore_from_path": MODEL_NAME,
        "peft": {"peft_scheme": "lora", "restore_from_path": None,
                 "lora_tuning": {"variant": "nemo", "target_modules": ["attention_qkv", "mlp_fc1", "mlp_fc2"],
                                 "adapter_dim": r, "alpha": alpha, "adapter_dropout": 0.0,
                                 "column_init_method": "xavier", "row_init_method": "zero",
                                 "layer_selection": None, "weight_tying": False,
                                 "position_embedding_strategy": None}},
    }
    ybytes = yaml.safe_dump(cfg, sort_keys=False).encode()
    buf = io.BytesIO()
    torch.save(sd, buf)
    wbytes = buf.getvalue()
    with tarfile.open(path, "w") as tar:
        for name, data in [("./model_config.yaml", ybytes), ("./model_weights.ckpt", wbytes)]:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = 1764028800
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))


# ----------------------------------------------------------------------------- main


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "..", "models", "demo"))
    ap.add_argument("--base-steps", type=int, default=3000)
    ap.add_argument("--lora-steps", type=int, default=400)
    ap.add_argument("--merges", type=int, default=320)
    ap.add_argument("--threads", type=int, default=1, help="torch threads; 1 is fastest for a model this small (2 threads were ~10x slower here)")
    ap.add_argument("--only-loras", action="store_true", help="reuse OUT/_trainer_state.pt")
    ap.add_argument("--base-from", metavar="DIR",
                    help="skip base training: load the base weights from DIR/model.safetensors (bf16, as "
                         "written by an earlier run) and train only the adapters")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    # Tiny gradients late in training become subnormal floats, which run ~10x slower on x86 CPUs.
    torch.set_flush_denormal(True)
    torch.manual_seed(SEED)
    random.seed(SEED)
    out = os.path.abspath(args.out)

    # Tokenizer: BPE merges learned from rendered training text plus a little English.
    rng = random.Random(SEED)
    corpus = []
    english = ("The quick brown fox jumps over the lazy dog. You are a helpful assistant. "
               "Answer the question. This is a small demo model for loraplex, which serves many "
               "LoRA adapters. What is the sum of these numbers? Reverse the word. Upper case.")
    english += (" Small models learn simple skills quickly when the data is clean. Each adapter changes"
                " how the same base model behaves, and the server can batch requests for different"
                " adapters together. Letters are written with spaces between them so that every letter"
                " is one token. Numbers are added and subtracted digit by digit. Please write the"
                " answer after the equals sign. Thank you for testing this model; report any problem"
                " you find with the tokenizer, the chat template or the weights.")
    corpus += [english] * 20
    for _ in range(3000):
        task = rng.choice(common.TASKS)
        it = common.random_item(rng, task)
        text = common.task_input(task, it)
        corpus.append(common.raw_prompt(text, task) + common.raw_answer(common.task_output(task, it)))
        sys_p = rng.choice(common.SYSTEM_PROMPTS)
        corpus.append(render_chat(common.chat_messages(text, task, sys_p)).replace(common.BOS, ""))
    # Special tokens are never inside BPE words: strip them from the BPE corpus.
    special_re = re.compile("|".join(re.escape(s) for s in common.SPECIAL_TOKENS))
    corpus = [special_re.sub("\n", t) for t in corpus]
    if args.base_from:  # the base's own tokenizer, not a retrained one
        with open(os.path.join(args.base_from, "tokenizer.json"), encoding="utf-8") as f:
            merges = [tuple(m.split(" ")) for m in json.load(f)["model"]["merges"]]
    else:
        merges = train_bpe(corpus, args.merges)
    tok = Tok(merges)
    c = Cfg()
    c.vocab_size = tok.n_vocab
    print(f"tokenizer: {len(merges)} merges, vocab {tok.n_vocab}", flush=True)

    data = Data(tok)
    model = Llama(c)
    state_path = os.path.join(out, "_trainer_state.pt")
    if args.base_from:
        load_base(os.path.join(args.base_from, "model.safetensors"), model)
    elif args.only_loras:
        model.load_state_dict(torch.load(state_path))
    else:
        print(f"base: {sum(p.numel() for p in model.parameters()) / 1e6:.2f}M parameters", flush=True)

        def base_eval():
            return " ".join(f"{t}:{accuracy(model, data, t, t != 'echo', t, n=20):.2f}" for t in common.TASKS) + \
                f" untagged-echo:{accuracy(model, data, 'reverse', False, 'echo', n=20):.2f}"
        train_loop(model, list(model.parameters()), data, random.Random(SEED + 1), args.base_steps, 3e-3,
                   "base", eval_fn=base_eval, log_every=1250)
        os.makedirs(out, exist_ok=True)
        torch.save(model.state_dict(), state_path)
    # From here on the base is what is on disk: bf16-rounded.
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(to_bf16_round(p))
    for p in model.parameters():
        p.requires_grad_(False)
    write_base(os.path.join(out, "base"), model, tok, merges, c)
    print("wrote base", flush=True)

    for i, (name, r, alpha, modules, rslora, fmt, dtype) in enumerate(ADAPTERS):
        torch.manual_seed(SEED + 100 + i)
        mods, hooks = make_loras(model, c, r, alpha, modules, rslora)
        model.lora = hooks
        data.untagged_task = common.ADAPTER_TASKS[name]

        def lora_eval():
            return f"untagged {name}: {accuracy(model, data, data.untagged_task, False, data.untagged_task, n=20):.2f}"
        train_loop(model, list(mods.parameters()), data, random.Random(SEED + 200 + i), args.lora_steps, 5e-3,
                   "lora-" + name, log_every=100, eval_fn=lora_eval)
        d = os.path.join(out, "loras", name)
        os.makedirs(d, exist_ok=True)
        for f in os.listdir(d):
            os.remove(os.path.join(d, f))
        if fmt == "nemo":
            write_nemo(os.path.join(d, f"{name}.nemo"), mods, c, r, alpha, dtype)
        else:
            targets = modules
            if fmt == "bin":  # PEFT also accepts a regex string (full match against module names)
                targets = r".*\.(q_proj|v_proj|o_proj|up_proj|down_proj)"
            with open(os.path.join(d, "adapter_config.json"), "w") as f:
                json.dump(peft_config(r, alpha, targets, rslora), f, indent=2)
            sd = peft_state({k: v for k, v in hooks.items()}, dtype)
            if fmt == "safetensors":
                write_safetensors(os.path.join(d, "adapter_model.safetensors"), sd, {"format": "pt"})
            else:
                torch.save(sd, os.path.join(d, "adapter_model.bin"))
        print(f"wrote adapter {name} ({fmt})", flush=True)
        model.lora = None
    print("done", flush=True)


if __name__ == "__main__":
    main()
