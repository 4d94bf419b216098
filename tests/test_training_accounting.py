"""Mechanism checks of the fine-tuning accounting (deepseek_probe/training/): each test states a
property the libraries' code implies and that a wrong formula would break. The comparison with
measured Trainer runs is tests/test_training_measured.py."""

from __future__ import annotations

import pytest

from deepseek_probe.errors import InputError
from deepseek_probe.profiles import get_model
from deepseek_probe.training.accounting import training_memory
from deepseek_probe.training.modules import expert_lora_params, lora_params, lora_targets, tensors, unmatched_targets
from deepseek_probe.training.search import fits, fixes, max_micro_batch, max_seq_len
from deepseek_probe.training.workload import make_workload

GiB = 1 << 30
MODELS = ["1.5b", "qwen-7b", "8b", "14b", "32b", "v2-lite", "7b", "33b"]


@pytest.mark.parametrize("model", MODELS + ["v2", "v3"])
def test_tensor_groups_add_up_to_the_catalog_count(model):
    spec = get_model(model)
    t = tensors(spec)
    assert t.total == spec.params
    assert t.other >= 0 and t.other < 0.01 * spec.params  # norms, biases, routers are small


def test_all_linear_on_moe_moves_mlp_names_to_the_fused_experts():
    # peft _convert_peft_config_moe (deepseek_v2 -> "qwen2_moe" pattern): all-linear keeps the
    # attention Linears, sends gate/gate_proj/up_proj/down_proj to the router and the fused
    # experts (ParamWrapper), so the dense MLP and the shared experts get no LoRA
    spec = get_model("v2-lite")
    names = {m.name for m in lora_targets(spec, ("all-linear",))}
    assert names == {"q_proj", "kv_a_proj_with_mqa", "kv_b_proj", "o_proj"}
    assert expert_lora_params(spec, ("all-linear",), 16) > 20 * lora_params(spec, ("q_proj",), 16)
    # gate_up_proj is fused: its rank doubles, and it cannot be targeted half
    only_down = expert_lora_params(spec, ("down_proj",), 8)
    both = expert_lora_params(spec, ("gate_proj", "up_proj", "down_proj"), 8)
    assert both > 2 * only_down
    with pytest.raises(InputError, match="gate_up_proj"):
        lora_params(spec, ("gate_proj",), 8)
    # dense models are untouched by the conversion
    assert expert_lora_params(get_model("8b"), ("all-linear",), 16) == 0


def test_q_proj_v_proj_on_mla():
    # V2-Lite has q_proj (q_lora_rank null) but no v_proj: peft wraps q_proj only
    assert unmatched_targets(get_model("v2-lite"), ("q_proj", "v_proj")) == ("v_proj",)
    with pytest.raises(InputError, match="match no module"):
        lora_params(get_model("v2"), ("q_proj", "v_proj"), 8)  # V2 uses q_a_proj / q_b_proj


@pytest.mark.parametrize("model", MODELS)
def test_bytes_per_parameter_of_model_states(model):
    spec = get_model(model)
    P = spec.params
    fp32 = training_memory(spec, make_workload(method="full", load_precision="fp32", micro_batch=1, seq_len=128))
    states = fp32.term("weights") + fp32.term("gradients") + fp32.term("optimizer_states")
    assert states == 16 * P  # fp32 weights + grads + AdamW exp_avg + exp_avg_sq
    bf16 = training_memory(spec, make_workload(method="full", micro_batch=1, seq_len=128))
    assert bf16.term("weights") + bf16.term("gradients") + bf16.term("optimizer_states") == 8 * P
    q = training_memory(spec, make_workload(method="qlora", micro_batch=1, seq_len=128))
    if spec.is_moe:  # fused experts stay unquantized and go to fp32
        assert q.term("weights") > 2 * P
    else:
        assert q.term("weights") < bf16.term("weights")


def test_qlora_moe_upcasts_the_experts():
    # prepare_model_for_kbit_training casts every non-Params4bit bf16 parameter to fp32: on
    # V2-Lite that is the fused experts, so QLoRA needs MORE weight memory than bf16 LoRA
    spec = get_model("v2-lite")
    q = training_memory(spec, make_workload(method="qlora", micro_batch=1, seq_len=512))
    lo = training_memory(spec, make_workload(method="lora", micro_batch=1, seq_len=512, lora_targets=("q_proj",)))
    assert q.term("weights") > lo.term("weights")


