"""The GPU environment (requirements-gpu.txt) resolves, as a user's pip would resolve it.

requirements-gpu.txt is a full lock for GPU machines (vLLM 0.33.0, its CUDA torch, our runtime deps). This
asks PyPI's real index, with pip isolated from this machine's configuration (no pip.conf, no PIP_* variables,
no local wheel folders or constraint files), for Linux x86_64 / CPython 3.11, without installing anything:
`pip install --dry-run --ignore-installed --report`. Wheels are not downloaded: `--use-feature=fast-deps`
reads each wheel's metadata with HTTP range requests. It needs PyPI (about a minute); when PyPI cannot be
reached the test FAILS and says so: a GPU set nobody checked is what issue 23 was about.

A second, offline test checks that every pin shared with requirements.txt / constraints.txt agrees, or that
the GPU line says why it differs ("# CPU <today's CPU pin>: <why>"): a CPU pin bumped without re-resolving
the GPU set fails here.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
GPU_FILE = ROOT / "requirements-gpu.txt"
INDEX = "https://pypi.org/simple"
# Linux x86_64 with glibc 2.17 ... 2.35 (Ubuntu 22.04 / RHEL 8+ / Debian 12 all accept these wheels).
PLATFORMS = [f"manylinux_2_{m}_x86_64" for m in range(35, 16, -1)] + ["manylinux2014_x86_64"]
# The packages whose versions matter most to our code: named in the failure message first.
KEY = ["vllm", "torch", "transformers", "qwen-vl-utils", "faster-whisper", "ctranslate2", "chromadb",
       "sentence-transformers", "numpy", "tokenizers", "nvidia-cublas-cu12", "nvidia-cudnn-cu12"]
RESOLVED_BLOCK = "# --- Resolved for the above"  # requirements-gpu.txt's second block: pip's answer, pinned
CPU_NOTE = re.compile(r"#\s*CPU\s+(\S+?)(?:\s*\([^)]*\))?:")


def _lines(path: Path) -> list[tuple[Requirement, str]]:
    """(requirement, comment after it) for every requirement line of a pip requirements file."""
    out = []
    for raw in path.read_text().splitlines():
        text, _, comment = raw.partition("#")
        if text.strip():
            out.append((Requirement(text.strip()), comment))
    return out


def _pins(path: Path, env: dict[str, str] | None = None) -> dict[str, str]:
    """name -> pinned version, for the lines whose markers hold in `env` (this interpreter by default)."""
    pins = {}
    for req, _comment in _lines(path):
        if req.marker is not None and not req.marker.evaluate(env):
            continue
        spec = list(req.specifier)
        assert len(spec) == 1 and spec[0].operator == "==", f"{path.name}: {req} is not pinned with =="
        pins[canonicalize_name(req.name)] = spec[0].version
    return pins


def isolated_pip_env() -> dict[str, str]:
    """The environment of a user's pip: no PIP_* variable of this machine, no config file."""
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("PIP_")}
    env["PIP_CONFIG_FILE"] = os.devnull
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env


def pypi_reachable() -> str:
    """'' when PyPI's simple index answers, else why not."""
    try:
        with urllib.request.urlopen(f"{INDEX}/vllm/", timeout=30) as r:
            return "" if r.status == 200 else f"HTTP {r.status}"
    except (urllib.error.URLError, OSError) as exc:
        return f"{type(exc).__name__}: {exc}"


def resolve(requirements: Path, report: Path) -> subprocess.CompletedProcess:
    # Not --quiet: on a conflict pip's "The conflict is caused by" lines are what the failure should show.
    cmd = [sys.executable, "-m", "pip", "--isolated", "install", "--dry-run", "--ignore-installed",
           "--use-feature=fast-deps", "--report", str(report), "--index-url", INDEX, "--only-binary=:all:",
           "--python-version", "3.11", "--implementation", "cp", "--abi", "cp311",
           *[a for p in PLATFORMS for a in ("--platform", p)], "-r", str(requirements)]
    return subprocess.run(cmd, capture_output=True, text=True, env=isolated_pip_env(), timeout=600)


def _require_pypi() -> None:
    why = pypi_reachable()
    if why:
        pytest.fail(f"PyPI ({INDEX}) cannot be reached ({why}): this test must ask the real index whether "
                    f"requirements-gpu.txt resolves. Run it on a machine with internet access.", pytrace=False)


def _explain(proc: subprocess.CompletedProcess) -> str:
    lines = [line for line in (proc.stdout + proc.stderr).strip().splitlines()
             if not line.lstrip().startswith(("Collecting ", "Obtaining dependency information"))]
    tail = "\n".join(lines[-25:])
    return f"pip exit status {proc.returncode}:\n{tail}"


