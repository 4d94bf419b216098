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


def test_44376_logged_max_model_len_is_exactly_what_the_logged_pool_allows():
    """vLLM prints the pool rounded to 0.01 GiB, so the true pool lies in [5.435, 5.445) GiB. Its
    binary search answers L when need(L) <= pool < need(L + 1): with the logged L = 13528 the two
    needs must straddle that interval (no pool is searched for; the needs come straight from the
    formula at the logged length)."""
    need = [kvcache.kv_cache_bytes(V4, n, 1, "fp8", "vllm", 2, **LOG_44376) for n in (13528, 13529)]
    assert need[0] < need[1]  # one more token costs bytes: the search has one answer
    assert need[0] < 5.445 * GiB and need[1] > 5.435 * GiB


def test_51041_concurrency_and_tokens():
    blocks, conc, tokens = kvcache.vllm_v4_capacity(V4, int(7.71 * GiB), 121344, **LOG_51041)
    assert round(conc, 2) == 1.24
    assert abs(tokens - 150992) / 150992 < 0.01


def test_51041_logged_tokens_lie_inside_the_logged_pools_rounding():
    """The log's pool "7.71 GiB" is some pool in [7.705, 7.715) GiB; capacity grows with the pool,
    so the logged 150,992 tokens must lie between the capacities at the two ends (a window of
    about 0.13 %), and the logged 1.24x between their concurrencies."""
    lo = kvcache.vllm_v4_capacity(V4, int(7.705 * GiB), 121344, **LOG_51041)
    hi = kvcache.vllm_v4_capacity(V4, int(7.715 * GiB), 121344, **LOG_51041)
    assert lo[2] <= 150992 <= hi[2]
    assert (hi[2] - lo[2]) / 150992 < 0.002
    assert round(lo[1], 2) <= 1.24 <= round(hi[1], 2)


@pytest.mark.parametrize("pool_gib", [2.0, 7.71, 40.0])
def test_v4_blocks_are_the_pool_floored_to_whole_blocks(pool_gib):
    """Inverse of vLLM's num_blocks = available // block bytes: the blocks fit, one more does
    not; and a larger pool never holds fewer blocks or tokens."""
    _, lay = kvcache.vllm_v4_need(V4, 121344, "fp8", **LOG_51041)
    pool = int(pool_gib * GiB)
    blocks, _, tokens = kvcache.vllm_v4_capacity(V4, pool, 121344, **LOG_51041)
    assert blocks * lay["block_bytes"] <= pool < (blocks + 1) * lay["block_bytes"]
    more = kvcache.vllm_v4_capacity(V4, pool + lay["block_bytes"], 121344, **LOG_51041)
    assert more[0] == blocks + 1 and more[2] >= tokens


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
