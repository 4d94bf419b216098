"""llama.cpp's compute buffers by replaying what it does at start-up: build the worst-case
micro-batch graph, split it between the CUDA and CPU backends, and run ggml-alloc's best-fit
allocator over it. For dense llama / qwen2 graphs with flash attention and an f16 cache, where
the closed forms of llamacpp_graph.py cannot see the allocator's holes (partial offload).

Pure. Every step follows llama.cpp 2026-10 (commit 0c1e570, github.com/ggml-org/llama.cpp):
- the graph: src/models/qwen2.cpp and llama.cpp `graph::graph`, src/llama-graph.cpp
  (build_inp_embd, build_norm, build_qkv, build_attn, build_attn_mha, build_ffn), the cache's
  views and row stores (src/llama-kv-cache.cpp get_k / get_v / cpy_k / cpy_v), in the order
  ggml_build_forward_expand visits them (ggml/src/ggml.c ggml_visit_parents_graph: sources
  left to right, depth first). Checked against the logs: 958 nodes (qwen2, 28 layers), 936
  (llama, 30), 998 (llama, 32), and the first FLASH_ATTN_EXT is node 24.
- the split (ggml/src/ggml-backend.cpp ggml_backend_sched_split_graph, passes 1-5): an op whose
  weight is in host memory runs on the GPU when its batch is >= 32 rows (op_offload,
  ggml-cuda.cu get_op_batch_size; never GET_ROWS); a host layer's cache stores run on the CPU;
  the rest spreads from its neighbours. Each source on another backend gets one copy per
  backend, allocated at the start of the split that first needs it; a weight on another
  backend starts a new split, so one borrowed weight is live at a time.
- the allocator (ggml/src/ggml-alloc.c ggml_gallocr_alloc_graph_impl, ggml_dyn_tallocr_alloc /
  free_bytes): inputs first, then node by node: in place over a parent whose last consumer it
  is (ggml_op_can_inplace), else the best-fitting free block, else the end of the buffer; a
  tensor is freed after its last consumer. The buffer is the high-water mark, per backend
  (CUDA: 128-byte alignment; the pinned host buffer: 32).
Only the prompt-size graph is replayed: the 4-token graph llama.cpp also reserves holds the
same tensors with 4 rows instead of n_ubatch, and never has the op_offload copies.
"""

from __future__ import annotations

from typing import Dict, List, Optional, Tuple
from deepseek_probe.records import record, replace

CUDA, CPU = 0, 1  # ggml_backend_sched priority: the GPU first, the CPU last
ALIGN = (128, 32)  # ggml-cuda.cu get_alignment; ggml-impl.h TENSOR_ALIGNMENT (host buffers)
OP_OFFLOAD_MIN_BATCH = 32  # ggml-cuda.cu GGML_OP_OFFLOAD_MIN_BATCH
_VIEW_OPS = frozenset(("VIEW", "RESHAPE", "PERMUTE", "TRANSPOSE"))  # ggml_is_view_op
# ggml-alloc.c ggml_op_can_inplace (the ops these graphs use)
_INPLACE = frozenset(("ADD", "MUL", "DIV", "RMS_NORM", "ROPE", "SCALE", "SOFT_MAX", "UNARY", "CLAMP", "FILL"))
_NO_WEIGHT_PICK = frozenset(("ROPE", "FLASH_ATTN_EXT"))  # backend_id_from_cur skips these
INPUT, OUTPUT, WEIGHT = 1, 2, 4  # ggml tensor flags; WEIGHT: in a buffer of weights


