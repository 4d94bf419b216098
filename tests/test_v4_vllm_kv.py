"""DeepSeek-V4-Flash KV cache in vLLM against two public logs (benchmarks/runtime_logs/vllm_v4_kv.md).

vllm#44376 (~0.22, LLM(...) so max_num_batched_tokens 16384 on a 96 GB GH200, --block-size 256,
fp8): "(6.66 GiB KV cache is needed ... available KV cache memory (5.44 GiB) ... estimated maximum
model length is 13528" for max_model_len 30000.
vllm#51041 (0.26.0, vllm serve on H20: 8192 x 2 in flight with async scheduling, MTP draft layer,
block 256, fp8): pool 7.71 GiB, "GPU KV cache size: 150,992 tokens", 1.24x at 121,344.
"""
import pytest

from deepseek_probe.runtimes import kvcache
from deepseek_probe.profiles import get_model

GiB = 1 << 30
V4 = get_model("deepseek-v4-flash")
LOG_44376 = dict(max_num_batched_tokens=16384, vllm_release="0.23.0")
LOG_51041 = dict(max_num_batched_tokens=8192, max_concurrent_batches=2, vllm_release="0.26.0", mtp_layers=1)


def _estimate_max_len(avail, top, **opts):
    """kv_cache_utils.py _estimate_max_model_len_from_groups: binary search on the need."""
    lo, hi = 1, top
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if kvcache.kv_cache_bytes(V4, mid, 1, "fp8", "vllm", 2, **opts) <= avail:
            lo = mid
        else:
            hi = mid - 1
    return lo


def test_44376_needed_for_30000_tokens():
    need = kvcache.kv_cache_bytes(V4, 30000, 1, "fp8", "vllm", 2, **LOG_44376)
    assert need == 6800 * 22 * (37440 + 1728 + 8640)  # pages x layer tuples x tuple bytes
    assert round(need / GiB, 2) == 6.66


@pytest.mark.parametrize("avail_gib", [5.435, 5.44, 5.445])
def test_44376_estimated_max_model_len(avail_gib):
    est = _estimate_max_len(int(avail_gib * GiB), 30000, **LOG_44376)
    assert abs(est - 13528) / 13528 < 0.01


def test_44376_estimated_max_model_len_exact_inside_the_rounding():
    # 5.44 is rounded: some pool in [5.435, 5.445) GiB gives exactly 13528
    hits = [a for a in range(int(5.435 * GiB), int(5.445 * GiB), 1 << 20)
            if _estimate_max_len(a, 30000, **LOG_44376) == 13528]
    assert hits


def test_51041_concurrency_and_tokens():
    blocks, conc, tokens = kvcache.vllm_v4_capacity(V4, int(7.71 * GiB), 121344, **LOG_51041)
    assert round(conc, 2) == 1.24
    assert abs(tokens - 150992) / 150992 < 0.01
    # exactly the logged figures with the pool 7.7125 GiB (rounds to 7.71): 7965 blocks
    blocks, conc, tokens = kvcache.vllm_v4_capacity(V4, int(7.7125 * GiB), 121344, **LOG_51041)
    assert (blocks, tokens) == (7965, 150992)


def test_one_request_needs_more_than_its_compressed_entries():
    """The per-request reserve (window + compressor states for in-flight tokens) dominates short
    requests: a 30000-token request needs about 6 GiB, not the 0.11 GiB of its entries."""
    need = kvcache.kv_cache_bytes(V4, 30000, 1, "fp8", "vllm")
    assert 6 * GiB < need < 7 * GiB
    # 0.33.0 charges the widest group's block per page: 6800 pages x 1,002,240 B
    assert need == 6800 * (21 * 37440 + 20 * 1728 + 21 * 8640)
    # other runtimes are unchanged by the vLLM options
    assert kvcache.kv_cache_bytes(V4, 30000, 1, "fp8", "sglang", max_num_batched_tokens=1) == \
        kvcache.kv_cache_bytes(V4, 30000, 1, "fp8", "sglang")
