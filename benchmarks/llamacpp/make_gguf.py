#!/usr/bin/env python3
"""Write a zero-weight GGUF with the exact tensor list of a catalog model (for measuring memory).

Tensors come from deepseek_probe.runtimes.gguf_recipe (the same list the estimate uses); the
quantizable ones are written as Q8_0 (34 zero bytes per 32 weights) or F16, vectors and the MoE
router as F32. Writing goes through gguf-py's streaming API (GGUFWriter.add_tensor_info, then the
header, KV and tensor-info sections, then write_tensor_data in order), from the llama.cpp tree
whose gguf-py is on PYTHONPATH. The vocabulary is a dummy SPM one of the model's vocab size.

usage: PYTHONPATH=<llama.cpp>/gguf-py:<repo> make_gguf.py MODEL_ID OUT.gguf [--type Q8_0|F16]
                                                           [--layers N] [--vocab N] [--experts N]
(--layers/--vocab shrink the model for a CPU smoke test.)
"""
import argparse
import dataclasses
import sys

import numpy as np
import gguf

from deepseek_probe.profiles import get_model
from deepseek_probe.runtimes.gguf_recipe import GGUF_ARCH, gguf_hparams, gguf_tensors

# include/llama.h enum llama_ftype
FTYPE_ID = {"F16": 1, "Q4_0": 2, "Q8_0": 7, "Q2_K": 10, "Q3_K_M": 12, "Q4_K_M": 15, "Q5_K_M": 17,
            "Q6_K": 18, "BF16": 32}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("out")
    ap.add_argument("--type", default="Q8_0", choices=sorted(FTYPE_ID),
                    help="Q8_0/F16: a base file for llama-quantize; any other file type writes the "
                         "recipe's per-tensor types directly (zero blocks), skipping llama-quantize")
    ap.add_argument("--layers", type=int, default=0)
    ap.add_argument("--vocab", type=int, default=0)
    ap.add_argument("--experts", type=int, default=0)
    a = ap.parse_args()
    spec = get_model(a.model)
    changes = {}
    if a.layers:
        changes["layers"] = a.layers
        if spec.first_k_dense >= a.layers:
            changes["first_k_dense"] = 1
    if a.experts:
        changes["routed_experts"] = a.experts
    if a.vocab:
        changes["vocab"] = a.vocab
    if changes:
        spec = dataclasses.replace(spec, **changes)
    arch = GGUF_ARCH[spec.family]
    ftype_name = a.type
    base = ftype_name if ftype_name in ("Q8_0", "F16") else "Q8_0"
    tensors = gguf_tensors(spec, ftype_name, base_type=base)
    w = gguf.GGUFWriter(a.out, arch)
    w.add_name(spec.id)
    w.add_file_type(FTYPE_ID[ftype_name])
    for k, v in gguf_hparams(spec).items():
        key = f"{arch}.{k}"
        if isinstance(v, bool):
            w.add_bool(key, v)
        elif isinstance(v, float):
            w.add_float32(key, v)
        else:
            w.add_uint32(key, int(v))
    w.add_float32(f"{arch}.rope.freq_base", 10000.0)
    # dummy SPM vocabulary: <unk> <s> </s>, 256 byte tokens, then unique pieces
    toks = ["<unk>", "<s>", "</s>"] + [f"<0x{i:02X}>" for i in range(256)]
    toks += [f"t{i}" for i in range(spec.vocab - len(toks))]
    types = [2, 3, 3] + [6] * 256 + [1] * (spec.vocab - 259)
    w.add_tokenizer_model("llama")
    w.add_token_list(toks)
    w.add_token_scores([0.0] * spec.vocab)
    w.add_token_types(types)
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)
    w.add_unk_token_id(0)
    for t in tensors:
        # gguf-py takes numpy order (outermost first) and reverses it into ggml ne order
        w.add_tensor_info(t.name, list(reversed(t.shape)), np.dtype(np.float32), t.nbytes, raw_dtype=gguf.GGMLQuantizationType[t.type])
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_ti_data_to_file()
    total = 0
    for t in tensors:
        w.write_tensor_data(np.zeros(t.nbytes, dtype=np.uint8))
        total += t.nbytes
    w.close()
    print(f"{a.out}: {len(tensors)} tensors, {total / 2**30:.2f} GiB of tensor data", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
