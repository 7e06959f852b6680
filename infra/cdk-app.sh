#!/bin/sh
# cdk.json's "app": runs app.py with the project's own virtualenv, whatever `python` is on PATH (often
# none, or one without aws-cdk-lib), so `npx cdk synth|diff|deploy` works from a plain shell after
# `make setup`. The CLI's environment (CDK_OUTDIR, CDK_CONTEXT_JSON, ...) passes through unchanged.
root=$(cd "$(dirname "$0")/.." && pwd)
python="$root/.venv/bin/python"
# `make setup` writes .venv/.installed only once every requirement installed: a half-made venv counts as none.
if [ ! -x "$python" ] || [ ! -f "$root/.venv/.installed" ]; then
  echo "archiver: no set-up virtualenv in $root/.venv: run 'make setup' there first, then this cdk command again." >&2
  exit 1
fi
exec "$python" "$root/app.py"
