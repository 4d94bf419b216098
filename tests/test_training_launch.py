"""Training launch commands -> TrainingWorkload (deepseek_probe/training/launch.py) and the
one-line errors of issue 22 (bad input -> InputError -> exit 64)."""

from __future__ import annotations

import json

import pytest

from deepseek_probe.errors import InputError
from deepseek_probe.training.launch import deepspeed_settings, parse_training_command
from deepseek_probe.training.workload import TrainingWorkload, make_workload


def reader(files):
    def read(path):
        if path not in files:
            raise FileNotFoundError(2, "No such file or directory")
        return files[path]
    return read


NONE = reader({})


def test_trl_sft_qlora_flags():
    cmd = ["trl", "sft", "--model_name_or_path", "deepseek-ai/DeepSeek-R1-Distill-Qwen-7B", "--use_peft",
           "--lora_r", "32", "--lora_alpha", "64", "--lora_target_modules", "all-linear", "--load_in_4bit",
           "--use_bnb_nested_quant", "--per_device_train_batch_size=2", "--max_length", "4096",
           "--gradient_checkpointing", "false", "--optim", "paged_adamw_8bit", "--gradient_accumulation_steps", "8"]
    la = parse_training_command(cmd, NONE)
    w = la.workload
    assert la.model_ref == "deepseek-ai/DeepSeek-R1-Distill-Qwen-7B"
    assert (w.method, w.lora_rank, w.alpha, w.lora_targets) == ("qlora", 32, 64, ("all-linear",))
    assert (w.micro_batch, w.seq_len, w.checkpointing, w.optimizer, w.gradient_accumulation) == \
        (2, 4096, False, "paged_adamw_8bit", 8)
    assert w.double_quant


def test_trl_defaults_are_trls():
    w = parse_training_command(["trl", "sft", "--model_name_or_path", "m"], NONE).workload
    # TRL ModelConfig.dtype float32 (fp32 master weights), SFTConfig max_length 1024,
    # gradient_checkpointing True, TrainingArguments batch 8
    assert (w.method, w.load_precision, w.seq_len, w.checkpointing, w.micro_batch) == ("full", "fp32", 1024, True, 8)
    w = parse_training_command(["trl", "sft", "--use_peft", "--dtype", "bfloat16"], NONE).workload
    assert (w.method, w.lora_rank, w.alpha, w.lora_targets, w.load_precision) == \
        ("lora", 16, 32, ("q_proj", "v_proj"), "bf16")


def test_trl_4bit_without_peft_is_refused():
    with pytest.raises(InputError, match="use_peft"):
        parse_training_command(["trl", "sft", "--load_in_4bit"], NONE)


def test_llamafactory_yaml_with_deepspeed():
    cfg = ("model_name_or_path: deepseek-ai/DeepSeek-R1-Distill-Llama-8B\nstage: sft\nfinetuning_type: lora\n"
           "lora_rank: 16\nlora_target: all\nquantization_bit: 4\nper_device_train_batch_size: 2\n"
           "cutoff_len: 8192\nbf16: true\ngradient_accumulation_steps: 4\ndeepspeed: ds_z3.json\n")
    ds = json.dumps({"zero_optimization": {"stage": 3, "offload_optimizer": {"device": "cpu"}}})
    la = parse_training_command(["llamafactory-cli", "train", "cfg.yaml"], reader({"cfg.yaml": cfg, "ds_z3.json": ds}))
    w = la.workload
    assert la.model_ref.endswith("Llama-8B") and la.deepspeed_config == "ds_z3.json"
    assert (w.method, w.lora_rank, w.alpha, w.lora_targets) == ("qlora", 16, 32, ("all-linear",))
    assert (w.micro_batch, w.seq_len, w.checkpointing, w.strategy, w.offload) == (2, 8192, True, "zero3", "optimizer")


