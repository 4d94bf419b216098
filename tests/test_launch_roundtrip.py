"""Issue 25, the round trip: the launch command emitted for a setup, read back by the runtime's
own parser (what `check -- <command>` does), gives the same setup: the same memory-relevant
Settings, the same bytes per GPU and the same bytes read per token (the decode speed).

transformers commands are emitted, not parsed back (no `python -c` launch parser): they have
explicit cases below only. A setup no command can make (an int4 checkpoint nobody named, an F16
GGUF with no known repo) raises EmitError; those are rejected from the draw and pinned by hand.
"""

from __future__ import annotations

from dataclasses import replace
import pytest
from hypothesis import HealthCheck, given, reject, settings, strategies as st

from deepseek_probe import runtimes
from deepseek_probe.estimate import EstimateInputError, estimate, validate
from deepseek_probe.profiles import ModelSpec, all_models, get_model
from deepseek_probe.question import Flags, from_command
from deepseek_probe.runtimes import launch
from deepseek_probe.runtimes.base import GiB, Settings
from deepseek_probe.runtimes.llamacpp import options_for as llamacpp_options
from deepseek_probe.runtimes.model_refs import GGUF_REPOS, HF_REPOS, EmitError

H100_BYTES = 80 * GiB
PARSED = ("llamacpp", "ollama", "vllm", "sglang")
# what the command carries; the rest of Settings is the workload (`check --concurrency N`)
FIELDS = ("precision", "kv_precision", "context", "concurrency", "tensor_parallel",
          "gpu_memory_utilization", "mla_cache", "runtime")


def read_back(argv, spec: ModelSpec, workload_concurrency: int, model_flag: bool = False) -> Settings:
    """`check -- argv` with no other flags but --concurrency where the command has no word for
    it (vLLM, SGLang), and --model ID for a GGUF path that is not on this machine: cli._requests'
    path, model resolution included."""
    cmd = launch.parse_launch(argv, {})
    flags = Flags(concurrency=workload_concurrency
                  if "concurrency" not in cmd.generic and cmd.runtime in ("vllm", "sglang") else None)
    (q,) = from_command(argv, {}, [spec.id] if model_flag else [], [], flags, (H100_BYTES,))
    assert q.spec.id == spec.id, f"{argv} names {q.spec.id}, not {spec.id}"
    return q.settings


def same_memory(spec: ModelSpec, a: Settings, b: Settings) -> None:
    for total in (None, H100_BYTES):
        ea, eb = estimate(spec, a, total), estimate(spec, b, total)
        assert ea.per_device == eb.per_device, (total, ea.per_device, eb.per_device)
        assert ea.bytes_read_per_token == eb.bytes_read_per_token
        assert ea.host_ram_bytes == eb.host_ram_bytes


@st.composite
def setups(draw):
    spec = draw(st.sampled_from(all_models()))
    runtime = draw(st.sampled_from(PARSED))
    est_rt = launch.ESTIMATOR_RUNTIME[runtime]
    rt = runtimes.RUNTIMES[est_rt]
    base = runtimes.default_settings(spec, est_rt)
    context = draw(st.one_of(st.sampled_from([2048, 4096, 8192, 32768, 131072]),
                             st.integers(1, spec.max_context)))
    tps = [1] if runtime == "ollama" else [1, 2, 4, 8]
    s = replace(base, precision=draw(st.sampled_from(rt.precisions)),
                kv_precision=draw(st.sampled_from(rt.kv_precisions)),
                context=min(context, spec.max_context), concurrency=draw(st.integers(1, 16)),
                tensor_parallel=draw(st.sampled_from(tps)))
    if est_rt == "vllm":
        s = replace(s, gpu_memory_utilization=draw(st.sampled_from([0.9, 0.95, 0.85, 0.5])))
    try:
        validate(spec, s)
    except EstimateInputError:
        reject()
    if runtime == "llamacpp":  # the placement options a survey row or a fix sets
        o = llamacpp_options(s)
        ngl = draw(st.one_of(st.none(), st.integers(0, spec.layers + 1)))
        if ngl is not None:
            o = replace(o, n_gpu_layers=ngl)
        if spec.is_moe:
            o = replace(o, cpu_moe=draw(st.booleans()), n_cpu_moe=draw(st.integers(0, spec.layers)))
        s = replace(s, runtime_options=o)
    ref = None
    if runtime == "llamacpp" and draw(st.booleans()):  # the user's own file (any quant, any model)
        ref = f"/models/{spec.id}-{s.precision.upper().replace('FP', 'F')}.gguf"
    return spec, runtime, s, ref


