"""Training launch commands as the question: `trl sft ...`, `llamafactory-cli train cfg.yaml`,
`axolotl train cfg.yml`, and the DeepSpeed JSON any of them points to. Pure: files are read
through the `read` callable the caller passes (the CLI passes a real reader, tests a dict).

Each parser returns a TrainingLaunch: the model as written and a validated TrainingWorkload,
with every default taken from the tool that owns it:
- TRL 1.x `trl sft` (trl/scripts/sft.py; trl/trainer/model_config.py ModelConfig: dtype float32,
  lora_r 16, lora_alpha 32, lora_target_modules None -> peft's default, load_in_4bit False,
  use_bnb_nested_quant False; trl/trainer/base_config.py: gradient_checkpointing True, bf16 True;
  sft_config.py: max_length 1024, packing False; TrainingArguments: batch 8, adamw_torch_fused).
- LLaMA-Factory (src/llamafactory/hparams/finetuning_args.py FinetuningArguments: finetuning_type
  lora, lora_rank 8, lora_alpha None -> 2 x rank, lora_target "all"; model_args.py
  quantization_bit, quantization_type nf4, double_quantization True; data_args.py cutoff_len 2048;
  it enables gradient checkpointing unless disable_gradient_checkpointing is set: model/model_utils
  checkpointing.py prepare_model_for_training).
- axolotl (src/axolotl/utils/schemas/config.py AxolotlInputConfig: adapter lora|qlora, lora_r,
  lora_alpha, lora_target_modules / lora_target_linear, load_in_4bit, sequence_len 2048,
  micro_batch_size 1, gradient_accumulation_steps 1, gradient_checkpointing, optimizer,
  sample_packing, deepspeed).
"""

from __future__ import annotations

import json
from typing import Callable, Dict, List, Mapping, Optional, Sequence, Tuple

from deepseek_probe.training.workload import TrainingInputError, TrainingWorkload, make_workload
from deepseek_probe.records import record

Reader = Callable[[str], str]


@record(frozen=True)
class TrainingLaunch:
    program: str
    model_ref: Optional[str]
    workload: TrainingWorkload
    deepspeed_config: Optional[str] = None
    ignored: Tuple[str, ...] = ()


# Trainer `optim` names -> ours (transformers training_args.py OptimizerNames)
_OPTIM = {"adamw_torch": "adamw", "adamw_torch_fused": "adamw", "adamw_hf": "adamw", "adamw_apex_fused": "adamw",
          "adamw_8bit": "adamw_8bit", "adamw_bnb_8bit": "adamw_8bit", "paged_adamw_8bit": "paged_adamw_8bit",
          "paged_adamw_32bit": "adamw", "adafactor": "adafactor", "sgd": "sgd"}


def _optim(v: str) -> str:
    o = _OPTIM.get(str(v).strip().lower())
    if o is None:
        raise TrainingInputError(f"optimizer {v!r} is not modelled (known: {', '.join(sorted(_OPTIM))})")
    return o


def _bool(flag: str, v: object) -> bool:
    if isinstance(v, bool):
        return v
    s = str(v).strip().lower()
    if s in ("true", "1", "yes", "y"):
        return True
    if s in ("false", "0", "no", "n", "none"):
        return False
    raise TrainingInputError(f"{flag} needs true or false, got {v!r}")


def _int(flag: str, v: object) -> int:
    if isinstance(v, bool):
        raise TrainingInputError(f"{flag} needs a whole number, got {v!r}")
    try:
        return int(str(v))
    except ValueError:
        raise TrainingInputError(f"{flag} needs a whole number, got {v!r}") from None


def _targets(v: object) -> Tuple[str, ...]:
    items = v if isinstance(v, list) else str(v).replace(" ", "").split(",")
    out = tuple(str(x).strip() for x in items if str(x).strip())
    if any(t in ("all", "all-linear", "all_linear") for t in out):
        return ("all-linear",)
    return out


