"""`check|estimate ... -- <launch command>`: the command picks the runtime and its settings, the
report echoes what was understood, and a bad command is one line with exit 64."""

from __future__ import annotations

import json
import os

import pytest

from conftest import SNAPSHOT_FIXTURES
from deepseek_probe import cli
from deepseek_probe.runtimes import launch
from deepseek_probe.runtimes.command import CommandError

H100 = os.path.join(SNAPSHOT_FIXTURES, "h100.json")
NOGPU = os.path.join(SNAPSHOT_FIXTURES, "nogpu-dev.json")


def run(capsys, *argv):
    with pytest.raises(SystemExit) as exc:
        cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return (exc.value.code or 0), out, err


@pytest.mark.parametrize("argv,module", [
    (["ollama", "run", "deepseek-r1:7b"], "deepseek_probe.runtimes.ollama"),
    (["/usr/local/bin/ollama", "serve"], "deepseek_probe.runtimes.ollama"),
    (["OLLAMA_NUM_PARALLEL=2", "ollama", "run", "x"], "deepseek_probe.runtimes.ollama"),
    (["lms", "load", "x"], "deepseek_probe.runtimes.lmstudio"),
    (["llama-server.exe", "-m", "x.gguf"], "deepseek_probe.runtimes.llamacpp_cli"),
    (["python3", "-m", "sglang.launch_server", "--model-path", "x"], "deepseek_probe.runtimes.sglang_cli"),
    (["python", "-m", "vllm.entrypoints.openai.api_server", "--model", "x"], "deepseek_probe.runtimes.vllm_cli"),
])
def test_the_program_word_picks_the_parser(argv, module):
    assert launch._program(argv)[0] == module


@pytest.mark.parametrize("argv", [[], ["FOO=1"], ["docker", "run", "x"], ["python", "-m", "http.server"],
                                  ["python3", "script.py"]])
def test_commands_we_do_not_know_are_a_command_error(argv):
    with pytest.raises(CommandError):
        launch._program(argv)


def test_env_words_before_the_program_reach_the_parser():
    cmd = launch.parse_launch(["OLLAMA_CONTEXT_LENGTH=8192", "ollama", "run", "deepseek-r1:7b"], {})
    assert cmd.generic["context"] == 8192
    assert ("OLLAMA_CONTEXT_LENGTH", "8192") in cmd.understood


@pytest.mark.parametrize("name,quant", [("DeepSeek-R1-Distill-Qwen-7B-Q4_K_M.gguf", "q4_k_m"),
                                        ("/m/model-q8_0.gguf", "q8_0"), ("x-F16.gguf", "fp16"),
                                        ("model.gguf", None), (None, None), ("Q4_K_MX.gguf", None)])
def test_gguf_quant_is_read_from_the_file_name(name, quant):
    assert launch.gguf_quant_from_name(name) == quant


def test_check_echoes_the_command_and_lists_ignored_flags(capsys):
    code, out, err = run(capsys, "check", "--snapshot", H100, "--model", "deepseek-r1-distill-qwen-7b",
                         "--format", "json", "--", "ollama", "run", "deepseek-r1:7b", "--verbose")
    assert code in (0, 1, 2), err
    prof = json.loads(out)["profiles"][0]
    assert prof["runtime"] == "llamacpp" and prof["precision"] == "q4_k_m"
    assert prof["command_understood"]["program"] == "ollama"
    assert prof["command_understood"]["ignored"] == ["--verbose"]
    assert prof["launch_command"][-3:] == ["ollama", "run", "deepseek-r1:7b"]  # the command to paste
    checks = {f["check"]: f for f in prof["findings"]}
    assert checks["command.parsed"]["level"] == "pass"
    assert "--verbose" in checks["command.ignored"]["message"]


def test_ollama_context_follows_the_vram_of_the_checked_machine(capsys):
    # Ollama's default context is a VRAM tier (server/routes.go): an 80 GB H100 is in the top
    # tier (262144), capped at the model's trained context; no GPU gives 4096.
    args = ["--model", "deepseek-r1-distill-qwen-7b", "--format", "json", "--", "ollama", "run", "deepseek-r1:7b"]
    _, out, _ = run(capsys, "check", "--snapshot", H100, *args)
    assert json.loads(out)["profiles"][0]["context"] == 131072
    _, out, _ = run(capsys, "check", "--snapshot", NOGPU, *args)
    assert json.loads(out)["profiles"][0]["context"] == 4096


def test_estimate_takes_the_context_from_an_lms_command(capsys):
    code, out, err = run(capsys, "estimate", "--model", "7b", "--format", "json", "--",
                         "lms", "load", "deepseek-llm-7b", "--context-length", "2048")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["context"] == 2048 and doc["runtime"] == "llamacpp"
    assert doc["notes"]["command_understood"]["program"] == "lms"