@settings(max_examples=150, deadline=None, derandomize=True, print_blob=True,
          suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow])
@given(setups())
def test_the_emitted_command_reads_back_as_the_same_setup(case):
    spec, runtime, s, ref = case
    try:
        argv = launch.launch_command(spec, s, ref, runtime=runtime)
    except EmitError:
        reject()  # no command makes it: pinned by the explicit tests below
    back = read_back(argv, spec, s.concurrency, model_flag=ref is not None)
    if runtime == "ollama":
        # Ollama runs llama-server with its own arguments (batch, -np, fit): the setup it gives is
        # the one the command reads as; emitting that again is the same command, same memory.
        for f in ("precision", "kv_precision", "context", "concurrency", "tensor_parallel"):
            assert getattr(back, f) == getattr(s, f), (f, argv)
        assert launch.launch_command(spec, back, runtime=runtime) == argv
        again = read_back(argv, spec, s.concurrency)
        assert again == back
        same_memory(spec, back, again)
        return
    for f in FIELDS:
        assert getattr(back, f) == getattr(s, f), (f, argv)
    if runtime == "llamacpp":
        # the same options; `explicit` records which of them the command spelled out
        assert replace(back.runtime_options, explicit=frozenset()) == llamacpp_options(s), argv
    same_memory(spec, s, back)


# -- explicit commands, written by hand ------------------------------------------------------

def _s(model: str, runtime: str, **kw) -> "tuple[ModelSpec, Settings]":
    spec = get_model(model)
    return spec, replace(runtimes.default_settings(spec, runtime), **kw)


def test_llama_server_32b_q4_k_m_34_layers_16k_two_slots_q8_cache():
    spec, s = _s("32b", "llamacpp", context=16384, concurrency=2, kv_precision="q8_0")
    s = replace(s, runtime_options=replace(llamacpp_options(s), n_gpu_layers=34, flash_attn="on"))
    assert launch.launch_command(spec, s) == [
        "llama-server", "-hf", "unsloth/DeepSeek-R1-Distill-Qwen-32B-GGUF:Q4_K_M", "-c", "32768",
        "-ngl", "34", "-fa", "on", "-ctk", "q8_0", "-ctv", "q8_0", "-np", "2"]


def test_llama_server_v3_experts_on_the_cpu_over_two_gpus_from_a_local_file():
    spec, s = _s("671b", "llamacpp", precision="q2_k", context=8192, tensor_parallel=2)
    s = replace(s, runtime_options=replace(llamacpp_options(s), cpu_moe=True))
    argv = launch.launch_command(spec, s, "/models/DeepSeek-V3-Q2_K.gguf")
    assert argv == ["llama-server", "-m", "/models/DeepSeek-V3-Q2_K.gguf", "-c", "8192",
                    "-dev", "CUDA0,CUDA1", "--cpu-moe"]


def test_vllm_70b_fp8_weights_and_cache_over_two_gpus():
    spec, s = _s("70b", "vllm", precision="fp8", kv_precision="fp8", context=32768, tensor_parallel=2,
                 gpu_memory_utilization=0.95)
    assert launch.shell_line(launch.launch_command(spec, s)) == (
        "vllm serve deepseek-ai/DeepSeek-R1-Distill-Llama-70B --max-model-len 32768 -tp 2 "
        "--gpu-memory-utilization 0.95 --quantization fp8 --kv-cache-dtype fp8")


def test_vllm_keeps_the_users_awq_repo_and_adds_no_quantization_flag():
    spec, s = _s("32b", "vllm", precision="int4", context=8192)
    assert launch.launch_command(spec, s, "casperhansen/deepseek-r1-distill-qwen-32b-awq") == [
        "vllm", "serve", "casperhansen/deepseek-r1-distill-qwen-32b-awq", "--max-model-len", "8192"]


def test_sglang_v3_tp8_fp8_cache():
    spec, s = _s("671b", "sglang", context=65536, tensor_parallel=8, kv_precision="fp8")
    assert launch.launch_command(spec, s) == [
        "python", "-m", "sglang.launch_server", "--model-path", "deepseek-ai/DeepSeek-V3",
        "--context-length", "65536", "--tp", "8", "--kv-cache-dtype", "fp8_e4m3"]


