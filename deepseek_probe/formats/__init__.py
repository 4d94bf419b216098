"""On-disk model formats, parsed from their headers (GGUF, safetensors): pure, no model weights read."""
