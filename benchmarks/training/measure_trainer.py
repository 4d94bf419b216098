"""One fine-tuning case with the real Hugging Face Trainer: run in its own process by run_cases.py.

Usage: python3 measure_trainer.py CASE_JSON RESULT_JSON EVENTS_FILE

The model is built from a config (random weights, no download): the architecture values come
from deepseek_probe/profiles/models.json, which copies each model's public config.json. It is
built on the meta device and materialised tensor by tensor on the GPU (values do not change
memory). QLoRA mirrors what `from_pretrained(quantization_config=BitsAndBytesConfig(nf4, double
quant, bf16 compute))` builds: transformers' own `replace_with_bnb_linear` (lm_head kept), each
Linear4bit weight quantized on the GPU by bitsandbytes' `Params4bit._quantize`, then peft's
`prepare_model_for_kbit_training`. Training is `transformers.Trainer` with its defaults except
where the case says otherwise. The GPU's NVML "used" is sampled by the parent (run_cases.py);
this process writes monotonic-clock event marks to EVENTS_FILE so the parent can split phases,
and torch's allocator statistics to RESULT_JSON.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
import traceback


def mark(events: str, name: str) -> None:
    with open(events, "a") as f:
        f.write(f"{name} {time.monotonic():.6f}\n")


def build_config(case: dict):
    """A transformers config from the catalog row (the public config.json values)."""
    sys.path.insert(0, os.getcwd())  # the repo root on the device host
    from deepseek_probe.profiles import get_model

    spec = get_model(case["model"])
    common = dict(vocab_size=spec.vocab, hidden_size=spec.hidden, intermediate_size=spec.intermediate,
                  num_hidden_layers=spec.layers, num_attention_heads=spec.heads,
                  num_key_value_heads=spec.kv_heads, tie_word_embeddings=spec.tie_embeddings,
                  max_position_embeddings=max(case["seq"], 4096), use_cache=False)
    if spec.family == "qwen2":
        from transformers import Qwen2Config
        return spec, Qwen2Config(**common)
    if spec.family == "llama":
        from transformers import LlamaConfig
        return spec, LlamaConfig(**common)
    if spec.family == "deepseek_v2":
        from transformers import DeepseekV2Config
        return spec, DeepseekV2Config(
            **common, kv_lora_rank=spec.kv_lora_rank, q_lora_rank=spec.q_lora_rank,
            qk_nope_head_dim=spec.qk_nope_head_dim, qk_rope_head_dim=spec.qk_rope_head_dim,
            v_head_dim=spec.v_head_dim, first_k_dense_replace=spec.first_k_dense,
            moe_intermediate_size=spec.moe_intermediate, n_routed_experts=spec.routed_experts,
            n_shared_experts=spec.shared_experts, num_experts_per_tok=spec.experts_per_token,
            topk_method="greedy", norm_topk_prob=False)
    raise SystemExit(f"family {spec.family} not measured here")


def materialise(model, dtype) -> None:
    """Meta tensors -> CUDA tensors with small random values, skipping quantized Linear4bit."""
    import torch

    for m in model.modules():
        if type(m).__name__ == "Linear4bit":
            if m.bias is not None and m.bias.is_meta:
                m.bias = torch.nn.Parameter(torch.zeros(m.bias.shape, dtype=dtype, device="cuda"), requires_grad=False)
            continue
        for name, p in list(m._parameters.items()):
            if p is not None and p.is_meta:
                t = torch.empty(p.shape, dtype=p.dtype, device="cuda")
                t.normal_(0.0, 0.02) if t.is_floating_point() else t.zero_()
                m._parameters[name] = torch.nn.Parameter(t, requires_grad=p.requires_grad)
        for name, b in list(m._buffers.items()):
            if b is not None and b.is_meta:
                m._buffers[name] = torch.zeros(b.shape, dtype=b.dtype, device="cuda")
        if hasattr(m, "rope_init_fn") and "inv_freq" in m._buffers:  # recompute what the init made
            try:
                inv, _ = m.rope_init_fn(m.config, "cuda")
                m._buffers["inv_freq"] = inv.to("cuda")
                if "original_inv_freq" in m._buffers or hasattr(m, "original_inv_freq"):
                    m.original_inv_freq = m._buffers["inv_freq"]
            except Exception:  # noqa: BLE001 - values only, memory is the same
                pass


def quantize_linears(model) -> int:
    """transformers' replace_with_bnb_linear, then each weight quantized on the GPU (nf4, double quant)."""
    import torch
    import bitsandbytes as bnb
    from transformers import BitsAndBytesConfig
    from transformers.integrations.bitsandbytes import replace_with_bnb_linear

    qc = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                            bnb_4bit_compute_dtype=torch.bfloat16)
    replace_with_bnb_linear(model, modules_to_not_convert=["lm_head"], quantization_config=qc)
    n = 0
    for m in model.modules():
        if isinstance(m, bnb.nn.Linear4bit):
            w = torch.empty((m.out_features, m.in_features), dtype=torch.bfloat16, device="cuda").normal_(0.0, 0.02)
            p = bnb.nn.Params4bit(w, requires_grad=False, compress_statistics=True, quant_type="nf4",
                                  quant_storage=torch.uint8, module=m)
            m.weight = p._quantize("cuda")
            del w
            n += 1
    model.is_loaded_in_4bit = True  # what from_pretrained sets; peft reads it
    return n


