"""llama.cpp (also Ollama / LM Studio): GGUF weights split by whole layers, the token embedding
in host RAM, a KV cache per layer and one compute buffer per device.

For the families whose GGUF layout we reproduce (llama, qwen2, qwen3, deepseek2: runtimes/gguf_recipe.py)
the memory is llama.cpp's own allocation, term by term (runtimes/llamacpp_alloc.py, measured on
an H100). Other families (V3.2, V4) keep the older formula below: Ollama's
GraphSize compute buffer and average bits per weight, labelled as such in the estimate.
"""

from __future__ import annotations

from typing import Dict, Optional

from deepseek_probe import memory
from deepseek_probe.profiles import PRECISIONS, ModelSpec, weight_bytes
from deepseek_probe.runtimes import gguf_recipe, llamacpp_alloc, llamacpp_builds
from deepseek_probe.runtimes.base import CudaBuilds, Estimate, GiB, MiB, RocmBuild, Runtime, Settings
from deepseek_probe.runtimes.llamacpp_alloc import LlamaCppMemory, LlamaCppOptions
from deepseek_probe.records import record, replace

RUNTIME = Runtime(
    "llamacpp", ("fp32", "bf16", "fp16", "q8_0", "q6_k", "q5_k_m", "q4_k_m", "q4_0", "q3_k_m", "q2_k"),
    ("fp16", "bf16", "q8_0", "q4_0"), 4096,
    "llama.cpp / Ollama / LM Studio: GGUF files; -c default 4096 (common.h n_ctx; Ollama "
    "default below 23 GiB VRAM, anchors §1.6); --cache-type-k/v f16|bf16|q8_0|q4_0",
    default_precision="q4_k_m", default_kv_precision="fp16", splits_layers=True,
    context_beyond_trained=True, runs_on_cpu=True, loads_gguf=True,
    label="llama.cpp", lower_precisions=("q8_0", "q6_k", "q5_k_m", "q4_k_m", "q4_0", "q3_k_m", "q2_k"),
    kv_fix=("q8_0", "--cache-type-k q8_0 --cache-type-v q8_0"),
    tp_flag="--split-mode layer (default)",
    multinode_hint="llama.cpp: one rpc-server per extra node, --rpc host:port,... ({pp} nodes)",
    # llama.cpp release binaries ship CUDA 12.4 and 13.1 builds; Ollama bundles cuda_v12 and
    # cuda_v13 runners and loads the newest one the driver supports.
    cuda=CudaBuilds(
        "13.1", ("12.4",), True,
        "use the cuda-{v} release build",
        "llama.cpp release assets (CUDA 12.4 and 13.1 builds); Ollama cuda_v12/cuda_v13 runners"),
    rocm_builds=(
        RocmBuild("llamacpp", frozenset("gfx908 gfx90a gfx942 gfx1030 gfx1100 gfx1101 gfx1102 gfx1151 gfx1150 "
                                        "gfx1200 gfx1201".split()),
                  "llama.cpp .devops/rocm.Dockerfile ROCM_DOCKER_ARCH (2026-10); a source build "
                  "can target any gfx with -DAMDGPU_TARGETS", builds_from_source=True),
        RocmBuild("ollama", frozenset("gfx900 gfx940 gfx941 gfx942 gfx1010 gfx1012 gfx1030 gfx1100 gfx1101 gfx1102 "
                                      "gfx1151 gfx1200 gfx1201 gfx906 gfx908 gfx90a".split()),
                  "ollama/ollama CMakePresets.json preset 'ROCm 6' AMDGPU_TARGETS (commit 062aadfd)"),
    ),
    # ggml/src/ggml-metal: llama.cpp / Ollama / LM Studio run on Apple GPUs
    apple_backend="metal",
    # build numbers (runtimes/llamacpp_builds.py: what changed in which build)
    versions=(llamacpp_builds.OLDEST, llamacpp_builds.NEWEST), version_is_build=True)

