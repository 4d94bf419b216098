"""JSON outputs of check, estimate, plan --all and fleet on every fixture, byte for byte against
the golden files of tests/golden/out (see tests/golden/cases.py for how they are made)."""

from __future__ import annotations

import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "golden"))
import cases as golden  # noqa: E402


@pytest.mark.parametrize("name,argv", golden.cases(), ids=[n for n, _ in golden.cases()])
def test_output_matches_golden(name, argv):
    path = golden.golden_path(name)
    assert os.path.exists(path), f"no golden file for {name}: python tests/golden/cases.py --write"
    with open(path, encoding="utf-8") as f:
        expected = f.read()
    code, text = golden.run(argv)
    assert f"{code}\n{text}" == expected


@pytest.mark.parametrize("name,argv", golden.cases(), ids=[n for n, _ in golden.cases()])
def test_no_golden_pins_an_internal_error(name, argv):
    """A golden written while the code raised would pin the crash: exit 70 is never an answer."""
    with open(golden.golden_path(name), encoding="utf-8") as f:
        code = f.readline().strip()
    assert code != "70", f"{name} pins an internal error"
