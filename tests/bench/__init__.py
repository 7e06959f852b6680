"""Benchmarks anyone can rerun: each measures the archiver against a baseline in the same run.

Run as ``python -m tests.bench.<name>`` (``make bench``); the runtime library is importable as the handlers
import it (``archiver``) because ``make setup`` installs the project editable.
"""
