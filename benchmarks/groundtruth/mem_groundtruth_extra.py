"""GPU memory of DeepSeek-shaped models in transformers (random bf16 weights): for each (context,
batch) one prefill, then 32 decode steps; records NVML-used memory after each phase, the exact KV
cache size and decode tokens/s. Add architectures and cases to extend it.

Measured = NVML used after the step − NVML used before torch touched the GPU.
"""
import gc, json, os, sys, time
import torch, pynvml
from transformers import LlamaConfig, LlamaForCausalLM, Qwen2Config, Qwen2ForCausalLM, DeepseekV2Config, DeepseekV2ForCausalLM

ARCH = {
    "deepseek-llm-7b": ("llama", dict(hidden_size=4096, intermediate_size=11008, num_attention_heads=32, num_key_value_heads=32, num_hidden_layers=30, vocab_size=102400, max_position_embeddings=4096)),
    "deepseek-coder-33b": ("llama", dict(hidden_size=7168, intermediate_size=19200, num_attention_heads=56, num_key_value_heads=8, num_hidden_layers=62, vocab_size=32256, max_position_embeddings=16384, rope_theta=100000.0)),
    "deepseek-v2-lite": ("dsv2", dict(hidden_size=2048, intermediate_size=10944, moe_intermediate_size=1408, num_attention_heads=16, num_key_value_heads=16, num_hidden_layers=27, vocab_size=102400, max_position_embeddings=163840, kv_lora_rank=512, q_lora_rank=None, qk_nope_head_dim=128, qk_rope_head_dim=64, v_head_dim=128, n_routed_experts=64, n_shared_experts=2, num_experts_per_tok=6, first_k_dense_replace=1, n_group=1, topk_group=1)),
    "deepseek-coder-6.7b": ("llama", dict(hidden_size=4096, intermediate_size=11008, num_attention_heads=32, num_key_value_heads=32, num_hidden_layers=32, vocab_size=32256, max_position_embeddings=16384, rope_theta=100000.0)),
    "deepseek-coder-1.3b": ("llama", dict(hidden_size=2048, intermediate_size=5504, num_attention_heads=16, num_key_value_heads=16, num_hidden_layers=24, vocab_size=32256, max_position_embeddings=16384, rope_theta=100000.0)),
    "deepseek-r1-distill-qwen-7b": ("qwen2", dict(hidden_size=3584, intermediate_size=18944, num_attention_heads=28, num_key_value_heads=4, num_hidden_layers=28, vocab_size=152064, max_position_embeddings=131072, rope_theta=10000.0)),
    "deepseek-r1-distill-llama-8b": ("llama", dict(hidden_size=4096, intermediate_size=14336, num_attention_heads=32, num_key_value_heads=8, num_hidden_layers=32, vocab_size=128256, max_position_embeddings=131072, rope_theta=500000.0)),
    "deepseek-r1-distill-qwen-14b": ("qwen2", dict(hidden_size=5120, intermediate_size=13824, num_attention_heads=40, num_key_value_heads=8, num_hidden_layers=48, vocab_size=152064, max_position_embeddings=131072, rope_theta=10000.0)),
}
PLAN = {  # model -> list of (context, batch)
    "deepseek-llm-7b": [(2048, 1), (2048, 2), (1024, 4)],
    "deepseek-coder-1.3b": [(16384, 1)],
    "deepseek-coder-6.7b": [(8192, 1), (16384, 1)],
    "deepseek-r1-distill-qwen-7b": [(4096, 1), (16384, 1), (32768, 1)],
    "deepseek-r1-distill-llama-8b": [(8192, 1), (16384, 1), (32768, 1), (4096, 4)],
    "deepseek-v2-lite": [(8192, 1), (32768, 1), (4096, 2)],
    "deepseek-coder-33b": [(8192, 1), (2048, 2)],
    "deepseek-r1-distill-qwen-14b": [(16384, 1), (65536, 1)],
}
only = sys.argv[1:] or [m for m in ARCH if m in PLAN]
pynvml.nvmlInit(); H = pynvml.nvmlDeviceGetHandleByIndex(0)
used = lambda: pynvml.nvmlDeviceGetMemoryInfo(H).used
res = {"gpu": pynvml.nvmlDeviceGetName(H), "total": pynvml.nvmlDeviceGetMemoryInfo(H).total, "nvml_used_before_torch": used()}
torch.cuda.init(); torch.zeros(1, device="cuda")
res["nvml_used_after_torch_init"] = used(); res["torch"] = torch.__version__
import transformers; res["transformers"] = transformers.__version__
res["runs"] = []
CLS = {"llama": (LlamaConfig, LlamaForCausalLM), "qwen2": (Qwen2Config, Qwen2ForCausalLM), "dsv2": (DeepseekV2Config, DeepseekV2ForCausalLM)}
for name in only:
    kind, kw = ARCH[name]
    C, M = CLS[kind]
    cfg = C(**kw, torch_dtype="bfloat16", tie_word_embeddings=False)
    with torch.device("meta"):
        m = M(cfg).to(torch.bfloat16)
    row = {"model": name, "params": sum(p.numel() for p in m.parameters())}
    row["weights_bytes"] = row["params"] * 2
    torch.cuda.empty_cache(); base = torch.cuda.memory_allocated()
    try:
        m = m.to_empty(device="cuda")
        with torch.no_grad():
            for p in m.parameters(): p.normal_(0, 0.02)
        row["nvml_used_after_load"] = used()
    except torch.OutOfMemoryError:
        row["load"] = "OOM"; res["runs"].append(row); print(json.dumps(row), flush=True); del m; gc.collect(); torch.cuda.empty_cache(); continue
    m.eval(); row["cases"] = []
    for T, B in PLAN[name]:
        gc.collect(); torch.cuda.empty_cache(); torch.cuda.reset_peak_memory_stats()
        case = {"context": T, "batch": B}
        try:
            ids = torch.randint(0, kw["vocab_size"], (B, T), device="cuda")
            with torch.no_grad():
                out = m(input_ids=ids, use_cache=True, logits_to_keep=1); torch.cuda.synchronize()
                case["nvml_used_after_prefill"] = used(); case["peak_reserved_prefill"] = torch.cuda.max_memory_reserved()
                kv = out.past_key_values
                case["kv_bytes"] = sum(t_.numel() * t_.element_size() for layer in kv.layers for t_ in (layer.keys, layer.values))
                nxt = out.logits[:, -1:].argmax(-1)
                # decode 32 tokens, time them
                torch.cuda.synchronize(); t = time.time()
                for _ in range(32):
                    o2 = m(input_ids=nxt, past_key_values=kv, use_cache=True); nxt = o2.logits[:, -1:].argmax(-1); kv = o2.past_key_values
                torch.cuda.synchronize(); dt = time.time() - t
                case["decode_tok_s_per_seq"] = round(32 / dt, 2)
                case["nvml_used_after_decode"] = used(); case["peak_reserved"] = torch.cuda.max_memory_reserved()
            del out, kv, ids, o2, nxt
        except torch.OutOfMemoryError:
            case["result"] = "OOM"
        row["cases"].append(case); print(json.dumps({"model": name, **case}), flush=True)
    res["runs"].append(row)
    del m; gc.collect(); torch.cuda.empty_cache()
json.dump(res, open(os.path.join(os.environ.get("OUT", "."), os.environ.get("NAME", "groundtruth2.json")), "w"), indent=1)