class _T:
    """One ggml tensor: what the scheduler and the allocator look at."""

    __slots__ = ("name", "op", "nbytes", "src", "view_src", "flags", "buf", "backend", "rows",
                 "n_children", "n_views", "own", "bid", "off", "shape", "cuda_size", "split")

    def __init__(self, name: str, op: str, nbytes: int, src: Tuple["_T", ...] = (),
                 view_src: Optional["_T"] = None, flags: int = 0, buf: Optional[int] = None,
                 rows: int = 0, shape: Tuple[int, ...] = ()) -> None:
        self.name, self.op, self.nbytes, self.src = name, op, nbytes, list(src)
        # ggml_are_same_layout (in-place reuse): the element counts; () where nbytes tells
        self.shape = shape
        # ggml-cuda get_alloc_size where it is not ggml_nbytes (flash attention's f16 K/V,
        # a quantized tensor's padded row); 0 = nbytes
        self.cuda_size = 0
        self.split = 0  # the split of ggml_backend_sched that runs it
        # ggml_new_tensor_impl: a view of a view points at the tensor that owns the memory
        self.view_src = None if view_src is None else (view_src.view_src or view_src)
        self.flags, self.buf, self.backend, self.rows = flags, buf, -1, rows
        self.n_children = self.n_views = self.bid = self.off = 0
        self.own = False  # allocated by the graph allocator (hash_node.allocated)


@record(frozen=True)
class DenseGraph:
    """What sizes a dense (llama / qwen2) reserve graph and where its tensors live."""

    hidden: int
    heads: int
    kv_heads: int
    head_dim: int
    ffn: int
    vocab: int
    layers: int
    qkv_bias: bool
    n_tokens: int  # n_ubatch
    n_outputs: int  # logits rows reserved (llama-server: the slots)
    n_kv: int  # cells one stream sees (the whole cache at reserve time)
    n_streams: int  # 1 with a unified cache, else one per sequence
    host_layers: int  # layers [0, host_layers) keep weights and cache in host memory
    output_on_host: bool
    # per layer, the bytes of each weight as a CUDA copy (ggml-cuda get_alloc_size), in
    # WEIGHT_NAMES order; the output layer's (output_norm, output)
    layer_weight_bytes: Tuple[Tuple[int, ...], ...]
    output_weight_bytes: Tuple[int, int]


WEIGHT_NAMES = ("attn_norm", "attn_q", "attn_q.bias", "attn_k", "attn_k.bias", "attn_v",
                "attn_v.bias", "attn_output", "ffn_norm", "ffn_gate", "ffn_up", "ffn_down")


def visit(t: _T, seen: set, nodes: List[_T], leafs: List[_T]) -> None:
    """Append `t` and what it depends on, not yet `seen`, to nodes (ops) and leafs (tensors) in
    ggml_visit_parents_graph's order: sources first, depth first (iterative: graphs are deep)."""
    if id(t) in seen:
        return
    seen.add(id(t))
    stack = [(t, iter(t.src))]
    while stack:
        cur, sources = stack[-1]
        for s in sources:  # the next source not seen yet: descend into it
            if id(s) not in seen:
                seen.add(id(s))
                stack.append((s, iter(s.src)))
                break
        else:  # every source done: the tensor itself
            stack.pop()
            (leafs if cur.op == "NONE" else nodes).append(cur)


