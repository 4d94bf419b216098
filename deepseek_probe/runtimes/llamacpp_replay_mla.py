"""llama.cpp's "CUDA0 compute buffer size" for deepseek2 (DeepSeek-V2 / V2-Lite / V3: MLA with the
absorbed wk_b / wv_b, MoE), by replaying its reserve graph through the same split and ggml-alloc
best fit as llamacpp_replay.py (whose scheduler and allocator this module reuses).

Pure. Every step follows llama.cpp 2026-10 (commit 0c1e570, github.com/ggml-org/llama.cpp):
- the graph: src/models/deepseek2.cpp (llm_build_deepseek2, the is_mla path), src/llama-graph.cpp
  build_attn (the K-only cache input: expand Qcur, Vcur, Kcur, then cpy_k), build_attn_mha (flash
  attention, then v_mla: permute, mul_mat, permute, cont, reshape), build_moe_ffn (router,
  gating, optional group selection, top-k, weights, MUL_MAT_ID up / gate / down, the weighted
  experts, n_used views and n_used - 1 adds), build_ffn (the shared experts and the leading
  dense layers), src/llama-kv-cache.cpp (get_k, cpy_k), in ggml_visit_parents_graph order.
  Checked against the v2-c16k-ngl10 log: 1764 nodes, 304 splits, a flash attention at node 28
  (layer 0), then every 42 (the dense layer) and 66 nodes (MoE layers).
- sizes and the allocator: ggml-cuda.cu ggml_backend_cuda_buffer_type_get_alloc_size (flash
  attention's output carries f16 copies of a quantized K; MLA's V is a view of K, so they
  share: fattn-common.cuh ggml_cuda_flash_attn_ext_get_f16_extra_data); ggml-alloc.c in place
  only over a same-layout parent of the allocator's own.
- the CUDA backend's graph_optimize (ggml-cuda.cu ggml_backend_cuda_graph_optimize) adds
  allocation dependencies for two fusions within one CUDA split: the top-k MoE gating (soft_max
  or sigmoid, reshape, [bias add,] argsort, view, get_rows [, the weight norm, scale]: every node
  and source is kept until the node after it; topk-moe.cu ggml_cuda_should_use_topk_moe: a
  power-of-two expert count up to 512) and the weighted expert sum (mul, views, adds;
  2 to 15 experts used: the down projection's output and the weights are kept until the last add).
The per-model router settings (gating, top-k weight norm, scale, expert groups) come from each
model's config.json; see GATING.
"""

from __future__ import annotations

from typing import Dict, List, Tuple

from deepseek_probe.runtimes.llamacpp_replay import (
    CPU, CUDA, INPUT, OUTPUT, WEIGHT, _VIEW_OPS, Replay, _allocate, _assign, _split, _T, visit)
from deepseek_probe.records import record, replace

# blk.N weights in the order of each layer's tuple of CUDA bytes (GGUF names, ".weight" dropped)
MLA_WEIGHT_NAMES = ("attn_norm", "attn_q_a_norm", "attn_kv_a_norm", "attn_q", "attn_q_a", "attn_q_b",
                    "attn_kv_a_mqa", "attn_k_b", "attn_v_b", "attn_output", "ffn_norm", "ffn_gate",
                    "ffn_up", "ffn_down", "ffn_gate_inp", "exp_probs_b.bias", "ffn_gate_exps",
                    "ffn_up_exps", "ffn_down_exps", "ffn_gate_shexp", "ffn_up_shexp", "ffn_down_shexp")
_EXPERT_NAMES = frozenset(("ffn_gate_exps", "ffn_up_exps", "ffn_down_exps"))

