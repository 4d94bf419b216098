"""Which decoder layers, and which of their bytes, one vLLM GPU holds: pipeline-parallel stages
and `--cpu-offload-gb`. Pure; no vLLM import. runtimes/vllm.py sizes the stage that binds.

- Stages: vllm/distributed/utils.py get_pp_indices gives each stage layers // pp and hands the
  remainder, one layer each, to the stages before the last, counting back from the second last
  (`partitions[-i] += 1` for i in 2..remainder+1): 27 layers over 2 stages = [14, 13], 61 over 4 =
  [15, 15, 16, 15]. VLLM_PP_LAYER_PARTITION overrides it (not modelled).
- Ends: the first stage holds the embedding, the last the final norm and the LM head
  (models/deepseek_v2.py, llama.py: PPMissingLayer elsewhere); tied embeddings: both ends.
- KV: each stage's pool holds only its own layers, and the engine keeps the smallest block count
  of all workers (V0 executor determine_num_available_blocks: min over workers; V1
  kv_cache_utils.py unify_kv_cache_configs).
- Sampler: the profile run samples on the last stage only (V1 gpu_model_runner.py profile_run
  `if get_pp_group().is_last_rank`; V0 model_runner.py execute_model returns the intermediate
  tensors before sampling on the other stages).
- `--cpu-offload-gb N` (model_executor/models/utils.py set_cpu_offload_max_bytes(N x 2^30),
  maybe_offload_to_cpu, called by make_layers on each decoder layer of the stage as it is built):
  parameters move to pinned host memory one at a time, in module order, while the bytes moved so
  far are below the budget, so the last one overshoots it (a fused MoE expert tensor is one
  parameter: w13_weight, all experts' gate_up). The embedding, final norm and LM head are never
  offloaded. Per GPU: each worker has its own budget over its own shard.
  - V0: each offloaded layer's forward copies its whole state to the GPU (functional_call over
    `v.to(device)`), so the profile peak carries the largest offloaded layer while it runs.
  - V1 from 0.8.3 (vllm#15354, "Fully Transparent Implementation of CPU Offloading"): the GPU
    reads the pinned host copy through a UVA view (get_cuda_view_from_cpu_tensor, a from_blob
    over cudaHostGetDevicePointer): no device bytes and no copies. V1 0.8.0-0.8.2 fall back to
    V0 ("--cpu-offload-gb is not supported by the V1 Engine. Falling back to V0", 0.8.2 logs).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, List, Optional, Tuple

from deepseek_probe.runtimes import sharded
from deepseek_probe.runtimes.base import GiB
from deepseek_probe.records import record

if TYPE_CHECKING:
    from deepseek_probe.profiles import ModelSpec


@record(frozen=True)
class Stage:
    """One pipeline stage as one of its GPUs holds it."""

    index: int
    layers: int  # decoder layers of this stage
    weights_bytes: int  # on the GPU, after --cpu-offload-gb
    offloaded_bytes: int  # moved to host memory
    offloaded_layer_peak_bytes: int  # V0: the largest offloaded layer, copied back while it runs
    last: bool  # holds the LM head and samples in the profile run


def partition(layers: int, pp: int) -> List[int]:
    """get_pp_indices: decoder layers per stage."""
    parts = [layers // pp] * pp
    for i in range(2, layers % pp + 2):
        parts[-i] += 1
    return parts


def _layer_chunks(spec: "ModelSpec", precision: str, tp: int) -> Tuple[List[float], List[float], float, float, float]:
    """Per decoder layer on one GPU, the parameters in module order as byte sizes, for a dense and
    an MoE layer; plus what never moves: the embedding/head bytes of one end, and the rotary cache
    and MLA post-load copies (not parameters). The decoder total is sharded.device_weight_bytes's,
    split over layers by their MLP shapes."""
    total, post = sharded.device_weight_bytes(spec, precision, tp, tp, 1)
    rate = sharded.linear_byte_rate(spec, precision)
    float_b = 4 if precision == "fp32" else 2
    emb = spec.embedding_params * float_b / tp
    end = emb if spec.tie_embeddings else emb / 2
    rope = sharded.rope_cache_bytes(spec)
    decoder = total - emb - rope  # every layer's bytes, MLA copies included
    attn_sharded, attn_rep = sharded.attention_linear_params(spec)
    attn = (attn_sharded / tp + attn_rep) * rate / spec.layers
    o_proj = spec.hidden * spec.heads * (spec.v_head_dim or spec.head_dim) / tp * rate
    mlp_total = decoder - attn * spec.layers - post  # MLPs, norms, routers
    h = spec.hidden
    dense_raw = 3 * h * spec.intermediate
    expert_raw = 3 * h * spec.moe_intermediate
    moe_raw = (spec.routed_experts + spec.shared_experts) * expert_raw + h * spec.routed_experts
    weight = spec.dense_layers * dense_raw + spec.moe_layers * moe_raw
    dense_mlp = mlp_total * dense_raw / weight if weight else 0.0
    moe_mlp = mlp_total * moe_raw / weight if weight else 0.0
    attention = [attn - o_proj, o_proj]  # q/kv projections, o_proj
    dense = attention + [dense_mlp * 2 / 3, dense_mlp / 3]  # gate_up_proj, down_proj
    if moe_raw:  # gate (router), w13_weight, w2_weight, shared experts' gate_up and down
        e = spec.routed_experts * expert_raw
        s = spec.shared_experts * expert_raw
        parts = [h * spec.routed_experts, e * 2 / 3, e / 3, s * 2 / 3, s / 3]
        moe = attention + [moe_mlp * p / moe_raw for p in parts]
    else:
        moe = dense
    return dense, moe, end, rope, post / spec.layers


def stages(spec: "ModelSpec", precision: str, tp: int, pp: int, offload_bytes: int = 0,
           post_per_layer: Optional[float] = None) -> List[Stage]:
    """Every stage as one of its GPUs holds it (pp = 1: one stage). `post_per_layer`: the MLA
    tensors made after loading, per layer, when the release's differ from the W_UK / W_UV copies
    (vllm_releases.mla_post_load: none for the decompressed cache, the absorbed matrices in 0.7.x)."""
    dense, moe, end, rope, copies = _layer_chunks(spec, precision, tp)
    copies = copies if post_per_layer is None else post_per_layer
    kinds = [dense] * spec.dense_layers + [moe] * (spec.layers - spec.dense_layers)
    out, first = [], 0
    for i, n in enumerate(partition(spec.layers, pp)):
        mine = kinds[first:first + n]
        first += n
        moved, peak = 0.0, 0.0
        for chunks in mine:  # maybe_offload_to_cpu, layer by layer, parameter by parameter
            layer_moved = 0.0
            for c in chunks:
                if moved >= offload_bytes:
                    break
                moved += c
                layer_moved += c
            peak = max(peak, layer_moved)
        held = sum(sum(c) + copies for c in mine) + rope + end * ((i == 0) + (i == pp - 1))
        out.append(Stage(index=i, layers=n, weights_bytes=int(held - moved), offloaded_bytes=int(moved),
                         offloaded_layer_peak_bytes=int(peak), last=i == pp - 1))
    return out


@record(frozen=True)
class Binding:
    """The stage whose pool holds the fewest tokens, with its own terms."""

    stage: Stage
    weights_bytes: int
    kv_bytes_per_token: float
    forward_peak_bytes: int
    sampler_peak_bytes: int

    @property
    def terms(self) -> Tuple[int, float, int, int]:
        """(weights, KV bytes per token, forward peak, sampler peak) of the binding stage."""
        return self.weights_bytes, self.kv_bytes_per_token, self.forward_peak_bytes, self.sampler_peak_bytes


def binding(spec: "ModelSpec", precision: str, tp: int, pp: int, offload_bytes: int, per_token: float,
            forward_peak: int, sampler_peak: int, extra_weight_bytes: int, copies_back: bool,
            post_per_layer: float, budget: Optional[int]) -> Binding:
    """`per_token`: the KV bytes per token of the largest stage (ceil(layers / pp) layers);
    `extra_weight_bytes`: LoRA weights of the whole model on one GPU (split by layers);
    `copies_back`: V0's offload (the largest offloaded layer rides on the forward peak);
    `budget`: the bytes left for weights, profile peak and KV (None: the heaviest stage)."""
    top = max(partition(spec.layers, pp))
    best, best_key = None, None
    for st in stages(spec, precision, tp, pp, offload_bytes, post_per_layer):
        w = st.weights_bytes + extra_weight_bytes * st.layers // spec.layers
        fwd = forward_peak + (st.offloaded_layer_peak_bytes if copies_back else 0)
        smp = sampler_peak if st.last else 0
        pt = per_token * st.layers / top
        used = w + max(fwd, smp)
        key = -used if budget is None else (budget - used) / pt
        if best_key is None or key < best_key:
            best, best_key = Binding(st, w, pt, fwd, smp), key
    assert best is not None
    return best


def notes(b: Binding, spec: "ModelSpec", pp: int, asked_gb: float, uva: bool) -> List[str]:
    """What the report says of the binding stage and of the offload."""
    st, out = b.stage, []
    if pp > 1:
        ends = ", the LM head and the sampler" if st.last else (", the embedding" if st.index == 0 else "")
        out.append(f"pipeline parallel: stage {st.index + 1} of {pp} binds ({st.layers} of {spec.layers} layers"
                   f"{ends}); every stage keeps the smallest block count")
    if asked_gb:
        how = ("read in place through UVA (no GPU copy)" if uva
               else "copied back to the GPU one layer at a time while it runs")
        out.append(f"--cpu-offload-gb {asked_gb:g}: {st.offloaded_bytes / GiB:.2f} GiB of decoder-layer weights "
                   f"in pinned host memory, whole parameters in layer order, {how}")
    return out