def _build(g: DenseGraph) -> Tuple[List[_T], List[_T]]:
    """(nodes, leafs) in ggml_visit_parents_graph order."""
    nodes: List[_T] = []
    leafs: List[_T] = []
    seen = set()

    def expand(t: _T) -> None:
        visit(t, seen, nodes, leafs)

    T, E, D = g.n_tokens, g.hidden, g.head_dim
    q_w, kv_w = g.heads * D, g.kv_heads * D
    f32 = 4

    def new(name: str, op: str, nbytes: int, *src: _T, rows: int = 0) -> _T:
        return _T(name, op, nbytes, src, rows=rows)

    def view(name: str, op: str, of: _T) -> _T:
        return _T(name, op, 0, (of,), view_src=of)

    def weight(name: str, nbytes: int, host: bool) -> _T:
        return _T(name, "NONE", nbytes, flags=WEIGHT, buf=CPU if host else CUDA)

    tokens = _T("inp_tokens", "NONE", T * 4, flags=INPUT)
    inp_embd = _T("inp_embd", "NONE", T * E * f32, flags=INPUT)
    tok_embd = weight("token_embd", 0, True)  # always in host memory (llama-model.cpp)
    inpL = new("embd", "GET_ROWS", T * E * f32, tok_embd, tokens)
    expand(inpL)
    expand(inp_embd)  # ggml_build_forward_select: the unused embeddings input is a leaf
    inp_pos = _T("inp_pos", "NONE", T * 4, flags=INPUT)
    k_idxs = _T("attn_inp_k_idxs", "NONE", T * 8, flags=INPUT)
    v_idxs = _T("attn_inp_v_idxs", "NONE", T * 8, flags=INPUT)
    mask = _T("attn_inp_kq_mask", "NONE", g.n_kv * T * 2, flags=INPUT)  # f16 with flash attention
    out_ids = _T("out_ids", "NONE", g.n_outputs * 4, flags=INPUT)
    n_cells = g.n_kv * g.n_streams
    kv_bytes = n_cells * kv_w * 2  # the permuted f16 view of every cell: ggml_nbytes of its layout

    for il in range(g.layers):
        host = il < g.host_layers
        w = dict(zip(WEIGHT_NAMES, (weight(f"{n}-{il}", b, host) for n, b in zip(WEIGHT_NAMES, g.layer_weight_bytes[il]))))
        k_cache = _T(f"cache_k_l{il}", "NONE", 0, buf=CPU if host else CUDA)
        v_cache = _T(f"cache_v_l{il}", "NONE", 0, buf=CPU if host else CUDA)
        inpSA = inpL
        cur = new("norm", "RMS_NORM", T * E * f32, inpL, rows=T)
        cur = new("attn_norm", "MUL", T * E * f32, cur, w["attn_norm"], rows=T)
        qkv = []
        for part, width in (("q", q_w), ("k", kv_w), ("v", kv_w)):
            x = new(f"{part}cur", "MUL_MAT", T * width * f32, w[f"attn_{part}"], cur, rows=T)
            if g.qkv_bias:
                x = new(f"{part}cur_b", "ADD", T * width * f32, x, w[f"attn_{part}.bias"], rows=T)
            qkv.append(view(f"{part}cur_3d", "RESHAPE", x))
        q = new("Qrope", "ROPE", T * q_w * f32, qkv[0], inp_pos, rows=T)
        k = new("Krope", "ROPE", T * kv_w * f32, qkv[1], inp_pos, rows=T)
        v = qkv[2]
        expand(q)
        expand(v)
        expand(k)
        # ggml_set_rows(cache, rows, idxs) is a view of the cache with sources (rows, idxs, cache)
        expand(_T("k_store", "SET_ROWS", 0, (view("k_2d", "VIEW", k), k_idxs, k_cache), view_src=k_cache))
        expand(_T("v_store", "SET_ROWS", 0, (view("v_2d", "VIEW", v), v_idxs, v_cache), view_src=v_cache))
        qp = view("q_perm", "PERMUTE", view("q_4d", "VIEW", q))
        kp = view("k_perm", "PERMUTE", view("k_view", "VIEW", k_cache))
        vp = view("v_perm", "PERMUTE", view("v_view", "VIEW", v_cache))
        kp.nbytes = vp.nbytes = kv_bytes
        fa = new("fattn", "FLASH_ATTN_EXT", T * q_w * f32, qp, kp, vp, mask, rows=T)
        cur = view("kqv_out", "RESHAPE", fa)
        expand(cur)
        cur = new("attn_out", "MUL_MAT", T * E * f32, w["attn_output"], cur, rows=T)
        rows = T
        if il == g.layers - 1:
            rows = g.n_outputs
            cur = new("attn_out_rows", "GET_ROWS", rows * E * f32, cur, out_ids)
            inpSA = new("inpSA_rows", "GET_ROWS", rows * E * f32, inpSA, out_ids)
        ffn_inp = new("ffn_inp", "ADD", rows * E * f32, cur, inpSA, rows=rows)
        cur = new("norm", "RMS_NORM", rows * E * f32, ffn_inp, rows=rows)
        cur = new("ffn_norm", "MUL", rows * E * f32, cur, w["ffn_norm"], rows=rows)
        up = new("ffn_up", "MUL_MAT", rows * g.ffn * f32, w["ffn_up"], cur, rows=rows)
        gate = new("ffn_gate", "MUL_MAT", rows * g.ffn * f32, w["ffn_gate"], cur, rows=rows)
        cur = new("ffn_swiglu", "GLU", rows * g.ffn * f32, gate, up, rows=rows)
        cur = new("ffn_out", "MUL_MAT", rows * E * f32, w["ffn_down"], cur, rows=rows)
        inpL = new("l_out", "ADD", rows * E * f32, cur, ffn_inp, rows=rows)
    R = g.n_outputs
    out_norm, out_w = (weight(n, b, g.output_on_host) for n, b in zip(("output_norm", "output"), g.output_weight_bytes))
    cur = new("norm", "RMS_NORM", R * E * f32, inpL, rows=R)
    embd = new("result_norm", "MUL", R * E * f32, cur, out_norm, rows=R)
    logits = new("result_output", "MUL_MAT", R * g.vocab * f32, out_w, embd, rows=R)
    embd.flags |= OUTPUT  # llm_graph_result::set_outputs: t_embd and t_logits
    logits.flags |= OUTPUT
    expand(logits)
    return nodes, leafs