@pytest.mark.parametrize("argv", [
    ["probe", "--", "ollama", "run", "x"],
    ["estimate", "--model", "7b", "--"],
    ["estimate", "--model", "7b", "--", "docker", "run", "x"],
    ["estimate", "--model", "7b", "--", "ollama", "run", "x", "--unknown-flag"],
    ["check", "--snapshot", H100, "--model", "7b", "--", "lms", "load", "x", "--gpu", "lots"],
])
def test_a_bad_launch_command_is_one_line_and_exit_64(capsys, argv):
    code, out, err = run(capsys, *argv)
    assert code == 64 and out == "" and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_model_flag_takes_an_ollama_tag_and_says_what_it_resolved_to(capsys):
    code, out, err = run(capsys, "check", "--snapshot", H100, "--model", "deepseek-r1:32b", "--format", "json")
    assert code in (0, 1), err
    prof = json.loads(out)["profiles"][0]
    assert (prof["model"], prof["precision"], prof["runtime"]) == ("deepseek-r1-distill-qwen-32b", "q4_k_m", "llamacpp")
    resolved = [f for f in prof["findings"] if f["check"] == "model.resolved"]
    assert resolved and "deepseek-r1:32b -> deepseek-r1-distill-qwen-32b" in resolved[0]["message"]


def test_an_explicit_runtime_wins_over_the_one_a_name_implies(capsys):
    _, out, _ = run(capsys, "estimate", "--model", "deepseek-r1:32b", "--runtime", "vllm", "--format", "json")
    doc = json.loads(out)
    assert doc["runtime"] == "vllm" and doc["precision"] == "bf16"
    assert "model_resolution" in doc["notes"]


def test_a_hugging_face_id_works_as_model(capsys):
    _, out, _ = run(capsys, "estimate", "--model", "deepseek-ai/DeepSeek-R1-Distill-Llama-70B", "--format", "json")
    assert json.loads(out)["model"] == "deepseek-r1-distill-llama-70b"


def test_an_unknown_model_name_suggests_three_names(capsys):
    code, out, err = run(capsys, "estimate", "--model", "deepseek-r9:32b")
    assert code == 64 and out == "" and err.count(",") >= 2


def test_model_and_command_naming_different_models_is_an_error(capsys):
    code, out, err = run(capsys, "check", "--snapshot", H100, "--model", "7b", "--", "ollama", "run",
                         "deepseek-r1:7b")
    assert code == 64 and "disagree" in err and err.count("\n") == 1


def test_a_gguf_path_not_on_this_machine_falls_back_to_the_model_flag(capsys):
    code, out, err = run(capsys, "check", "--snapshot", H100, "--model", "deepseek-r1:32b", "--format", "json",
                         "--", "llama-server", "-m", "/nowhere/x.gguf", "-c", "16384")
    prof = json.loads(out)["profiles"][0]
    assert prof["model"] == "deepseek-r1-distill-qwen-32b" and prof["context"] == 16384
    assert "not on this machine" in prof["model_resolution"]["note"]


RTX4090 = os.path.join(SNAPSHOT_FIXTURES, "derived-rtx4090.json")


def test_a_bare_name_in_an_ollama_command_is_its_latest_tag(capsys):
    """`ollama run deepseek-r1` pulls deepseek-r1:latest = the 8b tag (DeepSeek-R1-0528-Qwen3-8B,
    Q4_K_M), which fits a 24 GB card; the catalog's 671B R1 would not."""
    code, out, err = run(capsys, "check", "--snapshot", RTX4090, "--format", "json", "--", "ollama", "run",
                         "deepseek-r1")
    assert code in (0, 1), err
    prof = json.loads(out)["profiles"][0]
    assert (prof["model"], prof["precision"], prof["runtime"]) == ("deepseek-r1-0528-qwen3-8b", "q4_k_m", "llamacpp")
    from deepseek_probe.question import model_spec

    assert model_spec("deepseek-r1")[0].id == "deepseek-v3"  # outside Ollama: the catalog's R1


def test_model_flag_before_a_launch_command_takes_an_ollama_tag(capsys):
    code, out, err = run(capsys, "estimate", "--model", "deepseek-r1:32b", "--format", "json", "--",
                         "llama-server", "-c", "32768", "-ngl", "40", "-fa", "on")
    assert code == 0, err
    doc = json.loads(out)
    assert (doc["model"], doc["precision"], doc["runtime"]) == ("deepseek-r1-distill-qwen-32b", "q4_k_m", "llamacpp")
    assert doc["context"] == 32768
def test_llama_server_hf_repo_is_the_model_and_its_quant_the_precision():
    # arg.cpp: -hf <user>/<model>[:quant]; it names the model (it was read as an ignored flag)
    cmd = launch.parse_launch(["llama-server", "-hf", "unsloth/DeepSeek-R1-Distill-Qwen-32B-GGUF:Q8_0",
                               "-c", "8192"], {})
    assert cmd.model_ref == "unsloth/DeepSeek-R1-Distill-Qwen-32B-GGUF:Q8_0"
    from deepseek_probe.question import Flags, from_command

    (q,) = from_command(["llama-server", "-hf", "unsloth/DeepSeek-R1-Distill-Qwen-32B-GGUF:Q8_0"], {}, [], [],
                        Flags())
    assert q.spec.id == "deepseek-r1-distill-qwen-32b" and q.settings.precision == "q8_0"
    assert launch.parse_launch(["llama-server", "-hfr", "a/b-GGUF"], {}).model_ref == "a/b-GGUF"


def test_llama_server_device_list_is_the_gpu_count():
    # arg.cpp -dev <dev1,dev2,..>: -sm layer splits the layers over these devices
    cmd = launch.parse_launch(["llama-server", "-m", "m-Q4_K_M.gguf", "-dev", "CUDA0,CUDA1,CUDA2"], {})
    assert cmd.generic["tensor_parallel"] == 3
    assert "tensor_parallel" not in launch.parse_launch(["llama-server", "-m", "m.gguf", "-dev", "none"], {}).generic