# -- TRL ------------------------------------------------------------------------------------
# list[str] fields of TRL's ModelConfig (nargs="+"): `--lora_target_modules q_proj v_proj`
_TRL_LISTS = ("lora_target_modules",)
_TRL_SWITCHES = ("use_peft", "load_in_4bit", "use_bnb_nested_quant", "gradient_checkpointing", "bf16",
                 "packing", "load_in_8bit", "fp16")


def _hf_args(argv: Sequence[str]) -> Dict[str, str]:
    """HfArgumentParser style: --key value, --key=value, bare --switch (= true)."""
    out: Dict[str, str] = {}
    i = 0
    while i < len(argv):
        a = argv[i]
        if not a.startswith("--"):
            i += 1
            continue
        key = a[2:].replace("-", "_")
        if "=" in key:
            key, val = key.split("=", 1)
            out[key] = val
        elif key in _TRL_LISTS:  # HfArgumentParser: a list field takes every word up to the next flag
            j = i + 1
            while j < len(argv) and not argv[j].startswith("--"):
                j += 1
            if j == i + 1:
                raise TrainingInputError(f"--{key} needs a value")
            out[key] = ",".join(argv[i + 1:j])
            i = j - 1
        elif i + 1 < len(argv) and not argv[i + 1].startswith("--"):
            out[key] = argv[i + 1]
            i += 1
        elif key in _TRL_SWITCHES:
            out[key] = "true"
        else:
            raise TrainingInputError(f"--{key} needs a value")
        i += 1
    return out


def parse_trl(argv: Sequence[str], read: Optional[Reader] = None) -> TrainingLaunch:
    """`trl sft --model_name_or_path X ...` (argv starts after `trl sft`)."""
    a = _hf_args(argv)
    if "config" in a and read is not None:  # `trl sft --config cfg.yaml`: flags override the file
        a = {**{k: str(v) for k, v in _yaml(read, a["config"]).items()}, **a}
    kw = _trainer_workload(a, trl=True)
    ds = a.get("deepspeed")
    if ds and read is not None:
        kw.update(deepspeed_settings(_read(read, ds), ds))
    return TrainingLaunch("trl sft", a.get("model_name_or_path"), make_workload(**kw), ds)


def _trainer_workload(a: Mapping[str, str], trl: bool) -> Dict[str, object]:
    """TrainingArguments / TRL ModelConfig flags -> workload fields. `trl`: TRL's defaults
    (checkpointing on, fp32 load), else plain Trainer's (checkpointing off; the script's own
    dtype is unknown, so bf16 unless --dtype says otherwise)."""
    peft = _bool("--use_peft", a.get("use_peft", "false"))
    q4 = _bool("--load_in_4bit", a.get("load_in_4bit", "false"))
    if q4 and not peft:
        raise TrainingInputError("--load_in_4bit needs --use_peft (TRL: 4-bit works only with LoRA)")
    dtype = a.get("dtype", a.get("torch_dtype", "float32" if trl else "bfloat16"))
    load = {"float32": "fp32", "bfloat16": "bf16", "auto": "bf16", "float16": "bf16"}.get(dtype)
    if load is None:
        raise TrainingInputError(f"--dtype {dtype!r} is not one of auto, bfloat16, float16, float32")
    if q4 and a.get("bnb_4bit_quant_type", "nf4") not in ("nf4", "fp4"):
        raise TrainingInputError(f"--bnb_4bit_quant_type {a['bnb_4bit_quant_type']!r} is not nf4 or fp4")
    kw: Dict[str, object] = dict(
        method="qlora" if q4 else ("lora" if peft else "full"),
        micro_batch=_int("--per_device_train_batch_size", a.get("per_device_train_batch_size", 8)),
        seq_len=_int("--max_length", a.get("max_length", a.get("max_seq_length", 1024))),
        gradient_checkpointing=_bool("--gradient_checkpointing", a.get("gradient_checkpointing", str(trl))),
        load_precision="bf16" if q4 else load,
        optimizer=_optim(a.get("optim", "adamw_torch_fused")),
        gradient_accumulation=_int("--gradient_accumulation_steps", a.get("gradient_accumulation_steps", 1)),
        packing=_bool("--packing", a.get("packing", "false")),
        double_quant=_bool("--use_bnb_nested_quant", a.get("use_bnb_nested_quant", "false")))
    if peft:
        kw["lora_rank"] = _int("--lora_r", a.get("lora_r", 16))
        kw["lora_alpha"] = _int("--lora_alpha", a.get("lora_alpha", 32))
        if a.get("lora_target_modules"):
            kw["lora_targets"] = _targets(a["lora_target_modules"])
    return kw


