"""Measure what transformers 5.17 keeps in its cache for DeepSeek-V3.2 and DeepSeek-V4.

Builds each model at the real layer widths (hidden size, heads, latent and indexer widths of the
published config.json) but with only a few decoder layers and few routed experts (experts hold no
cache), random bf16 weights, and runs one prefill per context with a fresh DynamicCache, for two
layer counts so the per-layer and per-token terms separate. Per case it records:

  cache_storage_bytes  bytes of the distinct tensor storages the cache object references
                       (a sliced view keeps its whole storage alive, so this is what stays held)
  allocated_delta      torch.cuda.memory_allocated after the prefill (logits dropped) minus before
  peak_delta           torch.cuda.max_memory_allocated during the prefill minus before
  nvml_used            NVML used bytes after the prefill (device total, all processes)

Usage: python measure_transformers.py --out results.json [--device cuda] [--tiny]
--tiny shrinks every width (a CPU smoke test of the script itself, not a measurement).
"""

from __future__ import annotations

import argparse
import gc
import json
import platform
import sys
import time

import torch


def _storages(obj, seen, depth=0):
    """Sum the bytes of distinct storages reachable from a cache object (tensors, lists, dicts, attributes)."""
    total = 0
    if depth > 6 or obj is None:
        return 0
    if isinstance(obj, torch.Tensor):
        st = obj.untyped_storage()
        key = (st.data_ptr(), st.nbytes())
        if key not in seen and st.nbytes() > 0:
            seen.add(key)
            total += st.nbytes()
        return total
    if isinstance(obj, (list, tuple)):
        return sum(_storages(o, seen, depth + 1) for o in obj)
    if isinstance(obj, dict):
        return sum(_storages(o, seen, depth + 1) for o in obj.values())
    if hasattr(obj, "__dict__") and not isinstance(obj, (int, float, str, bool, torch.device, torch.dtype)):
        return sum(_storages(v, seen, depth + 1) for v in vars(obj).values())
    return 0


def _layer_breakdown(cache):
    out = []
    for layer in cache.layers:
        seen = set()
        out.append({"class": type(layer).__name__, "bytes": _storages(layer, seen)})
    return out


def _nvml_used():
    try:
        import pynvml
        pynvml.nvmlInit()
        h = pynvml.nvmlDeviceGetHandleByIndex(0)
        return int(pynvml.nvmlDeviceGetMemoryInfo(h).used)
    except Exception:  # no NVML here (CPU smoke test)
        return None


def v32_config(layers: int, tiny: bool):
    from transformers import DeepseekV32Config
    # widths from deepseek-ai/DeepSeek-V3.2-Exp config.json (copy in fixtures/configs/)
    kw = dict(vocab_size=129280, hidden_size=7168, intermediate_size=18432, moe_intermediate_size=2048,
              num_attention_heads=128, num_key_value_heads=128, q_lora_rank=1536, kv_lora_rank=512,
              qk_nope_head_dim=128, qk_rope_head_dim=64, v_head_dim=128, index_n_heads=64, index_head_dim=128,
              index_topk=2048, n_shared_experts=1, n_routed_experts=8, num_experts_per_tok=8, n_group=1,
              topk_group=1, first_k_dense_replace=1, max_position_embeddings=163840)
    if tiny:
        kw.update(vocab_size=512, hidden_size=256, intermediate_size=512, moe_intermediate_size=128,
                  num_attention_heads=4, num_key_value_heads=4, q_lora_rank=64, kv_lora_rank=32,
                  qk_nope_head_dim=16, qk_rope_head_dim=8, v_head_dim=16, index_n_heads=4, index_head_dim=32,
                  index_topk=64)
    return DeepseekV32Config(num_hidden_layers=layers, **kw)


def v4_config(layers: int, tiny: bool):
    from transformers import DeepseekV4Config
    # widths from deepseek-ai/DeepSeek-V4-Flash config.json; compress_ratios are its first `layers` entries
    ratios = [0, 0, 4, 128, 4, 128, 4, 128, 4, 128][:layers]
    kw = dict(vocab_size=129280, hidden_size=4096, moe_intermediate_size=2048, num_attention_heads=64,
              num_key_value_heads=1, head_dim=512, q_lora_rank=1024, o_groups=8, o_lora_rank=1024,
              index_n_heads=64, index_head_dim=128, index_topk=512, n_routed_experts=8, n_shared_experts=1,
              num_experts_per_tok=6, sliding_window=128, hc_mult=4, max_position_embeddings=1048576,
              qk_rope_head_dim=64)
    if tiny:
        kw.update(vocab_size=512, hidden_size=256, moe_intermediate_size=128, num_attention_heads=4, head_dim=64,
                  q_lora_rank=64, o_groups=2, o_lora_rank=64, index_n_heads=4, index_head_dim=32, index_topk=16,
                  qk_rope_head_dim=16, sliding_window=16)
    return DeepseekV4Config(num_hidden_layers=layers, compress_ratios=ratios, **kw)


