"""profiles/names.resolve: every way a user names a model, and the Ollama tag table's own check."""

from __future__ import annotations

import glob
import os

import pytest

from deepseek_probe.errors import InputError
from deepseek_probe.probes.checkpoints import find_checkpoints
from deepseek_probe.profiles import PRECISIONS, get_model, weight_bytes
from deepseek_probe.profiles import ollama_tags
from deepseek_probe.probes.model_path import read_model
from deepseek_probe.profiles.names import UnknownNameError, nearest
from deepseek_probe.profiles.names import resolve as _resolve


def resolve(name, *args, **kw):
    """As the CLI resolves a name: a path on this machine is read by the probe first."""
    return _resolve(name, *args, local=read_model(name), **kw)

HOME = os.path.join(os.path.dirname(__file__), "..", "fixtures", "home", "derived-home")
HUB = os.path.join(HOME, ".cache", "huggingface", "hub")


@pytest.mark.parametrize("name,model,precision,source", [
    ("deepseek-r1:32b", "deepseek-r1-distill-qwen-32b", "q4_k_m", "ollama tag default quant"),
    ("deepseek-r1:671b", "deepseek-v3", "q4_k_m", "ollama tag default quant"),
    ("deepseek-r1:70b", "deepseek-r1-distill-llama-70b", "q4_k_m", "ollama tag default quant"),
    ("deepseek-r1:1.5b", "deepseek-r1-distill-qwen-1.5b", "q4_k_m", "ollama tag default quant"),
    ("deepseek-r1:8b-llama-distill-q4_K_M", "deepseek-r1-distill-llama-8b", "q4_k_m", "ollama tag"),
    ("deepseek-r1:32b-qwen-distill-q8_0", "deepseek-r1-distill-qwen-32b", "q8_0", "ollama tag"),
    ("deepseek-r1:14b-qwen-distill-fp16", "deepseek-r1-distill-qwen-14b", "fp16", "ollama tag"),
    ("deepseek-v3", "deepseek-v3", None, "catalog"),
    ("deepseek-v3:latest", "deepseek-v3", "q4_k_m", "ollama tag default quant"),
    ("deepseek-coder-v2:16b", "deepseek-v2-lite", "q4_0", "ollama tag default quant"),
    ("deepseek-coder-v2:236b", "deepseek-v2", "q4_0", "ollama tag default quant"),
    ("deepseek-coder-v2:lite", "deepseek-v2-lite", "q4_0", "ollama tag default quant"),
    ("deepseek-coder:6.7b", "deepseek-coder-6.7b", "q4_0", "ollama tag default quant"),
    ("deepseek-coder", "deepseek-coder-1.3b", "q4_0", "ollama tag default quant"),
    ("deepseek-llm:67b", "deepseek-llm-67b", "q4_0", "ollama tag default quant"),
    ("deepseek-v2:16b", "deepseek-v2-lite", "q4_0", "ollama tag default quant"),
    ("deepseek-v2.5", "deepseek-v2", None, "catalog"),
    ("deepseek-v2.5:236b", "deepseek-v2", "q4_0", "ollama tag default quant"),
    ("deepseek-ai/DeepSeek-R1-Distill-Qwen-32B", "deepseek-r1-distill-qwen-32b", "bf16", "HF id"),
    ("deepseek-ai/DeepSeek-V3", "deepseek-v3", "fp8", "HF id"),
    ("casperhansen/deepseek-r1-distill-qwen-32b-awq", "deepseek-r1-distill-qwen-32b", "int4", "HF id"),
    ("unsloth/DeepSeek-R1-Distill-Qwen-32B-GGUF", "deepseek-r1-distill-qwen-32b", None, "HF id"),
    ("hf.co/unsloth/DeepSeek-R1-Distill-Qwen-32B-GGUF:Q4_K_M", "deepseek-r1-distill-qwen-32b", "q4_k_m", "HF id"),
    ("TheBloke/deepseek-coder-33B-instruct-GPTQ", "deepseek-coder-33b", "int4", "HF id"),
    ("70b", "deepseek-r1-distill-llama-70b", None, "catalog"),
])
def test_names_people_type(name, model, precision, source):
    r = resolve(name)
    assert (r.model_id, r.precision, r.source) == (model, precision, source)
    assert r.spec is not None and r.spec.id == model


