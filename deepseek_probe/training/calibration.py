"""The two fitted constants of the fine-tuning accounting, with where they come from.

Fitted on the calibration cases ("split": "cal") of benchmarks/training/results.jsonl by
benchmarks/training/fit.py; tests/test_training_measured.py checks the accounting against the
held-out validation cases ("split": "val"), which were chosen before any fit (every third case).
"""

from __future__ import annotations

MiB = 1 << 20

# NVML used - torch max_memory_reserved at the peak: CUDA context, kernel images (torch, cuBLAS,
# bitsandbytes) and cuBLAS workspaces outside the caching allocator. Placeholder until fitted:
# the 700 MiB measured for transformers inference (runtimes/transformers.py).
NON_TORCH_BYTES = 700 * MiB
NON_TORCH_SOURCE = "CUDA context + kernels outside torch's allocator: runtimes/transformers.py measurement"

# torch caching allocator: reserved / allocated - 1 at the peak (block rounding and segments that
# cannot be reused for a differently sized request, c10/cuda/CUDACachingAllocator.cpp).
ALLOCATOR_FRAGMENTATION = 0.0
ALLOCATOR_SOURCE = "caching allocator rounding + fragmentation: not yet fitted"