def v4_pro_config(layers: int, tiny: bool):
    from transformers import DeepseekV4Config
    # widths from deepseek-ai/DeepSeek-V4-Pro config.json; compress_ratios are its first `layers` entries
    ratios = [128, 128, 4, 128, 4, 128, 4, 128, 4, 128][:layers]
    kw = dict(vocab_size=129280, hidden_size=7168, moe_intermediate_size=3072, num_attention_heads=128,
              num_key_value_heads=1, head_dim=512, q_lora_rank=1536, o_groups=16, o_lora_rank=1024,
              index_n_heads=64, index_head_dim=128, index_topk=1024, n_routed_experts=8, n_shared_experts=1,
              num_experts_per_tok=6, sliding_window=128, hc_mult=4, max_position_embeddings=1048576,
              qk_rope_head_dim=64)
    if tiny:
        kw.update(vocab_size=512, hidden_size=256, moe_intermediate_size=128, num_attention_heads=4, head_dim=64,
                  q_lora_rank=64, o_groups=2, o_lora_rank=64, index_n_heads=4, index_head_dim=32, index_topk=16,
                  qk_rope_head_dim=16, sliding_window=16)
    return DeepseekV4Config(num_hidden_layers=layers, compress_ratios=ratios, **kw)


def run_case(model_name, cfg, contexts, device, batch):
    from transformers import AutoModelForCausalLM, DynamicCache
    torch.manual_seed(0)
    t0 = time.time()
    with torch.device(device):
        # V4's attention sinks have no sdpa path in 5.17: eager there, sdpa elsewhere
        attn = "eager" if cfg.model_type == "deepseek_v4" else "sdpa"
        model = AutoModelForCausalLM.from_config(cfg, dtype=torch.bfloat16, attn_implementation=attn)
    model.eval()
    n_params = sum(p.numel() for p in model.parameters())
    rows = []
    for ctx in contexts:
        gc.collect()
        if device == "cuda":
            torch.cuda.empty_cache()
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            before = torch.cuda.memory_allocated()
        ids = torch.randint(0, cfg.vocab_size, (batch, ctx), device=device)
        cache = DynamicCache(config=cfg)
        row = {"model": model_name, "layers": cfg.num_hidden_layers, "context": ctx, "batch": batch}
        try:
            with torch.no_grad():
                out = model(input_ids=ids, past_key_values=cache, use_cache=True, logits_to_keep=1)
            del out
            gc.collect()
            if device == "cuda":
                torch.cuda.synchronize()
                row["allocated_delta"] = torch.cuda.memory_allocated() - before - ids.numel() * 8
                row["peak_delta"] = torch.cuda.max_memory_allocated() - before
                row["nvml_used"] = _nvml_used()
            row["cache_storage_bytes"] = _storages(cache, set())
            row["per_layer"] = _layer_breakdown(cache)
        except torch.OutOfMemoryError as e:
            row["error"] = f"OOM: {str(e)[:120]}"
        del cache, ids
        rows.append(row)
        print(json.dumps({k: v for k, v in row.items() if k != "per_layer"}), flush=True)
        if "error" in row:
            break
    del model
    gc.collect()
    return {"params_built": n_params, "build_s": round(time.time() - t0, 1), "rows": rows}


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--tiny", action="store_true")
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--set", default="flash", choices=("flash", "pro"),
                    help="flash: V3.2 + V4-Flash widths; pro: V3.2 (512..2048) + V4-Pro widths (1024..4096)")
    a = ap.parse_args(argv)
    import transformers
    plan = [  # (name, builder, layer counts, contexts)
        ("deepseek-v3.2", v32_config, (2, 4), (512, 1024, 2048, 4096)),
        ("deepseek-v4-flash", v4_config, (4, 8), (1024, 2048, 4096, 8192)),
    ]
    if a.set == "pro":
        plan = [("deepseek-v3.2", v32_config, (2, 4), (512, 1024, 2048)),
                ("deepseek-v4-pro", v4_pro_config, (4, 8), (1024, 2048, 4096))]
    if a.tiny:
        plan = [(n, b, l, (64, 130, 257)) for n, b, l, _ in plan]
    doc = {"transformers": transformers.__version__, "torch": torch.__version__, "device": a.device,
           "gpu": torch.cuda.get_device_name(0) if a.device == "cuda" else platform.processor(),
           "tiny": a.tiny, "set": a.set, "batch": a.batch, "cases": []}
    for name, build, layer_counts, contexts in plan:
        for n in layer_counts:
            cfg = build(n, a.tiny)
            res = run_case(name, cfg, contexts, a.device, a.batch)
            res["config"] = {k: v for k, v in cfg.to_dict().items() if isinstance(v, (int, float, str, list, bool))}
            doc["cases"].append(res)
            with open(a.out, "w") as f:
                json.dump(doc, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