def _buffer_backend(t: _T) -> int:
    """The backend whose buffer holds t's memory (pre-allocated weights and cache), or -1."""
    owner = t.view_src or t
    return owner.buf if owner.buf is not None else -1


def _supported(t: _T, backend: int) -> bool:
    """ggml_backend_sched_buffer_supported: the CUDA backend reads only CUDA buffers and the CPU
    backend only host buffers (ggml-cuda.cu supports_buft, not an integrated GPU)."""
    b = _buffer_backend(t)
    if b == -1:
        b = t.backend if t.backend != -1 or t.view_src is None else t.view_src.backend
    return b == backend


def _assign(nodes: List[_T], leafs: List[_T]) -> None:
    """ggml_backend_sched_split_graph passes 1-4 for the backends (CUDA0, CPU)."""
    def from_cur(t: _T) -> int:
        b = _buffer_backend(t)
        if b != -1:
            return b
        if t.flags & INPUT:
            return CPU
        if t.op in _NO_WEIGHT_PICK:
            return -1
        for s in t.src:
            if s.flags & WEIGHT:
                # op_offload: a host weight's op moves to the GPU at >= 32 rows
                if s.buf == CPU and t.rows >= OP_OFFLOAD_MIN_BATCH:
                    return CUDA
                return s.buf
        return -1

    for t in leafs:
        t.backend = from_cur(t)
    for t in nodes:
        t.backend = from_cur(t)
    order = [t for t in nodes if t.op not in _VIEW_OPS]
    for seq, gpu_only in ((order, True), (order[::-1], True), (order, False), (order[::-1], False)):
        cur = -1
        for t in seq:
            if t.backend != -1:
                cur = -1 if gpu_only and t.backend == CPU else t.backend
            elif cur != -1:
                t.backend = cur  # CUDA runs every op of these graphs
    for t in order:  # pass 3: left unassigned only without neighbours: the most supported inputs
        if t.backend == -1:
            best = max((sum(1 for s in t.src if (s.backend != -1 or (s.view_src and s.view_src.backend != -1))
                            and _supported(s, b)), -b) for b in (CUDA, CPU))
            t.backend = -best[1]
    for t in nodes:  # pass 4
        if t.view_src is not None and t.backend == -1:
            t.backend = t.view_src.backend
        for s in t.src:
            if s.backend == -1:
                s.backend = s.view_src.backend if s.view_src is not None else t.backend


