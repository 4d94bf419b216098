"""Open what the user names only when it is what we expect: a regular file (or a folder).

A FIFO named as `--model x.gguf`, `--snapshot` or `--model-config` would block `open()` for ever
(open(2): opening a FIFO for reading blocks until a writer opens it); a character device such as
/dev/zero never ends; a socket cannot be opened at all. So every input is stat()ed first, and
opened with O_NONBLOCK (a FIFO swapped in between stat and open still does not block), then
fstat()ed again on the open descriptor.

Errors are one line naming what the path is ("a FIFO (named pipe)", "a symlink loop").
"""

from __future__ import annotations

import errno
import os
import stat
from typing import BinaryIO, Optional

from deepseek_probe.errors import InputError

# O_NONBLOCK and O_CLOEXEC are POSIX; Windows has neither (and no FIFOs reachable by path).
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)


class FileKindError(InputError):
    """A path that is not the kind of thing asked for, or cannot be stat()ed. `reason` is the
    part without the path, for callers that prefix their own words."""

    def __init__(self, path: str, reason: str, errno_: Optional[int] = None) -> None:
        self.path = path
        self.reason = reason
        self.errno = errno_  # the OSError's errno when stat/open failed
        super().__init__(f"{path}: {reason}")


def kind_of(mode: int) -> str:
    """What st_mode says the path is, in words."""
    if stat.S_ISREG(mode):
        return "a regular file"
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "a special file"


def os_reason(e: OSError) -> str:
    """One line for an OSError from stat/open, naming a symlink loop as a loop."""
    if e.errno == errno.ELOOP:
        return "a symlink loop (too many levels of symbolic links)"
    return e.strerror or str(e)  # as every reader said it before (e.g. "No such file or directory")


def stat_kind(path: str, want: str = "file") -> os.stat_result:
    """stat() `path` (following symlinks) and check it is a regular file (`want="file"`), a folder
    (`"folder"`) or either (`"any"`); FileKindError otherwise."""
    try:
        st = os.stat(path)
    except OSError as e:
        raise FileKindError(path, os_reason(e), e.errno) from None
    except ValueError:  # an embedded NUL byte
        raise FileKindError(path, "the path contains a NUL byte") from None
    is_file, is_dir = stat.S_ISREG(st.st_mode), stat.S_ISDIR(st.st_mode)
    if (want == "file" and is_file) or (want == "folder" and is_dir) or (want == "any" and (is_file or is_dir)):
        return st
    expected = {"file": "a regular file", "folder": "a folder", "any": "a file or folder"}[want]
    raise FileKindError(path, f"is {kind_of(st.st_mode)}, not {expected}")


def open_regular(path: str) -> BinaryIO:
    """A binary reader on `path`, which must be a regular file (see the module doc)."""
    stat_kind(path, "file")
    try:
        fd = os.open(path, _OPEN_FLAGS)
    except OSError as e:
        raise FileKindError(path, os_reason(e), e.errno) from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):  # replaced between stat() and open()
            raise FileKindError(path, f"is {kind_of(st.st_mode)}, not a regular file")
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_regular(path: str, limit: int) -> bytes:
    """Up to `limit` bytes of the regular file `path` (FileKindError otherwise)."""
    with open_regular(path) as f:
        try:
            return f.read(limit)
        except OSError as e:
            raise FileKindError(path, os_reason(e)) from None