LLAMACPP_CUDA_MINIMUM_BYTES = 457 * MiB  # Ollama ml/device.go: CUDA minimum memory (anchors §1.6)
LLAMACPP_UBATCH = 512  # llama.cpp -ub default (n_ubatch); Ollama GraphSize's `batch`
LLAMACPP_FIT_MARGIN_BYTES = 1024 * MiB  # --fit-target default per device (anchors §1.7)
LLAMACPP_HOST_BASE_BYTES = GiB // 2  # process, host compute buffer, tokenizer (estimate)


def _llamacpp_compute_buffer_bytes(spec: ModelSpec, s: Settings) -> int:
    """Ollama GraphSize (fs/ggml/ggml.go, llama case; anchors §3):
    max(4·ub·(1 + 4·emb + T·(1+heads)), 4·ub·(emb + vocab)), T = tokens in the KV cache."""
    ub, emb, t = LLAMACPP_UBATCH, spec.hidden, s.context * s.concurrency
    return max(4 * ub * (1 + 4 * emb + t * (1 + spec.heads)), 4 * ub * (emb + spec.vocab))


@record
class OffloadSplit:
    """llama.cpp -ngl placement for one GPU budget."""

    gpu_layers: int
    cpu_layers: int
    output_on_gpu: bool  # llama.cpp offloads the output (LM head) layer last: ngl = layers + 1
    gpu_bytes: int
    host_bytes: int
    context: Optional[int] = None  # cells llama.cpp allocates once --fit has run (None: as asked)
    note: str = ""

    @property
    def ngl(self) -> int:
        """The -ngl that gives this split: llama-model.cpp counts the output layer as layer n_layer
        of n_layer + 1 (i_gpu_start = n_layer + 1 - n_gpu_layers)."""
        return self.gpu_layers + (1 if self.output_on_gpu else 0)


def _llamacpp_parts(spec: ModelSpec, s: Settings) -> Dict[str, float]:
    file_bytes = weight_bytes(spec, s.precision)
    per_param = file_bytes / spec.params
    embed = spec.vocab * spec.hidden * per_param  # token_embd: always in host memory
    output = 0.0 if spec.tie_embeddings else spec.vocab * spec.hidden * per_param
    layer = (file_bytes - embed - output) / spec.layers
    kv_layer = memory.kv_bytes_per_token(spec, s, devices=1, layer_split=True) * s.context * s.concurrency / spec.layers
    return {"file": file_bytes, "embed": embed, "output": output, "layer": layer, "kv_layer": kv_layer}


# our precision / KV names -> llama.cpp's file types and cache types
_FTYPE = {"q8_0": "Q8_0", "q6_k": "Q6_K", "q5_k_m": "Q5_K_M", "q4_k_m": "Q4_K_M", "q4_0": "Q4_0",
          "q3_k_m": "Q3_K_M", "q2_k": "Q2_K", "fp16": "F16", "bf16": "BF16"}
_CACHE = {"fp16": "f16", "bf16": "bf16", "q8_0": "q8_0", "q4_0": "q4_0"}


def build_of(s: Settings) -> Optional[int]:
    """The llama.cpp build these settings name (--runtime-version), None = the newest modelled."""
    if s.runtime_version is None:
        return None
    from deepseek_probe.runtimes import versions

    release = versions.resolve(RUNTIME, s.runtime_version)
    return None if release is None else release[0]


def _per_head_mla(spec: ModelSpec, s: Settings) -> bool:
    """A build before PR #12801 caches DeepSeek-V2/V3 per head, whatever the settings ask."""
    return bool(spec.is_mla) and not llamacpp_builds.MLA_LATENT.applies(build_of(s))


def modelled(spec: ModelSpec, s: Settings) -> bool:
    """llama.cpp's own allocation applies: a GGUF layout we reproduce, the latent MLA cache."""
    deepseek2 = spec.family in ("deepseek_v2", "deepseek_v3")
    return (spec.family in gguf_recipe.GGUF_ARCH and (spec.is_mla or not deepseek2) and s.precision in _FTYPE
            and s.mla_cache == "latent" and s.kv_precision in _CACHE and not _per_head_mla(spec, s))


