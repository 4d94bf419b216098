"""runtimes/versions.py: the release forms each runtime prints, and the modelled range."""

import pytest

from deepseek_probe.runtimes import RUNTIMES, versions
from deepseek_probe.runtimes.base import EstimateInputError


@pytest.mark.parametrize("text,release", [
    ("0.8.4", (0, 8, 4)), ("v0.8.4", (0, 8, 4)), ("0.8.5.post1", (0, 8, 5)), ("0.6.3rc1", (0, 6, 3)),
    ("0.10.1+cu128", (0, 10, 1)), ("0.33", (0, 33, 0)), ("ollama version is 0.12.3", (0, 12, 3)),
    ("v0.33.0-rc2 (fb30760)", (0, 33, 0)), ("nonsense", None),
])
def test_python_and_ollama_releases(text, release):
    assert versions.parse(text) == release


@pytest.mark.parametrize("text,release", [
    ("b6123", (6123,)), ("6123", (6123,)), ("version: 6123 (0c1e570)", (6123,)), ("main", None),
])
def test_llamacpp_build_numbers(text, release):
    assert versions.parse(text, build_numbers=True) == release


def test_resolve_checks_the_modelled_range():
    vllm = RUNTIMES["vllm"]
    assert versions.resolve(vllm, None) == versions.parse(vllm.versions[1])
    assert versions.resolve(vllm, "0.8.3") == (0, 8, 3)
    assert versions.resolve(vllm, "99.0") == (99, 0, 0)  # newer than modelled: the newest behaviour
    for bad in ("0.1.0", "banana"):
        with pytest.raises(EstimateInputError):
            versions.resolve(vllm, bad)