@pytest.mark.parametrize("model", ["1.5b", "8b", "v2-lite"])
@pytest.mark.parametrize("method", ["full", "lora", "qlora"])
def test_peak_grows_with_tokens_and_checkpointing_helps(model, method):
    spec = get_model(model)
    w = make_workload(method=method, micro_batch=1, seq_len=1024, gradient_checkpointing=False)
    p = [training_memory(spec, w.with_(micro_batch=b)).peak_bytes for b in (1, 2, 4, 8)]
    assert p == sorted(p) and p[0] < p[-1]
    s = [training_memory(spec, w.with_(seq_len=n)) for n in (512, 1024, 4096)]
    assert [m.peak_bytes for m in s] == sorted(m.peak_bytes for m in s)  # may be flat: the optimizer step
    assert s[0].term("activations") < s[1].term("activations") < s[2].term("activations")
    gc = training_memory(spec, w.with_(micro_batch=8, gradient_checkpointing=True)).peak_bytes
    assert gc < p[-1]


def test_logits_term_scales_with_vocab_and_tokens():
    spec = get_model("1.5b")
    a = training_memory(spec, make_workload(micro_batch=1, seq_len=1024)).term("logits_loss")
    b = training_memory(spec, make_workload(micro_batch=2, seq_len=1024)).term("logits_loss")
    assert b == 2 * a
    assert a == 1024 * spec.vocab * 12  # saved fp32 log_softmax + its grad + the grad of its input


def test_optimizers_order():
    spec = get_model("1.5b")
    w = make_workload(method="full", micro_batch=1, seq_len=256)
    opt = {o: training_memory(spec, w.with_(optimizer=o)).term("optimizer_states")
           for o in ("adamw", "adamw_8bit", "paged_adamw_8bit", "adafactor", "sgd")}
    assert opt["sgd"] == 0 < opt["adafactor"] < opt["adamw_8bit"] == opt["paged_adamw_8bit"] < opt["adamw"]


def test_max_micro_batch_and_seq_len_agree_with_a_scan():
    spec = get_model("8b")
    w = make_workload(method="lora", seq_len=2048, lora_rank=16, lora_targets=("all-linear",),
                      gradient_checkpointing=True)
    budget = 80 * GiB
    best = max_micro_batch(spec, w, budget)
    scan = [b for b in range(1, 200) if fits(spec, w.with_(micro_batch=b), budget)]
    assert best == max(scan)
    s = max_seq_len(spec, w.with_(micro_batch=1), budget)
    assert fits(spec, w.with_(micro_batch=1, seq_len=s), budget)
    assert s == spec.max_context or not fits(spec, w.with_(micro_batch=1, seq_len=s + 128), budget)


def test_nothing_fits_gives_none():
    spec = get_model("32b")
    w = make_workload(method="full", micro_batch=1, seq_len=2048)
    assert max_micro_batch(spec, w, 24 * GiB) is None
    assert max_seq_len(spec, w, 24 * GiB) is None


def test_fixes_are_reassessed_and_fit():
    spec = get_model("qwen-7b")
    w = make_workload(method="full", load_precision="fp32", micro_batch=4, seq_len=2048)
    budget = 80 * GiB
    assert not fits(spec, w, budget)
    fx = fixes(spec, w, budget)
    assert fx, "a 7B fits 80 GB some way"
    for f in fx:
        assert f.peak_bytes == training_memory(spec, f.workload).peak_bytes <= budget
        assert f"{f.peak_bytes / GiB:.1f} GiB" in f.label
    labels = " ".join(f.label for f in fx)
    assert "QLoRA" in labels and "ZeRO-3" in labels


def test_every_term_has_a_source():
    spec = get_model("v2-lite")
    for w in (make_workload(method="full", load_precision="fp32", micro_batch=1, seq_len=256),
              make_workload(method="qlora", micro_batch=2, seq_len=256, optimizer="adafactor"),
              make_workload(method="lora", gpus=8, strategy="zero3", offload="optimizer", micro_batch=1)):
        m = training_memory(spec, w)
        assert m.terms and all(t.source and t.bytes >= 0 for t in m.terms)
        assert m.peak_bytes > sum(t.bytes for t in m.terms if t.name == "weights")
        assert m.checkpoint_disk_bytes > 0
