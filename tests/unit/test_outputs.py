"""Output folders: whole or nothing, a manifest of sdnet's files, a lock, user files kept."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from sdnet.errors import OutputFolderError, OutputFolderLockedError, SdnetWarning
from sdnet.outputs import MANIFEST, output_folder, read_manifest

ROOT = Path(__file__).resolve().parents[2]


def _write(target: Path, files: dict[str, str], *, kind: str = "study", identity: str = "a",
           label: str = "study 'a'", overwrite: bool = False) -> None:
    with output_folder(target, kind=kind, identity=identity, label=label,
                       overwrite=overwrite) as staging:
        for name, text in files.items():
            (staging.path / name).parent.mkdir(parents=True, exist_ok=True)
            (staging.path / name).write_text(text)


def _tree(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): p.read_text() for p in sorted(folder.rglob("*"))
            if p.is_file() and p.name != MANIFEST}


def _beside(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.parent.iterdir() if p.name != folder.name)


def test_a_new_folder_appears_whole_with_its_manifest(tmp_path: Path) -> None:
    out = tmp_path / "deep" / "out"
    _write(out, {"summary.json": "1", "analyses/morris.csv": "2"})
    assert _tree(out) == {"summary.json": "1", "analyses/morris.csv": "2"}
    manifest = read_manifest(out)
    assert manifest is not None
    assert (manifest.kind, manifest.identity, manifest.label) == ("study", "a", "study 'a'")
    assert manifest.files == ("analyses/morris.csv", "summary.json")
    assert _beside(out) == []  # no lock, staging or work folder left beside it


def test_a_writer_that_fails_midway_leaves_the_old_folder_as_it_was(tmp_path: Path) -> None:
    out = tmp_path / "out"
    _write(out, {"summary.json": "old", "analyses/morris.csv": "old"})
    with pytest.raises(RuntimeError, match="killed"), \
            output_folder(out, kind="study", identity="a", label="study 'a'") as staging:
        (staging.path / "summary.json").write_text("new")
        raise RuntimeError("killed while writing")
    assert _tree(out) == {"summary.json": "old", "analyses/morris.csv": "old"}
    assert _beside(out) == []


def test_a_killed_writer_leaves_the_old_folder_and_the_next_writer_cleans_up(
    tmp_path: Path,
) -> None:
    out = tmp_path / "out"
    _write(out, {"summary.json": "old"})
    script = textwrap.dedent(f"""
        import os, signal
        from sdnet.outputs import output_folder
        with output_folder({str(out)!r}, kind="study", identity="a", label="study 'a'") as s:
            (s.path / "summary.json").write_text("new")
            (s.path / "extra.csv").write_text("new")
            os.kill(os.getpid(), signal.SIGKILL)
    """)
    done = subprocess.run([sys.executable, "-c", script], env={**os.environ,
                          "PYTHONPATH": str(ROOT)}, capture_output=True, check=False)
    assert done.returncode == -9, done.stderr
    assert _tree(out) == {"summary.json": "old"}  # never a mix of old and new
    assert any(name.startswith(".out.sdnet-new-") for name in _beside(out))
    _write(out, {"summary.json": "newer"})  # the dead writer's lock does not block
    assert _tree(out) == {"summary.json": "newer"}
    assert _beside(out) == []  # its staging folder and lock are gone


def test_a_rewrite_removes_only_recorded_files_and_keeps_the_users(tmp_path: Path) -> None:
    out = tmp_path / "out"
    _write(out, {"summary.json": "old", "analyses/morris.csv": "old", "analyses/prim.csv": "old"})
    (out / "notes.txt").write_text("mine")
    (out / "analyses" / "my_plot.py").write_text("mine")
    (out / "mine").mkdir()
    _write(out, {"summary.json": "new", "analyses/sobol.csv": "new"})
    assert _tree(out) == {"summary.json": "new", "analyses/sobol.csv": "new",
                          "notes.txt": "mine", "analyses/my_plot.py": "mine"}
    assert (out / "mine").is_dir()
    assert read_manifest(out).files == ("analyses/sobol.csv", "summary.json")  # type: ignore[union-attr]
    assert _beside(out) == []


def test_a_users_file_that_clashes_with_a_new_file_is_kept_with_a_warning(
    tmp_path: Path,
) -> None:
    out = tmp_path / "out"
    _write(out, {"summary.json": "old"})
    (out / "extra.csv").write_text("mine")
    with pytest.warns(SdnetWarning, match=r"clash with files of the new output and were kept "
                      r"in .*\.out\.sdnet-old-.*: extra\.csv"):
        _write(out, {"summary.json": "new", "extra.csv": "sdnet's"})
    assert _tree(out) == {"summary.json": "new", "extra.csv": "sdnet's"}
    (kept,) = [tmp_path / n for n in _beside(out)]
    assert _tree(kept) == {"extra.csv": "mine"}


def test_a_folder_sdnet_did_not_write_is_refused_and_untouched(tmp_path: Path) -> None:
    mine = tmp_path / "mine"
    (mine / "chunks").mkdir(parents=True)
    (mine / "chunks" / "data.npz").write_text("mine")
    (mine / "figures").mkdir()
    for overwrite in (False, True):
        with pytest.raises(OutputFolderError) as info:
            _write(mine, {"summary.json": "new"}, overwrite=overwrite)
        assert str(info.value) == (
            f"{mine} holds files sdnet did not write (chunks, figures); sdnet writes only into "
            "a new folder, an empty one or one it wrote itself, and never removes your files: "
            "choose another output folder")
    assert _tree(mine) == {"chunks/data.npz": "mine"} and (mine / "figures").is_dir()
    empty = tmp_path / "empty"
    empty.mkdir()
    _write(empty, {"summary.json": "new"})  # an empty folder is fine
    assert _tree(empty) == {"summary.json": "new"}


def test_another_output_is_replaced_only_with_overwrite(tmp_path: Path) -> None:
    out = tmp_path / "out"
    _write(out, {"summary.json": "a", "analyses/morris.csv": "a"})
    with pytest.raises(OutputFolderError) as info:
        _write(out, {"summary.json": "b"}, identity="b", label="study 'b'")
    written = read_manifest(out).written[:16].replace("T", " ")  # type: ignore[union-attr]
    assert str(info.value) == (
        f"{out} holds another study (study 'a', written {written} UTC); pass --overwrite "
        "(overwrite=True) to replace it with study 'b' (only the files sdnet wrote there are "
        "removed), or choose another output folder")
    with pytest.raises(OutputFolderError, match=r"holds a study \(study 'a', written .*\); "
                       r"pass --overwrite \(overwrite=True\) to replace it with the run of m"):
        _write(out, {"run.csv": "r"}, kind="run", identity="m", label="the run of m")
    assert _tree(out) == {"summary.json": "a", "analyses/morris.csv": "a"}
    _write(out, {"summary.json": "b"}, identity="b", label="study 'b'", overwrite=True)
    assert _tree(out) == {"summary.json": "b"}
    _write(out, {"summary.json": "b2"}, identity="b", label="study 'b'")  # the same study
    assert _tree(out) == {"summary.json": "b2"}


def test_a_file_is_not_an_output_folder(tmp_path: Path) -> None:
    file = tmp_path / "results.txt"
    file.write_text("mine")
    with pytest.raises(OutputFolderError) as info:
        _write(file, {"summary.json": "new"})
    assert str(info.value) == (f"the output folder {file} is a file; give the path of a folder "
                               "(a new one, or one sdnet wrote)")
    assert file.read_text() == "mine"


def test_the_current_folder_stays_usable_when_it_is_the_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    here = tmp_path / "here"
    here.mkdir()
    monkeypatch.chdir(here)
    _write(Path("."), {"summary.json": "old", "analyses/prim.csv": "old"})
    Path("notes.txt").write_text("mine")
    _write(Path("."), {"summary.json": "new"})
    assert Path.cwd() == here and Path("summary.json").read_text() == "new"  # not a removed dir
    assert _tree(here) == {"summary.json": "new", "notes.txt": "mine"}
    assert _beside(here) == []


def test_a_second_writer_is_refused_with_the_folder_and_holder_named(tmp_path: Path) -> None:
    out = tmp_path / "out"
    script = textwrap.dedent(f"""
        import sys
        from sdnet.outputs import output_folder
        with output_folder({str(out)!r}, kind="study", identity="a", label="study 'a'") as s:
            (s.path / "summary.json").write_text("first")
            print("writing", flush=True)
            sys.stdin.readline()
    """)
    first = subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True,
                             env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        assert first.stdout is not None and first.stdout.readline() == "writing\n"
        with pytest.raises(OutputFolderLockedError) as info:
            _write(out, {"summary.json": "second"})
        message = str(info.value)
        assert message.startswith(f"{out} is being written by another sdnet command (process "
                                  f"{first.pid} on ")
        assert "(study 'a', since " in message
        assert message.endswith(f"(lock file {tmp_path / '.out.sdnet-lock'})")
        assert info.value.holder["pid"] == first.pid
    finally:
        first.communicate("\n", timeout=30)
    assert first.returncode == 0
    assert _tree(out) == {"summary.json": "first"}  # only the first writer's files


def test_two_writers_in_one_process_are_refused_too(tmp_path: Path) -> None:
    out = tmp_path / "out"
    with output_folder(out, kind="study", identity="a", label="study 'a'") as staging:
        (staging.path / "summary.json").write_text("first")
        with pytest.raises(OutputFolderLockedError, match=r"\(study 'a', since "):
            _write(out, {"summary.json": "second"})
    assert _tree(out) == {"summary.json": "first"}


def test_a_lock_file_left_by_a_dead_process_does_not_block(tmp_path: Path) -> None:
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    out = tmp_path / "out"
    lock = tmp_path / ".out.sdnet-lock"
    lock.write_text(json.dumps({"pid": int(dead.stdout), "host": "here", "writing": "x"}))
    _write(out, {"summary.json": "new"})
    assert _tree(out) == {"summary.json": "new"} and not lock.exists()


def test_a_nested_output_goes_with_its_folder_and_its_users_files_stay(tmp_path: Path) -> None:
    out = tmp_path / "out"
    _write(out, {"summary.json": "a"})
    _write(out / "report", {"report.html": "a"}, kind="report", identity="a",
           label="the report of a")
    (out / "report" / "notes.md").write_text("mine")
    _write(out, {"summary.json": "b"}, identity="b", overwrite=True)
    assert _tree(out) == {"summary.json": "b", "report/notes.md": "mine"}
    assert read_manifest(out / "report") is None  # the user's file alone: not sdnet's


def test_a_writer_killed_between_the_renames_is_recovered(tmp_path: Path) -> None:
    out = tmp_path / "out"
    _write(out, {"summary.json": "old"})
    out.rename(tmp_path / ".out.sdnet-old-123-abc")  # the first rename of a swap happened
    _write(out, {"summary.json": "new"})  # the old folder is restored, then replaced
    assert _tree(out) == {"summary.json": "new"} and _beside(out) == []


@pytest.mark.parametrize("text, problem", [
    ("{", "Expecting property name"),
    ('{"sdnet_manifest": 1, "kind": "study", "identity": "a", "files": ["../x"]}',
     "path '../x' is not inside"),
    ('{"sdnet_manifest": 2, "kind": "study", "identity": "a", "files": []}',
     "not an sdnet manifest of format 1"),
])
def test_an_unreadable_manifest_protects_the_folder(tmp_path: Path, text: str,
                                                    problem: str) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / MANIFEST).write_text(text)
    (tmp_path / "x").write_text("outside")
    with pytest.raises(OutputFolderError, match=rf"^cannot tell which files in {out} sdnet "
                       rf"wrote: its {MANIFEST} is unreadable \(.*{problem}"):
        _write(out, {"summary.json": "new"}, overwrite=True)
    assert (tmp_path / "x").read_text() == "outside" and (out / MANIFEST).read_text() == text


def test_work_files_survive_a_failure_and_go_on_success(tmp_path: Path) -> None:
    out = tmp_path / "out"
    with pytest.raises(KeyboardInterrupt), \
            output_folder(out, kind="study", identity="a", label="study 'a'") as staging:
        staging.work_file("chunks/a.npz").write_text("chunk")
        raise KeyboardInterrupt
    work = tmp_path / ".out.sdnet-work"
    assert (work / "chunks" / "a.npz").read_text() == "chunk" and not out.exists()
    (work / "chunks" / "mine.txt").write_text("mine")
    with output_folder(out, kind="study", identity="a", label="study 'a'") as staging:
        assert staging.work_file("chunks/a.npz").read_text() == "chunk"
        (staging.path / "summary.json").write_text("done")
    assert _tree(out) == {"summary.json": "done"}
    assert _tree(work) == {"chunks/mine.txt": "mine"}  # only sdnet's work files went


def test_an_output_the_user_moved_into_a_folder_of_theirs_is_theirs(tmp_path: Path) -> None:
    out = tmp_path / "out"
    _write(out, {"summary.json": "a"})
    _write(tmp_path / "elsewhere", {"report.html": "r"}, kind="report", identity="r",
           label="the report of r")
    (out / "backup").mkdir()
    (tmp_path / "elsewhere").rename(out / "backup" / "report")
    _write(out, {"summary.json": "b"}, identity="b", overwrite=True)
    assert _tree(out) == {"summary.json": "b", "backup/report/report.html": "r"}