def _split(nodes: List[_T]) -> Tuple[List[Tuple[_T, int]], int]:
    """Pass 5 and the graph copy: ((tensor, backend) in allocation order, splits). Each split's
    inputs come first as (a keep-alive view of the source, the copy); sources are rewired to
    the copies."""
    copies: Dict[Tuple[int, int], _T] = {}
    out: List[Tuple[_T, int]] = []
    first = next((t for t in nodes if t.op not in _VIEW_OPS), None)
    cur = first.backend if first is not None else CUDA
    inputs: List[Tuple[_T, int]] = []
    body: List[Tuple[_T, int]] = []
    n_splits = 1

    def flush() -> None:
        out.extend(inputs)
        out.extend(body)
        inputs.clear()
        body.clear()

    for t in nodes:
        if t.op in _VIEW_OPS:
            body.append((t, t.backend))
            continue
        new_split = False
        if t.backend == cur and inputs:
            new_split = any(s.flags & WEIGHT and s.backend != cur and not _supported(s, cur) for s in t.src)
        if t.backend != cur or new_split:
            flush()
            cur = t.backend
            n_splits += 1
        t.split = n_splits
        for j, s in enumerate(t.src):
            if s.backend != cur and not _supported(s, cur):
                key = (id(s), cur)
                c = copies.get(key)
                if c is None:
                    c = copies[key] = _T(f"{s.name}#copy", "NONE", s.nbytes)  # ggml_dup_tensor_layout
                    c.backend, c.cuda_size = cur, s.cuda_size
                    dep = _T(f"{s.name} (view)", "NONE", 0, (s,), view_src=s)
                    inputs.append((dep, s.backend))
                    inputs.append((c, cur))
                t.src[j] = c
        body.append((t, t.backend))
    flush()
    return out, n_splits


