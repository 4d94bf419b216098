"""The one place that looks at ``sys.platform``.

Every probe that differs per operating system asks :func:`current` (psutil keeps the same
split in ``psutil/__init__.py``: one test of the platform, then one private module per
platform). Tests swap the platform by patching :data:`OVERRIDE` (or passing ``platform=`` to a
probe), so the macOS and Windows paths run on Linux CI; no module here imports anything that
exists on one platform only.
"""

from __future__ import annotations

import sys
from typing import Optional

LINUX, MACOS, WINDOWS, OTHER = "linux", "macos", "windows", "other"

# Tests set this to LINUX / MACOS / WINDOWS to replay another platform's path.
OVERRIDE: Optional[str] = None


def current(platform: Optional[str] = None) -> str:
    """``linux``, ``macos``, ``windows`` or ``other`` for ``platform`` (default: this Python's
    ``sys.platform``, unless a test set :data:`OVERRIDE`)."""
    if platform is None:
        if OVERRIDE is not None:
            return OVERRIDE
        platform = sys.platform
    if platform in (LINUX, MACOS, WINDOWS, OTHER):
        return platform
    if platform.startswith("linux"):
        return LINUX
    if platform == "darwin":
        return MACOS
    if platform in ("win32", "cygwin"):
        return WINDOWS
    return OTHER