# -- YAML-configured tools --------------------------------------------------------------------
def _yaml(read: Reader, path: str) -> Mapping[str, object]:
    try:
        import yaml  # optional dependency: only training launch files need it
    except ImportError:
        raise TrainingInputError("reading a YAML training config needs pyyaml: pip install pyyaml") from None
    try:
        text = read(path)
    except OSError as e:
        raise TrainingInputError(f"cannot read {path}: {e.strerror or e}") from None
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as e:
        line = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise TrainingInputError(f"{path} is not valid YAML: {line}") from None
    if not isinstance(doc, dict):
        raise TrainingInputError(f"{path} is not a YAML mapping of settings")
    return doc


def _config_arg(argv: Sequence[str], program: str) -> str:
    files = [x for x in argv if x.endswith((".yaml", ".yml", ".json"))]
    if not files:
        raise TrainingInputError(f"{program} train needs a config file (cfg.yaml)")
    return files[0]


def parse_llamafactory(argv: Sequence[str], read: Reader) -> TrainingLaunch:
    """`llamafactory-cli train cfg.yaml` (argv starts after `train`)."""
    path = _config_arg(argv, "llamafactory-cli")
    c = _yaml(read, path)
    ft = str(c.get("finetuning_type", "lora"))
    if ft not in ("lora", "full"):
        raise TrainingInputError(f"{path}: finetuning_type {ft!r} is not modelled (lora, full)")
    qbit = c.get("quantization_bit")
    if qbit not in (None, 4):
        raise TrainingInputError(f"{path}: quantization_bit {qbit} is not modelled (4)")
    method = "qlora" if (qbit == 4 and ft == "lora") else ft
    bf16 = _bool("bf16", c.get("bf16", False)) or bool(c.get("pure_bf16", False))
    kw: Dict[str, object] = dict(
        method=method,
        micro_batch=_int("per_device_train_batch_size", c.get("per_device_train_batch_size", 8)),
        seq_len=_int("cutoff_len", c.get("cutoff_len", 2048)),
        gradient_checkpointing=not _bool("disable_gradient_checkpointing", c.get("disable_gradient_checkpointing", False)),
        # LLaMA-Factory loads in the compute dtype (model_args infer_dtype: bf16 when bf16: true);
        # pure_bf16 trains the weights in bf16 too
        load_precision="bf16" if (bf16 or method == "qlora") else "fp32",
        optimizer=_optim(c.get("optim", "adamw_torch")),
        gradient_accumulation=_int("gradient_accumulation_steps", c.get("gradient_accumulation_steps", 1)),
        packing=_bool("packing", c.get("packing", False)),
        double_quant=_bool("double_quantization", c.get("double_quantization", True)))
    if method != "full":
        rank = _int("lora_rank", c.get("lora_rank", 8))
        kw["lora_rank"] = rank
        kw["lora_alpha"] = _int("lora_alpha", c.get("lora_alpha") or 2 * rank)
        kw["lora_targets"] = _targets(c.get("lora_target", "all"))
    ds = c.get("deepspeed")
    if ds:
        kw.update(deepspeed_settings(_read(read, str(ds)), str(ds)))
    return TrainingLaunch("llamafactory-cli train", _opt_str(c.get("model_name_or_path")), make_workload(**kw),
                          str(ds) if ds else None)


