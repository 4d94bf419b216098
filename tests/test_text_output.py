"""Text that reads well (issue 24, item 6): `estimate --format text` prints labelled lines,
never a Python dict, list or None; a model from `--model-config` is named from its config."""

from __future__ import annotations

import os
import re

import pytest

from conftest import FIXTURES_DIR
from deepseek_probe import cli

V32 = os.path.join(FIXTURES_DIR, "configs", "deepseek-v3.2.json")


def run(capsys, *argv):
    with pytest.raises(SystemExit) as e:
        cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert e.value.code in (0, None), err
    return out


@pytest.mark.parametrize("argv", [
    ("--model-config", V32, "--runtime", "vllm"),
    ("--model", "7b", "--runtime", "sglang"),
    ("--model", "671b", "--runtime", "llamacpp"),
    ("--model", "v4-flash", "--runtime", "vllm", "--gpu-memory", "141"),
])
def test_estimate_text_is_labelled_lines_without_python_reprs(capsys, argv):
    out = run(capsys, "estimate", *argv)
    assert not re.search(r"[{}\[\]]|\bNone\b|'\w+':", out), out
    for line in out.splitlines()[1:]:
        assert re.match(r"^ {2,}\S", line), line  # every line under the heading is indented and labelled


def test_a_config_file_names_its_model_not_its_folder(capsys):
    out = run(capsys, "estimate", "--model-config", V32)
    assert out.startswith("deepseek-v3.2 · ")


def test_a_checkpoint_config_json_is_named_by_its_folder(tmp_path, capsys):
    folder = tmp_path / "DeepSeek-V3.2-Exp"
    folder.mkdir()
    (folder / "config.json").write_bytes(open(V32, "rb").read())
    out = run(capsys, "estimate", "--model-config", folder / "config.json")
    assert out.startswith("deepseek-v3.2-exp · ")
