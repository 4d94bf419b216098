"""Regenerate the generated parts of docs/requirements.md from the estimator.

    .venv/bin/python docs/make_requirements.py           # rewrite the generated blocks
    .venv/bin/python docs/make_requirements.py --check   # exit 1 if the file is stale

Two blocks are generated, each between BEGIN/END markers; everything outside them is hand-written
and kept as it is:
- the requirement tables: exactly `deepseek-probe plan --all --format markdown`;
- "Rules of thumb checked": one section per claim of guide-claims.md. The prose is written here;
  every figure comes from running the cited `deepseek-probe` command (its `--format json`) through
  the real CLI, so the docs quote what a user gets when they paste the command.
tests/test_requirements_doc.py re-runs every cited command through the library and fails when the
file is stale.
"""

from __future__ import annotations

import json
import math
import os
import shlex
import sys
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

DOCS_DIR = os.path.dirname(os.path.abspath(__file__))
DOC_PATH = os.path.join(DOCS_DIR, "requirements.md")
REGENERATE = "python docs/make_requirements.py"

TABLE_BEGIN = "<!-- BEGIN GENERATED: table (deepseek-probe plan --all --format markdown) -->"
TABLE_END = "<!-- END GENERATED: table -->"
CLAIMS_BEGIN = "<!-- BEGIN GENERATED: claims (python docs/make_requirements.py) -->"
CLAIMS_END = "<!-- END GENERATED: claims -->"
TRAINING_BEGIN = "<!-- BEGIN GENERATED: fine-tuning (python docs/make_requirements.py) -->"
TRAINING_END = "<!-- END GENERATED: fine-tuning -->"

GIB = 2**30

# Labels a figure line may show for an `estimate` command -> field of its --format json output.
ESTIMATE_FIELDS: Dict[str, Tuple[str, ...]] = {
    "params": ("params",),
    "weights": ("per_device", "weights_bytes"),
    "KV cache": ("per_device", "kv_cache_bytes"),
    "activations": ("per_device", "activation_bytes"),
    "runtime overhead": ("per_device", "runtime_overhead_bytes"),
    "total per GPU": ("per_device", "total_bytes"),
    "host RAM": ("host_ram_bytes",),
    "disk": ("disk_bytes",),
}


# --- formatting (the test has its own copy of these rules, on purpose) --------------------------


def bytes_text(n: int) -> str:
    """12.9 GiB (13.8 GB): binary like the tables, decimal to compare with the guides' GB."""
    return f"{n / GIB:,.1f} GiB ({n / 1e9:,.1f} GB)".replace(",", " ")


def params_text(n: int) -> str:
    return f"{n / 1e9:.2f} B"


def tps_text(mid: float) -> str:
    return f"{mid:.0f}" if mid >= 10 else f"{mid:.1f}"


# --- running the cited commands -----------------------------------------------------------------


def run_cli(command: str) -> Any:
    """`deepseek-probe COMMAND --format json` through the real click CLI; parsed JSON."""
    from click.testing import CliRunner

    from deepseek_probe.cli import cli

    args = shlex.split(command) + ["--format", "json"]
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    if result.exit_code != 0:
        raise SystemExit(f"`deepseek-probe {command}` exited {result.exit_code}: {result.output.strip()}")
    return json.loads(result.stdout)


def _dig(doc: Any, path: Sequence[str]) -> Any:
    for key in path:
        doc = doc[key]
    return doc


