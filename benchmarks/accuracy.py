#!/usr/bin/env python3
"""Measure GPU memory of catalog models in transformers and compare with our estimate.

For each case (model, context T, batch B): random bf16 weights (built on the meta device, then
`to_empty` on the GPU), one prefill of B x T tokens with `logits_to_keep=1`, then D decode steps
(default 32) with the DynamicCache - the protocol of
benchmarks/groundtruth/mem_groundtruth.py, so the JSON it writes goes straight into
benchmarks/groundtruth/ and the calibration test picks it up.

    python3 benchmarks/accuracy.py --cases deepseek-llm-7b:2048x2,4096 qwen-7b:4096,32768 \
        --out benchmarks/groundtruth/groundtruth-h100-DATE.json

Measured need = NVML used after decode - NVML used before torch touched the GPU. A case that
runs out of memory is recorded as {"result": "OOM", "oom_phase": ...}; our estimate must then
say it does not fit in the GPU's total memory.

`--simulate` runs the same forward on the meta device (no GPU) and replays every tensor
allocation through a model of PyTorch's CUDA caching allocator; it writes peak reserved bytes
in the same layout (flagged "simulated": true; the calibration test ignores such files).
It is byte-exact against the H100 measurements for GQA and MLA models (flash / mem-efficient
attention); MHA models take cuDNN attention on H100, which it does not model.

Needs only torch, transformers and nvidia-ml-py (the last not for --simulate).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from deepseek_probe import profiles  # noqa: E402
from deepseek_probe.estimate import Settings, estimate  # noqa: E402

MiB = 1 << 20
H100_TOTAL_BYTES = 85520809984  # NVML total of an H100 80GB HBM3 (groundtruth-h100.json)


# ---------------------------------------------------------------------------------------------
# cases and configs
# ---------------------------------------------------------------------------------------------
def parse_cases(items):
    """'MODEL[:TxB,T,...]' -> [(spec, [(T, B), ...])]; T alone means batch 1."""
    out = []
    for item in items:
        name, _, rest = item.partition(":")
        spec = profiles.get_model(name)
        cases = []
        for tok in filter(None, rest.split(",")):
            t, _, b = tok.lower().partition("x")
            cases.append((int(t), int(b or 1)))
        out.append((spec, cases or [(4096, 1)]))
    return out


def hf_config(spec):
    """(ConfigClass, ModelClass, kwargs) of a transformers model with `spec`'s architecture."""
    import transformers as tf

    common = dict(hidden_size=spec.hidden, intermediate_size=spec.intermediate,
                  num_hidden_layers=spec.layers, num_attention_heads=spec.heads,
                  vocab_size=spec.vocab, max_position_embeddings=spec.max_context,
                  tie_word_embeddings=spec.tie_embeddings)
    if spec.family in ("llama", "qwen2", "qwen3"):
        common.update(num_key_value_heads=spec.kv_heads, head_dim=spec.head_dim)
        if spec.family == "llama":
            common["attention_bias"] = spec.qkv_bias
            return tf.LlamaConfig, tf.LlamaForCausalLM, common
        if spec.family == "qwen3":
            common["attention_bias"] = spec.qkv_bias
            return tf.Qwen3Config, tf.Qwen3ForCausalLM, common
        return tf.Qwen2Config, tf.Qwen2ForCausalLM, common
    common.update(num_key_value_heads=spec.heads, kv_lora_rank=spec.kv_lora_rank,
                  q_lora_rank=spec.q_lora_rank, qk_nope_head_dim=spec.qk_nope_head_dim,
                  qk_rope_head_dim=spec.qk_rope_head_dim, v_head_dim=spec.v_head_dim,
                  n_routed_experts=spec.routed_experts, n_shared_experts=spec.shared_experts,
                  num_experts_per_tok=spec.experts_per_token, first_k_dense_replace=spec.first_k_dense,
                  moe_intermediate_size=spec.moe_intermediate)
    if spec.family == "deepseek_v2":
        common.update(n_group=1, topk_group=1)
        return tf.DeepseekV2Config, tf.DeepseekV2ForCausalLM, common
    return tf.DeepseekV3Config, tf.DeepseekV3ForCausalLM, common


