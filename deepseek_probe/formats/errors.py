"""The one error kind of the header parsers: a file whose header is missing, cut or corrupt."""

from __future__ import annotations

import os
from typing import BinaryIO, Callable, Optional, TypeVar

from deepseek_probe.errors import InputError

T = TypeVar("T")


class HeaderError(InputError):
    """A model file whose header cannot be read. The message is one line and names the file."""

    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"{path}: {reason}")


def read_path(path: str, read_header: Callable[[BinaryIO, str, Optional[int], bool], T],
              header_only: bool = True) -> T:
    """Open `path` (a regular file only: files.open_regular) and hand it with its size to a
    format's `read_header`; an OS error becomes the one-line HeaderError naming the file."""
    from deepseek_probe.files import FileKindError, open_regular

    try:
        with open_regular(path) as f:
            return read_header(f, path, os.fstat(f.fileno()).st_size, header_only)
    except FileKindError as e:
        raise HeaderError(path, f"cannot read: {e.reason}") from None
    except OSError as e:
        raise HeaderError(path, f"cannot read: {e.strerror or e}") from None


def read_bytes(path: str, limit: int) -> bytes:
    """Up to `limit` bytes of the regular file `path` (JSON side files: config.json, the
    safetensors index); HeaderError naming the file otherwise."""
    from deepseek_probe.files import FileKindError, read_regular

    try:
        return read_regular(path, limit)
    except FileKindError as e:
        raise HeaderError(path, f"cannot read: {e.reason}") from None
    except OSError as e:
        raise HeaderError(path, f"cannot read: {e.strerror or e}") from None