@dataclass
class Figure:
    """One cited command and the values it shows: estimate labels, or plan GPU keys."""

    command: str  # what follows `deepseek-probe`
    show: Tuple[str, ...]
    data: Any = None

    def run(self) -> "Figure":
        if self.data is None:
            self.data = run_cli(self.command)
        return self

    @property
    def kind(self) -> str:
        return self.command.split()[0]

    def value(self, label: str) -> Any:
        """Raw value: bytes / params for estimate labels; the GPU row dict for plan keys."""
        self.run()
        if self.kind == "estimate":
            return _dig(self.data, ESTIMATE_FIELDS[label])
        return next(g for g in self.data["gpus"] if g["gpu"] == label)

    def count(self, gpu_key: str) -> Optional[int]:
        return self.value(gpu_key)["count"]

    def tps(self, gpu_key: str) -> float:
        return self.value(gpu_key)["decode_tokens_per_s"]["mid"]

    def part(self, label: str) -> str:
        if self.kind == "estimate":
            v = self.value(label)
            return f"{label} {params_text(v) if label == 'params' else bytes_text(v)}"
        g = self.value(label)
        if g["count"] is None:
            return f"{g['name']}: more than 8 GPUs"
        plural = "GPU" if g["count"] == 1 else "GPUs"
        return f"{g['name']}: {g['count']} {plural}, ≈ {tps_text(g['decode_tokens_per_s']['mid'])} tok/s"

    def line(self) -> str:
        return f"- `deepseek-probe {self.command}` → " + " · ".join(self.part(x) for x in self.show)


@dataclass
class Claim:
    number: int
    title: str
    claim: str
    figures: List[Figure]
    why: Callable[[List[Figure]], str]


def _gb(n: int) -> str:
    return f"{n / 1e9:.0f} GB"


def _count_words(n: Optional[int]) -> str:
    return "more than 8" if n is None else str(n)


def _pct(a: float, b: float) -> str:
    return f"{100 * a / b:.1f} %"


def _ceil(x: float) -> int:
    return int(math.ceil(x - 1e-9))


# --- the claims (guide-claims.md), prose here, figures from the CLI -------------------------------