# (sigmoid gating, top-k weights normalised, routed scaling, expert groups, groups used) from
# config.json scoring_func, norm_topk_prob, routed_scaling_factor, n_group, topk_group:
# deepseek-ai/DeepSeek-V2-Lite (softmax, false, 1.0, 1, 1), deepseek-ai/DeepSeek-V2 (softmax,
# false, 16.0, 8, 3), deepseek-ai/DeepSeek-V3 (sigmoid, true, 2.5, 8, 4; e_score_correction_bias
# is the exp_probs_b tensor). llama.cpp reads them as expert_gating_func, expert_weights_norm,
# expert_weights_scale, expert_group_count, expert_group_used_count (conversion/base.py).
GATING = {"v2-lite": (False, False, 1.0, 1, 1), "v2": (False, False, 16.0, 8, 3), "v3": (True, True, 2.5, 8, 4)}


@record(frozen=True)
class MlaGraph:
    """What sizes a deepseek2 reserve graph and where its tensors live."""

    hidden: int
    heads: int
    q_lora: int  # 0: V2-Lite's single wq
    kv_lora: int
    rope: int
    nope: int
    v_head: int
    ffn: int  # the leading dense layers' width
    n_ff_exp: int
    n_expert: int
    n_used: int
    n_shared: int
    dense_lead: int
    gating: Tuple[bool, bool, float, int, int]  # a GATING row
    vocab: int
    layers: int
    n_tokens: int
    n_outputs: int
    n_kv: int
    n_streams: int
    k_row_bytes: int  # one cache row (kv_lora + rope) in the cache type
    v_row_bytes: int  # its first kv_lora values (MLA's V is a view of K)
    k_quantized: bool
    host_layers: int  # layers [0, host_layers) keep weights and cache in host memory
    host_expert_layers: int  # and layers [0, this) their routed experts (--cpu-moe, -ncmoe)
    output_on_host: bool
    layer_weight_bytes: Tuple[Tuple[int, ...], ...]  # MLA_WEIGHT_NAMES order, CUDA bytes
    output_weight_bytes: Tuple[int, int]


