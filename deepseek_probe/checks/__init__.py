"""One module per check family (driver, gpu_memory, placement, health, host, disk); rules.py runs them.

Each family is pure: snapshot + estimate -> findings. This package imports nothing on purpose.
"""
