"""A message names the command the way the process was started (issue 27 item 7): `vtdb reset …` to whoever ran
`vtdb`, `python db_manager.py reset …` to whoever ran the script; a library user (a Python shell, these tests)
reads the `vtdb` form; the pipeline's phase processes spell commands as the pipeline was started."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from conftest import ROOT, run_cli, write_config
from vtdb.commandline import COMMANDS, FORM_VARIABLE, SCRIPT_FORM, VTDB_FORM, command, prog, started_form
from vtdb.config import load_config
from vtdb.prune import PruneRefused, plan_prune
from vtdb.store import Store


def test_the_form_follows_the_program_name(monkeypatch):
    monkeypatch.delenv(FORM_VARIABLE, raising=False)
    assert started_form("/home/me/vtdb-checkout/phase3_load.py") == SCRIPT_FORM
    assert started_form("db_manager.py") == SCRIPT_FORM
    assert started_form("/usr/local/bin/vtdb") == VTDB_FORM
    assert started_form("/usr/bin/python3") == VTDB_FORM  # a library user
    monkeypatch.setenv(FORM_VARIABLE, SCRIPT_FORM)  # a phase the pipeline started as `python -m vtdb.commands.…`
    assert started_form("/x/vtdb/commands/phase3.py") == SCRIPT_FORM
    assert started_form("/usr/local/bin/vtdb") == VTDB_FORM  # the program name decides first


def test_both_spellings_of_a_command():
    assert command("reset", "NAME", "--phase", "3", form=VTDB_FORM) == "vtdb reset NAME --phase 3"
    assert command("reset", "NAME", "--phase", "3", form=SCRIPT_FORM) == "python db_manager.py reset NAME --phase 3"
    assert command("phase3", form=SCRIPT_FORM) == "python phase3_load.py"
    assert command("subtitles", form=SCRIPT_FORM) == "vtdb subtitles"  # no script: only `vtdb subtitles` runs it
    assert prog("status", form=SCRIPT_FORM) == "db_manager.py" and prog("status", form=VTDB_FORM) == "vtdb"
    assert prog("phase3", form=VTDB_FORM) == "vtdb phase3"
    for c in COMMANDS.values():  # every script named is a file of the checkout
        assert not c.script or (ROOT / c.script_file).is_file(), c


class _Db:
    def list_videos(self, where=None):
        return []

    def get_many(self, names):
        return []

    def all_names(self):
        return ["talk"]


@pytest.mark.parametrize(("argv0", "expected"), [("/usr/local/bin/vtdb", "`vtdb status` lists"),
                                                 ("/checkout/db_manager.py", "`python db_manager.py status` lists"),
                                                 ("-c", "`vtdb status` lists")])
def test_a_library_message_names_the_command_as_started(monkeypatch, tmp_path, argv0, expected):
    monkeypatch.delenv(FORM_VARIABLE, raising=False)
    monkeypatch.setattr("sys.argv", [argv0])
    with pytest.raises(PruneRefused) as refused:
        plan_prune(_Db(), tmp_path, ["tlak"])
    assert "did you mean 'talk'? " + expected in str(refused.value)


def test_vtdb_and_the_script_each_name_their_own_form(tmp_path):
    cfg = write_config(tmp_path, [])
    Store(load_config(cfg, env={})).add_video_files([("talk", "/videos/talk.mp4", {"title": "Talk"})])
    env = {k: v for k, v in os.environ.items() if k != FORM_VARIABLE}
    script = run_cli("db_manager.py", "prune", "tlak", "--yes", "--config", str(cfg), env={FORM_VARIABLE: ""})
    assert "`python db_manager.py status` lists" in script.stdout, script.stdout + script.stderr
    program = shutil.which("vtdb") or str(ROOT / ".venv" / "bin" / "vtdb")
    if not os.path.exists(program):
        pytest.skip("the vtdb console command is not installed")
    vtdb = subprocess.run([program, "prune", "tlak", "--yes", "--config", str(cfg)],
                          env={**env, "PYTHONPATH": str(ROOT), "COLUMNS": "200"}, capture_output=True, text=True,
                          timeout=120)
    assert vtdb.returncode == 2 and "`vtdb status` lists" in vtdb.stdout and "db_manager.py" not in vtdb.stdout, (
        vtdb.stdout + vtdb.stderr)
