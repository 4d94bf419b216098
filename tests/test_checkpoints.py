"""probes/checkpoints: the DeepSeek checkpoints of fixtures/home/derived-home, found from their
headers; corrupt files listed with an error; the scan stays inside its stores and its limits."""

from __future__ import annotations

import json
import os
import shutil

import pytest

from deepseek_probe.checkpoint import Checkpoint
from deepseek_probe.probes.checkpoints import CheckpointScan, find_checkpoints

HOME = os.path.join(os.path.dirname(__file__), "..", "fixtures", "home", "derived-home")


@pytest.fixture
def home(tmp_path):
    dst = tmp_path / "home"
    shutil.copytree(HOME, dst, symlinks=True)
    return dst


def _by_name(scan: CheckpointScan) -> dict:
    return {c.name: c for c in scan.checkpoints}


def test_fixture_home_lists_two_hf_models_and_one_ollama_tag():
    scan = find_checkpoints(environ={"HOME": HOME})
    got = _by_name(scan)
    assert set(got) == {"deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B", "deepseek-ai/DeepSeek-V2-Lite", "deepseek-r1:1.5b"}
    v2 = got["deepseek-ai/DeepSeek-V2-Lite"]
    assert (v2.source, v2.format, v2.files, v2.params, v2.precision) == ("hf_cache", "safetensors", 4,
                                                                         15_706_484_224, "bf16")
    assert v2.revision == "0" * 39 + "2" and v2.architecture["model_type"] == "deepseek_v2"
    ol = got["deepseek-r1:1.5b"]
    assert (ol.source, ol.format, ol.precision, ol.architecture["architecture"]) == ("ollama", "gguf", "q4_k_m", "qwen2")
    assert ol.quantization == {"method": "gguf", "file_type": "Q4_K_M"}


def test_truncated_fixtures_are_reported_with_on_disk_and_expected_sizes():
    for c in find_checkpoints(environ={"HOME": HOME}).checkpoints:
        assert c.complete is False and c.error is None
        assert c.bytes_on_disk < c.expected_bytes
        assert c.expected_bytes - c.bytes_on_disk == sum(c.bytes_by_dtype.values()) or c.format == "gguf"
        assert any("bytes" in n for n in c.notes)


def test_env_overrides_point_at_other_stores(home, tmp_path):
    env = {"HOME": str(tmp_path / "nobody"), "HF_HUB_CACHE": str(home / ".cache" / "huggingface" / "hub"),
           "OLLAMA_MODELS": str(home / ".ollama" / "models")}
    assert len(find_checkpoints(environ=env).checkpoints) == 3
    env = {"HOME": str(tmp_path / "nobody"), "HF_HOME": str(home / ".cache" / "huggingface")}
    assert len(find_checkpoints(environ=env).checkpoints) == 2


def test_a_corrupt_shard_gives_that_checkpoint_an_error_and_the_rest_are_still_listed(home):
    snap = next((home / ".cache/huggingface/hub/models--deepseek-ai--DeepSeek-V2-Lite/snapshots").iterdir())
    shard = snap / "model-00002-of-000004.safetensors"
    target = os.path.realpath(shard)
    with open(target, "r+b") as f:
        f.seek(20)
        f.write(b"@@@@")
    got = _by_name(find_checkpoints(environ={"HOME": str(home)}))
    assert len(got) == 3
    err = got["deepseek-ai/DeepSeek-V2-Lite"].error
    assert err and "\n" not in err and "model-00002-of-000004.safetensors" in err
    assert got["deepseek-r1:1.5b"].error is None


def test_non_deepseek_models_are_left_out_unless_all_are_asked_for(home):
    repo = home / ".cache/huggingface/hub/models--Qwen--Qwen2.5-0.5B"
    (repo / "snapshots" / "abc").mkdir(parents=True)
    (repo / "snapshots" / "abc" / "config.json").write_text(json.dumps({"model_type": "qwen2"}))
    assert "Qwen/Qwen2.5-0.5B" not in _by_name(find_checkpoints(environ={"HOME": str(home)}))
    assert "Qwen/Qwen2.5-0.5B" in _by_name(find_checkpoints(environ={"HOME": str(home)}, include_all=True))


def test_deepseek_architecture_counts_even_under_another_name(home):
    src = next((home / ".cache/huggingface/hub/models--deepseek-ai--DeepSeek-V2-Lite/snapshots").iterdir())
    snap = home / ".cache/huggingface/hub/models--someone--my-finetune/snapshots/r1"
    snap.mkdir(parents=True)
    shutil.copy(os.path.realpath(src / "config.json"), snap / "config.json")
    assert "someone/my-finetune" in _by_name(find_checkpoints(environ={"HOME": str(home)}))


