"""Fine-tuning through the same question -> assessment path as serving (issue 22): flags and
training launch commands ask assess(); the answer carries its `trl sft` command, and that command
checked back gives the same answer; bad input is one line and exit 64."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from deepseek_probe import cli

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
H100 = os.path.join(ROOT, "fixtures", "snapshots", "h100.json")
RTX4090 = os.path.join(ROOT, "fixtures", "snapshots", "derived-rtx4090.json")


def run(capsys, *argv):
    with pytest.raises(SystemExit) as e:
        cli.main(list(argv))
    out, err = capsys.readouterr()
    return e.value.code, out, err


def profile(capsys, *argv):
    code, out, err = run(capsys, "check", "--format", "json", *argv)
    assert code in (0, 1, 2), err
    return code, json.loads(out)["profiles"][0]


def test_a_lora_run_that_fits_carries_its_trl_command_and_that_command_checks_back(capsys):
    code, p = profile(capsys, "--snapshot", H100, "--model", "deepseek-r1-distill-qwen-7b", "--train", "lora",
                      "--batch", "2", "--seq-len", "2048", "--lora-rank", "16", "--lora-targets", "all-linear")
    assert code == 0 and p["fit"] == "gpu"
    assert p["per_gpu_bytes"] == p["training"]["memory"]["peak_bytes"]
    argv = p["launch_command"]
    assert argv[:2] == ["trl", "sft"] and "--use_peft" in argv and "all-linear" in argv
    code2, back = profile(capsys, "--snapshot", H100, "--", *argv)
    assert (code2, back["per_gpu_bytes"], back["fit"]) == (code, p["per_gpu_bytes"], p["fit"])
    assert back["training"]["memory"]["trainable_params"] == p["training"]["memory"]["trainable_params"]


def test_a_full_fine_tune_that_does_not_fit_prints_fixes_that_fit_and_the_fix_command_does(capsys):
    code, p = profile(capsys, "--snapshot", RTX4090, "--model", "deepseek-r1:7b", "--train", "full")
    assert code == 2 and p["fit"] == "none" and p["launch_command"] is None
    vram = next(f for f in p["findings"] if f["check"] == "train.vram")
    assert vram["level"] == "fail" and "QLoRA" in vram["suggestion"]
    code2, fixed = profile(capsys, "--snapshot", RTX4090, "--", *vram["fix_command"])
    assert fixed["fit"] == "gpu" and code2 in (0, 1)


@pytest.mark.parametrize("argv,words", [
    (["--train", "lora", "--batch", "-1"], "--batch must be at least 1"),
    (["--train", "full", "--lora-rank", "8"], "needs --train lora or qlora"),
    (["--batch", "2"], "--batch needs --train"),
    (["--train", "lora", "--offload", "optimizer"], "--offload optimizer needs --strategy"),
])
def test_bad_training_flags_are_one_line_and_exit_64(capsys, argv, words):
    code, out, err = run(capsys, "check", "--snapshot", H100, "--model", "7b", *argv)
    assert code == 64 and words in err and err.count("\n") == 1


def test_an_unreadable_yaml_and_a_deepspeed_json_without_a_stage_are_exit_64(capsys, tmp_path):
    code, _, err = run(capsys, "check", "--snapshot", H100, "--", "llamafactory-cli", "train",
                       str(tmp_path / "missing.yaml"))
    assert code == 64 and "missing.yaml" in err
    ds = tmp_path / "ds.json"
    ds.write_text('{"train_micro_batch_size_per_gpu": 1}')
    code, _, err = run(capsys, "check", "--snapshot", H100, "--", "deepspeed", "train.py", "--deepspeed", str(ds),
                       "--model_name_or_path", "deepseek-ai/DeepSeek-R1-Distill-Qwen-7B")
    assert code == 64 and err.count("\n") == 1


def test_without_a_model_check_train_says_what_can_be_fine_tuned_here(capsys):
    code, out, err = run(capsys, "check", "--snapshot", H100, "--train", "qlora", "--format", "json")
    doc = json.loads(out)
    fits = {p["model"]: p["fit"] for p in doc["profiles"]}
    assert fits["deepseek-r1-distill-qwen-7b"] == "gpu" and fits["deepseek-llm-67b"] == "none"
    code, out, err = run(capsys, "check", "--snapshot", H100, "--train", "qlora")
    assert "what this machine can fine-tune" in out and "deepseek-r1-distill-qwen-14b" in out


def test_estimate_train_gives_the_peak_and_its_terms(capsys):
    code, out, err = run(capsys, "estimate", "--model", "7b", "--train", "lora", "--format", "json")
    doc = json.loads(out)
    m = doc["training"]["memory"]
    assert code == 0 and m["peak_bytes"] > sum(t["bytes"] for t in m["terms"] if t["name"] == "weights")


def test_check_without_train_does_not_import_the_training_package():
    code = ("import sys; from deepseek_probe import cli\n"
            "try:\n    cli.main(['check', '--snapshot', %r, '--model', '7b', '--format', 'json'])\n"
            "except SystemExit:\n    pass\n"
            "print('training' in ' '.join(m for m in sys.modules if m.startswith('deepseek_probe.training')))") % H100
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT).stdout
    assert out.strip().endswith("False")
