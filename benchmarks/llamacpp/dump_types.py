#!/usr/bin/env python3
"""Print {file: [[name, type, nbytes, shape], ...]} of GGUF files (gguf-py GGUFReader), so the
tests can compare llama-quantize's real per-tensor choice with gguf_recipe."""
import json
import os
import sys

from gguf import GGUFReader

out = {}
for p in sys.argv[1:]:
    r = GGUFReader(p)
    out[os.path.basename(p)] = [[t.name, t.tensor_type.name, int(t.n_bytes), [int(x) for x in t.shape]]
                                for t in r.tensors]
json.dump(out, sys.stdout)
