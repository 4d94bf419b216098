"""`python -m deepseek_probe` and the `deepseek-probe` script (pyproject.toml [project.scripts])."""

import gc


def run() -> None:
    # One run lives well under a second and makes few reference cycles; reference counting frees
    # the rest. The cyclic collector would only re-scan the objects that imports and the survey
    # keep alive: about 20M instructions of a 670M `check` on the dev box (valgrind;
    # benchmarks/startup.py --instructions). Off before the first import. (cli.main itself, as the
    # tests call it in-process, leaves the collector alone.)
    gc.disable()
    from deepseek_probe import commands, parallel

    parallel.allow_fork()  # only this process forks: the snapshot's child, the survey's workers (parallel.py)

    try:
        commands.main(None, _with_click)
    except SystemExit as e:
        _leave(e.code)


def _leave(code: object) -> None:
    """Exit as the interpreter would, less its teardown: the atexit handlers run (a coverage or
    profiling tool's among them) and the streams are flushed; freeing every module and object
    one by one is left to the kernel (11-13 ms of `check` on the dev box; benchmarks/startup.py)."""
    import os
    import sys

    if code is not None and not isinstance(code, int):  # a message: Python prints it and exits 1
        raise SystemExit(code)
    import atexit

    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None:
                stream.flush()
        except (OSError, ValueError):  # the reader left, or the stream is closed: nothing more to say
            pass
    os._exit(code or 0)


def _with_click(argv, launch) -> None:  # imported only for the lines argv.py leaves to click
    from deepseek_probe.cli import _with_click as run_click

    run_click(argv, launch)


if __name__ == "__main__":
    run()
