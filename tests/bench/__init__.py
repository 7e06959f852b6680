"""Benchmarks anyone can rerun: each measures the archiver against a baseline in the same run.

Run from the repository root as ``python -m tests.bench.<name>`` (``make bench``).
"""

import sys
from pathlib import Path

# The runtime library is imported as the handlers import it, also when run outside pytest.
_FUNCTIONS_DIR = str(Path(__file__).resolve().parents[2] / "functions")
if _FUNCTIONS_DIR not in sys.path:
    sys.path.insert(0, _FUNCTIONS_DIR)