def build_meta_model(spec):
    import torch

    C, M, kw = hf_config(spec)
    cfg = C(**kw, torch_dtype="bfloat16")
    cfg._attn_implementation = "sdpa"
    with torch.device("meta"):
        model = M(cfg).to(torch.bfloat16)
    return model


def estimate_case(spec, context, batch):
    if context > spec.max_context:
        return None
    s = Settings(precision="bf16", kv_precision="bf16", context=context, concurrency=batch,
                 runtime="transformers", tensor_parallel=1)
    return estimate(spec, s).per_device.total_bytes


# ---------------------------------------------------------------------------------------------
# GPU measurement (the protocol of mem_groundtruth.py)
# ---------------------------------------------------------------------------------------------
def measure(plan, decode_steps, device_index):
    import pynvml
    import torch
    import transformers

    pynvml.nvmlInit()
    handle = pynvml.nvmlDeviceGetHandleByIndex(device_index)
    used = lambda: pynvml.nvmlDeviceGetMemoryInfo(handle).used  # noqa: E731
    name = pynvml.nvmlDeviceGetName(handle)
    res = {"gpu": name.decode() if isinstance(name, bytes) else name,
           "total": pynvml.nvmlDeviceGetMemoryInfo(handle).total, "nvml_used_before_torch": used()}
    torch.cuda.set_device(device_index)
    torch.cuda.init()
    torch.zeros(1, device="cuda")
    res.update(nvml_used_after_torch_init=used(), torch=torch.__version__,
               transformers=transformers.__version__, script="benchmarks/accuracy.py",
               decode_steps=decode_steps, runs=[])
    before = res["nvml_used_before_torch"]
    for spec, cases in plan:
        model = build_meta_model(spec)
        row = {"model": spec.id, "params": sum(p.numel() for p in model.parameters())}
        row["weights_bytes"] = row["params"] * 2
        torch.cuda.empty_cache()
        try:
            model = model.to_empty(device="cuda")
            with torch.no_grad():
                for p in model.parameters():
                    p.normal_(0, 0.02)
            row["nvml_used_after_load"] = used()
        except torch.OutOfMemoryError:
            row["load"] = "OOM"
            row["cases"] = [_oom_case(spec, t, b, "load", res["total"]) for t, b in cases]
            res["runs"].append(row)
            print(json.dumps({"model": spec.id, "load": "OOM"}), flush=True)
            del model
            gc.collect()
            torch.cuda.empty_cache()
            continue
        model.eval()
        row["cases"] = []
        for t, b in cases:
            gc.collect()
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()
            case = {"context": t, "batch": b}
            phase = "prefill"
            out = kv = ids = o2 = nxt = None
            try:
                ids = torch.randint(0, spec.vocab, (b, t), device="cuda")
                with torch.no_grad():
                    out = model(input_ids=ids, use_cache=True, logits_to_keep=1)
                    torch.cuda.synchronize()
                    case["nvml_used_after_prefill"] = used()
                    case["peak_reserved_prefill"] = torch.cuda.max_memory_reserved()
                    kv = out.past_key_values
                    case["kv_bytes"] = sum(x.numel() * x.element_size() for layer in kv.layers
                                           for x in (layer.keys, layer.values))
                    nxt = out.logits[:, -1:].argmax(-1)
                    phase = "decode"
                    torch.cuda.synchronize()
                    t0 = time.time()
                    for _ in range(decode_steps):
                        o2 = model(input_ids=nxt, past_key_values=kv, use_cache=True)
                        nxt = o2.logits[:, -1:].argmax(-1)
                        kv = o2.past_key_values
                    torch.cuda.synchronize()
                    case["decode_tok_s_per_seq"] = round(decode_steps / (time.time() - t0), 2)
                    case["nvml_used_after_decode"] = used()
                    case["peak_reserved"] = torch.cuda.max_memory_reserved()
            except torch.OutOfMemoryError:
                case.update(_oom_case(spec, t, b, phase, res["total"]))
            del out, kv, ids, o2, nxt
            if "nvml_used_after_decode" in case:
                need = case["nvml_used_after_decode"] - before
                est = estimate_case(spec, t, b)
                case["measured_need_bytes"] = need
                if est is not None:
                    case["estimate_total_bytes"] = est
                    case["error_pct"] = round(100.0 * (est - need) / need, 2)
            row["cases"].append(case)
            print(json.dumps({"model": spec.id, **case}), flush=True)
        res["runs"].append(row)
        del model
        gc.collect()
        torch.cuda.empty_cache()
    return res


