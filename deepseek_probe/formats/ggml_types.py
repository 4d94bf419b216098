"""ggml tensor types: id, name, and bytes per block of weights.

Source: llama.cpp 2026-10 (commit 0c1e570), ggml/include/ggml.h `enum ggml_type` (the ids) and
gguf-py/gguf/constants.py GGML_QUANT_SIZES (block size in weights, bytes per block), which mirror
ggml/src/ggml.c type_traits. QK_K = 256.
"""

# No `from __future__ import annotations` here: typing.NamedTuple turns a string annotation into
# a ForwardRef, which compiles it (~2.5M instructions a field, on every `check`; valgrind).
from typing import Dict, NamedTuple


class GgmlType(NamedTuple):
    id: int
    name: str
    block_weights: int  # weights per block
    block_bytes: int  # bytes per block

    def nbytes(self, n_weights: int) -> int:
        """Bytes of a row-major tensor of `n_weights` (rows are whole blocks in valid files)."""
        return n_weights // self.block_weights * self.block_bytes

    @property
    def bits_per_weight(self) -> float:
        return 8.0 * self.block_bytes / self.block_weights


_QK_K = 256
GGML_TYPES: Dict[int, GgmlType] = {t.id: t for t in (
    GgmlType(0, "F32", 1, 4),
    GgmlType(1, "F16", 1, 2),
    GgmlType(2, "Q4_0", 32, 2 + 16),
    GgmlType(3, "Q4_1", 32, 2 + 2 + 16),
    GgmlType(6, "Q5_0", 32, 2 + 4 + 16),
    GgmlType(7, "Q5_1", 32, 2 + 2 + 4 + 16),
    GgmlType(8, "Q8_0", 32, 2 + 32),
    GgmlType(9, "Q8_1", 32, 2 + 2 + 32),
    GgmlType(10, "Q2_K", _QK_K, 2 + 2 + _QK_K // 16 + _QK_K // 4),
    GgmlType(11, "Q3_K", _QK_K, 2 + _QK_K // 4 + _QK_K // 8 + 12),
    GgmlType(12, "Q4_K", _QK_K, 2 + 2 + _QK_K // 2 + 12),
    GgmlType(13, "Q5_K", _QK_K, 2 + 2 + _QK_K // 2 + _QK_K // 8 + 12),
    GgmlType(14, "Q6_K", _QK_K, 2 + _QK_K // 2 + _QK_K // 4 + _QK_K // 16),
    GgmlType(15, "Q8_K", _QK_K, 4 + _QK_K + _QK_K // 8),
    GgmlType(16, "IQ2_XXS", _QK_K, 2 + _QK_K // 4),
    GgmlType(17, "IQ2_XS", _QK_K, 2 + _QK_K // 4 + _QK_K // 32),
    GgmlType(18, "IQ3_XXS", _QK_K, 2 + _QK_K // 4 + _QK_K // 8),
    GgmlType(19, "IQ1_S", _QK_K, 2 + _QK_K // 8 + _QK_K // 16),
    GgmlType(20, "IQ4_NL", 32, 2 + 16),
    GgmlType(21, "IQ3_S", _QK_K, 2 + _QK_K // 4 + _QK_K // 8 + _QK_K // 32 + 4),
    GgmlType(22, "IQ2_S", _QK_K, 2 + _QK_K // 4 + _QK_K // 16),
    GgmlType(23, "IQ4_XS", _QK_K, 2 + 2 + _QK_K // 2 + _QK_K // 64),
    GgmlType(24, "I8", 1, 1),
    GgmlType(25, "I16", 1, 2),
    GgmlType(26, "I32", 1, 4),
    GgmlType(27, "I64", 1, 8),
    GgmlType(28, "F64", 1, 8),
    GgmlType(29, "IQ1_M", _QK_K, _QK_K // 8 + _QK_K // 16 + _QK_K // 32),
    GgmlType(30, "BF16", 1, 2),
    GgmlType(34, "TQ1_0", _QK_K, 2 + 4 * 13),
    GgmlType(35, "TQ2_0", _QK_K, 2 + 64),
    GgmlType(39, "MXFP4", 32, 1 + 16),
    GgmlType(40, "NVFP4", 64, 4 + 32),
    GgmlType(41, "Q1_0", 128, 2 + 16),
    GgmlType(42, "Q2_0", 64, 2 + 16),
)}
GGML_TYPES_BY_NAME: Dict[str, GgmlType] = {t.name: t for t in GGML_TYPES.values()}