class _DynAlloc:
    """ggml_dyn_tallocr with one chunk (CUDA and host buffers have no maximum size): free blocks
    sorted by offset, the last one open-ended."""

    def __init__(self, alignment: int) -> None:
        self.align = alignment
        self.blocks: List[List[int]] = [[0, 1 << 62]]
        self.max_size = 0

    def alloc(self, size: int) -> int:
        a = self.align
        size = -(-size // a) * a
        blocks = self.blocks
        best, best_size = -1, 1 << 63
        for i in range(len(blocks) - 1):  # best fit, ties to the later block (<=)
            bs = blocks[i][1]
            if size <= bs <= best_size:
                best, best_size = i, bs
        if best == -1:
            best = len(blocks) - 1
        blk = blocks[best]
        off = blk[0]
        blk[0] += size
        blk[1] -= size
        if blk[1] == 0:
            del blocks[best]
        if off + size > self.max_size:
            self.max_size = off + size
        return off

    def free(self, off: int, size: int) -> None:
        a = self.align
        size = -(-size // a) * a
        blocks = self.blocks
        for i, blk in enumerate(blocks):
            if blk[0] + blk[1] == off:
                blk[1] += size
                if i + 1 < len(blocks) and blk[0] + blk[1] == blocks[i + 1][0]:
                    blk[1] += blocks[i + 1][1]
                    del blocks[i + 1]
                return
            if off + size == blk[0]:
                blk[0] = off
                blk[1] += size
                if i > 0 and blocks[i - 1][0] + blocks[i - 1][1] == blk[0]:
                    blocks[i - 1][1] += blk[1]
                    del blocks[i]
                return
        i = 0
        while i < len(blocks) and blocks[i][0] < off:
            i += 1
        blocks.insert(i, [off, size])


def _allocate(leafs: List[_T], graph: List[Tuple[_T, int]]) -> Tuple[int, int]:
    """ggml_gallocr_alloc_graph_impl over the graph copy: (CUDA bytes, host bytes)."""
    allocs = (_DynAlloc(ALIGN[CUDA]), _DynAlloc(ALIGN[CPU]))

    def size(t: _T, bid: int) -> int:  # ggml_backend_buft_get_alloc_size
        return t.cuda_size if bid == CUDA and t.cuda_size else t.nbytes

    def allocate(t: _T, bid: int) -> None:
        if t.own or t.buf is not None or t.view_src is not None:
            return  # allocated already, pre-allocated (weights, cache), or a view
        t.own = True
        if t.op in _INPLACE:
            for p in t.src:
                # a view parent is never the allocator's own (views are not marked allocated)
                if (p.own and not p.flags & OUTPUT and p.n_children == 1 and p.n_views == 0
                        and p.nbytes == t.nbytes and p.shape == t.shape and size(p, p.bid) == size(t, p.bid)):
                    t.bid, t.off = p.bid, p.off  # in place: the parent is not freed
                    p.own = False
                    return
        t.bid, t.off = bid, allocs[bid].alloc(size(t, bid))

    def free(t: _T) -> None:
        if t.flags & OUTPUT:
            return
        allocs[t.bid].free(t.off, size(t, t.bid))
        t.own = False

    for t in leafs:
        allocate(t, t.backend)
    for t, _ in graph:
        if t.view_src is not None and t.op != "NONE":
            t.view_src.n_views += 1
        for s in t.src:
            s.n_children += 1
    for t, bid in graph:
        for p in t.src:
            allocate(p, bid)
        allocate(t, bid)
        for p in t.src:
            p.n_children -= 1
            if p.n_children == 0 and p.n_views == 0:
                if p.view_src is not None:
                    v = p.view_src
                    v.n_views -= 1
                    if v.n_views == 0 and v.n_children == 0 and v.own:
                        free(v)
                elif p.own:
                    free(p)
    return allocs[CUDA].max_size, allocs[CPU].max_size


@record(frozen=True)
class Replay:
    """What sched_reserve logs for the prompt graph: "graph (pp ...): nodes = N, splits = S" and
    the compute buffer sizes."""

    nodes: int
    splits: int
    cuda_compute_bytes: int  # "CUDA0 compute buffer size"
    # "CUDA_Host compute buffer size": exact on 20 of the 21 dense runs, 8 MiB short on
    # d7q8-c4k-ngl16 (a host-side copy not modelled); llamacpp_graph's closed form is used
    host_compute_bytes: int


def shortened(g: DenseGraph) -> DenseGraph:
    """`g` with every third and later repetition of a run of identical layers (the same side of
    the split, the same weight sizes; runs of 1 to 3 layers, as llama-quantize's use_more_bits
    alternates types every third layer) left out. Between such layers the allocator's free list
    and live tensors come back to the same offsets, so the later repetitions cannot raise the
    high-water mark; tests check this against the full replay."""
    kinds = [(il < g.host_layers, g.layer_weight_bytes[il]) for il in range(g.layers - 1)]
    keep: List[int] = []
    for il in range(g.layers - 1):  # the last layer (logit rows only) is always kept
        keep.append(il)
        for p in (1, 2, 3):
            if len(keep) >= 3 * p and all(kinds[keep[-k]] == kinds[keep[-k - p]] == kinds[keep[-k - 2 * p]]
                                          for k in range(1, p + 1)):
                del keep[-p:]
                break
    keep.append(g.layers - 1)
    if len(keep) == g.layers:
        return g
    return replace(g, layers=len(keep), host_layers=sum(1 for il in keep if il < g.host_layers),
                   layer_weight_bytes=tuple(g.layer_weight_bytes[il] for il in keep))


def replay(g: DenseGraph, full: bool = False) -> Replay:
    """The replay of `g` (by default shortened: same buffers, fewer nodes and splits)."""
    nodes, leafs = _build(g if full else shortened(g))
    _assign(nodes, leafs)
    graph, n_splits = _split(nodes)
    cuda, host = _allocate(leafs, graph)
    return Replay(len(nodes), n_splits, cuda, host)