def _oom_case(spec, t, b, phase, total):
    est = estimate_case(spec, t, b)
    case = {"context": t, "batch": b, "result": "OOM", "oom_phase": phase}
    if est is not None:
        case["estimate_total_bytes"] = est
        case["estimate_says_fits"] = est <= total
    return case


# ---------------------------------------------------------------------------------------------
# simulation: the same forward on the meta device, through a model of the caching allocator
# ---------------------------------------------------------------------------------------------
class CachingAllocatorModel:
    """PyTorch CUDACachingAllocator rules (c10/cuda/CUDACachingAllocator.cpp, defaults):
    sizes round up to 512 B; <= 1 MiB from 2 MiB segments (small pool); 1-10 MiB from 20 MiB
    segments; larger requests get a segment rounded up to 2 MiB; best fit (smallest block, then
    lowest address - cudaMalloc gave later segments lower addresses: with that tie-break the replay
    matches deepseek-r1-distill-qwen-1.5b at 32K on the H100, the only case where it mattered);
    a block is split when the remainder is >= 512 B (small) / > 1 MiB (large);
    freed blocks merge with free neighbours of the same segment; empty_cache releases segments
    that are entirely free."""

    class Block:
        __slots__ = ("seg", "off", "size", "used", "prev", "next", "small")

        def __init__(self, seg, off, size, small):
            self.seg, self.off, self.size, self.small = seg, off, size, small
            self.used, self.prev, self.next = False, None, None

    def __init__(self):
        self.free = {True: set(), False: set()}
        self.reserved = self.peak_reserved = self.allocated = 0
        self.nseg = 0

    def malloc(self, n):
        size = 512 if n < 512 else -(-n // 512) * 512
        small = size <= MiB
        best = None
        for blk in self.free[small]:  # key (size, address): later segments sit lower (see below)
            if blk.size >= size and (best is None or (blk.size, -blk.seg, blk.off) < (best.size, -best.seg, best.off)):
                best = blk
        if best is None:
            seg = 2 * MiB if small else (20 * MiB if size < 10 * MiB else -(-size // (2 * MiB)) * 2 * MiB)
            self.nseg += 1
            best = self.Block(self.nseg, 0, seg, small)
            self.reserved += seg
            self.peak_reserved = max(self.peak_reserved, self.reserved)
            self.free[small].add(best)
        self.free[small].discard(best)
        rest = best.size - size
        if (small and rest >= 512) or (not small and rest > MiB):
            nb = self.Block(best.seg, best.off + size, rest, small)
            nb.prev, nb.next = best, best.next
            if best.next:
                best.next.prev = nb
            best.next, best.size = nb, size
            self.free[small].add(nb)
        best.used = True
        self.allocated += best.size
        return best

    def release(self, blk):
        blk.used = False
        self.allocated -= blk.size
        pool = self.free[blk.small]
        for nb in (blk.prev, blk.next):
            if nb is not None and not nb.used:
                pool.discard(nb)
                if nb is blk.prev:
                    nb.size += blk.size
                    nb.next = blk.next
                    if blk.next:
                        blk.next.prev = nb
                    blk = nb
                else:
                    blk.size += nb.size
                    blk.next = nb.next
                    if nb.next:
                        nb.next.prev = blk
        pool.add(blk)

    def empty_cache(self):
        for small in (True, False):
            for blk in list(self.free[small]):
                if blk.prev is None and blk.next is None:
                    self.free[small].discard(blk)
                    self.reserved -= blk.size

    def reset_peak(self):
        self.peak_reserved = self.reserved


def _tracker_class():
    from torch.multiprocessing.reductions import StorageWeakRef
    from torch.utils._python_dispatch import TorchDispatchMode
    from torch.utils._pytree import tree_flatten

    class AllocationTracker(TorchDispatchMode):
        """Sees every aten op; a tensor with a storage we have not seen is a new allocation, a
        storage whose last reference died is a free (checked before each op, as in eager)."""

        def __init__(self, allocator, known):
            super().__init__()
            self.alloc, self.known, self.live = allocator, known, {}

        def sweep(self):
            for key in [k for k, (ref, _) in self.live.items() if ref.expired()]:
                self.alloc.release(self.live.pop(key)[1])

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            self.sweep()
            out = func(*args, **(kwargs or {}))
            for t in tree_flatten(out)[0]:
                if hasattr(t, "untyped_storage"):
                    st = t.untyped_storage()
                    key = st._cdata
                    if key not in self.live and key not in self.known and st.nbytes():
                        self.live[key] = (StorageWeakRef(st), self.alloc.malloc(st.nbytes()))
            return out

    return AllocationTracker


def _fused_attention(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None,
                     enable_gqa=False):
    """Stand-in for SDPA's flash / mem-efficient kernels: output in (B, T, H, D) memory order
    plus an fp32 logsumexp; no T x T scores (transformers passes no mask, is_causal=True)."""
    import torch

    b, h, t, _ = query.shape
    out = torch.empty(b, t, h, value.shape[-1], dtype=query.dtype, device=query.device).transpose(1, 2)
    lse = torch.empty(b, h, t, dtype=torch.float32, device=query.device)
    del lse
    return out


def _param_order(model):
    """Parameters and buffers in the order Module.to_empty allocates them (children first)."""
    out = []

    def walk(mod):
        for child in mod.children():
            walk(child)
        out.extend(p for p in mod._parameters.values() if p is not None)
        out.extend(b for b in mod._buffers.values() if b is not None)

    walk(model)
    return out


CUBLAS_WORKSPACE_BYTES = 32 * MiB  # CUBLAS_WORKSPACE_CONFIG default :4096:8 on Hopper (torch), first matmul


def simulate(plan, decode_steps):
    import torch
    import transformers

    torch.nn.functional.scaled_dot_product_attention = _fused_attention
    Tracker = _tracker_class()
    res = {"gpu": "simulated (meta device + caching-allocator model)", "simulated": True,
           "total": H100_TOTAL_BYTES, "torch": torch.__version__, "transformers": transformers.__version__,
           "script": "benchmarks/accuracy.py --simulate", "decode_steps": decode_steps, "runs": []}
    for spec, cases in plan:
        model = build_meta_model(spec).eval()
        alloc = CachingAllocatorModel()
        params = _param_order(model)
        for p in params:
            alloc.malloc(p.numel() * p.element_size())
        alloc.malloc(4)  # torch.zeros(1) at CUDA init
        alloc.malloc(CUBLAS_WORKSPACE_BYTES)
        row = {"model": spec.id, "params": sum(p.numel() for p in model.parameters()),
               "weights_reserved": alloc.reserved, "cases": []}
        row["weights_bytes"] = row["params"] * 2
        known = {p.untyped_storage()._cdata for p in params}
        for t, b in cases:
            alloc.empty_cache()
            alloc.reset_peak()
            tracker = Tracker(alloc, known)
            case = {"context": t, "batch": b}
            with tracker, torch.no_grad():
                ids = torch.randint(0, spec.vocab, (b, t), device="meta")
                out = model(input_ids=ids, use_cache=True, logits_to_keep=1)
                tracker.sweep()
                case["peak_reserved_prefill"] = alloc.peak_reserved
                kv = out.past_key_values
                case["kv_bytes"] = sum(x.numel() * x.element_size() for layer in kv.layers
                                       for x in (layer.keys, layer.values))
                nxt = torch.empty(b, 1, dtype=torch.long, device="meta")
                for _ in range(decode_steps):
                    o2 = model(input_ids=nxt, past_key_values=kv, use_cache=True)
                    kv = o2.past_key_values
                tracker.sweep()
                case["peak_reserved"] = alloc.peak_reserved
                del out, kv, ids, nxt
                if decode_steps:
                    del o2
            gc.collect()
            tracker.sweep()
            row["cases"].append(case)
            print(json.dumps({"model": spec.id, **case}), flush=True)
        res["runs"].append(row)
    return res


def activation_table(sim_doc):
    """{model: [[tokens, prefill_extra_bytes, decode_growth_bytes], ...]} from a --simulate run of
    batch-1 cases: what transformers reserves above weights (+ cuBLAS workspace) and the KV cache
    at the prefill peak, and what the first decode steps add. This is the
    `transformers_activation` table of deepseek_probe/profiles/models.json."""
    table = {}
    for run in sim_doc["runs"]:
        rows = []
        for c in run["cases"]:
            extra = c["peak_reserved_prefill"] - run["weights_reserved"] - c["kv_bytes"]
            rows.append([c["context"] * c["batch"], extra, c["peak_reserved"] - c["peak_reserved_prefill"]])
        table[run["model"]] = sorted(rows)
    return table


# ---------------------------------------------------------------------------------------------
def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--table", nargs="+", metavar="SIM_JSON",
                    help="print the models.json transformers_activation rows of --simulate outputs")
    ap.add_argument("--cases", nargs="+", metavar="MODEL[:TxB,...]",
                    help="catalog model id or alias, with contexts (T or TxB), e.g. 7b:2048x2,4096")
    ap.add_argument("--out", help="JSON file to write (default: $OUT or . / groundtruth-<gpu>-<date>.json)")
    ap.add_argument("--decode-steps", type=int, default=32)
    ap.add_argument("--device", type=int, default=0, help="CUDA device index")
    ap.add_argument("--simulate", action="store_true", help="no GPU: meta device + allocator model")
    args = ap.parse_args(argv)
    if args.table:
        for path in args.table:
            with open(path, encoding="utf-8") as f:
                for model, rows in activation_table(json.load(f)).items():
                    print(json.dumps({model: rows}))
        return
    if not args.cases:
        ap.error("--cases is required")
    plan = parse_cases(args.cases)
    res = simulate(plan, args.decode_steps) if args.simulate else measure(plan, args.decode_steps, args.device)
    slug = "".join(c if c.isalnum() else "-" for c in res["gpu"].lower().replace("nvidia ", "")).strip("-")
    name = "simulated.json" if args.simulate else f"groundtruth-{slug}-{time.strftime('%Y-%m-%d')}.json"
    path = args.out or os.path.join(os.environ.get("OUT", "."), name)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(res, f, indent=1)
    if not args.simulate:
        print(f"{'model':<32}{'T':>7}{'B':>3}{'measured GiB':>14}{'estimate GiB':>14}{'error %':>9}")
        for run in res["runs"]:
            for c in run.get("cases", []):
                m, e = c.get("measured_need_bytes"), c.get("estimate_total_bytes")
                err = c.get("error_pct", "OOM" if c.get("result") == "OOM" else "")
                print(f"{run['model']:<32}{c['context']:>7}{c['batch']:>3}"
                      f"{(m or 0) / 2**30:>14.3f}{(e or 0) / 2**30:>14.3f}{err!s:>9}")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
