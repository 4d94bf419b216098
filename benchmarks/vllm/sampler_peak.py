"""Peak GPU memory of vLLM's PyTorch-native sampling path during the profile run, measured.

vLLM's profile run (v1/worker/gpu_model_runner.py GPUModelRunner._dummy_sampler_run) samples
one token for each of max_num_seqs dummy requests with temperature 0.5, top_p 0.9 and top_k =
vocab - 1. Without FlashInfer (VLLM_USE_FLASHINFER_SAMPLER=0, or a V0 / pip install without the
flashinfer extra) that runs v1/sample/ops/topk_topp_sampler.py apply_top_k_top_p: a full sort of
the fp32 logits, a top-k mask, softmax + cumsum for top-p, a scatter back, then softmax and
exponential sampling. This script runs the same sequence of torch ops (written here from that
description, not copied) on the GPU and prints the peak bytes per logit element above the bf16
logits, for a few (seqs, vocab) shapes. Run on the GPU host: python3 benchmarks/vllm/sampler_peak.py
"""

import json
import sys

import torch


def native_sampler_peak(seqs: int, vocab: int) -> dict:
    dev = torch.device("cuda")
    torch.cuda.empty_cache()
    logits_bf16 = torch.randn(seqs, vocab, device=dev, dtype=torch.bfloat16)  # compute_logits output
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    base = torch.cuda.memory_allocated()
    logits = logits_bf16.to(torch.float32)  # Sampler.forward: logits in fp32
    logits.div_(torch.full((seqs, 1), 0.5, device=dev))  # temperature
    k = torch.full((seqs,), vocab - 1, device=dev)
    p = torch.full((seqs,), 0.9, device=dev)
    srt, idx = logits.sort(dim=-1, descending=False)
    kth = srt.gather(1, (srt.size(1) - k.to(torch.long)).unsqueeze(1))
    kmask = srt < kth
    srt.masked_fill_(kmask, -float("inf"))
    probs_sort = srt.softmax(dim=-1)
    torch.cumsum(probs_sort, dim=-1, out=probs_sort)
    pmask = probs_sort <= 1 - p.unsqueeze(1)
    pmask[:, -1] = False
    srt.masked_fill_(pmask, -float("inf"))
    out = srt.scatter(dim=-1, index=idx, src=srt)
    del srt, idx, kmask, probs_sort, pmask, kth
    probs = out.softmax(dim=-1, dtype=torch.float32)
    q = torch.empty_like(probs)
    q.exponential_()
    token = probs.div_(q).argmax(dim=-1)
    torch.cuda.synchronize()
    peak = torch.cuda.max_memory_allocated() - base
    del logits, out, probs, q, token, logits_bf16
    return {"seqs": seqs, "vocab": vocab, "peak_bytes": peak,
            "bytes_per_element": round(peak / (seqs * vocab), 3)}


def main() -> None:
    rows = [native_sampler_peak(s, v) for s, v in ((256, 128256), (1024, 128256), (256, 152064),
                                                    (1024, 152064), (1024, 129280), (512, 102400))]
    out = {"torch": torch.__version__, "gpu": torch.cuda.get_device_name(0), "rows": rows}
    json.dump(out, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
