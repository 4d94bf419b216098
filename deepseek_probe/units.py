"""Human-readable numbers, one convention everywhere: binary GiB, thin-space thousands."""

from __future__ import annotations

from typing import Optional

GIB = 2**30


def gib(n_bytes: Optional[float], digits: int = 1) -> str:
    if n_bytes is None:
        return "?"
    return f"{n_bytes / GIB:,.{digits}f} GiB".replace(",", " ")


def count(n: Optional[int]) -> str:
    """12288 -> '12 288' (the form our suggestions print)."""
    return "?" if n is None else f"{n:,}".replace(",", " ")


def billions(n: Optional[int]) -> str:
    return "?" if n is None else f"{n / 1e9:.2f} B"