def claims() -> List[Claim]:
    from deepseek_probe import gpus, thresholds
    from deepseek_probe.runtimes import RUNTIMES

    E = lambda cmd, *show: Figure("estimate " + cmd, show)  # noqa: E731
    P = lambda cmd, *show: Figure("plan " + cmd, show)  # noqa: E731
    from deepseek_probe import profiles

    rc = {name: rt.cuda for name, rt in RUNTIMES.items()}  # each runtime's CUDA builds
    h100, mi300x, l40s = gpus.get_gpu("h100-sxm"), gpus.get_gpu("mi300x"), gpus.get_gpu("l40s")
    m7b, m67b = profiles.get_model("7b"), profiles.get_model("67b")

    def why1(f: List[Figure]) -> str:
        total = f[0].value("total per GPU")
        fits16 = ("so a 7B at bf16 needs more than a 16 GB card even at 4K tokens" if total > 16e9 else
                  "which still fits a 16 GB card at 4K tokens, with little room")
        return (
            "The rule is parameters × 2 bytes: the 16-bit weights and nothing else, in decimal GB. "
            "A transformers process also holds the KV cache (deepseek-llm-7b uses full multi-head "
            f"attention, {m7b.kv_heads} KV heads over {m7b.layers} layers, so its cache is large for a "
            "7B), the prefill activations, the allocator's rounding and the CUDA context, "
            f"{fits16}. There is no DeepSeek 13B; the nearest is "
            "R1-Distill-Qwen-14B. The RAM figures are far above need: transformers and vLLM stream "
            "safetensors shards straight to the GPU, so host RAM holds the process and one shard, not "
            "the model (RAM matters when llama.cpp offloads layers to the CPU; see claim 12).")

    def why2(f: List[Figure]) -> str:
        ratio = f[0].value("weights") / 56e9
        return (
            "At FP16 every parameter takes 2 bytes, so the weights alone are the `weights` figure of "
            f"the first line, {ratio:.1f}× the claim, before any KV cache. 56 GB is "
            "roughly what a 6-bit GGUF of the model weighs (second line, `disk`): the guide quoted a "
            "quantised download as if it were FP16.")

    def why3(f: List[Figure]) -> str:
        fp16, int4 = f[0], f[1]
        return (
            f"A 70B at FP16 is spread over {_count_words(fp16.count('a100-40gb'))} A100 40GB cards. "
            f"Even 4-bit (AWQ/GPTQ) weights plus the KV cache and runtime overhead exceed one 40 GB "
            f"card: {_count_words(int4.count('a100-40gb'))} are needed. "
            "One A100 40GB runs a 70B only with a 4-bit "
            "GGUF in llama.cpp and part of the layers offloaded to the CPU, which is far from "
            "real-time: offloaded layers decode at host-RAM bandwidth (`deepseek-probe check "
            "--runtime llamacpp --model 70b` on such a machine prints the split and its tok/s).")

    def why4(f: List[Figure]) -> str:
        p70, p236 = f[0].value("params") / 1e9, f[3].value("params") / 1e9
        lo70, hi70 = _ceil(_ceil(p70 * 4 / 80) * 1.2), _ceil(_ceil(p70 * 4 / 80) * 1.5)
        lo236, hi236 = _ceil(_ceil(p236 * 4 / 80) * 1.2), _ceil(_ceil(p236 * 4 / 80) * 1.5)
        n4k, n128k = (_count_words(f[i].count("a100-80gb")) for i in (1, 2))
        return (
            f"For the 70B the rule gives ceil({p70:.2f} × 4 / 80) × 1.2–1.5 = {lo70}–{hi70} A100 80GB "
            f"at any context; for DeepSeek-V2 (236B) it gives {lo236}–{hi236}. Four bytes per "
            "parameter is fp32, which nobody serves; at bf16 the weights take half. The rule also has "
            "no context term: the KV cache grows with context and concurrency, so the count depends on "
            f"them (served with vLLM, the 70B needs {n4k} A100 80GB at 4K tokens, {n128k} at 128K). "
            "And tensor parallelism splits attention heads evenly, so the count is a divisor of the "
            "head counts (1, 2, 4, 8), not 5 or 6.")

    def why5(f: List[Figure]) -> str:
        p = f[0].value("params") / 1e9
        kv_term = 32 * 2048 * 4 / 1024**2
        rule = (p * 2 + kv_term) * 1.1
        kv = f[0].value("KV cache")
        return (
            f"For deepseek-llm-67b the rule gives ({p:.2f} × 2 + {kv_term:.2f}) × 1.1 = {rule:.1f} GB. "
            f"Its KV term, batch × seq_len × 4 / 1024² = {kv_term:.2f} GB, has no layers, KV heads or "
            f"head dimension in it. The real cache is 2 (K and V) × {m67b.layers} layers × "
            f"{m67b.kv_heads} KV heads × {m67b.head_dim} × 2 bytes per token, for 32 × 2048 tokens: "
            f"the `KV cache` figure, {kv / (kv_term * 1e9):.0f}× "
            "the rule's term. The weights term is right; the 10 % does not cover what the cache, the "
            "activations and the runtime add.")

    def why6(f: List[Figure]) -> str:
        same = f[0].value("weights") == f[1].value("weights")
        return (
            ("FP16 and BF16 weigh the same (both lines), " if same else "FP16 and BF16 are both 2 bytes, ")
            + "2 bytes per parameter: BF16 trades mantissa bits for exponent range, not size. A factor "
            "of 1.25 per billion parameters would be 10 bits per weight. For training, gradients, fp32 "
            "master weights and the optimizer state add several times the weights (the ZeRO paper "
            "counts them); deepseek-probe estimates inference only.")

    def why7(f: List[Figure]) -> str:
        fp32, int8, int4 = f[0], f[1], f[2]
        w = lambda x: x.value("weights")  # noqa: E731
        t = lambda x: x.value("total per GPU")  # noqa: E731
        big32, big4 = f[3], f[4]
        return (
            f"For deepseek-llm-7b the int8 weights are {_pct(w(int8), w(fp32))} of fp32 and the int4 "
            f"weights {_pct(w(int4), w(fp32))}, not 25 % and 12.5 %: the embedding and LM head stay "
            f"16-bit ({m7b.embedding_params / m7b.params * 100:.0f} % of its parameters), and each "
            "group of 128 4-bit weights "
            "carries a 16-bit scale and a zero point. Memory at run time shrinks less still: int4 "
            f"needs {_pct(t(int4), t(fp32))} of the fp32 total at 4K tokens, because the KV cache, "
            "activations and CUDA context do not shrink with the weights. Bigger models come closer "
            f"to the rule (70B: int4 weights {_pct(w(big4), w(big32))} of fp32), as the embeddings "
            "are a smaller share.")

    def why8(f: List[Figure]) -> str:
        r1, coder = f[0], f[2]
        kv_x = coder.value("KV cache") / r1.value("KV cache")
        usable_4090 = f[1].value("rtx-4090")["usable_bytes_per_device"]
        coder_fits = ("and still fits one" if coder.value("total per GPU") <= usable_4090
                      else "and needs more than one")
        n33 = f[3].count("l40s")
        return (
            f"deepseek-llm-7b was trained for {m7b.max_context} tokens, so 10K tokens is past its "
            "maximum (`deepseek-probe estimate --model 7b --context 10240` refuses). The 7B models "
            f"that do take 10K fit one RTX 4090 at int4 ({f[1].count('rtx-4090')} in the plan line): "
            f"R1-Distill-Qwen-7B has only {profiles.get_model('r1-7b').kv_heads} KV heads, so its cache "
            f"is small; deepseek-coder-6.7b has full multi-head attention, a cache {kv_x:.0f}× larger, "
            f"{coder_fits}. For the 33B the 48 GB class (RTX A6000, L40S) holds the int4 model at its "
            f"full context on {n33} card{'s' if n33 != 1 else ''}; \"real-time\" depends on memory "
            f"bandwidth: the figure is for the L40S ({l40s.bandwidth_bytes_per_s / 1e9:.0f} GB/s), and "
            "the RTX A6000 has less bandwidth, so it decodes somewhat slower.")

    def why9(f: List[Figure]) -> str:
        fp16_w, int4_w, int4_t = f[0].value("weights"), f[1].value("weights"), f[1].value("total per GPU")
        return (
            "There is no DeepSeek 6B. The nearest is deepseek-coder-6.7b (first line): at FP16 its "
            f"weights alone are {'above' if fp16_w > 12e9 else 'within'} 12 GB, and the KV cache "
            "(full multi-head attention) and runtime come on top. At INT4 the weights are "
            f"{'under' if int4_w < 6e9 else 'over'} 6 GB, but the process "
            f"{'is not' if int4_t >= 6e9 else 'is too'}: the KV cache and CUDA context do not shrink "
            "with the weights.")

    def why10(f: List[Figure]) -> str:
        p = f[0].value("params")
        t4090, th100 = f[1].tps("rtx-4090"), f[1].tps("h100-sxm")
        return (
            "Decoding one sequence reads every weight once per token, so its speed is memory "
            "bandwidth divided by the bytes read, not FLOPS. The FLOPs actually used at those speeds "
            f"are 2 × parameters × tokens/s: {2 * p * t4090 / 1e12:.2f} TFLOPS on the RTX 4090 and "
            f"{2 * p * th100 / 1e12:.2f} TFLOPS on the H100 SXM, a small fraction of either GPU's "
            "peak. FLOPS matter for prefill (long prompts) and for large batches.")

    def why11(f: List[Figure]) -> str:
        return (
            "PyTorch, vLLM and llama.cpp builds ship their own CUDA runtime (and PyTorch its cuDNN), "
            "so the host's CUDA toolkit version does not matter for them. What must hold is that the "
            "NVIDIA driver supports the CUDA the runtime was built with: PyTorch's default wheel is "
            f"CUDA {rc['transformers'].default}, vLLM's {rc['vllm'].default}, llama.cpp ships "
            f"{' and '.join([rc['llamacpp'].default] + list(rc['llamacpp'].alternatives))} builds. "
            "`deepseek-probe check` reports this as `driver.cuda_version` (the driver's CUDA from "
            "NVML against the runtime's build, with the build that works when the default does not), "
            "plus `gpu.compute_capability` (bf16 needs "
            f"{'.'.join(map(str, thresholds.CC_BF16))}, FP8 {'.'.join(map(str, thresholds.CC_FP8))}).")

    def why12(f: List[Figure]) -> str:
        return (
            "Twice the parameter count in RAM is the size of an fp16 copy of the weights, which no "
            "current loader keeps: transformers and vLLM stream safetensors shards to the GPU "
            "(first line), and llama.cpp maps the GGUF file into memory, keeping in RAM only the "
            "token embedding and any layers it offloads to the CPU (second line). RAM becomes the "
            "limit when layers are offloaded; `deepseek-probe check` then checks free RAM against "
            "the offloaded part (`llamacpp.offload`, `host.ram`). Swap does not help: weights "
            "paged out to swap or ZRAM are read for every token.")

    def why13(f: List[Figure]) -> str:
        right = abs(f[0].value("disk") / 140e9 - 1) < 0.05
        return (
            f"The 140 GB is {'right' if right else 'off'} for FP16 weights (first line); other "
            "precisions are computable "
            "exactly and differ a lot (4-bit safetensors, a Q4_K_M GGUF, DeepSeek-V3's native FP8 "
            "checkpoint with its MTP module). Disk speed only changes load time (size ÷ read speed); "
            "it does not decide whether the model runs. `deepseek-probe check` checks free space at "
            "the model directory (`disk.free`).")

    def why14(f: List[Figure]) -> str:
        return (
            f"By memory bandwidth alone an MI300X ({mi300x.bandwidth_bytes_per_s / 1e12:.1f} TB/s) "
            f"would decode faster than an H100 SXM ({h100.bandwidth_bytes_per_s / 1e12:.2f} TB/s); "
            "what it reaches in practice depends on the ROCm kernels of the runtime, which we do not "
            f"model, so neither \"70 %\" nor our bandwidth estimate "
            f"({f[0].tps('mi300x') / f[0].tps('h100-sxm') * 100:.0f} % of the H100) is a measurement. "
            "deepseek-probe "
            "reads GPUs through NVML, which sees NVIDIA GPUs only: AMD GPUs are not probed, and "
            "`plan` marks the MI300X row \"ROCm (AMD): not covered by the CUDA checks\".")

    def why15(f: List[Figure]) -> str:
        return (
            f"Reasonable. `deepseek-probe check` warns at {thresholds.GPU_TEMPERATURE_WARN_C} °C and above "
            "(`gpu.temperature`) and when the GPU throttles for heat or power (`gpu.throttle`). A "
            "VRAM alert at 90 % fires on every healthy vLLM server, which takes "
            f"{thresholds.VLLM_GPU_MEMORY_UTILIZATION * 100:.0f} % of total memory by design "
            f"(`--gpu-memory-utilization {thresholds.VLLM_GPU_MEMORY_UTILIZATION:g}`) and fills it with "
            "KV-cache pages; what matters before starting is whether the estimate plus a safety "
            "margin fits the free "
            "memory (`gpu.vram`), and whether other processes hold memory (`gpu.other_processes`).")

    def why16(f: List[Figure]) -> str:
        return (
            "Topology matters when the model is split over GPUs (tensor parallelism exchanges "
            "activations every layer); a single-GPU deployment does not care. `deepseek-probe check` "
            "reports the negotiated PCIe link against the card's maximum (`gpu.pcie_link`: a x16 "
            "card running at x8 or gen 3) and whether the GPUs of a tensor-parallel group talk over "
            "NVLink or PCIe (`gpu.interconnect`). 900 GB/s is the NVLink bandwidth of an H100 SXM; "
            "H100 PCIe cards reach NVLink only through bridges.")

    def why17(f: List[Figure]) -> str:
        from deepseek_probe.requirements import requirement_rows

        multi = sorted({(r.model, r.precision) for r in requirement_rows()
                        if all(x.count is None for x in r.fits)})
        who = "; ".join(f"{m} at {p}" for m, p in multi) or "none"
        return (
            "Right for clusters, but few deployments need one: in the requirement tables the rows no "
            f"single 8-GPU node holds are {who} (at some contexts). At its native FP8 DeepSeek-V3 "
            f"fits {f[1].count('h200')} H200 in one node (second line). deepseek-probe checks one "
            "machine; it does not probe InfiniBand or RDMA between nodes, and `plan` says when no "
            "single 8-GPU node of a common GPU holds the model.")

    return [
        Claim(1, "7B needs 14 GB, 33B 64 GB",
              "7B needs 14 GB VRAM and 32 GB RAM; 13B 28 GB; 33B 64 GB VRAM and 128 GB RAM.",
              [E("--model 7b --precision bf16 --context 4096", "weights", "KV cache", "activations",
                 "runtime overhead", "total per GPU", "host RAM"),
               E("--model 14b --precision bf16 --context 4096", "weights", "total per GPU"),
               E("--model 33b --precision bf16 --context 16384", "weights", "KV cache", "total per GPU",
                 "host RAM")], why1),
        Claim(2, "70B at FP16 takes 56 GB", "A 70B model loaded takes about 56 GB of VRAM (FP16).",
              [E("--model 70b --precision fp16 --context 4096", "params", "weights", "total per GPU"),
               E("--model 70b --runtime llamacpp --precision q6_k --context 4096", "disk")], why2),
        Claim(3, "One A100 40GB runs a 70B at FP16",
              "One A100 40GB supports real-time inference of a 70B model at FP16.",
              [P("--model 70b --precision fp16 --context 4096", "a100-40gb"),
               P("--model 70b --precision int4 --context 4096", "a100-40gb")], why3),
        Claim(4, "GPUs = ceil(params × 4 / GPU GB) × 1.2–1.5",
              "GPU count = ceil(params (B) × 4 / GPU memory (GB)) × 1.2–1.5 "
              "(130B on A100 80GB → 9 cards).",
              [E("--model 70b --precision bf16 --context 4096", "params", "weights"),
               P("--model 70b --runtime vllm --precision bf16 --context 4096", "a100-80gb"),
               P("--model 70b --runtime vllm --precision bf16 --context 131072", "a100-80gb"),
               E("--model 236b --precision bf16 --context 4096", "params", "weights"),
               P("--model 236b --runtime vllm --precision bf16 --context 4096", "a100-80gb")], why4),
        Claim(5, "VRAM = params × 2 + batch × seq_len × 4 / 1024² + 10 %",
              "VRAM (GB) = params × 2 + batch × seq_len × 4 / 1024² + 10 % "
              "(65B, batch 32, 2048 tokens → 145.5 GB).",
              [E("--model 67b --runtime vllm --precision fp16 --context 2048 --concurrency 32",
                 "params", "weights", "KV cache", "total per GPU"),
               P("--model 67b --runtime vllm --precision fp16 --context 2048 --concurrency 32",
                 "h100-sxm", "h200")], why5),
        Claim(6, "FP16 × 2.5, BF16 × 1.25",
              "VRAM needed = params × 2.5 (FP16) or × 1.25 (BF16) for training.",
              [E("--model 7b --precision fp16 --context 4096", "weights"),
               E("--model 7b --precision bf16 --context 4096", "weights")], why6),
        Claim(7, "INT4 is 12.5 % of FP32, INT8 25 %", "INT4 uses 12.5 % of FP32 memory, INT8 25 %.",
              [E("--model 7b --precision fp32 --context 4096", "weights", "total per GPU"),
               E("--model 7b --precision int8 --context 4096", "weights", "total per GPU"),
               E("--model 7b --precision int4 --context 4096", "weights", "total per GPU"),
               E("--model 70b --precision fp32 --context 4096", "weights"),
               E("--model 70b --precision int4 --context 4096", "weights")], why7),
        Claim(8, "7B INT4 on a 4090 at 10K; 33B INT4 on two A6000",
              "7B INT4 on one RTX 4090 handles 10K context; 33B INT4 runs in real time on two A6000 (48 GB).",
              [E("--model r1-7b --precision int4 --context 10240", "KV cache", "total per GPU"),
               P("--model r1-7b --precision int4 --context 10240", "rtx-4090"),
               E("--model 6.7b --precision int4 --context 10240", "KV cache", "total per GPU"),
               P("--model 33b --precision int4 --context 16384", "l40s")], why8),
        Claim(9, "DeepSeek-6B: 12 GB at FP16, under 6 GB at INT4",
              "DeepSeek-6B FP16 inference needs 12 GB; INT4 under 6 GB.",
              [E("--model 6.7b --precision fp16 --context 4096", "params", "weights", "KV cache",
                 "total per GPU"),
               E("--model 6.7b --precision int4 --context 4096", "weights", "total per GPU")], why9),
        Claim(10, "30 TFLOPS per trillion parameters",
              "Each trillion parameters needs about 30 TFLOPS at batch 1, so a 6B needs 180 TFLOPS.",
              [E("--model 6.7b --precision fp16 --context 4096", "params"),
               P("--model 6.7b --precision fp16 --context 4096", "rtx-4090", "h100-sxm")], why10),
        Claim(11, "CUDA ≥ 11.8, cuDNN 8.9, PyTorch 2.0+",
              "CUDA ≥ 11.8 (12.1/12.2 recommended), cuDNN 8.9, PyTorch 2.0+.", [], why11),
        Claim(12, "System RAM ≥ 2 × params, 200 GB swap",
              "System RAM ≥ 2 × the parameter count; 200 GB of swap with ZRAM.",
              [E("--model 70b --precision bf16 --context 4096", "weights", "host RAM"),
               E("--model 70b --runtime llamacpp --precision q4_k_m --context 4096", "host RAM", "disk")],
              why12),
        Claim(13, "NVMe ≥ 7 GB/s, 140 GB for a 70B at FP16",
              "Disk: NVMe at 7 GB/s or more; model files about 140 GB for a 70B at FP16.",
              [E("--model 70b --precision fp16 --context 4096", "disk"),
               E("--model 70b --precision int4 --context 4096", "disk"),
               E("--model 70b --runtime llamacpp --precision q4_k_m --context 4096", "disk"),
               E("--model 671b --precision fp8 --context 4096", "disk")], why13),
        Claim(14, "MI300X at 70 % of an H100",
              "AMD MI300X runs DeepSeek-7B FP16 at about 70 % of H100 throughput; "
              "RX 7900 XTX about 85 % of NVIDIA.",
              [P("--model 7b --precision fp16 --context 4096", "h100-sxm", "mi300x")], why14),
        Claim(15, "Alerts at 85 °C and 90 % VRAM",
              "Alert when the GPU is above 85 °C or VRAM above 90 %.", [], why15),
        Claim(16, "PCIe 4.0 x16, no switches, NVLink ≥ 900 GB/s",
              "PCIe 4.0 x16 direct to the CPU; avoid PCIe switches; NVLink ≥ 900 GB/s for dual H100.",
              [], why16),
        Claim(17, "Clusters need ≥ 100 Gb/s InfiniBand",
              "Clusters: at least 100 Gb/s InfiniBand/RDMA between nodes, ≤ 1 µs latency.",
              [P("--model 671b --precision bf16 --context 131072", "h200", "b200"),
               P("--model 671b --precision fp8 --context 4096", "h200")], why17),
    ]


