"""Thresholds and margins the checks, the planner and verify share. Every number has its source.

A leaf module: it imports nothing of ours, so anything may import it without a circle.
"""

from __future__ import annotations

from typing import Dict, Tuple

MIB = 2**20


GIB = 2**30


# Per-device headroom kept free beyond the estimate: llama.cpp's `--fit-target` default, 1024 MiB
# per device (common/fit.cpp, PR ggml-org/llama.cpp#16653; anchors-memory-tools.md §1.7, §3 "M").
DEVICE_MARGIN_BYTES = 1024 * MIB


# vLLM reserves gpu_memory_utilization x TOTAL memory (default 0.9) and refuses to start when free
# memory is lower (vllm/v1/worker/gpu_worker.py; anchors-memory-tools.md §1.8).
VLLM_GPU_MEMORY_UTILIZATION = 0.9


# Memory NVML shows used on an idle GPU with no process: 480 MiB on the H100, 615 MiB on the H200
# (census-h100.json / census-h200.json mem_v1_fields). More than 1 GiB used with no visible
# process means another container holds memory.
IDLE_USED_BYTES_MAX = 1 * GIB


# Offloaded weights must fit in free RAM minus an OS reserve of 2 GB (anchors-memory-tools.md §3,
# "Host side").
HOST_OS_RESERVE_BYTES = 2 * GIB


# Docker gives a container 64 MiB of /dev/shm by default; NCCL and PyTorch's tensor-parallel
# workers need more (NCCL troubleshooting guide: run containers with --shm-size=1g or
# --ipc=host; vLLM docs, "Using Docker": --ipc=host or --shm-size).
DOCKER_DEFAULT_SHM_BYTES = 64 * MIB


RECOMMENDED_SHM_BYTES = 1 * GIB


# guide-claims.md #15: alert above 85 °C (H100/H200 slow down near 87-90 °C).
GPU_TEMPERATURE_WARN_C = 85


# Swap nearly used up = the host is under memory pressure.
SWAP_PRESSURE_FREE_FRACTION = 0.25


# Minimum Linux driver per CUDA major under CUDA minor-version compatibility. Source: NVIDIA CUDA
# Toolkit Release Notes, "CUDA Toolkit and Corresponding Driver Versions" (table 3, minimum
# required driver for CUDA minor version compatibility).
MIN_DRIVER_FOR_CUDA_MAJOR: Dict[int, Tuple[int, ...]] = {
    11: (450, 80, 2),
    12: (525, 60, 13),
    13: (580, 65, 6),
}


# Minimum compute capability per precision / feature. Sources: vLLM errors "Bfloat16 is only
# supported on GPUs with compute capability of at least 8.0" and its docs (GPU: compute capability
# 7.5 or higher); FP8 tensor cores exist from Ada (8.9) / Hopper (9.0) (NVIDIA Transformer Engine
# docs); vLLM runs FP8 checkpoints weight-only through FP8 Marlin on 8.0+ (vLLM docs,
# quantization/fp8); Marlin int4 kernels need 8.0 (vLLM docs, quantization supported hardware);
# FlashAttention-2 supports Ampere or newer (Dao-AILab/flash-attention README).
CC_BF16 = (8, 0)


CC_FP8 = (8, 9)


CC_MARLIN = (8, 0)


CC_FLASH_ATTENTION_2 = (8, 0)


CC_VLLM_MIN = (7, 5)


