"""Error kinds the CLI maps to exit codes (see DESIGN.md): bad input -> 64."""


class InputError(ValueError):
    """Bad input from the user: unknown model, bad flag value, unreadable file. Exit 64."""