def test_links_leaving_the_store_are_not_followed(home, tmp_path):
    secret = tmp_path / "outside.safetensors"
    secret.write_bytes(b"\x00" * 64)
    snap = next((home / ".cache/huggingface/hub/models--deepseek-ai--DeepSeek-R1-Distill-Qwen-1.5B/snapshots").iterdir())
    os.symlink(secret, snap / "extra.safetensors")
    scan = find_checkpoints(environ={"HOME": str(home)})
    assert any("extra.safetensors" in n for n in scan.notes)
    assert _by_name(scan)["deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B"].error is None  # not read
    blob = next((home / ".ollama/models/blobs").glob("sha256-*"))
    store = home / ".ollama/models"
    manifest = store / "manifests/registry.ollama.ai/library/deepseek-r1/1.5b"
    digest = json.loads(manifest.read_text())["layers"][0]["digest"].split(":")[1]
    model_blob = store / "blobs" / f"sha256-{digest}"
    os.rename(model_blob, tmp_path / "moved")
    os.symlink(tmp_path / "moved", model_blob)
    c = _by_name(find_checkpoints(environ={"HOME": str(home)}))["deepseek-r1:1.5b"]
    assert c.error and "symlink" in c.error and blob.exists()


def test_entry_limit_stops_the_scan_and_says_so():
    scan = find_checkpoints(environ={"HOME": HOME}, max_entries=3)
    assert any("entry limit" in n for n in scan.notes)
    assert len(scan.checkpoints) < 3


def test_lmstudio_and_model_dir(home, tmp_path):
    blob = max((home / ".ollama/models/blobs").glob("sha256-*"), key=lambda p: p.stat().st_size)
    lm = tmp_path / "lm" / ".lmstudio" / "models" / "lmstudio-community" / "DeepSeek-R1-Distill-Qwen-1.5B-GGUF"
    lm.mkdir(parents=True)
    shutil.copy(blob, lm / "DeepSeek-R1-Distill-Qwen-1.5B-Q4_K_M.gguf")
    got = _by_name(find_checkpoints(environ={"HOME": str(tmp_path / "lm")}))
    c = got["lmstudio-community/DeepSeek-R1-Distill-Qwen-1.5B-GGUF/DeepSeek-R1-Distill-Qwen-1.5B-Q4_K_M.gguf"]
    assert c.source == "lmstudio" and c.params == 1_777_088_000
    snap = next((home / ".cache/huggingface/hub/models--deepseek-ai--DeepSeek-V2-Lite/snapshots").iterdir())
    scan = find_checkpoints([str(snap)], environ={"HOME": str(tmp_path / "nobody")})
    (c,) = scan.checkpoints
    assert c.source == "model_dir" and c.params == 15_706_484_224


def test_scan_round_trips_through_json():
    scan = find_checkpoints(environ={"HOME": HOME})
    back = CheckpointScan.from_dict(json.loads(json.dumps(scan.to_dict())))
    assert back.checkpoints == scan.checkpoints and back.roots == scan.roots
    with pytest.raises(Exception, match="source"):
        Checkpoint.from_dict({"name": "x", "path": "y", "format": "gguf"})


def test_missing_home_finds_nothing_without_error(tmp_path):
    scan = find_checkpoints(environ={"HOME": str(tmp_path / "none")})
    assert scan.checkpoints == [] and scan.roots == []


def test_gguf_under_any_name_counts_by_its_architecture(home, tmp_path):
    from header_writers import gguf_bytes
    from deepseek_probe.formats.gguf import peek_architecture
    lm = tmp_path / "lm" / ".lmstudio" / "models" / "me" / "stuff"
    lm.mkdir(parents=True)
    (lm / "mine.gguf").write_bytes(gguf_bytes([("general.architecture", "deepseek2")], [("w", "F16", [2, 32])]))
    (lm / "other.gguf").write_bytes(gguf_bytes([("general.architecture", "llama")], [("w", "F16", [2, 32])]))
    assert peek_architecture(str(lm / "mine.gguf")) == "deepseek2"
    assert peek_architecture(str(tmp_path)) is None
    got = _by_name(find_checkpoints(environ={"HOME": str(tmp_path / "lm")}))
    assert list(got) == ["me/stuff/mine.gguf"]
    assert len(find_checkpoints(environ={"HOME": str(tmp_path / "lm")}, include_all=True).checkpoints) == 2


@pytest.mark.parametrize("bad", [{"params": -1}, {"bytes_by_dtype": {"BF16": "x"}}, {"architecture": []},
                                 {"files": True}, {"notes": "x"}])
def test_checkpoint_from_dict_rejects_bad_fields_in_one_line(bad):
    d = {"source": "ollama", "name": "deepseek-r1:1.5b", "path": "/x", "format": "gguf", **bad}
    with pytest.raises(Exception) as e:
        Checkpoint.from_dict(d)
    assert "deepseek-r1:1.5b" in str(e.value) and "\n" not in str(e.value)


def test_pickle_weights_are_listed_but_never_opened(tmp_path):
    d = tmp_path / "deepseek-llm-7b-base"
    d.mkdir()
    (d / "config.json").write_text(json.dumps({"model_type": "llama"}))
    (d / "pytorch_model.bin").write_bytes(b"\x80\x04not really a pickle")
    (c,) = find_checkpoints([str(d)], environ={"HOME": str(tmp_path / "none")}).checkpoints
    assert (c.format, c.error, c.files, c.bytes_on_disk) == ("pytorch", None, 1, 21)