def main() -> None:
    case_path, result_path, events = sys.argv[1:4]
    case = json.load(open(case_path))
    res: dict = {"id": case["id"], "outcome": "error"}
    mark(events, "start")
    import torch

    torch.cuda.init()
    torch.empty(1, device="cuda")
    torch.cuda.synchronize()
    mark(events, "ctx")
    try:
        run(case, res, events)
    except torch.OutOfMemoryError as e:
        res["outcome"] = "oom"
        res["error"] = str(e).splitlines()[0][:300]
    except Exception as e:  # noqa: BLE001 - record and move on to the next case
        res["outcome"] = "error"
        res["error"] = f"{type(e).__name__}: {e}"[:500]
        res["traceback"] = traceback.format_exc()[-2000:]
    res["max_allocated"] = torch.cuda.max_memory_allocated()
    res["max_reserved"] = torch.cuda.max_memory_reserved()
    json.dump(res, open(result_path, "w"))
    mark(events, "end")


def run(case: dict, res: dict, events: str) -> None:
    import torch
    from transformers import AutoModelForCausalLM, Trainer, TrainerCallback, TrainingArguments

    spec, cfg = build_config(case)
    load = torch.float32 if case["load"] == "fp32" else torch.bfloat16
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(cfg, dtype=load, attn_implementation=case.get("attn", "sdpa"))
    if case["method"] == "qlora":
        res["linear4bit"] = quantize_linears(model)
    materialise(model, load)
    torch.cuda.synchronize()
    res["params"] = sum(p.numel() for p in model.parameters())
    res["weights_allocated"] = torch.cuda.memory_allocated()
    gc = bool(case["gc"])
    if case["method"] == "qlora":
        from peft import prepare_model_for_kbit_training
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=gc)
        res["after_kbit_prepare_allocated"] = torch.cuda.memory_allocated()
    if case["method"] in ("lora", "qlora"):
        from peft import LoraConfig, get_peft_model
        targets = case["targets"]
        tm = "all-linear" if targets == "all-linear" else targets.split(",")
        lc = LoraConfig(r=case["rank"], lora_alpha=2 * case["rank"], lora_dropout=0.0, target_modules=tm,
                        task_type="CAUSAL_LM")
        model = get_peft_model(model, lc)
    res["trainable"] = sum(p.numel() for p in model.parameters() if p.requires_grad)
    res["dtypes"] = sorted({str(p.dtype) for p in model.parameters()})
    torch.cuda.synchronize()
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats()
    res["model_allocated"] = torch.cuda.memory_allocated()
    mark(events, "built")

    b, s = case["batch"], case["seq"]
    n = b * case.get("steps", 4) * case.get("accum", 1)

    class DS(torch.utils.data.Dataset):
        def __len__(self) -> int:
            return n

        def __getitem__(self, i: int) -> dict:
            g = torch.Generator().manual_seed(i)
            ids = torch.randint(0, spec.vocab, (s,), generator=g)
            return {"input_ids": ids, "labels": ids.clone(), "attention_mask": torch.ones(s, dtype=torch.long)}

    steps: list = []

    class Cb(TrainerCallback):
        def on_train_begin(self, args, state, control, **kw):
            mark(events, "train_begin")

        def on_step_end(self, args, state, control, **kw):
            torch.cuda.synchronize()
            steps.append({"alloc": torch.cuda.memory_allocated(), "max_alloc": torch.cuda.max_memory_allocated(),
                          "reserved": torch.cuda.memory_reserved()})

    kw = dict(output_dir=tempfile.mkdtemp(prefix="trainer_out"), per_device_train_batch_size=b, max_steps=case.get("steps", 4),
              gradient_accumulation_steps=case.get("accum", 1), bf16=True, gradient_checkpointing=gc,
              save_strategy="no", report_to="none", logging_steps=1000, disable_tqdm=True,
              dataloader_num_workers=0)
    if case.get("optim"):
        kw["optim"] = case["optim"]
    args = TrainingArguments(**kw)
    res["optim"] = str(args.optim)
    trainer = Trainer(model=model, args=args, train_dataset=DS(), callbacks=[Cb()])
    try:
        t0 = time.monotonic()
        trainer.train()
        res["train_s"] = round(time.monotonic() - t0, 2)
        res["outcome"] = "ok"
    finally:
        mark(events, "train_end")
        res["steps"] = steps


if __name__ == "__main__":
    main()
