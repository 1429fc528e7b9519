#!/usr/bin/env bash
# One command on a fresh machine: install everything (with the test dependencies) and run the tests.
# Extra arguments go to pytest, e.g. `bash scripts/test.sh -k state -x`.
set -euo pipefail
cd "$(dirname "$0")/.."
VTDB_DEV=1 bash scripts/setup.sh
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 ANONYMIZED_TELEMETRY=False
exec .venv/bin/python -m pytest "$@"
