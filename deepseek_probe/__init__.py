"""deepseek-probe: will this machine run a DeepSeek model? Probe, estimate, check."""

__version__ = "0.1.0"
