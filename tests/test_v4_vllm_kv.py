"""DeepSeek-V4-Flash KV cache in vLLM: the need of one request and the pool arithmetic
(benchmarks/runtime_logs/vllm_v4_kv.md). The whole start-up, pool included, is predicted from the
command in tests/test_v4_vllm_e2e.py; no logged pool is an input here.

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


def test_44376_needed_for_30000_tokens():
    need = kvcache.kv_cache_bytes(V4, 30000, 1, "fp8", "vllm", 2, **LOG_44376)
    assert need == 6800 * 22 * (37440 + 1728 + 8640)  # pages x layer tuples x tuple bytes
    assert round(need / GiB, 2) == 6.66


@pytest.mark.parametrize("pool_gib", [2.0, 8.0, 40.0])
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