def test_gpu_requirements_resolve_on_pypi_to_exactly_the_pins(tmp_path):
    _require_pypi()
    report = tmp_path / "report.json"
    started = time.monotonic()
    proc = resolve(GPU_FILE, report)
    assert proc.returncode == 0, ("requirements-gpu.txt does not resolve for Linux x86_64 / CPython 3.11 on PyPI "
                                  f"(a user's `bash scripts/setup.sh --gpu` would fail the same way). {_explain(proc)}")
    data = json.loads(report.read_text())
    env = data["environment"]
    resolved = {canonicalize_name(i["metadata"]["name"]): i["metadata"]["version"] for i in data["install"]}
    pins = _pins(GPU_FILE, env)
    for name in KEY:  # the versions our code was checked against (scripts/check_gpu_stack.sh, docs/GPU.md)
        assert name in pins, f"requirements-gpu.txt does not pin {name}"
        assert resolved.get(name) == pins[name], f"{name}: pinned {pins[name]}, pip resolved {resolved.get(name)}"
    differ = {n: (pins[n], resolved[n]) for n in pins.keys() & resolved.keys() if pins[n] != resolved[n]}
    assert not differ, f"pinned vs resolved: {differ}"
    assert not resolved.keys() - pins.keys(), f"resolved but not pinned (the lock is incomplete): {sorted(resolved.keys() - pins.keys())}"
    assert not pins.keys() - resolved.keys(), f"pinned but not part of the resolved set: {sorted(pins.keys() - resolved.keys())}"
    # Wheels only, all from PyPI (pip read their metadata with range requests; nothing was installed).
    urls = [i["download_info"]["url"] for i in data["install"]]
    assert all(u.startswith("https://files.pythonhosted.org/") and u.endswith(".whl") for u in urls), urls[:5]
    print(f"resolved {len(resolved)} packages in {time.monotonic() - started:.0f} s: "
          + ", ".join(f"{n} {resolved[n]}" for n in KEY))


def test_gpu_pins_agree_with_the_cpu_pins_or_say_why_not():
    """Offline: each package pinned in requirements.txt / constraints.txt has the same pin in the GPU file,
    or its GPU line names today's CPU pin and the reason ("# CPU 5.23.0: vllm 0.33.0 requires ...")."""
    env = default_environment()
    gpu = {canonicalize_name(r.name): (r, c) for r, c in _lines(GPU_FILE)
           if r.marker is None or r.marker.evaluate(env)}
    cpu = {**_pins(ROOT / "constraints.txt"), **_pins(ROOT / "requirements.txt")}
    problems = []
    for name, version in sorted(cpu.items()):
        if name not in gpu:
            problems.append(f"{name}=={version} (requirements.txt) is missing from requirements-gpu.txt")
            continue
        req, comment = gpu[name]
        gpu_version = next(iter(req.specifier)).version
        note = CPU_NOTE.search("#" + comment)
        if gpu_version == version:
            if note:
                problems.append(f"{name}: GPU and CPU pins are both {version}, but the GPU line still says it differs")
        elif not note:
            problems.append(f"{name}: GPU pin {gpu_version}, CPU pin {version}, and the GPU line does not say why "
                            "(add '# CPU <version>: <reason>' after re-resolving, see docs/GPU.md)")
        elif note.group(1) != version:
            problems.append(f"{name}: the GPU line explains CPU pin {note.group(1)}, but the CPU pin is now {version}: "
                            "re-resolve requirements-gpu.txt against the new CPU pin (docs/GPU.md)")
    assert not problems, "\n".join(problems)


def test_a_gpu_file_with_the_cpu_transformers_pin_does_not_resolve(tmp_path):
    """The resolver test above can fail: the GPU file with transformers back at the CPU pin 5.23.0 is refused
    by pip (vllm 0.33.0 requires transformers<5.21.0). Only the file's first block (what we ask for) goes to
    pip, which finds the conflict there in seconds; the whole file has more pins, so it cannot resolve either."""
    _require_pypi()
    assert RESOLVED_BLOCK in GPU_FILE.read_text(), f"requirements-gpu.txt lost its line {RESOLVED_BLOCK!r}"
    text = GPU_FILE.read_text().split(RESOLVED_BLOCK)[0]
    broken, count = re.subn(r"(?m)^transformers==\S+", "transformers==5.23.0", text)
    assert count == 1, "requirements-gpu.txt's first block has no transformers pin"
    copy = tmp_path / "requirements-gpu.txt"
    copy.write_text(broken)
    proc = resolve(copy, tmp_path / "report.json")
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, "pip resolved vllm 0.33.0 with transformers 5.23.0: the GPU file's pins are not checked"
    assert "ResolutionImpossible" in out or "conflict" in out.lower(), _explain(proc)
    assert "transformers" in out, _explain(proc)
