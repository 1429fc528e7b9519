#!/usr/bin/env bash
# One command on a fresh machine: install everything, make the demo library if the configured
# videos are missing, run the pipeline and show the status table.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export HF_HUB_OFFLINE=1
.venv/bin/python -m vtdb.demo --config "${VTDB_CONFIG:-videos_config.json}"
.venv/bin/python run_pipeline.py --config "${VTDB_CONFIG:-videos_config.json}"
