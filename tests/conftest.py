"""Shared test helpers: fixture paths and the fake NVML (tests/fake_nvml.py) on sys.path."""

from __future__ import annotations

import os
import sys

TESTS_DIR = os.path.dirname(os.path.abspath(__file__))
REPO_DIR = os.path.dirname(TESTS_DIR)
FIXTURES_DIR = os.path.join(REPO_DIR, "fixtures")
NVML_FIXTURES = os.path.join(FIXTURES_DIR, "nvml")
SNAPSHOT_FIXTURES = os.path.join(FIXTURES_DIR, "snapshots")
FS_FIXTURES = os.path.join(FIXTURES_DIR, "fs")

if TESTS_DIR not in sys.path:
    sys.path.insert(0, TESTS_DIR)
