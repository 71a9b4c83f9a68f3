#!/usr/bin/python3
"""PyTorch side of `npm run bench -- train` (bench/train.ts): the same Llama 3 as our row, read from
the same safetensors folder (bench/synthetic-model.ts writes it; the header is parsed here, so the
`safetensors` package is not needed), trained on the same batch shape with the same threads, AdamW
(torch.optim.AdamW, its CPU default implementation), gradient clipping at 1.0 as Trainer does. The
model follows transformers' LlamaForCausalLM (modeling_llama.py) with eager attention (torch 1.13,
Debian's python3-torch, has no scaled_dot_product_attention): RMSNorm in float32, rotary embeddings
with the llama3 frequency scaling, grouped-query attention, SwiGLU, untied or tied head. LoRA is
PEFT's LoraLayer written out (y = W x + scale * B(A x), A Kaiming-uniform, B zeros, dropout 0 as our
bench row) on q_proj and v_proj, the base frozen. `--dtype bfloat16` is Trainer's bf16=True:
float32 weights (LoRA: a bf16 frozen base) under torch.autocast("cpu", torch.bfloat16).
Prints one JSON line: seconds per step (after a warm-up), per phase, peak RSS (VmHWM). Not a test.
"""

import argparse
import json
import math
import os
import struct
import sys
import time

import torch
import torch.nn.functional as F

DTYPES = {"BF16": (torch.bfloat16, 2), "F16": (torch.float16, 2), "F32": (torch.float32, 4)}


