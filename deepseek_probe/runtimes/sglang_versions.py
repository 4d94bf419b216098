"""SGLang's memory defaults release by release, 0.4.0 -> 0.5.5 (runtimes/sglang.py models 0.5.5).

Each rule is read from the sglang wheel of the release named (PyPI sglang==X,
python/sglang/srt/server_args.py ServerArgs.__post_init__ or _handle_gpu_memory_settings;
model_executor/model_runner.py ModelRunner.init_memory_pool). GPU sizes are nvidia-smi
memory.total in MiB, as get_nvgpu_memory_capacity returns them. What moves the KV pool between
releases is the default --mem-fraction-static and, through it, the pool; the profile formula
(rest = free after weights - free before weights x (1 - f), ModelRunner.profile_max_num_token),
the MLA cell (kv_lora_rank + rope per layer, not split by TP) and the pool rows are the same in
every release modelled. Post releases (0.4.6.post5) are modelled as their base release.

Pure: no I/O.
"""

from __future__ import annotations

from typing import Optional, Tuple

Release = Tuple[int, ...]

OLDEST, NEWEST = "0.4.0", "0.5.5"

# The release each rule arrived in (first wheel on PyPI that has it).
TP_TABLE_FRACTION = (0, 4, 0)  # f by tp_size 0.88 / 0.87 / 0.85 / 0.81 / 0.79
SMALL_GPU_TP4_GRAPH_BS = (0, 4, 3)  # cuda_graph_max_bs 80 (not 8) below 25 000 MiB at TP >= 4
BIG_GPU_13GIB = (0, 4, 6)  # over 81 920 MiB: f = (gpu - 13 GiB) / gpu
BIG_GPU_48GIB = (0, 4, 7)  # over 96 GiB: min(f + 48 GiB (1 - f) / gpu, (gpu - 18 GiB) / gpu); B200 0.79
RESERVED_TIERS = (0, 4, 8)  # PR #7054 (merged 2025-06-10): reserved_mem by GPU tier and tp x pp
NO_EXTRA_REQ_SLOT = (0, 4, 7)  # ReqToTokenPool(size=max_num_reqs), before: max_num_reqs + 1
CHUNK_GRAPH_RESERVE = (0, 5, 3)  # PR #10975 (merged 2025-09-27): reserved from chunk and graph bs
SMALL_GPU_GRAPH_BS_24 = (0, 5, 5)  # 20-35 GiB, TP < 4: cuda_graph_max_bs 24 (0.5.3/0.5.4: 16)


def _tp_table(parallel: int) -> float:
    # server_args.py __post_init__ 0.4.0 - 0.4.7: "depends on the tensor parallelism size"
    if parallel >= 16:
        return 0.79
    if parallel >= 8:
        return 0.81
    if parallel >= 4:
        return 0.85
    if parallel >= 2:
        return 0.87
    return 0.88


def chunk_and_graph_bs(release: Release, gpu_mib: Optional[float], tp: int) -> Tuple[int, int]:
    """(chunked_prefill_size, cuda_graph_max_bs) before 0.5.3 (from 0.5.3 on: sglang.gpu_tier_defaults,
    with 16 for the 20-35 GiB tier at TP < 4 in 0.5.3 and 0.5.4)."""
    if release >= CHUNK_GRAPH_RESERVE:
        raise ValueError("0.5.3 and later: use sglang.gpu_tier_defaults")
    if release >= RESERVED_TIERS:  # 0.4.8 - 0.5.2
        if gpu_mib is None:
            return 4096, 160
        chunk = 2048 if gpu_mib < 35 * 1024 else 8192 if gpu_mib < 160 * 1024 else 16384
        # below 35 GiB: 8 (TP < 4) or 80; otherwise the cuda-graph runner's default 160
        return chunk, ((8 if tp < 4 else 80) if gpu_mib < 35 * 1024 else 160)
    small = gpu_mib is not None and gpu_mib < 25_000
    if release >= BIG_GPU_48GIB and gpu_mib is not None and gpu_mib > 180_000:
        chunk = 16384  # 0.4.7: B200
    else:
        chunk = 2048 if small else 8192
    if small:
        return chunk, (80 if tp >= 4 and release >= SMALL_GPU_TP4_GRAPH_BS else 8)
    return chunk, 160


def mem_fraction_static(release: Release, gpu_mib: Optional[float], tp: int, pp: int,
                        speculative: Optional[str], dp_attention: bool) -> float:
    """The default --mem-fraction-static of SGLang `release` (before 0.5.3; from 0.5.3 on:
    sglang.auto_mem_fraction_static)."""
    if release >= CHUNK_GRAPH_RESERVE:
        raise ValueError("0.5.3 and later: use sglang.auto_mem_fraction_static")
    if release >= RESERVED_TIERS:
        # 0.4.8 - 0.5.2: reserved_mem (MiB) by tier; 0.88 when the GPU size is unknown
        if gpu_mib is None:
            return 0.88
        p = tp * pp
        if gpu_mib < 35 * 1024:  # T4, 4080; A10, L40, 4090 (chunked 2k, graph bs 8)
            reserved = (2.8 + p / 10) * 1024
        elif gpu_mib < 90 * 1024:  # H100, A100
            reserved = (9.5 + p / 2) * 1024
        elif gpu_mib < 160 * 1024:  # H20, H200
            reserved = (12 + p / 2) * 1024
        else:  # B200, MI300
            reserved = 32 * 1024
        if speculative:  # 0.5.x: STANDALONE drafts +6 GiB, others +2 GiB
            reserved += (6 if speculative.upper() == "STANDALONE" else 2) * 1024
        if dp_attention:
            reserved += 4 * 1024
        return round((gpu_mib - reserved) / gpu_mib, 3)
    if release >= BIG_GPU_48GIB:  # 0.4.7 (tp x pp since 0.4.6.post5)
        f = _tp_table(tp * pp) if gpu_mib is not None and gpu_mib <= 81920 else 0.88
        if gpu_mib is not None and gpu_mib > 180_000:
            return 0.79
        if gpu_mib is not None and gpu_mib > 96 * 1024:
            keep = (20 if speculative else 18) * 1024  # "15 GB + additional 3GB for cuda graph"
            return min(f + 48 * 1024 * (1 - f) / gpu_mib, (gpu_mib - keep) / gpu_mib)
        return f * 0.95 if speculative else f
    if release >= BIG_GPU_13GIB and gpu_mib is not None and gpu_mib > 81920:
        return (gpu_mib - 1024 * 13) / gpu_mib  # 0.4.6: "FIXME: more fine grained"
    return _tp_table(tp)  # 0.4.0 - 0.4.5: tp_size only


def extra_req_slots(release: Release) -> int:
    """ReqToTokenPool rows past max_num_reqs: 1 before 0.4.7 (the logs' max_running_requests=2049)."""
    return 0 if release >= NO_EXTRA_REQ_SLOT else 1
