"""Header parsers: exact bytes from the headers of fixtures/home (real tensor lists, no data),
checked against arithmetic done here, and one-line errors naming the file for corrupt headers."""

from __future__ import annotations

import glob
import io
import json
import os
import struct

import pytest

from deepseek_probe.formats import gguf, hf_config, safetensors
from deepseek_probe.formats.errors import HeaderError
from deepseek_probe.errors import InputError
from header_writers import gguf_bytes, safetensors_bytes

HOME = os.path.join(os.path.dirname(__file__), "..", "fixtures", "home", "derived-home")
HUB = os.path.join(HOME, ".cache", "huggingface", "hub")
CONFIGS = os.path.join(os.path.dirname(__file__), "..", "fixtures", "home", "configs")


def _snapshot(repo: str) -> str:
    return glob.glob(os.path.join(HUB, "models--" + repo.replace("/", "--"), "snapshots", "*"))[0]


def _cfg(name: str) -> dict:
    with open(os.path.join(CONFIGS, name)) as f:
        return json.load(f)


def _one_line_naming(e: pytest.ExceptionInfo, path: str) -> None:
    msg = str(e.value)
    assert "\n" not in msg and path in msg and isinstance(e.value, InputError)


# -- safetensors -------------------------------------------------------------------------------
def test_r1_distill_qwen_1_5b_header_gives_its_parameters_and_bf16_bytes():
    c = _cfg("DeepSeek-R1-Distill-Qwen-1.5B.config.json")
    h, i, v, L = c["hidden_size"], c["intermediate_size"], c["vocab_size"], c["num_hidden_layers"]
    kv = c["num_key_value_heads"] * h // c["num_attention_heads"]
    per_layer = 2 * h + (h * h + h) + 2 * (kv * h + kv) + h * h + 3 * h * i
    expected = 2 * v * h + L * per_layer + h  # untied embedding and head, final norm
    s = safetensors.read_model(_snapshot("deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B"))
    assert s.params == expected
    assert s.bytes_by_dtype == {"BF16": 2 * expected}
    assert s.tensor_count == 3 + 12 * L


def test_v2_lite_four_shards_sum_to_the_measured_parameter_count():
    # deepseek-models.md: 15 706 484 224, measured by building the model in transformers
    s = safetensors.read_model(_snapshot("deepseek-ai/DeepSeek-V2-Lite"))
    assert s.files == 4
    assert s.params == 15_706_484_224
    assert s.data_bytes == 2 * 15_706_484_224


def test_truncated_file_is_accepted_header_only_and_reported_incomplete():
    path = os.path.join(_snapshot("deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B"), "model.safetensors")
    s = safetensors.read_file(path)
    assert s.complete is False
    assert s.file_bytes == os.path.getsize(path) == s.header_bytes
    assert s.expected_file_bytes == s.header_bytes + s.data_bytes
    with pytest.raises(HeaderError) as e:
        safetensors.read_file(path, header_only=False)
    _one_line_naming(e, path)


def test_full_file_with_data_is_complete(tmp_path):
    p = tmp_path / "m.safetensors"
    p.write_bytes(safetensors_bytes([("a", "F32", [4, 8]), ("b", "F8_E4M3", [16])], with_data=True))
    s = safetensors.read_file(str(p), header_only=False)
    assert s.complete and s.bytes_by_dtype == {"F32": 128, "F8_E4M3": 16} and s.params == 48


def _st_file(tmp_path, head: bytes, length=None, name="bad.safetensors") -> str:
    p = tmp_path / name
    p.write_bytes(struct.pack("<Q", len(head) if length is None else length) + head)
    return str(p)