def parse_axolotl(argv: Sequence[str], read: Reader) -> TrainingLaunch:
    """`axolotl train cfg.yml` (argv starts after `train`)."""
    path = _config_arg(argv, "axolotl")
    c = _yaml(read, path)
    adapter = c.get("adapter")
    if adapter not in (None, "", "lora", "qlora"):
        raise TrainingInputError(f"{path}: adapter {adapter!r} is not modelled (lora, qlora)")
    method = "full" if not adapter else str(adapter)
    if method == "lora" and _bool("load_in_4bit", c.get("load_in_4bit", False)):
        method = "qlora"
    bf16 = c.get("bf16", False)
    kw: Dict[str, object] = dict(
        method=method,
        micro_batch=_int("micro_batch_size", c.get("micro_batch_size", 1)),
        seq_len=_int("sequence_len", c.get("sequence_len", 2048)),
        gradient_checkpointing=_bool("gradient_checkpointing", c.get("gradient_checkpointing", False)),
        load_precision="bf16" if (bf16 in (True, "auto", "true") or method == "qlora") else "fp32",
        optimizer=_optim(c.get("optimizer", "adamw_torch_fused")),
        gradient_accumulation=_int("gradient_accumulation_steps", c.get("gradient_accumulation_steps", 1)),
        packing=_bool("sample_packing", c.get("sample_packing", False)))
    if c.get("flash_attention"):
        kw["attention"] = "flash"
    if method != "full":
        rank = _int("lora_r", c.get("lora_r", 8))
        kw["lora_rank"] = rank
        kw["lora_alpha"] = _int("lora_alpha", c.get("lora_alpha") or 2 * rank)
        if _bool("lora_target_linear", c.get("lora_target_linear", False)):
            kw["lora_targets"] = ("all-linear",)
        elif c.get("lora_target_modules"):
            kw["lora_targets"] = _targets(c["lora_target_modules"])
    ds = c.get("deepspeed")
    if ds:
        kw.update(deepspeed_settings(_read(read, str(ds)), str(ds)))
    return TrainingLaunch("axolotl train", _opt_str(c.get("base_model")), make_workload(**kw),
                          str(ds) if ds else None)


def _opt_str(v: object) -> Optional[str]:
    return str(v) if v else None


def _read(read: Reader, path: str) -> str:
    try:
        return read(path)
    except OSError as e:
        raise TrainingInputError(f"cannot read {path}: {e.strerror or e}") from None


# -- DeepSpeed --------------------------------------------------------------------------------
def deepspeed_settings(text: str, path: str = "ds_config.json") -> Dict[str, object]:
    """ZeRO stage and offload from a DeepSpeed JSON (deepspeed/runtime/zero/config.py
    DeepSpeedZeroConfig: zero_optimization.stage, offload_optimizer.device, offload_param.device).
    A config without a stage is refused: DeepSpeed's own default (stage 0) is plain data
    parallelism, which a user pointing us at a ZeRO file almost never means."""
    try:
        doc = json.loads(text)
    except ValueError as e:
        raise TrainingInputError(f"{path} is not valid JSON: {e}") from None
    if not isinstance(doc, dict):
        raise TrainingInputError(f"{path} is not a JSON object")
    z = doc.get("zero_optimization")
    if not isinstance(z, dict) or "stage" not in z:
        raise TrainingInputError(f"{path} sets no zero_optimization.stage")
    stage = z["stage"]
    if stage not in (0, 1, 2, 3):
        raise TrainingInputError(f"{path}: zero_optimization.stage {stage!r} is not 0, 1, 2 or 3")
    out: Dict[str, object] = {"strategy": {0: "ddp", 1: "zero1", 2: "zero2", 3: "zero3"}[stage]}

    def dev(key: str) -> str:
        v = z.get(key)
        return str(v.get("device", "none")).lower() if isinstance(v, dict) else "none"

    if dev("offload_param") in ("cpu", "nvme"):
        out["offload"] = "params"
    elif dev("offload_optimizer") in ("cpu", "nvme"):
        out["offload"] = "optimizer"
    return out


