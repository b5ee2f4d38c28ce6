"""Conventions a Hydra user relies on, through the real Hydra (see each test)."""

from __future__ import annotations

import subprocess
import sys

from helpers import clean_env


def test_run_lines_print_once_with_or_without_logging_configured():
    script = ("import logging, sys, nnexp\n"
              "log = logging.getLogger('nnexp.experiment')\n"
              "log.info('epoch 1/1'); log.warning('note: converted')\n"
              "logging.basicConfig(stream=sys.stdout, format='configured: %(message)s')\n"
              "log.info('done in')\n")
    proc = subprocess.run([sys.executable, "-c", script], env=clean_env(), capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["epoch 1/1", "configured: done in"]
    assert proc.stderr.splitlines() == ["note: converted"]