@pytest.mark.parametrize("doc,needle", [
    ({"a": {"dtype": "BF16", "shape": [2], "data_offsets": [0, 4]},
      "b": {"dtype": "BF16", "shape": [2], "data_offsets": [2, 6]}}, "overlaps"),
    ({"a": {"dtype": "BF16", "shape": [2], "data_offsets": [0, 4]},
      "b": {"dtype": "BF16", "shape": [2], "data_offsets": [8, 12]}}, "gap"),
    ({"a": {"dtype": "Q9", "shape": [2], "data_offsets": [0, 4]}}, "unknown dtype"),
    ({"a": {"dtype": "BF16", "shape": [2], "data_offsets": [0, 6]}}, "needs 4"),
    ({"a": {"dtype": "F32", "shape": [1 << 30, 1 << 30], "data_offsets": [0, 1 << 62]}}, "implausible"),
    ({"a": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}}, "shape"),
    ({"a": {"dtype": "F32", "shape": [1], "data_offsets": [4, 0]}}, "data_offsets"),
    ({"a": {"dtype": "F4", "shape": [3], "data_offsets": [0, 2]}}, "whole number"),
    ([1, 2], "not a JSON object"),
])
def test_corrupt_safetensors_header_is_one_line_naming_the_file(tmp_path, doc, needle):
    path = _st_file(tmp_path, json.dumps(doc).encode())
    with pytest.raises(HeaderError) as e:
        safetensors.read_file(path)
    _one_line_naming(e, path)
    assert needle in str(e.value)


def test_header_length_beyond_the_file_and_bad_json_and_short_file(tmp_path):
    for head, length, needle in ((b"{}", 1000, "past the end"), (b"{not json", None, "not valid JSON"),
                                 (b"{}", safetensors.MAX_HEADER_BYTES + 1, "limit")):
        path = _st_file(tmp_path, head, length)
        with pytest.raises(HeaderError) as e:
            safetensors.read_file(path)
        _one_line_naming(e, path)
        assert needle in str(e.value)
    short = tmp_path / "short.safetensors"
    short.write_bytes(b"\x01\x02")
    with pytest.raises(HeaderError, match="too short"):
        safetensors.read_file(str(short))


def test_index_naming_a_missing_shard_names_that_shard(tmp_path):
    (tmp_path / "model.safetensors.index.json").write_text(json.dumps({"weight_map": {"a": "model-00001-of-00002.safetensors"}}))
    with pytest.raises(HeaderError) as e:
        safetensors.read_model(str(tmp_path))
    _one_line_naming(e, "model-00001-of-00002.safetensors")
    (tmp_path / "model.safetensors.index.json").write_text(json.dumps({"weight_map": {"a": "../../etc/x"}}))
    with pytest.raises(HeaderError, match="bad shard"):
        safetensors.read_model(str(tmp_path))


# -- GGUF ----------------------------------------------------------------------------------------
def _ollama_blob() -> str:
    for p in glob.glob(os.path.join(HOME, ".ollama", "models", "blobs", "sha256-*")):
        with open(p, "rb") as f:
            if f.read(4) == b"GGUF":
                return p
    raise AssertionError("fixture blob missing")


