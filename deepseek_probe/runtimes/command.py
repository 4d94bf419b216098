"""The launch command as the question: `deepseek-probe check|estimate [options] -- <command>`.

Each runtime module declares its flags as a table of `Flag`s (its own names and aliases, as its
argument parser spells them) and calls `parse_flags`; this module only tokenises. What comes back
says, flag by flag, what was understood, what affects memory but is not modelled, and what does
not matter for memory, so the report can echo all three.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

from deepseek_probe.errors import InputError
from deepseek_probe.records import field, record


class CommandError(InputError):
    """A launch command we cannot parse (unknown program, missing value, bad number). Exit 64."""


# What a flag means for the estimate.
MODELLED = "modelled"  # read into the runtime's options
NOT_MODELLED = "not_modelled"  # affects memory, but we do not model it: reported as a warning
IGNORED = "ignored"  # does not affect memory: reported as ignored


@record(frozen=True)
class Flag:
    names: Tuple[str, ...]  # every spelling, e.g. ("-c", "--ctx-size")
    key: str  # the option it sets
    kind: str = MODELLED
    takes_value: bool = True
    convert: Optional[Callable[[str], Any]] = None  # None: keep the string (or True for switches)
    value_if_set: Any = True  # for switches: the value a bare flag gives (e.g. --no-mmap -> False)


@record
class ParsedFlags:
    values: Dict[str, Any] = field(default_factory=dict)  # key -> converted value (MODELLED only)
    understood: List[Tuple[str, str]] = field(default_factory=list)  # (flag as written, value)
    not_modelled: List[str] = field(default_factory=list)
    ignored: List[str] = field(default_factory=list)
    positional: List[str] = field(default_factory=list)


@record(frozen=True)
class ParsedCommand:
    """A runtime's reading of one launch command."""

    runtime: str  # the runtime module that parsed it: llamacpp | ollama | vllm | sglang | ...
    program: str  # as written: llama-server, ollama, vllm, python -m sglang.launch_server
    model_ref: Optional[str]  # -m path, HF id or Ollama tag, as written; None when absent
    options: Any  # that runtime's frozen Options dataclass
    generic: Mapping[str, Any]  # Settings fields the command sets: context, concurrency, precision…
    understood: Tuple[Tuple[str, str], ...] = ()
    not_modelled: Tuple[str, ...] = ()
    ignored: Tuple[str, ...] = ()
    notes: Tuple[str, ...] = ()  # e.g. "context 0 = the model's trained context (--fit shrinks it)"


def to_int(flag: str) -> Callable[[str], int]:
    def conv(v: str) -> int:
        try:
            return int(v, 0) if v.lower().startswith("0x") else int(float(v)) if "e" in v.lower() else int(v)
        except ValueError:
            raise CommandError(f"{flag} needs a whole number, got {v!r}") from None
    return conv


def to_float(flag: str) -> Callable[[str], float]:
    def conv(v: str) -> float:
        try:
            x = float(v)
        except ValueError:
            raise CommandError(f"{flag} needs a number, got {v!r}") from None
        if x != x or x in (float("inf"), float("-inf")):
            raise CommandError(f"{flag} needs a finite number, got {v!r}")
        return x
    return conv


def to_choice(flag: str, choices: Sequence[str]) -> Callable[[str], str]:
    def conv(v: str) -> str:
        if v not in choices:
            raise CommandError(f"{flag} must be one of {', '.join(choices)}, got {v!r}")
        return v
    return conv


def to_fraction(flag: str, one_allowed: bool = False) -> Callable[[str], float]:
    """A number in (0, 1), or (0, 1] with `one_allowed`."""
    base = to_float(flag)

    def conv(v: str) -> float:
        x = base(v)
        if not (0 < x <= 1 if one_allowed else 0 < x < 1):
            raise CommandError(f"{flag} needs a number in (0, 1{']' if one_allowed else ')'}, got {v!r}")
        return x
    return conv


def parse_flags(args: Sequence[str], table: Sequence[Flag], program: str,
                unknown: str = NOT_MODELLED) -> ParsedFlags:
    """Read `args` against `table`. `--flag=value` and `--flag value` both work. A flag not in
    the table is reported as `unknown` (default: affects memory, not modelled) and, when the next
    token does not look like a flag, that token is taken as its value."""
    index: Dict[str, Flag] = {}
    for f in table:
        for n in f.names:
            index[n] = f
    out = ParsedFlags()
    i = 0
    while i < len(args):
        tok = args[i]
        i += 1
        if not tok.startswith("-") or tok == "-":
            out.positional.append(tok)
            continue
        name, eq, inline = tok.partition("=")
        f = index.get(name)
        if f is None:
            val = inline if eq else None
            if not eq and i < len(args) and not _looks_like_flag(args[i]):
                val = args[i]
                i += 1
            shown = name if val is None else f"{name} {val}"
            (out.ignored if unknown == IGNORED else out.not_modelled).append(shown)
            continue
        if f.takes_value:
            if eq:
                raw = inline
            elif i < len(args) and not _looks_like_flag(args[i]):
                raw = args[i]
                i += 1
            else:
                raise CommandError(f"{program}: {name} needs a value")
            value = f.convert(raw) if f.convert else raw
        else:
            if eq:
                raise CommandError(f"{program}: {name} takes no value, got {tok!r}")
            raw, value = "", f.value_if_set
        if f.kind == MODELLED:
            out.values[f.key] = value
            out.understood.append((name, raw))
        elif f.kind == NOT_MODELLED:
            out.not_modelled.append(f"{name} {raw}".strip())
        else:
            out.ignored.append(f"{name} {raw}".strip())
    return out


def _looks_like_flag(tok: str) -> bool:
    if not tok.startswith("-") or tok == "-":
        return False
    try:  # negative numbers are values: -ngl -1
        float(tok)
        return False
    except ValueError:
        return True