def render_claims() -> str:
    out = ["## Rules of thumb checked", "",
           "Each section quotes a rule from popular 2025 DeepSeek hardware guides, then the figures our "
           "estimator gives at the same settings: paste the command to reproduce a line (add "
           "`--format json` for exact bytes). GiB = 2³⁰ bytes; the guides' GB are 10⁹. Defaults not "
           "shown on a line: runtime transformers, KV cache bf16 (llama.cpp f16), one sequence, "
           "tensor parallel 1.", ""]
    for c in claims():
        out += [f"### {c.number}. {c.title}", "", f"> **Claim:** {c.claim}", ""]
        for f in c.figures:
            out.append(f.run().line())
        if c.figures:
            out.append("")
        out += [c.why(c.figures), ""]
    return "\n".join(out)


def render_table() -> str:
    from deepseek_probe.requirements import render_requirements

    return render_requirements("markdown")


# --- the document ---------------------------------------------------------------------------------


def _block(begin: str, body: str, end: str) -> str:
    return f"{begin}\n{body.rstrip()}\n{end}"


def replace_block(text: str, begin: str, end: str, body: str) -> str:
    i, j = text.find(begin), text.find(end)
    if i < 0 or j < i:
        raise SystemExit(f"{DOC_PATH}: markers {begin!r} … {end!r} missing or out of order")
    return text[:i] + _block(begin, body, end) + text[j + len(end):]