def parse_deepspeed(argv: Sequence[str], read: Reader) -> TrainingLaunch:
    """`deepspeed [--num_gpus N] train.py ... --deepspeed ds_config.json [Trainer / TRL flags]`."""
    a = _hf_args(argv)
    ds_path = a.get("deepspeed")
    if not ds_path:
        raise TrainingInputError("the deepspeed command names no --deepspeed ds_config.json")
    kw = _trainer_workload(a, trl=False)
    kw.update(deepspeed_settings(_read(read, ds_path), ds_path))
    kw["gpus"] = _int("--num_gpus", a.get("num_gpus", 1))
    return TrainingLaunch("deepspeed", a.get("model_name_or_path"), make_workload(**kw), ds_path)


def parse_training_command(argv: Sequence[str], read: Reader) -> Optional[TrainingLaunch]:
    """The training launch in argv, or None when argv is not a training command."""
    if not argv:
        return None
    prog = argv[0].rsplit("/", 1)[-1]
    rest = list(argv[1:])
    if prog == "trl" and rest[:1] == ["sft"]:
        return parse_trl(rest[1:], read)
    if prog == "llamafactory-cli" and rest[:1] == ["train"]:
        return parse_llamafactory(rest[1:], read)
    if prog == "axolotl" and rest[:1] == ["train"]:
        return parse_axolotl(rest[1:], read)
    if prog == "accelerate" and rest[:1] == ["launch"] and "-m" in rest and "axolotl.cli.train" in rest:
        return parse_axolotl(rest, read)
    if prog == "deepspeed":
        return parse_deepspeed(rest, read)
    return None


# -- the inverse (issue 25): the `trl sft` line that runs a workload ---------------------------------
_OPTIM_FLAG = {"adamw": "adamw_torch_fused", "adamw_8bit": "adamw_8bit", "paged_adamw_8bit": "paged_adamw_8bit",
               "adafactor": "adafactor", "sgd": "sgd"}


def trl_command(model_ref: str, w: TrainingWorkload) -> List[str]:
    """`trl sft ...` with every field that changes memory spelled out (parse_trl reads it back to
    the same workload). One GPU only: a sharded run needs an accelerate / DeepSpeed config file,
    which a command line cannot carry (TrainingInputError says so)."""
    if w.gpus > 1:
        raise TrainingInputError(f"{w.strategy} over {w.gpus} GPUs needs an accelerate or DeepSpeed config "
                                 "file (zero_stage, offload): no single command line carries it")
    argv = ["trl", "sft", "--model_name_or_path", model_ref,
            "--dtype", "float32" if w.load_precision == "fp32" else "bfloat16", "--bf16", "true",
            "--per_device_train_batch_size", str(w.micro_batch), "--max_length", str(w.seq_len),
            "--gradient_checkpointing", "true" if w.checkpointing else "false",
            "--optim", _OPTIM_FLAG[w.optimizer],
            "--gradient_accumulation_steps", str(w.gradient_accumulation)]
    if w.packing:
        argv += ["--packing", "true"]
    if w.method in ("lora", "qlora"):
        argv += ["--use_peft", "--lora_r", str(w.lora_rank), "--lora_alpha", str(w.alpha),
                 "--lora_target_modules", *w.lora_targets]
    if w.method == "qlora":
        argv += ["--load_in_4bit", "--bnb_4bit_quant_type", "nf4",
                 "--use_bnb_nested_quant", "true" if w.double_quant else "false"]
    return argv
