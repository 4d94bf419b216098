"""The two fitted constants of the fine-tuning accounting, with where they come from.

Fitted on the calibration cases ("split": "cal") of benchmarks/training/results.jsonl by
benchmarks/training/fit.py; tests/test_training_measured.py checks the accounting against the
held-out validation cases ("split": "val"), which were chosen before any fit (every third case).
"""

from __future__ import annotations

MiB = 1 << 20

# NVML used at the peak - torch max_memory_reserved: CUDA context, kernel images (torch, cuBLAS,
# bitsandbytes) outside the caching allocator. Median over the 25 calibration cases: 804 061 184 B
# (766.8 MiB; every case 750-768 MiB; H200, driver 580, torch 2.11 + cu130).
NON_TORCH_BYTES = 804_061_184
NON_TORCH_SOURCE = ("CUDA context + kernel images outside torch's allocator: 767 MiB, median of the "
                    "calibration runs (benchmarks/training/results.jsonl)")

# torch caching allocator (c10/cuda/CUDACachingAllocator.cpp): reserved - allocated at the peak.
# Blocks freed by one step's activations, logits and gradients are kept but fit later requests of
# other sizes badly, so the excess scales with the bytes that come and go each step (peak
# allocated minus what stays resident: weights, adapters, optimizer states), not with the
# weights. Median ratio over the calibration cases: 0.2517 (checkpointed runs 0.2-0.35, LoRA
# without checkpointing 0.03-0.1, fp32-master 0.55).
ALLOCATOR_FRAGMENTATION = 0.2517
ALLOCATOR_SOURCE = ("caching allocator: 0.25 x the bytes allocated and freed each step (fitted on the "
                    "calibration runs, benchmarks/training/fit.py)")
