"""The one error kind of the header parsers: a file whose header is missing, cut or corrupt."""

from __future__ import annotations

from deepseek_probe.errors import InputError


class HeaderError(InputError):
    """A model file whose header cannot be read. The message is one line and names the file."""

    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"{path}: {reason}")