def test_ollama_32b_q8_tag_with_context_slots_and_q8_cache():
    spec, s = _s("32b", "llamacpp", precision="q8_0", context=32768, concurrency=2, kv_precision="q8_0")
    assert launch.shell_line(launch.launch_command(spec, s, runtime="ollama")) == (
        "OLLAMA_CONTEXT_LENGTH=32768 OLLAMA_NUM_PARALLEL=2 OLLAMA_KV_CACHE_TYPE=q8_0 "
        "OLLAMA_FLASH_ATTENTION=1 ollama run deepseek-r1:32b-qwen-distill-q8_0")


def test_ollama_default_quant_is_the_bare_size_tag_and_keeps_the_users_tag():
    spec, s = _s("7b", "llamacpp", precision="q4_0", context=4096)
    assert launch.launch_command(spec, s, runtime="ollama") == [
        "OLLAMA_CONTEXT_LENGTH=4096", "ollama", "run", "deepseek-llm:7b"]
    spec, s = _s("32b", "llamacpp", context=8192)
    assert launch.launch_command(spec, s, "deepseek-r1:32b", runtime="ollama")[-1] == "deepseek-r1:32b"


def test_transformers_is_one_python_line():
    spec, s = _s("7b", "transformers", precision="int4")
    assert launch.launch_command(spec, s) == ["python", "-c", (
        "import torch; from transformers import BitsAndBytesConfig, AutoModelForCausalLM; "
        "model = AutoModelForCausalLM.from_pretrained(\"deepseek-ai/deepseek-llm-7b-chat\", "
        "quantization_config=BitsAndBytesConfig(load_in_4bit=True), device_map=\"auto\")")]
    spec, s = _s("671b", "transformers", tensor_parallel=8)  # the fp8 checkpoint, as published
    argv = launch.launch_command(spec, s)
    assert argv[0] == "CUDA_VISIBLE_DEVICES=0,1,2,3,4,5,6,7" and 'dtype="auto"' in argv[-1]


@pytest.mark.parametrize("model,runtime,kw,ref,words", [
    ("v4-flash", "llamacpp", {}, None, "no public q4_k_m GGUF of deepseek-v4-flash"),
    ("32b", "llamacpp", {"precision": "fp16"}, None, "no public fp16 GGUF"),
    ("32b", "vllm", {"precision": "int4"}, None, "int4 weights of deepseek-r1-distill-qwen-32b need"),
    ("671b", "sglang", {"precision": "bf16"}, None, "bf16 weights of deepseek-v3 need"),
    ("32b", "sglang", {"kv_precision": "fp16"}, None, "fp16 cache needs --dtype float16"),
    ("v4-pro", "ollama", {}, None, "not in Ollama's library"),
    ("v2-lite", "llamacpp", {"mla_cache": "decompressed"}, None, "decompressed"),
])
def test_a_setup_no_command_makes_raises_one_line(model, runtime, kw, ref, words):
    spec = get_model(model)
    s = replace(runtimes.default_settings(spec, launch.ESTIMATOR_RUNTIME.get(runtime, runtime)), **kw)
    with pytest.raises(EmitError, match=words):
        launch.launch_command(spec, s, ref, runtime=runtime)


@pytest.mark.parametrize("catalog_id", sorted(HF_REPOS))
def test_every_hf_repo_resolves_to_its_catalog_model(catalog_id):
    (q,) = from_command(["vllm", "serve", HF_REPOS[catalog_id]], {}, [], [], Flags())
    assert q.spec.id == catalog_id


@pytest.mark.parametrize("catalog_id", sorted(GGUF_REPOS))
def test_every_gguf_repo_resolves_to_its_catalog_model_and_quant(catalog_id):
    (q,) = from_command(["llama-server", "-hf", f"{GGUF_REPOS[catalog_id]}:Q5_K_M"], {}, [], [], Flags())
    assert (q.spec.id, q.settings.precision) == (catalog_id, "q5_k_m")


def test_a_gguf_repo_without_quant_gets_the_asked_one():
    spec, s = _s("32b", "llamacpp", precision="q6_k")
    argv = launch.launch_command(spec, s, "bartowski/DeepSeek-R1-Distill-Qwen-32B-GGUF")
    assert argv[1:3] == ["-hf", "bartowski/DeepSeek-R1-Distill-Qwen-32B-GGUF:Q6_K"]