def test_ollama_default_quant_is_said_and_runtime_is_llamacpp():
    r = resolve("deepseek-r1:32b")
    assert r.quant == "Q4_K_M" and r.runtime == "llamacpp" and r.ollama_tag == "deepseek-r1:32b"
    assert any("without a quant are Q4_K_M" in n for n in r.notes)


def test_bare_deepseek_r1_follows_the_catalog_but_says_what_ollama_means():
    r = resolve("deepseek-r1")
    assert r.model_id == "deepseek-v3" and any("deepseek-r1:latest" in n for n in r.notes)
    o = resolve("deepseek-r1", runtime="ollama")
    assert o.ollama_tag == "deepseek-r1:latest" and o.quant == "Q4_K_M"
    assert o.model_id == "deepseek-r1-0528-qwen3-8b" and o.precision == "q4_k_m"
    assert any("no tag" in n and "deepseek-r1:latest" in n for n in o.notes)


@pytest.mark.parametrize("name", ["deepseek-r1:8b", "deepseek-r1:latest", "deepseek-r1:8b-0528-qwen3-q4_K_M"])
def test_the_default_ollama_deepseek_r1_is_the_qwen3_8b_distill(name):
    r = resolve(name)
    assert (r.model_id, r.precision, r.runtime) == ("deepseek-r1-0528-qwen3-8b", "q4_k_m", "llamacpp")
    assert r.hf_id == "deepseek-ai/DeepSeek-R1-0528-Qwen3-8B"


def test_every_tag_target_of_the_ollama_table_is_in_the_catalog():
    v31 = resolve("deepseek-v3.1")  # in the 2026 catalog: its own entry, V3's shape
    assert v31.model_id == "deepseek-v3.1"
    assert v31.spec.architecture_key() == resolve("deepseek-v3").spec.architecture_key()
    for tag in ollama_tags.all_tags():
        r = resolve(tag, runtime="ollama")
        assert r.model_id is not None and r.unresolved is None, tag


def test_hf_ids_found_locally_use_their_config_and_headers():
    cps = find_checkpoints(environ={"HOME": HOME}).checkpoints
    r = resolve("deepseek-ai/DeepSeek-V2-Lite", cps)
    assert r.source == "HF id + local config" and r.model_id == "deepseek-v2-lite" and r.precision == "bf16"
    assert r.weight_bytes == 2 * 15_706_484_224 and r.checkpoint is not None
    o = resolve("deepseek-r1:1.5b", cps)
    assert o.checkpoint is not None and o.checkpoint.source == "ollama"
    assert o.weight_bytes == sum(o.checkpoint.bytes_by_dtype.values())
    assert any("incomplete" in n for n in o.notes)


def test_paths_gguf_file_and_safetensors_folder():
    blob = max(glob.glob(os.path.join(HOME, ".ollama", "models", "blobs", "*")), key=os.path.getsize)
    r = resolve(blob)
    assert (r.model_id, r.precision, r.quant, r.source) == ("deepseek-r1-distill-qwen-1.5b", "q4_k_m", "Q4_K_M",
                                                            "GGUF header")
    snap = glob.glob(os.path.join(HUB, "models--deepseek-ai--DeepSeek-V2-Lite", "snapshots", "*"))[0]
    r = resolve(snap)
    assert (r.model_id, r.precision, r.source) == ("deepseek-v2-lite", "bf16", "config.json")
    assert r.weight_bytes == weight_bytes(get_model("deepseek-v2-lite"), "bf16")