def at_build(o: LlamaCppOptions, build: Optional[int], from_command: bool) -> LlamaCppOptions:
    """Options `o` with the defaults of llama.cpp `build` for what the launch command did not set
    (LlamaCppOptions.explicit); None = the newest modelled: `o` as it is."""
    if build is None:
        return o
    b, given, changes = llamacpp_builds, o.explicit, {}
    if not b.FIT.applies(build):
        changes["fit"] = False  # no --fit before PR #16653
        if from_command and "n_ctx" not in given:
            changes["n_ctx"] = b.LEGACY_DEFAULT_CTX
    if not b.FA_AUTO_ALL_LAYERS.applies(build):
        if "flash_attn" not in given and o.flash_attn == "auto":
            changes["flash_attn"] = "off"  # -fa was a switch, off by default
        if from_command and "n_gpu_layers" not in given:
            changes["n_gpu_layers"] = 0  # llama_model_default_params n_gpu_layers 0
    if not b.SERVER_AUTO_SLOTS.applies(build) and "n_parallel" not in given and o.n_parallel in (-1, 0):
        changes["n_parallel"] = b.LEGACY_DEFAULT_SLOTS
    return replace(o, **changes) if changes else o


def command_context(s: Settings, o: object, trained: int) -> int:
    """The context of a llama-server command that sets none or -c 0: the trained context, or
    4096 in a build before --fit when -c is not given (llamacpp_builds.default_context)."""
    if isinstance(o, LlamaCppOptions) and "n_ctx" in o.explicit:
        return trained  # -c 0: the trained context in every build
    return llamacpp_builds.default_context(build_of(s), trained)


def options_for(s: Settings) -> LlamaCppOptions:
    """llama-server's options for these settings: the launch command's own, or (from flags) a
    context of context x concurrency cells, in the KV type asked: one sequence in the server's
    default slots (-np auto), N sequences in N slots of `context` each (`-np N`, what the
    emitted command asks; -np auto would serve only 4 at a time)."""
    o = s.runtime_options
    if isinstance(o, LlamaCppOptions):
        return at_build(o, build_of(s), True)
    return at_build(replace(LlamaCppOptions(), n_ctx=s.context * s.concurrency,
                            n_parallel=s.concurrency if s.concurrency > 1 else LlamaCppOptions.n_parallel,
                            cache_type_k=_CACHE[s.kv_precision], cache_type_v=_CACHE[s.kv_precision]),
                    build_of(s), False)


def allocation(spec: ModelSpec, s: Settings, gpu_free_bytes: Optional[int] = None,
               n_gpu_layers: Optional[int] = None, closed_form: bool = False) -> LlamaCppMemory:
    """llama.cpp's buffers for these settings on s.tensor_parallel GPUs (-sm layer); with
    `gpu_free_bytes` (free memory of each GPU), --fit runs as llama.cpp runs it. `closed_form`:
    without the replayed allocator (llamacpp_alloc.llamacpp_memory)."""
    o = options_for(s)
    build = build_of(s)
    if n_gpu_layers is not None:
        o = replace(o, n_gpu_layers=n_gpu_layers, fit=False)
    if o.n_ctx == 0 and "n_ctx" in o.explicit and llamacpp_builds.FIT_KEEPS_EXPLICIT_CTX0.applies(build):
        o = replace(o, n_ctx=spec.max_context)  # an explicit -c 0 is not --fit's to shrink (PR #19070)
    free = [gpu_free_bytes] * s.tensor_parallel if gpu_free_bytes else ([] if s.tensor_parallel == 1
                                                                        else [1 << 60] * s.tensor_parallel)
    m = llamacpp_alloc.llamacpp_memory(spec, _FTYPE[s.precision], o, free, closed_form)
    if spec.is_mla and not llamacpp_builds.MLA_NO_V.applies(build):
        _add_mla_v(spec, s, o, m)
    m.notes.extend(llamacpp_builds.notes(build, bool(spec.is_mla)))
    return m


