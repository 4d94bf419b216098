"""One module per runtime: its defaults, launch-command parser, memory accounting and verdict words."""
