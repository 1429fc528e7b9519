#!/usr/bin/env bash
# One command on a fresh machine: install everything (with the test dependencies), check the code
# (ruff, mypy: configured in pyproject.toml) and run the tests.
# Extra arguments go to pytest, e.g. `bash scripts/test.sh -k state -x`.
set -euo pipefail
cd "$(dirname "$0")/.."
VTDB_DEV=1 bash scripts/setup.sh
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 ANONYMIZED_TELEMETRY=False
echo "[test] ruff check"
.venv/bin/ruff check .
echo "[test] mypy"
.venv/bin/mypy --no-error-summary
exec .venv/bin/python -m pytest "$@"