def extract_block(text: str, begin: str, end: str) -> Optional[str]:
    i, j = text.find(begin), text.find(end)
    if i < 0 or j < i:
        return None
    return text[i + len(begin):j].strip("\n") + "\n"


def render_training() -> str:
    """Fine-tuning per model (issue 22): training/tables.py, and the guides' three training claims
    each beside the command that reproduces it."""
    from deepseek_probe.training import tables

    out = [tables.markdown().rstrip(), "",
           "| guide's claim | command | what the command computes | verdict |", "|---|---|---|---|"]
    for c in tables.guide_claims():
        out.append(f"| {c.claim} | `{c.command}` | {c.ours} | {c.verdict} |")
    return "\n".join(out) + "\n"


def regenerate(text: str) -> str:
    if TRAINING_BEGIN not in text:  # first run: the block goes at the end, under its own heading
        text = text.rstrip("\n") + ("\n\n## Fine-tuning (full, LoRA, QLoRA)\n\nPeak per GPU as NVML shows it, "
                                   "from `deepseek_probe/training/` (one GPU: fitted on Trainer runs on an H200, "
                                   "benchmarks/training/; ZeRO-3 over 8: derived from DeepSpeed's source, not "
                                   "measured). Trainer 5.x defaults otherwise; LoRA and QLoRA at r16 on all-linear.\n\n"
                                   f"{TRAINING_BEGIN}\n{TRAINING_END}\n")
    text = replace_block(text, TRAINING_BEGIN, TRAINING_END, render_training())
    text = replace_block(text, CLAIMS_BEGIN, CLAIMS_END, render_claims())
    return replace_block(text, TABLE_BEGIN, TABLE_END, render_table())


def main(argv: Sequence[str]) -> int:
    with open(DOC_PATH, encoding="utf-8") as f:
        current = f.read()
    fresh = regenerate(current)
    if "--check" in argv:
        if fresh != current:
            print(f"{DOC_PATH} is stale: run `{REGENERATE}`", file=sys.stderr)
            return 1
        return 0
    if fresh != current:
        with open(DOC_PATH, "w", encoding="utf-8") as f:
            f.write(fresh)
        print(f"rewrote {DOC_PATH}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
