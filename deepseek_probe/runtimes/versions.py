"""Runtime releases: parse a version a user names or a probe finds, order it, and check it is one
a runtime module models (Runtime.versions: oldest and newest modelled release).

Pure. Forms understood (each runtime's own release naming):
- Python packages (vLLM, SGLang, transformers): PEP 440 "0.8.4", "0.8.5.post1", "0.6.3rc1",
  "v0.8.4" (a git tag); local labels ("+cu121") and dev/rc/post suffixes do not move the release.
- llama.cpp: its build number, as tags and `llama-server --version` print it: "b6123", "6123",
  "version: 6123 (0c1e570)".
- Ollama: "0.12.3", "v0.33.0-rc2", "ollama version is 0.12.3".
"""

from __future__ import annotations

import re
from typing import Optional, Tuple

from deepseek_probe.runtimes.base import EstimateInputError, Runtime

Release = Tuple[int, ...]

_SEMVER = re.compile(r"(?<![\w.])v?(\d+)\.(\d+)(?:\.(\d+))?")
_BUILD = re.compile(r"\bb?(\d{3,5})\b")


def parse(text: str, build_numbers: bool = False) -> Optional[Release]:
    """The release in `text` as a tuple (major, minor, patch) or (build,); None when there is none."""
    text = str(text).strip()
    if build_numbers:
        m = _BUILD.search(text)
        return (int(m.group(1)),) if m else None
    m = _SEMVER.search(text)
    if not m:
        return None
    return (int(m.group(1)), int(m.group(2)), int(m.group(3) or 0))


def label(release: Release, build_numbers: bool = False) -> str:
    return f"b{release[0]}" if build_numbers else ".".join(str(p) for p in release)


def resolve(runtime: Runtime, asked: Optional[str]) -> Optional[Release]:
    """The release of `runtime` to model: `asked` parsed and checked against the modelled range
    (exit 64 past either end), else the newest modelled. None when the runtime models no range."""
    if not runtime.versions:
        if asked:
            raise EstimateInputError(f"{runtime.label or runtime.name} is modelled at one release only; "
                                     f"--runtime-version does not apply")
        return None
    builds = runtime.version_is_build
    oldest, newest = (parse(v, builds) for v in runtime.versions)
    if not asked:
        return newest
    release = parse(asked, builds)
    if release is None:
        raise EstimateInputError(f"--runtime-version {asked!r} is not a {runtime.label or runtime.name} release "
                                 f"(e.g. {runtime.versions[1]})")
    if not oldest <= release:  # type: ignore[operator]
        raise EstimateInputError(f"{runtime.label or runtime.name} {asked} is older than the oldest modelled "
                                 f"({runtime.versions[0]})")
    return release  # newer than the newest: modelled as the newest (the report says so)
