"""The package as users meet it (issue #10): `import vtdb` and its short API, the `vtdb` command, the shims."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import PY, ROOT, run_cli
from vtdb.commandline import COMMANDS

# Every top-level script and the vtdb.commands module it runs, from the one table of commands.
SCRIPTS = {c.script_file: c.module for c in COMMANDS.values() if c.script}


def test_import_vtdb_offers_the_curated_api_lazily():
    code = ("import sys, vtdb; heavy = [m for m in ('chromadb', 'torch', 'faster_whisper') if m in sys.modules]; "
            "print(heavy); print(' '.join(vtdb.__all__)); print(vtdb.ChromaDBManager.__module__, vtdb.Searcher.__module__)")
    out = subprocess.run([PY, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT).stdout.splitlines()
    assert out[0] == "[]", "import vtdb must not load the heavy libraries"
    names = out[1].split()
    for name in ("ChromaDBManager", "Searcher", "Moment", "load_config", "Config", "Settings", "VtdbError", "VideoError",
                 "RunAborted", "ConfigError", "DatabaseUnavailable", "UnknownVideoError"):
        assert name in names
    assert len(names) <= 20, "the public API stays short"
    assert out[2] == "vtdb.manager vtdb.search.searcher"


def test_every_public_name_resolves_and_unknown_names_fail():
    import vtdb

    for name in vtdb.__all__:
        assert getattr(vtdb, name) is not None
    assert issubclass(vtdb.VideoError, vtdb.VtdbError) and issubclass(vtdb.RunAborted, vtdb.VtdbError)
    with pytest.raises(AttributeError, match="no attribute 'nosuch'"):
        vtdb.nosuch  # noqa: B018


def _vtdb_command() -> list[str]:
    exe = Path(PY).parent / "vtdb"
    assert exe.exists(), "scripts/setup.sh installs the project, and with it the `vtdb` command"
    return [str(exe)]


def test_vtdb_command_lists_and_dispatches(tmp_path):
    listing = subprocess.run([*_vtdb_command(), "--help"], capture_output=True, text=True, cwd=tmp_path)
    assert listing.returncode == 0
    for name in ("phase1", "phase2", "phase3", "phase4", "pipeline", "search", "export", "status", "reset", "release"):
        assert f"  {name} " in listing.stdout
    typo = subprocess.run([*_vtdb_command(), "phase5"], capture_output=True, text=True, cwd=tmp_path)
    assert typo.returncode == 2 and "unknown command 'phase5'; did you mean 'phase" in typo.stderr
    bare = subprocess.run(_vtdb_command(), capture_output=True, text=True, cwd=tmp_path)
    assert bare.returncode == 2 and "usage: vtdb COMMAND" in bare.stdout
    status = subprocess.run([*_vtdb_command(), "status"], capture_output=True, text=True, cwd=tmp_path)
    assert status.returncode == 0 and "Traceback" not in status.stderr, status.stderr
    for name in ("phase1", "search", "export"):
        sub = subprocess.run([*_vtdb_command(), name, "--help"], capture_output=True, text=True, cwd=tmp_path)
        assert sub.returncode == 0 and "--config" in sub.stdout, sub.stderr


@pytest.mark.parametrize("script", sorted(SCRIPTS))
def test_top_level_scripts_are_thin_shims_over_vtdb_commands(script):
    text = (ROOT / script).read_text()
    code_lines = [line for line in text.split('"""')[-1].splitlines() if line.strip() and not line.startswith("#")]
    assert len(code_lines) <= 6, f"{script} should only import and call vtdb.commands.{SCRIPTS[script]}.main"
    assert f"from vtdb.commands.{SCRIPTS[script]} import main" in text
    res = run_cli(script, "--help")
    assert res.returncode == 0 and "usage:" in res.stdout


def test_db_manager_is_still_importable_from_a_python_shell(tmp_path):
    cfg = tmp_path / "videos_config.json"
    cfg.write_text(json.dumps({"settings": {"chroma_dir": str(tmp_path / "db")}, "videos": []}))
    code = ("import sys; sys.path.insert(0, %r); from db_manager import ChromaDBManager; "
            "db = ChromaDBManager(%r); print(db.list_videos())") % (str(ROOT), str(cfg))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode == 0 and out.stdout.strip() == "[]", out.stderr