def test_ollama_blob_bytes_per_type_match_block_arithmetic():
    c = _cfg("DeepSeek-R1-Distill-Qwen-1.5B.config.json")
    h, i, v, L = c["hidden_size"], c["intermediate_size"], c["vocab_size"], c["num_hidden_layers"]
    kv = c["num_key_value_heads"] * h // c["num_attention_heads"]
    q4k, q6k = 144 / 256, 210 / 256  # bytes per weight: ggml block_q4_K 144 B, block_q6_K 210 B per 256
    more = [n < L // 8 or n >= 7 * L // 8 or (n - L // 8) % 3 == 2 for n in range(L)]
    n_more = sum(more)
    q6 = v * h + n_more * (kv * h + h * i)
    q4 = v * h + L * (h * h + kv * h + h * h + 2 * i * h) + (L - n_more) * (kv * h + h * i)
    f32 = h + L * (2 * h + h + 2 * kv)
    s = gguf.read_file(_ollama_blob())
    assert s.bytes_by_type == {"Q4_K": int(q4 * q4k), "Q6_K": int(q6 * q6k), "F32": 4 * f32}
    assert s.params == q4 + q6 + f32
    assert s.version == 3 and s.file_type == "Q4_K_M" and s.architecture == "qwen2"
    assert s.facts["block_count"] == L and s.facts["attention.head_count_kv"] == c["num_key_value_heads"]
    assert s.complete is False and s.file_bytes == s.header_bytes


ALL_TYPES = [("u8", ("u8", 255)), ("i8", ("i8", -3)), ("u16", ("u16", 65535)), ("i16", ("i16", -2)),
             ("u32", ("u32", 7)), ("i32", ("i32", -7)), ("f32", ("f32", 0.5)), ("b", True),
             ("s", "héllo"), ("u64", ("u64", 1 << 40)), ("i64", ("i64", -(1 << 40))), ("f64", ("f64", 0.25)),
             ("arr_s", ["a", "b"]), ("arr_i", [1, 2, 3]), ("arr_f64", ("array:f64", [1.5])),
             ("big", ("array:u8", list(range(200)))), ("big_s", ("array:str", ["t"] * 100))]


def test_every_value_type_round_trips_and_long_arrays_are_summarised():
    s = gguf.read_header(io.BytesIO(gguf_bytes(ALL_TYPES, [("w", "F16", [2, 32])], version=2)), "x.gguf")
    m = s.metadata
    assert s.version == 2
    assert (m["u8"], m["i8"], m["u16"], m["i16"], m["u32"], m["i32"]) == (255, -3, 65535, -2, 7, -7)
    assert m["f32"] == 0.5 and m["b"] is True and m["s"] == "héllo" and m["u64"] == 1 << 40
    assert m["i64"] == -(1 << 40) and m["f64"] == 0.25 and m["arr_s"] == ["a", "b"] and m["arr_i"] == [1, 2, 3]
    assert m["arr_f64"] == [1.5] and m["big"] == ("array[0]", 200) and m["big_s"] == ("array[string]", 100)
    assert s.tensors[0].nbytes == 128 and s.tensors[0].shape == (32, 2)


def _gguf_err(tmp_path, data: bytes, needle: str) -> None:
    p = tmp_path / "bad.gguf"
    p.write_bytes(data)
    with pytest.raises(HeaderError) as e:
        gguf.read_file(str(p))
    _one_line_naming(e, str(p))
    assert needle in str(e.value), str(e.value)


def test_corrupt_gguf_headers_are_one_line_naming_the_file(tmp_path):
    good = gguf_bytes([("general.architecture", "llama")], [("w", "Q4_0", [4, 64])])
    _gguf_err(tmp_path, b"GGUX" + good[4:], "not a GGUF file")
    _gguf_err(tmp_path, good[:4] + struct.pack("<I", 1) + good[8:], "version 1")
    _gguf_err(tmp_path, good[:30], "cut short")
    _gguf_err(tmp_path, b"GG", "too short")
    _gguf_err(tmp_path, good[:8] + struct.pack("<qq", 1 << 40, 1) + good[24:], "implausible counts")
    bad_type = gguf_bytes([("k", "v")], []).replace(struct.pack("<i", 8) + struct.pack("<Q", 1) + b"v",
                                                     struct.pack("<i", 99) + struct.pack("<Q", 1) + b"v")
    _gguf_err(tmp_path, bad_type, "unknown value type 99")
    ggml = bytearray(good)
    idx = good.index(b"\x01\x00\x00\x00\x00\x00\x00\x00w") + 9  # after tensor name "w": n_dims, ne, type
    struct.pack_into("<i", ggml, idx + 4 + 16, 77)
    _gguf_err(tmp_path, bytes(ggml), "unknown ggml type 77")
    _gguf_err(tmp_path, gguf_bytes([], [("w", "Q4_0", [4, 48])]), "not a multiple")
    _gguf_err(tmp_path, gguf_bytes([("a", "x"), ("a", "y")], []), "duplicate key")
    _gguf_err(tmp_path, gguf_bytes([], [("w", "F32", [8]), ("w", "F32", [8])]), "duplicate tensor")
    _gguf_err(tmp_path, gguf_bytes([("general.alignment", 24)], []), "power of two")
    overl = bytearray(gguf_bytes([], [("a", "F32", [64]), ("b", "F32", [64])]))
    pos = bytes(overl).index(b"\x01\x00\x00\x00\x00\x00\x00\x00b") + 9 + 4 + 8 + 4
    struct.pack_into("<Q", overl, pos, 64)  # b starts inside a (a is 256 bytes)
    _gguf_err(tmp_path, bytes(overl), "overlaps")


def test_split_gguf_first_shard_sums_present_shards_and_lists_missing(tmp_path):
    for no in (1, 2, 3):
        kv = [("general.architecture", "deepseek2"), ("split.no", ("u16", no - 1)), ("split.count", ("u16", 3))]
        (tmp_path / f"m-{no:05d}-of-00003.gguf").write_bytes(gguf_bytes(kv, [(f"t{no}", "Q8_0", [2, 64])]))
    s, missing = gguf.read_model(str(tmp_path / "m-00001-of-00003.gguf"))
    assert (s.files, s.split_count, missing) == (3, 3, [])
    assert s.bytes_by_type == {"Q8_0": 3 * 2 * 2 * 34}  # 3 shards x 2 rows x 2 blocks x 34 bytes
    os.remove(tmp_path / "m-00003-of-00003.gguf")
    s, missing = gguf.read_model(str(tmp_path / "m-00001-of-00003.gguf"))
    assert s.files == 2 and [os.path.basename(m) for m in missing] == ["m-00003-of-00003.gguf"]


# -- config.json ----------------------------------------------------------------------------------
@pytest.mark.parametrize("q,expect", [
    ({"quant_method": "fp8", "fmt": "e4m3", "weight_block_size": [128, 128]},
     ("fp8", 8, None, [128, 128], "fp8")),
    ({"quant_method": "awq", "bits": 4, "group_size": 128, "version": "gemm"}, ("awq", 4, 128, None, "int4")),
    ({"quant_method": "gptq", "bits": 8, "group_size": 64}, ("gptq", 8, 64, None, "int8")),
    ({"quant_method": "bitsandbytes", "load_in_4bit": True}, ("bitsandbytes", 4, None, None, "int4")),
    ({"quant_method": "compressed-tensors", "format": "float-quantized", "config_groups": {"group_0": {
        "weights": {"num_bits": 8, "type": "float", "strategy": "block", "block_structure": [128, 128]}}}},
     ("compressed-tensors", 8, None, [128, 128], "fp8")),
    ({"quant_method": "compressed-tensors", "config_groups": {"g": {
        "weights": {"num_bits": 4, "type": "int", "strategy": "group", "group_size": 32}}}},
     ("compressed-tensors", 4, 32, None, "int4")),
    ({"quant_method": "hqq", "bits": 3}, ("hqq", 3, None, None, None)),
])
def test_quantization_config_kinds(q, expect):
    got = hf_config.quantization({"quantization_config": q})
    assert (got.method, got.bits, got.group_size, got.weight_block_size, got.precision) == expect
    assert hf_config.Quantization.from_dict(got.to_dict()) == got


def test_unquantized_config_has_no_quantization():
    assert hf_config.quantization(_cfg("DeepSeek-V2-Lite.config.json")) is None


def test_tokenizer_arrays_crossing_read_chunks_are_walked_exactly(tmp_path):
    # 200 000 strings (~3 MiB) cross several 1 MiB reads; the tensor after them must come out right
    toks = [f"t{i}" * (1 + i % 3) for i in range(200_000)]
    p = tmp_path / "vocab.gguf"
    p.write_bytes(gguf_bytes([("tokenizer.ggml.tokens", ("array:str", toks)), ("after", ("u32", 42))],
                             [("w", "Q6_K", [3, 256])]))
    s = gguf.read_file(str(p))
    assert s.metadata["tokenizer.ggml.tokens"] == ("array[string]", 200_000) and s.metadata["after"] == 42
    assert s.tensors[0].nbytes == 3 * 210
    cut = p.read_bytes()[:2_000_000]
    p.write_bytes(cut)
    with pytest.raises(HeaderError, match="cut short"):
        gguf.read_file(str(p))


def test_corrupt_lengths_do_not_read_weights_as_header(tmp_path):
    huge_str = b"GGUF" + struct.pack("<Iqq", 3, 0, 1) + struct.pack("<Q", 1 << 40) + b"k"
    _gguf_err(tmp_path, huge_str + bytes(64), "implausible")
    huge_arr = (b"GGUF" + struct.pack("<Iqq", 3, 0, 1) + struct.pack("<Q", 1) + b"k"
                + struct.pack("<iiQ", 9, 4, 1 << 31))
    _gguf_err(tmp_path, huge_arr + bytes(64), "implausible")