def _build(g: MlaGraph) -> Tuple[List[_T], List[_T], List[Tuple[List[_T], List[_T], _T]]]:
    """(nodes, leafs, fusions): nodes and leafs in ggml_visit_parents_graph order; each fusion is
    (its nodes, the tensors kept, the node they are kept until) for graph_optimize."""
    nodes: List[_T] = []
    leafs: List[_T] = []
    seen = set()
    fusions: List[Tuple[List[_T], List[_T], _T]] = []

    def expand(t: _T) -> None:
        visit(t, seen, nodes, leafs)

    f32 = 4

    def new(name: str, op: str, shape: Tuple[int, ...], *src: _T, rows: int = -1, size: int = f32) -> _T:
        n = 1
        for d in shape:
            n *= d
        # get_op_batch_size: MUL_MAT ne[1], MUL_MAT_ID / ROPE ne[2], else the rows
        batch = rows if rows >= 0 else n // shape[0]
        return _T(name, op, n * size, src, rows=batch, shape=shape)

    def view(name: str, op: str, of: _T, nbytes: int = 0) -> _T:
        return _T(name, op, nbytes, (of,), view_src=of)

    E, H, T, R = g.hidden, g.heads, g.n_tokens, g.n_outputs
    dk, L = g.nope + g.rope, g.kv_lora
    tok_embd = _T("token_embd", "NONE", 0, flags=WEIGHT, buf=CPU)  # llama-model.cpp: host memory
    tokens = _T("inp_tokens", "NONE", T * 4, flags=INPUT)
    inpL = new("embd", "GET_ROWS", (E, T), tok_embd, tokens, rows=0)  # get_rows: never offloaded
    expand(inpL)
    expand(_T("inp_embd", "NONE", T * E * f32, flags=INPUT))
    inp_pos = _T("inp_pos", "NONE", T * 4, flags=INPUT)
    k_idxs = _T("attn_inp_k_idxs", "NONE", T * 8, flags=INPUT)
    mask = _T("attn_inp_kq_mask", "NONE", g.n_kv * T * 2, flags=INPUT)  # f16 with flash attention
    out_ids = _T("out_ids", "NONE", R * 4, flags=INPUT)
    cells = g.n_kv * g.n_streams
    # ggml_nbytes of the permuted K view (576 x cells) and of V (its first 512 values per row)
    k_view_bytes = cells * g.k_row_bytes
    v_view_bytes = (cells - 1) * g.k_row_bytes + g.v_row_bytes

    for il in range(g.layers):
        host = il < g.host_layers
        host_exp = host or il < g.host_expert_layers
        w: Dict[str, _T] = {}
        for name, b in zip(MLA_WEIGHT_NAMES, g.layer_weight_bytes[il]):
            if b:
                on_host = host_exp if name in _EXPERT_NAMES else host
                w[name] = _T(f"{name}-{il}", "NONE", b, flags=WEIGHT, buf=CPU if on_host else CUDA)
        cache = _T(f"cache_k_l{il}", "NONE", 0, buf=CPU if host else CUDA)
        inpSA = inpL
        cur = new("norm", "RMS_NORM", (E, T), inpL)
        cur = new("attn_norm", "MUL", (E, T), cur, w["attn_norm"])
        if g.q_lora:
            q = new("q", "MUL_MAT", (g.q_lora, T), w["attn_q_a"], cur)
            q = new("q", "RMS_NORM", (g.q_lora, T), q)
            q = new("q", "MUL", (g.q_lora, T), q, w["attn_q_a_norm"])
            q = new("q", "MUL_MAT", (H * dk, T), w["attn_q_b"], q)
        else:
            q = new("q", "MUL_MAT", (H * dk, T), w["attn_q"], cur)
        q = view("q", "RESHAPE", q)
        kv_cmpr_pe = new("kv_cmpr_pe", "MUL_MAT", (L + g.rope, T), w["attn_kv_a_mqa"], cur)
        kv_cmpr = view("kv_cmpr", "VIEW", kv_cmpr_pe)
        k_pe = new("k_pe", "ROPE", (g.rope, 1, T), view("k_pe", "VIEW", kv_cmpr_pe), inp_pos, rows=T)
        kv_cmpr = new("kv_cmpr", "RMS_NORM", (L, T), kv_cmpr)
        kv_cmpr = new("kv_cmpr", "MUL", (L, T), kv_cmpr, w["attn_kv_a_norm"])
        q_nope = view("q_nope_perm", "PERMUTE", view("q_nope", "VIEW", q))
        q_pe = new("q_pe", "ROPE", (g.rope, H, T), view("q_pe", "VIEW", q), inp_pos, rows=T)
        absorbed = new("q_nope_absorbed", "MUL_MAT", (L, T, H), w["attn_k_b"], q_nope, rows=T)
        Qcur = new("Qcur", "CONCAT", (L + g.rope, H, T), view("q_nope_absorbed_perm", "PERMUTE", absorbed), q_pe)
        Vcur = view("kv_cmpr_reshape", "RESHAPE", kv_cmpr)
        Kcur = new("Kcur", "CONCAT", (L + g.rope, 1, T), Vcur, k_pe)
        expand(Qcur)
        expand(Vcur)
        expand(Kcur)
        # cpy_k: ggml_set_rows(cache, view_2d(Kcur), idxs) is a view of the cache with sources
        # (rows, idxs, cache)
        expand(_T("k_store", "SET_ROWS", 0, (view("k_2d", "VIEW", Kcur), k_idxs, cache), view_src=cache))
        qp = view("q_perm", "PERMUTE", view("q_4d", "VIEW", Qcur))
        k_view = view("k_view", "VIEW", cache)
        kp = view("k_perm", "PERMUTE", k_view, k_view_bytes)
        vp = view("v_perm", "PERMUTE", view("v_view", "VIEW", k_view), v_view_bytes)
        if g.k_quantized:  # a copy to the GPU keeps the padded row of a quantized tensor
            pad = (g.k_row_bytes * 512) // (L + g.rope) - g.k_row_bytes if (L + g.rope) % 512 else 0
            kp.cuda_size, vp.cuda_size = k_view_bytes + pad, v_view_bytes + pad
        fa = new("fattn", "FLASH_ATTN_EXT", (L, H, T), qp, kp, vp, mask, rows=T)
        if g.k_quantized:  # f16 K for the MMA kernel, shared with V (V_is_K_view)
            fa.cuda_size = -(-fa.nbytes // 128) * 128 + (L + g.rope) * cells * 2
        expand(fa)
        cur = view("fattn_perm", "PERMUTE", fa)
        cur = new("fattn_mla", "MUL_MAT", (g.v_head, T, H), w["attn_v_b"], cur, rows=T)
        cur = new("kqv_out", "CONT", (g.v_head, H, T), view("perm", "PERMUTE", cur))
        cur = view("kqv_out", "RESHAPE", cur)
        expand(cur)
        cur = new("attn_out", "MUL_MAT", (E, T), w["attn_output"], cur)
        rows = T
        if il == g.layers - 1:
            rows = R
            cur = new("attn_out_rows", "GET_ROWS", (E, R), cur, out_ids, rows=0)
            inpSA = new("inpSA_rows", "GET_ROWS", (E, R), inpSA, out_ids, rows=0)
        ffn_inp = new("ffn_inp", "ADD", (E, rows), cur, inpSA)
        cur = new("norm", "RMS_NORM", (E, rows), ffn_inp)
        cur = new("ffn_norm", "MUL", (E, rows), cur, w["ffn_norm"])
        if il < g.dense_lead:
            cur = _ffn(new, cur, w["ffn_up"], w["ffn_gate"], w["ffn_down"], g.ffn, E, rows)
        else:
            moe_out = _moe(g, new, view, expand, fusions, cur, w, rows)
            shexp = _ffn(new, cur, w["ffn_up_shexp"], w["ffn_gate_shexp"], w["ffn_down_shexp"],
                         g.n_ff_exp * g.n_shared, E, rows)
            cur = new("ffn_out", "ADD", (E, rows), moe_out, shexp)
        inpL = new("l_out", "ADD", (E, rows), cur, ffn_inp)
    out_norm, out_w = (_T(n, "NONE", b, flags=WEIGHT, buf=CPU if g.output_on_host else CUDA)
                       for n, b in zip(("output_norm", "output"), g.output_weight_bytes))
    cur = new("norm", "RMS_NORM", (E, R), inpL)
    embd = new("result_norm", "MUL", (E, R), cur, out_norm)
    logits = new("result_output", "MUL_MAT", (g.vocab, R), out_w, embd)
    embd.flags |= OUTPUT  # llm_graph_result::set_outputs: t_embd and t_logits
    logits.flags |= OUTPUT
    expand(logits)
    return nodes, leafs, fusions


def _ffn(new, cur: _T, up: _T, gate: _T, down: _T, width: int, E: int, rows: int) -> _T:
    """build_ffn with a parallel SiLU gate: ggml_swiglu_split(gate, up), then down."""
    u = new("ffn_up", "MUL_MAT", (width, rows), up, cur)
    g = new("ffn_gate", "MUL_MAT", (width, rows), gate, cur)
    x = new("ffn_swiglu", "GLU", (width, rows), g, u)
    return new("ffn_out", "MUL_MAT", (E, rows), down, x)


def _moe(g: MlaGraph, new, view, expand, fusions, cur: _T, w: Dict[str, _T], rows: int) -> _T:
    """build_moe_ffn for deepseek2 (no biases, no scales, split gate / up experts)."""
    sigmoid, norm_w, w_scale, n_groups, n_group_used = g.gating
    n_exp, k, E = g.n_expert, g.n_used, g.hidden
    logits = new("ffn_moe_logits", "MUL_MAT", (n_exp, rows), w["ffn_gate_inp"], cur)
    probs = new("ffn_moe_probs", "UNARY" if sigmoid else "SOFT_MAX", (n_exp, rows), logits)
    sel = probs
    if "exp_probs_b.bias" in w:
        sel = new("ffn_moe_probs_biased", "ADD", (n_exp, rows), probs, w["exp_probs_b.bias"])
    if n_groups > 1:
        per = n_exp // n_groups
        groups = view("selection_groups", "RESHAPE", sel)
        top2 = view("group_top2", "VIEW", new("argsort", "ARGSORT", (per, n_groups, rows), groups, size=4))
        scores = new("group_scores", "GET_ROWS", (1, 2, n_groups, rows), view("r4", "RESHAPE", groups), top2, rows=0)
        scores = new("group_scores", "SUM_ROWS", (1, n_groups, rows), view("r3", "RESHAPE", scores))
        scores = view("group_scores", "RESHAPE", scores)
        top = view("ffn_moe_group_topk", "VIEW", new("argsort", "ARGSORT", (n_groups, rows), scores, size=4))
        kept = new("selection_probs", "GET_ROWS", (per, n_group_used, rows), groups, top, rows=0)
        filled = new("fill", "FILL", (per, n_groups, rows), groups)
        sel = _T("ffn_moe_probs_masked", "SET_ROWS", 0, (kept, top, filled), view_src=filled)
        sel = view("ffn_moe_probs_masked", "RESHAPE", sel)
    argsort = new("ffn_moe_argsort", "ARGSORT", (n_exp, rows), sel, size=4)
    selected = view("ffn_moe_topk", "VIEW", argsort)
    weights = new("ffn_moe_weights", "GET_ROWS", (1, k, rows), view("probs_3d", "RESHAPE", probs), selected, rows=0)
    if norm_w:
        w2 = view("weights_2d", "RESHAPE", weights)
        total = new("ffn_moe_weights_sum", "SUM_ROWS", (1, rows), w2)
        total = new("ffn_moe_weights_sum_clamped", "CLAMP", (1, rows), total)
        weights = view("weights_3d", "RESHAPE", new("ffn_moe_weights_norm", "DIV", (k, rows), w2, total))
    if w_scale not in (0.0, 1.0):
        weights = new("ffn_moe_weights_scaled", "SCALE", (1, k, rows), weights)
    expand(weights)  # "call early so that topk-moe can be used"
    # the top-k fusion (soft_max / sigmoid gating only, expert counts topk-moe.cu instantiates)
    if n_groups == 1 and (n_exp & (n_exp - 1) == 0) and n_exp <= 512:
        fusions.append(([probs, weights], [], weights))  # _fuse takes the nodes between
    cur3 = view("cur_3d", "RESHAPE", cur)
    up = new("ffn_moe_up", "MUL_MAT_ID", (g.n_ff_exp, k, rows), w["ffn_up_exps"], cur3, selected)
    gate = new("ffn_moe_gate", "MUL_MAT_ID", (g.n_ff_exp, k, rows), w["ffn_gate_exps"], cur3, selected)
    x = new("ffn_moe_swiglu", "GLU", (g.n_ff_exp, k, rows), gate, up)
    experts = new("ffn_moe_down", "MUL_MAT_ID", (E, k, rows), w["ffn_down_exps"], x, selected)
    weighted = new("ffn_moe_weighted", "MUL", (E, k, rows), experts, weights)
    expand(weighted)
    views = [view(f"expert_{i}", "VIEW", weighted) for i in range(k)]
    for v in views:
        expand(v)
    out = views[0]
    adds = []
    for v in views[1:]:
        out = new("ffn_moe_out", "ADD", (E, rows), out, v)
        adds.append(out)
        expand(out)
    if 2 <= k <= 15:  # ggml_cuda_match_moe_weighted_reduction
        fusions.append(([weighted] + views + adds, [experts, weights], adds[-1]))
    return out


def _fuse(graph: List[Tuple[_T, int]], nodes: List[_T],
          fusions: List[Tuple[List[_T], List[_T], _T]]) -> List[Tuple[_T, int]]:
    """The dependency nodes ggml_backend_sched adds to the graph copy after each fusion's `until`
    node, for the fusions whose nodes run in one CUDA split (graph_optimize sees one split)."""
    index = {id(t): i for i, t in enumerate(nodes)}
    deps: Dict[int, List[_T]] = {}
    for group, keep, until in fusions:
        if len(group) == 2 and not keep:  # top-k: every node from the gating op to the weights
            lo, hi = index[id(group[0])], index[id(group[1])]
            group = nodes[lo:hi + 1]
            keep = []
            for t in group:
                for x in [t] + t.src:
                    if x not in keep:
                        keep.append(x)
            if hi + 1 >= len(nodes):
                continue
            until = nodes[hi + 1]
        ops = [t for t in group if t.op not in _VIEW_OPS]
        if any(t.backend != CUDA or t.split != ops[0].split for t in ops):
            continue
        deps.setdefault(id(until), []).extend(keep)
    if not deps:
        return graph
    out: List[Tuple[_T, int]] = []
    for t, b in graph:
        out.append((t, b))
        keep = deps.get(id(t))
        if keep:
            out.append((_T("dep", "NONE", 0, tuple(keep), view_src=keep[0]), b))
    return out


def shortened(g: MlaGraph) -> MlaGraph:
    """`g` with repetitions of a run of identical layers (the same side of the split, dense or
    MoE, the same sizes of the weights the GPU borrows: a GPU-resident weight is never allocated;
    runs of 1 to 3) left out: every third and later one on the GPU, every second and later one
    in host memory (each borrowed weight's copy is freed with its split, so one pass settles the
    allocator): the allocator comes back to the same state between them (tests check the
    buffers against the full replay)."""
    def borrowed(il: int) -> Tuple[int, ...]:
        if il < g.host_layers:
            return g.layer_weight_bytes[il]
        if il < g.host_expert_layers:
            return tuple(b for n, b in zip(MLA_WEIGHT_NAMES, g.layer_weight_bytes[il]) if n in _EXPERT_NAMES)
        return ()
    kinds = [(il < g.host_layers, il < g.host_expert_layers, il < g.dense_lead, borrowed(il))
             for il in range(g.layers - 1)]
    keep: List[int] = []
    for il in range(g.layers - 1):  # the last layer (logit rows only) is always kept
        keep.append(il)
        # the copies that show a repetition; in host memory two, both entered from the same kind
        n = 2 if il < g.host_layers else 3
        for p in (1, 2, 3):
            if n == 2 and (len(keep) <= 2 * p or kinds[keep[-2 * p - 1]] != kinds[keep[-1]]):
                continue
            if len(keep) >= n * p and all(len({kinds[keep[-k - j * p]] for j in range(n)}) == 1
                                          for k in range(1, p + 1)):
                del keep[-p:]
                break
    keep.append(g.layers - 1)
    if len(keep) == g.layers:
        return g
    return replace(g, layers=len(keep), host_layers=sum(1 for il in keep if il < g.host_layers),
                   host_expert_layers=sum(1 for il in keep if il < g.host_expert_layers),
                   dense_lead=sum(1 for il in keep if il < g.dense_lead),
                   layer_weight_bytes=tuple(g.layer_weight_bytes[il] for il in keep))


def replay(g: MlaGraph, full: bool = False) -> Replay:
    """The replay of `g` (by default shortened: same buffers, fewer nodes and splits)."""
    nodes, leafs, fusions = _build(g if full else shortened(g))
    _assign(nodes, leafs)
    graph, n_splits = _split(nodes)
    cuda, host = _allocate(leafs, _fuse(graph, nodes, fusions))
    return Replay(len(nodes), n_splits, cuda, host)


def gating(spec_family: str, n_expert: int) -> Tuple[bool, bool, float, int, int]:
    """The GATING row of a deepseek2-architecture model."""
    if spec_family == "deepseek_v3":
        return GATING["v3"]
    return GATING["v2-lite" if n_expert <= 64 else "v2"]

