"""The SGLang launch-command parser (sglang 0.5.5 flag names)."""

import pytest

from deepseek_probe.runtimes.command import CommandError
from deepseek_probe.runtimes.sglang_cli import parse_command


def test_launch_server_reads_memory_flags_and_sorts_the_rest():
    p = parse_command("python3 -m sglang.launch_server --model-path deepseek-ai/DeepSeek-V3 --tp 8 "
                      "--mem-fraction-static 0.85 --context-length 32768 --kv-cache-dtype fp8_e4m3 "
                      "--max-running-requests 64 --chunked-prefill-size 4096 --cuda-graph-max-bs 128 "
                      "--disable-cuda-graph --trust-remote-code --host 0.0.0.0 --port 30000 --foo 1".split(), {})
    o = p.options
    assert (o.tp, o.mem_fraction_static, o.context_length, o.kv_cache_dtype) == (8, 0.85, 32768, "fp8_e4m3")
    assert (o.max_running_requests, o.chunked_prefill_size, o.cuda_graph_max_bs) == (64, 4096, 128)
    assert o.disable_cuda_graph is True
    assert p.generic == {"tensor_parallel": 8, "context": 32768, "concurrency": 64, "kv_precision": "fp8"}
    assert "--trust-remote-code" in p.ignored and "--host 0.0.0.0" in p.ignored
    assert p.not_modelled == ("--foo 1",)
    assert p.model_ref == "deepseek-ai/DeepSeek-V3"


def test_sglang_serve_and_long_names_and_dp_attention():
    p = parse_command(["sglang", "serve", "--model", "m", "--tensor-parallel-size", "8", "--data-parallel-size", "8",
                       "--enable-dp-attention", "--quantization", "fp8", "--cuda-graph-bs", "1", "2", "64"], None)
    o = p.options
    assert p.program == "sglang serve"
    assert (o.tp, o.dp, o.enable_dp_attention, o.cuda_graph_max_bs) == (8, 8, True, 64)
    assert p.generic["precision"] == "fp8"


def test_env_allows_longer_context():
    p = parse_command(["python", "-m", "sglang.launch_server", "--model-path", "m", "--context-length", "999999"],
                      {"SGLANG_ALLOW_OVERWRITE_LONGER_CONTEXT_LEN": "1"})
    assert p.options.allow_longer_context


@pytest.mark.parametrize("argv", [
    [],
    ["vllm", "serve", "m"],
    ["python", "-m", "sglang.bench_serving", "--model", "m"],
    ["sglang", "generate", "--model", "m"],
    ["python", "-m", "sglang.launch_server", "--tp", "8"],
    ["python", "-m", "sglang.launch_server", "--model-path", "m", "--tp", "zero"],
    ["python", "-m", "sglang.launch_server", "--model-path", "m", "--tp", "0"],
    ["python", "-m", "sglang.launch_server", "--model-path", "m", "--mem-fraction-static", "1.5"],
    ["python", "-m", "sglang.launch_server", "--model-path", "m", "--kv-cache-dtype", "int3"],
    ["python", "-m", "sglang.launch_server", "--model-path", "m", "--context-length"],
    ["python", "-m", "sglang.launch_server", "--model-path", "m", "--disable-cuda-graph=yes"],
    ["python", "-m", "sglang.launch_server", "--model-path", "m", "stray"],
    ["python", "-m", "sglang.launch_server", "--model-path", "m", "--tp", "3", "--dp", "2", "--enable-dp-attention"],
])
def test_malformed_commands_give_one_line_command_errors(argv):
    with pytest.raises(CommandError) as e:
        parse_command(argv, {})
    assert "\n" not in str(e.value) and str(e.value)


def test_dtype_float16_gives_fp16_weights_and_an_fp16_cache():
    p = parse_command("python -m sglang.launch_server --model-path m --dtype float16".split(), {})
    assert (p.generic["precision"], p.generic["kv_precision"]) == ("fp16", "fp16")
    p = parse_command("python -m sglang.launch_server --model-path m --dtype float16 --kv-cache-dtype bf16".split(), {})
    assert p.generic["kv_precision"] == "bf16"