def test_axolotl_yaml():
    cfg = ("base_model: deepseek-ai/DeepSeek-R1-Distill-Qwen-14B\nadapter: lora\nload_in_4bit: true\nlora_r: 64\n"
           "lora_alpha: 16\nlora_target_linear: true\nsequence_len: 4096\nmicro_batch_size: 1\n"
           "gradient_checkpointing: true\noptimizer: adamw_bnb_8bit\nbf16: auto\nflash_attention: true\n")
    w = parse_training_command(["axolotl", "train", "cfg.yml"], reader({"cfg.yml": cfg})).workload
    assert (w.method, w.lora_rank, w.alpha, w.lora_targets, w.seq_len, w.optimizer, w.attention) == \
        ("qlora", 64, 16, ("all-linear",), 4096, "adamw_8bit", "flash")


def test_deepspeed_command():
    ds = json.dumps({"zero_optimization": {"stage": 2}})
    la = parse_training_command(["deepspeed", "--num_gpus", "8", "train.py", "--model_name_or_path", "m",
                                 "--deepspeed", "ds.json", "--per_device_train_batch_size", "4"],
                                reader({"ds.json": ds}))
    assert (la.workload.gpus, la.workload.strategy, la.workload.micro_batch) == (8, "zero2", 4)
    assert la.workload.checkpointing is False  # plain Trainer default


@pytest.mark.parametrize("text,msg", [
    ('{"zero_optimization": {"offload_optimizer": {"device": "cpu"}}}', "no zero_optimization.stage"),
    ('{"train_batch_size": 8}', "no zero_optimization.stage"),
    ("{not json", "not valid JSON"),
    ('{"zero_optimization": {"stage": 5}}', "stage 5"),
])
def test_deepspeed_json_errors(text, msg):
    with pytest.raises(InputError, match=msg) as e:
        deepspeed_settings(text, "ds.json")
    assert "\n" not in str(e.value)


def test_yaml_errors_are_one_line():
    with pytest.raises(InputError, match="not valid YAML") as e:
        parse_training_command(["llamafactory-cli", "train", "cfg.yaml"], reader({"cfg.yaml": "a: [1, 2\nb: c"}))
    assert "\n" not in str(e.value)
    with pytest.raises(InputError, match="cannot read"):
        parse_training_command(["axolotl", "train", "missing.yml"], NONE)
    with pytest.raises(InputError, match="needs a config file"):
        parse_training_command(["axolotl", "train"], NONE)


def test_yaml_without_pyyaml(monkeypatch):
    import builtins
    real = builtins.__import__

    def fake(name, *a, **k):
        if name == "yaml":
            raise ImportError("no yaml")
        return real(name, *a, **k)
    monkeypatch.setattr(builtins, "__import__", fake)
    with pytest.raises(InputError, match="pip install pyyaml"):
        parse_training_command(["llamafactory-cli", "train", "cfg.yaml"], reader({"cfg.yaml": "a: 1"}))


def test_not_a_training_command():
    assert parse_training_command(["vllm", "serve", "x"], NONE) is None


@pytest.mark.parametrize("kw,msg", [
    (dict(micro_batch=-1), "--batch"),
    (dict(seq_len=0), "--seq-len"),
    (dict(method="full", lora_rank=16), "--lora-rank needs --train lora"),
    (dict(method="full", lora_targets=("q_proj",)), "--lora-targets needs"),
    (dict(method="dpo"), "--train"),
    (dict(optimizer="lion"), "--optimizer"),
    (dict(offload="optimizer"), "--offload optimizer needs"),
    (dict(strategy="zero2", offload="params"), "--offload params needs"),
    (dict(lora_targets=("all-linear", "q_proj")), "all-linear cannot"),
])
def test_workload_errors(kw, msg):
    with pytest.raises(InputError, match=msg) as e:
        make_workload(**kw)
    assert "\n" not in str(e.value)


def test_workload_defaults():
    w = TrainingWorkload()
    assert (w.method, w.micro_batch, w.optimizer, w.alpha, w.checkpointing) == ("lora", 8, "adamw", 16, False)
    assert make_workload(method="qlora").checkpointing is True  # prepare_model_for_kbit_training
