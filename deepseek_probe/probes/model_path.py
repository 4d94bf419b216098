"""A model named by its path on this machine (`--model ./x.gguf`, `--model /models/folder`, a launch
command's `-m`): the file read here, its meaning in profiles/names.py (which reads no files).

Only regular files and folders are opened (files.py: a FIFO or a device would block).
"""

from __future__ import annotations

import errno
import os
import stat
from typing import Optional

from deepseek_probe.profiles.names import Resolved, UnknownNameError, from_folder, from_gguf, looks_like_path


def read_model(name: str) -> Optional[Resolved]:
    """The model at `name` when it is a path on this machine (written as one, or an existing
    relative folder such as models/x); None when it is not a path here (a catalog id, an HF id)."""
    from deepseek_probe.files import FileKindError, stat_kind
    from deepseek_probe.formats.hf_config import spec_from_file
    from deepseek_probe.probes import checkpoints as cp

    n = (name or "").strip()
    if not n or not (looks_like_path(n) or (os.sep in n and os.path.exists(n))):
        return None
    p = os.path.abspath(os.path.expanduser(n))
    try:  # a regular file or a folder: a FIFO or a device is named as what it is (files.py)
        is_dir = stat.S_ISDIR(stat_kind(p, "any").st_mode)
    except FileKindError as e:
        reason = "no such file or folder" if e.errno == errno.ENOENT else e.reason
        raise UnknownNameError(f"{n}: {reason}") from None
    if is_dir:
        entries = sorted(os.listdir(p))
        if "config.json" in entries or any(e.endswith(".safetensors") for e in entries):
            c = cp.inspect_folder(p, "model_dir", os.path.basename(p.rstrip(os.sep)))
            if c.error:
                raise UnknownNameError(c.error)
            return from_folder(n, c, spec_from_file(p))  # ModelConfigError (an InputError) names the file
        shards = cp._first_shards([e for e in entries if e.endswith(".gguf")])
        if len(shards) != 1:
            raise UnknownNameError(f"{n}: folder has no config.json and {len(shards)} GGUF models; name one file")
        p = os.path.join(p, shards[0])
    c = cp.inspect_gguf(p, "model_dir", os.path.basename(p))
    if c.error:
        raise UnknownNameError(c.error)
    return from_gguf(n, c)
