"""The vLLM launch-command parser (vllm/engine/arg_utils.py flag names)."""

import pytest

from deepseek_probe.runtimes.command import CommandError
from deepseek_probe.runtimes.vllm_cli import human_int, parse_command


def test_vllm_serve_reads_memory_flags_and_sorts_the_rest():
    p = parse_command("vllm serve deepseek-ai/DeepSeek-R1-Distill-Qwen-32B -tp 2 --max-model-len 32K "
                      "--gpu-memory-utilization 0.95 --kv-cache-dtype fp8 --max-num-seqs 64 "
                      "--max-num-batched-tokens 4k --enforce-eager --cpu-offload-gb 4 --block-size 32 "
                      "--trust-remote-code --host 0.0.0.0 --port 8000 --frobnicate 3".split(), {})
    o = p.options
    assert o.model == "deepseek-ai/DeepSeek-R1-Distill-Qwen-32B" == p.model_ref
    assert (o.tp, o.max_model_len, o.gpu_memory_utilization, o.kv_cache_dtype) == (2, 32768, 0.95, "fp8")
    assert (o.max_num_seqs, o.max_num_batched_tokens, o.enforce_eager, o.cpu_offload_gb, o.block_size) == \
        (64, 4000, True, 4.0, 32)
    assert p.generic == {"tensor_parallel": 2, "gpu_memory_utilization": 0.95, "context": 32768,
                         "kv_precision": "fp8"}
    assert "--trust-remote-code" in p.ignored and "--port 8000" in p.ignored
    assert p.not_modelled == ("--frobnicate 3",)


def test_api_server_module_and_auto_length_and_quantization():
    p = parse_command(["python3", "-m", "vllm.entrypoints.openai.api_server", "--model", "m", "-q", "awq",
                       "--max-model-len", "auto", "--enable-expert-parallel", "--pipeline-parallel-size=2"],
                      {"VLLM_USE_V1": "0"})
    o = p.options
    assert o.max_model_len is None and o.max_model_len_auto and o.enable_expert_parallel and o.pp == 2
    assert p.generic["precision"] == "int4" and "context" not in p.generic
    assert any("auto" in n for n in p.notes) and any("V1" in n for n in p.notes)


def test_an_unmodelled_quantization_is_reported_not_guessed():
    p = parse_command(["vllm", "serve", "m", "--quantization", "gguf"], {})
    assert p.options.quantization is None and any("gguf" in n for n in p.not_modelled)


@pytest.mark.parametrize("text,value", [("8192", 8192), ("8k", 8000), ("8K", 8192), ("25.6k", 25600), ("1M", 1 << 20)])
def test_human_readable_ints_follow_vllm(text, value):
    assert human_int("--x")(text) == value


@pytest.mark.parametrize("argv", [
    [],
    ["vllm"],
    ["vllm", "chat", "m"],
    ["python", "-m", "vllm.entrypoints.api_server", "--model", "m"],
    ["vllm", "serve", "--port", "8000"],
    ["vllm", "serve", "m", "--model", "other"],
    ["vllm", "serve", "m", "-tp", "zero"],
    ["vllm", "serve", "m", "-tp", "0"],
    ["vllm", "serve", "m", "--max-model-len", "1.5K"],
    ["vllm", "serve", "m", "--gpu-memory-utilization", "1.5"],
    ["vllm", "serve", "m", "--kv-cache-dtype", "int3"],
    ["vllm", "serve", "m", "--block-size", "48"],
    ["vllm", "serve", "m", "--cpu-offload-gb", "-1"],
    ["vllm", "serve", "m", "--max-model-len"],
    ["vllm", "serve", "m", "--enforce-eager=yes"],
    ["vllm", "serve", "m", "stray"],
])
def test_malformed_commands_give_one_line_command_errors(argv):
    with pytest.raises(CommandError) as e:
        parse_command(argv, {})
    assert "\n" not in str(e.value) and str(e.value)


def test_dtype_and_16_bit_kv_words_name_the_precision():
    p = parse_command("vllm serve m --dtype half --kv-cache-dtype float16".split(), {})
    assert (p.generic["precision"], p.generic["kv_precision"]) == ("fp16", "fp16")
    p = parse_command("vllm serve m --dtype bfloat16 --kv-cache-dtype bfloat16".split(), {})
    assert (p.generic["precision"], p.generic["kv_precision"]) == ("bf16", "bf16")
