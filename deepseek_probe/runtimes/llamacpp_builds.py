"""What changed in which llama.cpp build, for memory (runtimes/llamacpp.py models build b11096
and later as the tree it was measured on: 2026-10-01, commit 0c1e570).

A build number is the count of commits on master (cmake/build-info.cmake BUILD_NUMBER); release
tags are "b" + that number and `llama-server --version` prints "version: 6325 (abc1234)".
The llama.cpp repository was not read here (too large to fetch), so a change is pinned by
public evidence, and where no public source names the build that merged its pull request the
change carries a bracket instead:
- `first_with`: the oldest build a public source shows with the new behaviour (a release page,
  or a user's log or report that prints its build);
- `last_without`: the newest build known to predate it (its log shows the old behaviour, or its
  public date is before the pull request was merged). None: `first_with` is the merge build itself.
A build inside the bracket is modelled with the old behaviour, and the estimate says that the
build may already have the change (bracket_note). Each bracket is reported, not narrowed by guess.

Dates of the builds used as evidence (their public pages):
- b4400: "Updated version from the end of 2024" (github.com/kreier/llama.cpp-jetson releases b4400);
- b6325: the release of PR #15434 (github.com/PiDanShouRouZhouXD/Sakura_Launcher_GUI PR #68 cites
  github.com/ggml-org/llama.cpp/releases/tag/b6325 for it; mybigday/llama.node PR #102 syncs b6327,
  2025-08-31, for the new flash_attn_type auto|on|off);
- b7079: ggml-org/llama.cpp issue #17300 (2025-11-16), llama-server starts 4 slots without -np;
- b7474: ggml-org/llama.cpp issue #18181 (2025-12-18), --fit running ("fit params" issue);
- b7539: ggml-org/llama.cpp issue #18376 (2025-12-25), --fit shrinks an explicit -c 0 to 4096;
- b8763: ggml-org/llama.cpp issue #21801 (2026-04-12), "version: 8763 (ff5ef8278)";
- b11096: github.com/eniewold/llama-cpp-runpod releases b11096 (built 2026-09-22), the newest
  build with a public date before the measured tree (2026-10-01; its own build number is unknown).

Pure: no I/O.
"""

from __future__ import annotations

from typing import Optional
from deepseek_probe.records import record

OLDEST, NEWEST = "b4400", "b11096"


@record(frozen=True)
class Change:
    what: str
    first_with: int
    last_without: Optional[int]
    source: str

    def applies(self, build: Optional[int]) -> bool:
        """The build has the new behaviour (None: the newest modelled, which has every change)."""
        return build is None or build >= self.first_with

    def bracket_note(self, build: Optional[int]) -> Optional[str]:
        """A note when `build` lies between the last build known without and the first known with."""
        if build is None or self.last_without is None or not self.last_without < build < self.first_with:
            return None
        return (f"llama.cpp b{build} lies between b{self.last_without} and b{self.first_with}: it may already have "
                f"{self.what} ({self.source}); modelled without it")


# ggml-org/llama.cpp PR #12801 "DeepSeek V2/V3 MLA implementation" (merged 2025-04-15): the cache
# holds the 576-wide latent (kv_lora_rank + rope) as K and the 512-wide latent as V; before it,
# deepseek2 cached per-head K (heads x 192) and V (heads x 128) like any MHA model. A GGUF
# converted before it (no attn_k_b / attn_v_b) keeps the per-head cache in every build.
MLA_LATENT = Change("the MLA latent cache (PR #12801)", 6325, 4400,
                    "PR #12801, merged 2025-04-15; the merge build was not found: b4400 is from the end "
                    "of 2024, b6325 from 2025-08-30")
# PR #19067 "kv-cache : support V-less cache" (2026-01-24): MLA keeps the latent as K only.
MLA_NO_V = Change("the MLA cache without V (PR #19067)", 8763, 7539,
                  "PR #19067, merged 2026-01-24; b7539 is from 2025-12-25, b8763 from 2026-04-12")
# PR #15434 "llama: use FA + max. GPU layers by default": -fa on|off|auto with default auto (was a
# switch, default off) and -ngl defaulting to all layers (was 0).
FA_AUTO_ALL_LAYERS = Change("flash attention auto and all layers on the GPU by default (PR #15434)",
                            6325, None, "PR #15434, release b6325")
# PR #16736 "server : support unified cache across slots": -np auto = 4 slots sharing one unified
# KV cache of -c cells (was 1 slot).
SERVER_AUTO_SLOTS = Change("-np auto: 4 slots sharing a unified KV cache (PR #16736)", 7079, 6325,
                           "PR #16736, opened 2025-10-23; b7079 starts 4 slots by default (issue #17300)")
# PR #16653 "llama: automatically set parameters not set by the user ...": --fit on by default and
# an unset -c = the trained context (common.h n_ctx 0), shrunk by --fit down to --fit-ctx 4096.
# Before it, common.h n_ctx = 4096 (PR #10136, 2024-11-02: "the examples will use a context size
# of 4096, instead of the training context"; containers/ramalama PR #1915, 2025-09-09: "llama.cpp
# is defaulting to ctx-size of 4096").
FIT = Change("--fit and the trained context as default -c (PR #16653)", 7474, 7079,
             "PR #16653, merged by 2025-12-15 (PR #18070); b7474 runs --fit (issue #18181)")
# PR #19070 "llama-fit-params: keep explicit --ctx-size 0" (2026-01-24): before it --fit shrank an
# explicit -c 0 like an unset one (issue #18376, b7539).
FIT_KEEPS_EXPLICIT_CTX0 = Change("--fit keeping an explicit -c 0 (PR #19070)", 8763, 7539,
                                 "PR #19070, merged 2026-01-24; b7539 shrinks -c 0 (issue #18376)")

CHANGES = (MLA_LATENT, FA_AUTO_ALL_LAYERS, SERVER_AUTO_SLOTS, FIT, MLA_NO_V, FIT_KEEPS_EXPLICIT_CTX0)
LEGACY_DEFAULT_CTX = 4096  # common.h n_ctx before PR #16653 (PR #10136)
LEGACY_DEFAULT_SLOTS = 1  # common.h n_parallel before PR #16736
# --swa-full (PR #13194, May 2025) changes only sliding-window models (Gemma, gpt-oss); no family
# this module sizes with llama.cpp's allocation uses SWA, so it is not keyed on the build.


def default_context(build: Optional[int], trained: int) -> int:
    """The context llama-server uses without -c: 4096 before --fit, else the trained context."""
    # llama.cpp allocates -c cells even past the trained context (it only warns)
    return trained if FIT.applies(build) else LEGACY_DEFAULT_CTX


def notes(build: Optional[int], mla: bool) -> list:
    """The bracket notes that apply to `build` (only MLA models see the MLA changes)."""
    out = []
    for c in CHANGES:
        if not mla and c in (MLA_LATENT, MLA_NO_V):
            continue
        n = c.bracket_note(build)
        if n:
            out.append(n)
    return out
