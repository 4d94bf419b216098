"""The launch command after `--`: what was understood, what affects memory but is not modelled
(a warning: the verdict cannot account for it), and what does not matter for memory.

Pure: the runtime parser's echo (runtimes.launch.echo) -> findings.
"""

from __future__ import annotations

from typing import List, Mapping

from deepseek_probe.findings import Finding


def command_findings(echo: Mapping[str, object]) -> List[Finding]:
    def words(key: str) -> List[str]:
        value = echo.get(key) or []
        return [str(v) for v in value] if isinstance(value, (list, tuple)) else [str(value)]

    program, runtime = echo.get("program"), echo.get("runtime")
    understood, not_modelled, ignored = words("understood"), words("not_modelled"), words("ignored")
    out = [Finding("command.parsed", "pass",
                   f"{program} ({runtime}): understood {', '.join(understood) or 'no flags (defaults)'}"
                   + (f"; model {echo.get('model')}" if echo.get("model") else "")
                   + ("; " + "; ".join(words("notes")) if echo.get("notes") else ""),
                   measured=understood)]
    if not_modelled:
        out.append(Finding("command.not_modelled", "warn",
                           f"not modelled: {', '.join(not_modelled)} (may change memory; the estimate "
                           "assumes the runtime's defaults for these)", measured=not_modelled,
                           suggestion="check the verdict again without these flags, or with a margin"))
    if ignored:
        out.append(Finding("command.ignored", "pass",
                           f"ignored (no effect on memory): {', '.join(ignored)}", measured=ignored))
    return out
