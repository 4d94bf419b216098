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


def test_the_survey_wraps_words_exactly_as_textwrap_would():
    # report/survey.wrap_words replaces textwrap.wrap (break_long_words=False,
    # break_on_hyphens=False) to spare its import; same lines on random text, widths, indents
    import random
    import textwrap

    from deepseek_probe.report.survey import wrap_words

    rnd = random.Random(3)
    words = ["a", "bb", "ccc", "/path/to/a/very/long/model/file.gguf", "x-y", "\t", "  ", "\n", "±30%",
             "deepseek-probe", " ", "--max-model-len=32768"]
    for _ in range(3000):
        text = "".join(rnd.choice(words) + rnd.choice(["", " ", "  "]) for _ in range(rnd.randint(0, 30)))
        width, first, rest = rnd.randint(1, 60), " " * rnd.randint(0, 10), " " * rnd.randint(0, 12)
        assert wrap_words(text, width, first, rest) == textwrap.wrap(
            text, width=width, initial_indent=first, subsequent_indent=rest, break_long_words=False,
            break_on_hyphens=False), (text, width, first, rest)