def read_safetensors(path):
    """name -> tensor (float32 copy) of a safetensors file: u64 header length, JSON header, data."""
    with open(path, "rb") as f:
        (header_len,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(header_len))
        data = bytearray(f.read())
    out = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        begin, end = entry["data_offsets"]
        dtype, size = DTYPES[entry["dtype"]]
        t = torch.frombuffer(data, dtype=dtype, count=(end - begin) // size, offset=begin)
        out[name] = t.reshape(entry["shape"]).to(torch.float32).clone()
    return out


def vm_hwm_bytes():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return 0


def blas_library():
    """The BLAS this process mapped (Debian's python3-torch links libblas.so.3, chosen at run time)."""
    with open("/proc/self/maps") as f:
        paths = {line.split()[-1] for line in f if "blas" in line and "/" in line}
    return sorted(paths)


def rope_inv_freq(cfg):
    head_dim = cfg["hidden_size"] // cfg["num_attention_heads"]
    inv = 1.0 / (cfg["rope_theta"] ** (torch.arange(0, head_dim, 2, dtype=torch.float64) / head_dim))
    s = cfg.get("rope_scaling")
    if s and s.get("rope_type") == "llama3":  # transformers' _compute_llama3_parameters
        low_wl = s["original_max_position_embeddings"] / s["low_freq_factor"]
        high_wl = s["original_max_position_embeddings"] / s["high_freq_factor"]
        wl = 2 * math.pi / inv
        scaled = torch.where(wl > low_wl, inv / s["factor"], inv)
        smooth = (s["original_max_position_embeddings"] / wl - s["low_freq_factor"]) / (s["high_freq_factor"] - s["low_freq_factor"])
        mid = (1 - smooth) * scaled / s["factor"] + smooth * scaled
        inv = torch.where((wl >= high_wl) & (wl <= low_wl), mid, scaled)
    return inv.to(torch.float32)


class RMSNorm(torch.nn.Module):
    def __init__(self, weight, eps):
        super().__init__()
        self.weight = torch.nn.Parameter(weight)
        self.eps = eps

    def forward(self, x):
        dtype = x.dtype
        x = x.to(torch.float32)
        x = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * x.to(dtype)


class Linear(torch.nn.Module):
    """nn.Linear without bias, with an optional LoRA pair (PEFT LoraLayer, dropout 0)."""

    def __init__(self, weight, lora_rank=0, lora_alpha=16, frozen_dtype=None):
        super().__init__()
        self.weight = torch.nn.Parameter(weight if frozen_dtype is None else weight.to(frozen_dtype))
        self.lora_a = self.lora_b = None
        if lora_rank:
            out_features, in_features = weight.shape
            a = torch.empty(lora_rank, in_features)
            torch.nn.init.kaiming_uniform_(a, a=math.sqrt(5))
            self.lora_a = torch.nn.Parameter(a)
            self.lora_b = torch.nn.Parameter(torch.zeros(out_features, lora_rank))
            self.scale = lora_alpha / lora_rank

    def forward(self, x):
        y = F.linear(x, self.weight)
        if self.lora_a is not None:
            y = y + F.linear(F.linear(x, self.lora_a), self.lora_b) * self.scale
        return y


def rotate_half(x):
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat((-x2, x1), dim=-1)


class Llama(torch.nn.Module):
    def __init__(self, cfg, w, lora_rank, frozen_dtype):
        super().__init__()
        self.cfg = cfg
        eps = cfg["rms_norm_eps"]
        self.n_heads = cfg["num_attention_heads"]
        self.n_kv = cfg["num_key_value_heads"]
        self.head_dim = cfg["hidden_size"] // self.n_heads
        self.embed = torch.nn.Parameter(w["model.embed_tokens.weight"] if frozen_dtype is None else w["model.embed_tokens.weight"].to(frozen_dtype))
        tied = cfg["tie_word_embeddings"]
        self.lm_head = None if tied else Linear(w["lm_head.weight"], frozen_dtype=frozen_dtype)
        self.norm = RMSNorm(w["model.norm.weight"], eps)
        self.layers = torch.nn.ModuleList()
        for l in range(cfg["num_hidden_layers"]):
            p = f"model.layers.{l}."
            layer = torch.nn.Module()
            lin = lambda name, lora=False: Linear(w[p + name + ".weight"], lora_rank if lora else 0, frozen_dtype=frozen_dtype)
            layer.q, layer.k, layer.v, layer.o = lin("self_attn.q_proj", True), lin("self_attn.k_proj"), lin("self_attn.v_proj", True), lin("self_attn.o_proj")
            layer.gate, layer.up, layer.down = lin("mlp.gate_proj"), lin("mlp.up_proj"), lin("mlp.down_proj")
            layer.attn_norm = RMSNorm(w[p + "input_layernorm.weight"], eps)
            layer.ffn_norm = RMSNorm(w[p + "post_attention_layernorm.weight"], eps)
            self.layers.append(layer)
        self.register_buffer("inv_freq", rope_inv_freq(cfg), persistent=False)

    def forward(self, ids):
        b, t = ids.shape
        x = F.embedding(ids, self.embed)
        freqs = torch.outer(torch.arange(t, dtype=torch.float32), self.inv_freq)
        emb = torch.cat((freqs, freqs), dim=-1)
        cos, sin = emb.cos().to(x.dtype), emb.sin().to(x.dtype)
        causal = torch.full((t, t), float("-inf")).triu(1)
        rep = self.n_heads // self.n_kv
        for layer in self.layers:
            h = layer.attn_norm(x)
            q = layer.q(h).view(b, t, self.n_heads, self.head_dim).transpose(1, 2)
            k = layer.k(h).view(b, t, self.n_kv, self.head_dim).transpose(1, 2)
            v = layer.v(h).view(b, t, self.n_kv, self.head_dim).transpose(1, 2)
            q = q * cos + rotate_half(q) * sin
            k = k * cos + rotate_half(k) * sin
            k = k.repeat_interleave(rep, dim=1)
            v = v.repeat_interleave(rep, dim=1)
            scores = torch.matmul(q, k.transpose(2, 3)) / math.sqrt(self.head_dim) + causal.to(q.dtype)
            probs = torch.softmax(scores, dim=-1, dtype=torch.float32).to(q.dtype)
            att = torch.matmul(probs, v).transpose(1, 2).reshape(b, t, -1)
            x = x + layer.o(att)
            h = layer.ffn_norm(x)
            x = x + layer.down(F.silu(layer.gate(h)) * layer.up(h))
        x = self.norm(x)
        return F.linear(x, self.embed) if self.lm_head is None else self.lm_head(x)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", required=True)
    ap.add_argument("--mode", choices=["full", "lora"], default="full")
    ap.add_argument("--dtype", choices=["float32", "bfloat16"], default="float32")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rows", type=int, default=4)
    ap.add_argument("--seq-len", type=int, default=128)
    ap.add_argument("--steps", type=int, default=2)
    ap.add_argument("--warmup", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(42)
    baseline = vm_hwm_bytes()
    with open(os.path.join(args.dir, "config.json")) as f:
        cfg = json.load(f)
    w = read_safetensors(os.path.join(args.dir, "model.safetensors"))
    lora = args.mode == "lora"
    frozen_dtype = torch.bfloat16 if lora and args.dtype == "bfloat16" else None
    model = Llama(cfg, w, 8 if lora else 0, frozen_dtype)
    del w
    if lora:
        for name, p in model.named_parameters():
            p.requires_grad_("lora_" in name)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-5, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0)
    vocab = cfg["vocab_size"]
    ids = torch.randint(0, vocab, (args.rows, args.seq_len), generator=torch.Generator().manual_seed(1))
    autocast = args.dtype == "bfloat16"
    steps, phases = [], []
    for s in range(args.warmup + args.steps):
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
            logits = model(ids)
        # transformers' ForCausalLMLoss: shift left by one, mean cross-entropy in float32.
        loss = F.cross_entropy(logits[:, :-1].reshape(-1, vocab).float(), ids[:, 1:].reshape(-1))
        t1 = time.perf_counter()
        loss.backward()
        t2 = time.perf_counter()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        t3 = time.perf_counter()
        if not math.isfinite(loss.item()):
            raise SystemExit(f"loss is {loss.item()} at step {s}")
        if s >= args.warmup:
            steps.append(t3 - t0)
            phases.append({"forward": t1 - t0, "backward": t2 - t1, "optimizer": t3 - t2})
    n_params = sum(p.numel() for p in model.parameters())
    n_trainable = sum(p.numel() for p in params)
    weight_bytes = sum(p.numel() * p.element_size() for p in model.parameters() if not p.requires_grad) + n_trainable * 4
    print(json.dumps({
        "torch": torch.__version__, "blas": blas_library(), "threads": torch.get_num_threads(), "stepSeconds": steps, "phases": phases,
        "loss": loss.item(), "nParams": n_params, "nTrainable": n_trainable, "weightBytes": weight_bytes,
        "baselineRssBytes": baseline, "peakRssBytes": vm_hwm_bytes(),
    }))


if __name__ == "__main__":
    sys.exit(main())