def _add_mla_v(spec: ModelSpec, s: Settings, o: LlamaCppOptions, m: LlamaCppMemory) -> None:
    """Builds before PR #19067 ("kv-cache : support V-less cache": "almost x2 less memory for the
    KV cache") also cache the kv_lora_rank-wide latent as V, one tensor per layer beside K. The
    compute buffer is kept as the measured tree's (not measured on those builds)."""
    from deepseek_probe.formats.ggml_types import GGML_TYPES_BY_NAME
    from deepseek_probe.runtimes import llamacpp_graph

    tk, tv = o.cache_type_k.upper(), o.cache_type_v.upper()
    k_cuda, k_host = llamacpp_alloc._kv_layer_bytes(spec, tk, tv, m.n_ctx)
    v_host = GGML_TYPES_BY_NAME[tv].nbytes(spec.kv_lora_rank * m.n_ctx)
    v_cuda = llamacpp_alloc._cuda_bytes(tv, spec.kv_lora_rank, v_host)
    cublas = llamacpp_graph.uses_cublas(spec, m.flash_attn, _FTYPE[s.precision])
    for d, kv in enumerate(m.gpu_kv_bytes):
        m.gpu_kv_bytes[d] = kv + (kv // k_cuda) * v_cuda if k_cuda else kv
        m.gpu_overhead_bytes[d] = llamacpp_graph.cuda_overhead_bytes(
            [m.gpu_model_bytes[d], m.gpu_kv_bytes[d], m.gpu_compute_bytes[d]], cublas)
    if k_host:
        m.host_kv_bytes += (m.host_kv_bytes // k_host) * v_host
    m.notes.append("MLA cache with V (before PR #19067): the latent as K and its 512-wide part again as V")


def user_gpu_layers(s: Settings) -> Optional[int]:
    """The GPU layers a launch command fixed with -ngl N (N >= 0), which --fit leaves alone; None
    when llama.cpp chooses (no -ngl, -ngl -1 = auto, or the flags' defaults)."""
    o = s.runtime_options
    if isinstance(o, LlamaCppOptions) and o.n_gpu_layers >= 0:
        return int(o.n_gpu_layers)
    return None


def gpu_layers(est: Estimate) -> Optional[int]:
    """The layers llama.cpp's allocation put on the GPU (-ngl as it resolved it); None when the
    estimate came from the formula, which does not place layers."""
    placed = est.notes.get("llamacpp")
    return None if placed is None else int(placed["gpu_layers"])


def cpu_moe_layers(spec: ModelSpec, s: Settings) -> int:
    """MoE layers whose routed experts stay in host RAM: --cpu-moe (all), -ncmoe N (the first N;
    common/arg.cpp)."""
    o = s.runtime_options
    if not isinstance(o, LlamaCppOptions) or not spec.is_moe:
        return 0
    return spec.moe_layers if o.cpu_moe else min(spec.moe_layers, int(o.n_cpu_moe or 0))


def with_gpu_layers(spec: ModelSpec, s: Settings, n: int) -> Settings:
    """These settings with -ngl N, as a launch command would set it (--fit then leaves it). For a
    family whose allocation we do not reproduce (modelled() false) the formula cannot place an
    explicit -ngl: the settings stay as they are, and --fit picks the layers."""
    if not modelled(spec, s):
        return s
    return replace(s, runtime_options=replace(options_for(s), n_gpu_layers=int(n)))


def _host_bytes(spec: ModelSpec, m: LlamaCppMemory) -> int:
    return int(LLAMACPP_HOST_BASE_BYTES + m.host_model_bytes + m.host_kv_bytes + m.host_compute_bytes)


def offload_split(spec: ModelSpec, settings: Settings, gpu_budget_bytes: int) -> OffloadSplit:
    """What llama.cpp puts on one GPU with `gpu_budget_bytes` (margin already taken off): with
    an unset context --fit first shrinks it to the --fit-ctx floor, then whole layers go to the
    CPU, the output layer first (llama-model.cpp offloads the last layers)."""
    if not modelled(spec, settings):
        return _offload_split_formula(spec, settings, gpu_budget_bytes)
    o = options_for(settings)
    m = allocation(spec, settings, gpu_budget_bytes + o.fit_target_mib * MiB)
    note = "; ".join(m.notes)
    if o.n_gpu_layers >= 0 or not o.fit:  # -ngl given (or --fit off): what fits, layer by layer
        for k in range(spec.layers + 1, -1, -1):
            # screen on the closed form (never above the replayed allocator), then confirm
            screen = allocation(spec, settings, n_gpu_layers=k, closed_form=True)
            if k > 0 and max(screen.gpu_total_bytes or [0]) > gpu_budget_bytes:
                continue
            m = allocation(spec, settings, n_gpu_layers=k)
            if max(m.gpu_total_bytes or [0]) <= gpu_budget_bytes:
                break
    gpu = max(m.gpu_total_bytes or [0]) if m.gpu_layers else 0
    return OffloadSplit(m.gpu_layers, spec.layers - m.gpu_layers, m.output_on_gpu, int(gpu),
                        _host_bytes(spec, m), m.n_ctx, note)


def _offload_split_formula(spec: ModelSpec, settings: Settings, gpu_budget_bytes: int) -> OffloadSplit:
    """Layers llama.cpp can put on one GPU with `gpu_budget_bytes` (margin already taken off),
    the rest running from host RAM. Each layer brings its weights and its share of the KV cache;
    the compute buffer and CUDA context are paid once."""
    p = _llamacpp_parts(spec, settings)
    fixed = LLAMACPP_CUDA_MINIMUM_BYTES + _llamacpp_compute_buffer_bytes(spec, settings)
    per_layer = p["layer"] + p["kv_layer"]
    room = gpu_budget_bytes - fixed
    n = 0 if room <= 0 else min(spec.layers, int(room // per_layer))
    out = n == spec.layers and room - n * per_layer >= p["output"]
    gpu = fixed + n * per_layer + (p["output"] if out else 0) if n else 0
    cpu_layers = spec.layers - n
    host = (LLAMACPP_HOST_BASE_BYTES + p["embed"] + cpu_layers * per_layer
            + (0 if out else p["output"]) + settings.concurrency * spec.vocab * 4)
    return OffloadSplit(n, cpu_layers, out, int(gpu), int(host))


def account(spec: ModelSpec, s: Settings, est: Estimate, device_total_bytes: Optional[int] = None) -> None:
    if modelled(spec, s):
        _account_allocation(spec, s, est, device_total_bytes)
    elif _per_head_mla(spec, s) and s.mla_cache == "latent":
        old = replace(s, mla_cache="decompressed")  # the cache of a build before PR #12801
        est.per_device.kv_cache_bytes = memory.kv_cache_bytes(spec, old, layer_split=True)
        _account_formula(spec, old, est)
        est.notes["mla_cache"] = "decompressed"
    else:
        _account_formula(spec, s, est)
    if s.runtime_version is not None:  # the build modelled (newer than NEWEST: as NEWEST)
        est.notes["llamacpp_build"] = f"b{build_of(s)}"
        est.notes["llamacpp_build_notes"] = llamacpp_builds.notes(build_of(s), bool(spec.is_mla))


def sized_by_device(s: Settings) -> bool:
    """Whether the estimate reads the device's size: only a launch command's --fit does
    (_account_allocation); from flags the full offload is placed whatever the GPU, so
    estimate.estimate keeps one answer for every device size."""
    return isinstance(s.runtime_options, LlamaCppOptions)


def _account_allocation(spec: ModelSpec, s: Settings, est: Estimate, device_total_bytes: Optional[int]) -> None:
    """llama.cpp's buffers on the busiest GPU (runtimes/llamacpp_alloc.py). --fit runs only for a
    launch command on a GPU of known size (estimate --gpu-memory -- llama-server ...); the checks
    place a profile themselves (offload_split) and need the full-offload figure here."""
    m = allocation(spec, s, device_total_bytes if sized_by_device(s) else None)
    t = llamacpp_alloc.terms(m)
    d = est.per_device
    d.weights_bytes, d.kv_cache_bytes = t["model"], t["kv"]
    d.activation_bytes, d.runtime_overhead_bytes = t["compute"], t["overhead"]
    d.total_bytes = sum(t.values())
    est.notes.update({
        "llamacpp": {"n_ctx": m.n_ctx, "n_ctx_seq": m.n_ctx_seq, "n_seq": m.n_seq, "gpu_layers": m.gpu_layers,
                     "output_on_gpu": m.output_on_gpu, "flash_attn": m.flash_attn,
                     "gpu_model_bytes": m.gpu_model_bytes, "gpu_kv_bytes": m.gpu_kv_bytes,
                     "gpu_compute_bytes": m.gpu_compute_bytes, "host_model_bytes": m.host_model_bytes,
                     "host_kv_bytes": m.host_kv_bytes, "notes": list(m.notes)},
        "fit_margin_bytes": LLAMACPP_FIT_MARGIN_BYTES,
        "token_embedding_host_bytes": m.host_model_bytes,
    })
    if m.error:
        est.notes["llamacpp_error"] = m.error
    est.sources.update({
        "weights_bytes": "llama.cpp's per-tensor quantization recipe (runtimes/gguf_recipe.py, equal to "
                         "llama-quantize on 6 GGUFs); token embedding in host memory",
        "kv_cache_bytes": "llama-kv-cache.cpp: n_ctx cells (padded to 256) x layers x (K + V) rows in the "
                          "cache types; MLA: the 576-wide latent as K, no V",
        "activation_bytes": "llama.cpp compute buffer (runtimes/llamacpp_graph.py): the FFN peak "
                            "ub x 4 x (3 hidden + 3 ffn) + the KQ mask, the per-head f32 scores without "
                            "flash attention, op_offload copies with host layers; equal to the logged "
                            "buffer on every full-offload H100 run",
        "runtime_overhead_bytes": "CUDA context and pool 599 MiB (+100 MiB when cuBLAS runs) plus each "
                                  "buffer rounded up to 2 MiB, measured on an H100 (benchmarks/llamacpp/)",
        "margin": "llama.cpp --fit-target 1024 MiB per device (common/common.h), applied by the rules",
    })


def _account_formula(spec: ModelSpec, s: Settings, est: Estimate) -> None:
    """Families whose GGUF layout we do not reproduce yet: average bits per weight and Ollama's
    GraphSize (not measured)."""
    d = est.per_device
    n_dev = s.tensor_parallel  # --split-mode layer: each GPU holds layers / N
    p = _llamacpp_parts(spec, s)
    d.weights_bytes = int((p["file"] - p["embed"]) / n_dev)
    d.activation_bytes = _llamacpp_compute_buffer_bytes(spec, s)
    d.runtime_overhead_bytes = LLAMACPP_CUDA_MINIMUM_BYTES
    est.notes["fit_margin_bytes"] = LLAMACPP_FIT_MARGIN_BYTES
    est.notes["token_embedding_host_bytes"] = int(p["embed"])
    if spec.is_mla:
        est.notes["mla_cache"] = (
            "latent (576 per token and layer): needs llama.cpp >= PR #12801 and a GGUF converted "
            "after it" if s.mla_cache == "latent" else
            "decompressed K/V: an old GGUF or llama.cpp build (71x the latent for V2)")
    est.sources.update({
        "weights_bytes": PRECISIONS[s.precision].source + "; token embedding stays in host RAM",
        "activation_bytes": "Ollama GraphSize (llama): max(4·ub·(1+4·emb+T·(1+heads)), 4·ub·(emb+vocab)), "
                            "ub 512 (anchors §3)",
        "runtime_overhead_bytes": "457 MiB CUDA minimum (Ollama ml/device.go, anchors §1.6)",
        "margin": "llama.cpp --fit-target 1024 MiB per device (anchors §1.7), applied by the rules",
    })
    d.total_bytes = d.weights_bytes + d.kv_cache_bytes + d.activation_bytes + d.runtime_overhead_bytes


def host_ram_bytes(spec: ModelSpec, s: Settings, est: Estimate) -> int:
    """Full offload: the token embedding (and the logits buffer) stay on the host."""
    if modelled(spec, s):
        return int(LLAMACPP_HOST_BASE_BYTES + est.notes["token_embedding_host_bytes"])
    return int(LLAMACPP_HOST_BASE_BYTES + est.notes["token_embedding_host_bytes"]
               + s.concurrency * spec.vocab * 4)