def test_gguf_of_an_architecture_not_in_the_catalog_builds_its_spec(tmp_path):
    from header_writers import gguf_bytes
    kv = [("general.architecture", "llama"), ("general.name", "tiny"), ("general.file_type", 7),
          ("llama.block_count", 2), ("llama.embedding_length", 64), ("llama.feed_forward_length", 128),
          ("llama.attention.head_count", 4), ("llama.attention.head_count_kv", 2), ("llama.context_length", 2048)]
    ts = [("token_embd.weight", "Q8_0", [100, 64]), ("output.weight", "Q8_0", [100, 64])]
    p = tmp_path / "tiny-00001-of-00001.gguf"
    p.write_bytes(gguf_bytes(kv, ts))
    r = resolve(str(p))
    assert r.model_id is None and r.spec is not None and r.spec.layers == 2 and r.spec.kv_heads == 2
    assert r.precision == "q8_0" and "not in the catalog" in r.unresolved


def test_unknown_names_suggest_three_near_ones_in_one_line():
    with pytest.raises(UnknownNameError) as e:
        resolve("deepsek-r1:32b")
    msg = str(e.value)
    assert "\n" not in msg and isinstance(e.value, InputError)
    assert msg.count(",") == 2 and "deepseek-r1:32b" in msg
    assert len(nearest("zzz")) == 3


def test_missing_path_and_corrupt_gguf_are_one_line_errors(tmp_path):
    with pytest.raises(UnknownNameError, match="no such file"):
        resolve(str(tmp_path / "nope.gguf"))
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"GGUF\x03\x00\x00\x00")
    with pytest.raises(InputError) as e:
        resolve(str(bad))
    assert str(bad) in str(e.value) and "\n" not in str(e.value)


# -- the tag table checks itself against the catalog ---------------------------------------------
def _rows():
    for lib in ollama_tags.LIBRARY.values():
        for size in lib.sizes:
            for t in size.targets:
                try:
                    yield lib, size, get_model(t)
                    break
                except InputError:
                    continue


@pytest.mark.parametrize("lib,size,spec", list(_rows()), ids=lambda x: getattr(x, "name", getattr(x, "size", "")))
def test_listed_size_matches_the_default_quant_better_than_the_other(lib, size, spec):
    """The library's size for a tag is params x the default quant's bits: within 5%, and closer
    than the other common default (Q4_K_M vs Q4_0) would be."""
    listed = size.size_gb * 1e9
    own = spec.params * PRECISIONS[lib.default_quant.lower()].bits / 8
    other = spec.params * PRECISIONS["q4_0" if lib.default_quant == "Q4_K_M" else "q4_k_m"].bits / 8
    assert abs(own - listed) / listed < 0.05
    assert abs(own - listed) < abs(other - listed)


def test_every_latest_is_a_listed_size_and_every_tag_resolves_or_is_marked():
    for lib in ollama_tags.LIBRARY.values():
        assert lib.size(lib.latest) is not None
    for tag in ollama_tags.all_tags():
        r = resolve(tag, runtime="ollama")
        assert r.model_id or r.unresolved


def test_upstream_repos_known_from_the_tag_table():
    v31 = resolve("deepseek-ai/DeepSeek-V3.1")
    assert v31.model_id == "deepseek-v3.1" and v31.precision == "fp8"
    q3 = resolve("deepseek-ai/DeepSeek-R1-0528-Qwen3-8B")
    assert (q3.model_id, q3.precision, q3.source) == ("deepseek-r1-0528-qwen3-8b", "bf16", "HF id")


def test_first_shard_of_a_split_gguf_path_sums_the_shards(tmp_path):
    from header_writers import gguf_bytes
    kv = [("general.architecture", "qwen2"), ("general.file_type", 7), ("split.count", ("u16", 2))]
    (tmp_path / "m-00001-of-00002.gguf").write_bytes(gguf_bytes(kv + [("split.no", ("u16", 0))],
                                                                [("a", "Q8_0", [4, 64])]))
    (tmp_path / "m-00002-of-00002.gguf").write_bytes(gguf_bytes(kv + [("split.no", ("u16", 1))],
                                                                [("b", "Q8_0", [4, 64])]))
    r = resolve(str(tmp_path / "m-00001-of-00002.gguf"))
    assert r.weight_bytes == 2 * 4 * 2 * 34 and r.checkpoint.files == 2 and r.precision == "q8_0"
    assert r.model_id is None  # 2 tensors are no model the catalog knows
