"""The teaching material runs: every notebook top to bottom, every worksheet's code and commands.

Notebooks execute under nbclient in a kernel that uses this interpreter (so it imports the sdnet
under test). Worksheets: the ```python blocks run in order in one namespace, and every
``sdnet ...`` line of the ```bash blocks runs through the command line (an answers file the
worksheet tells students to fill in is filled with the key's answers first, so ``check`` must
pass).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shlex
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TEACHING = ROOT / "experiments" / "teaching"
NOTEBOOKS = sorted(TEACHING.glob("[0-9][0-9]_*.ipynb"))
WORKSHEETS = sorted(TEACHING.glob("[0-9][0-9]_*.md"))
BLOCK = re.compile(r"^```(\w+)\n(.*?)^```", re.MULTILINE | re.DOTALL)


def test_every_exercise_has_a_worksheet_and_a_notebook() -> None:
    exercises = sorted(TEACHING.glob("[0-9][0-9]_*.toml"))
    assert len(exercises) >= 5
    assert [p.with_suffix(".ipynb") for p in exercises] == NOTEBOOKS
    assert [p.with_suffix(".md") for p in exercises] == WORKSHEETS


@pytest.fixture(scope="module")
def kernel_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A kernelspec named python3 that runs this interpreter with the repository importable."""
    pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    folder = tmp_path_factory.mktemp("jupyter") / "kernels" / "python3"
    folder.mkdir(parents=True)
    spec = {"argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            "display_name": "Python 3 (sdnet tests)", "language": "python"}
    (folder / "kernel.json").write_text(json.dumps(spec), encoding="utf-8")
    return {
        "JUPYTER_PATH": str(folder.parents[1]),
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
        "MPLBACKEND": "module://matplotlib_inline.backend_inline",
    }


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_top_to_bottom(
    path: Path, kernel_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import nbformat
    from nbclient import NotebookClient

    for key, value in kernel_env.items():
        monkeypatch.setenv(key, value)
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(notebook, timeout=180, startup_timeout=180, kernel_name="python3",
                            resources={"metadata": {"path": str(TEACHING)}})
    client.execute()  # raises CellExecutionError, with the cell, on any error
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert images, "every notebook draws at least one figure"


@pytest.mark.slow
def test_notebook_runs_without_ipywidgets(
    kernel_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Without the 'teach' extra the explorer cell falls back to a static comparison."""
    import nbformat
    from nbclient import NotebookClient

    shadow = tmp_path / "ipywidgets"
    shadow.mkdir()
    (shadow / "__init__.py").write_text('raise ImportError("ipywidgets is hidden")\n',
                                        encoding="utf-8")
    for key, value in kernel_env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(tmp_path), kernel_env["PYTHONPATH"]]))
    notebook = nbformat.read(NOTEBOOKS[0], as_version=4)
    NotebookClient(notebook, timeout=180, startup_timeout=180, kernel_name="python3",
                   resources={"metadata": {"path": str(TEACHING)}}).execute()
    explorer_cell = next(c for c in notebook.cells if "Explorer.from_path" in c.source)
    text = "".join(o.get("text", "") for o in explorer_cell.outputs)
    assert "the sliders need ipywidgets: pip install 'sdnet[teach]'" in text
    assert any("image/png" in o.get("data", {}) for o in explorer_cell.outputs)


def _blocks(path: Path, language: str) -> list[str]:
    return [body for lang, body in BLOCK.findall(path.read_text(encoding="utf-8"))
            if lang == language]


def _right_answers(number: int, *, policy: str = "") -> str:
    from sdnet.teaching import generate_key, load_exercises

    key = generate_key(load_exercises(TEACHING)[number])
    lines = ["[exercise]", f"number = {number}", "", "[answers]"]
    for entry in key.entries:
        value = entry.value
        if isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, str):
            text = json.dumps(value)
        else:
            text = repr(float(value))
        lines.append(f"{entry.question} = {text}")
    return "\n".join(lines) + "\n" + policy


@pytest.mark.slow
@pytest.mark.parametrize("path", WORKSHEETS, ids=lambda p: p.stem)
def test_worksheet_code_runs(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import matplotlib

    matplotlib.use("Agg")
    monkeypatch.chdir(TEACHING)
    namespace: dict[str, object] = {"__name__": "__worksheet__"}
    blocks = _blocks(path, "python")
    assert blocks, f"{path.name} has no python code"
    for block in blocks:
        with contextlib.redirect_stdout(io.StringIO()):
            exec(compile(block, str(path), "exec"), namespace)


@pytest.mark.slow
@pytest.mark.parametrize("path", WORKSHEETS, ids=lambda p: p.stem)
def test_worksheet_commands_run(
    path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sdnet.cli import main

    number = int(path.name[:2])
    monkeypatch.chdir(tmp_path)  # answers files go here; --dir points at the exercises
    commands = [line.strip() for block in _blocks(path, "bash")
                for line in block.splitlines() if line.strip().startswith("sdnet ")]
    assert any(" check " in f" {c} " for c in commands), f"{path.name} never checks answers"
    policy = "\n".join(_blocks(path, "toml"))
    ran = []
    for command in commands:
        argv = shlex.split(command.split("#")[0])[1:]
        target = None
        if ">" in argv:
            target = tmp_path / argv[argv.index(">") + 1]
            argv = argv[: argv.index(">")]
        argv = ["exercise", "--dir", str(TEACHING), *argv[1:]] if argv[0] == "exercise" else argv
        if "check" in argv:
            answers = tmp_path / argv[-1]
            answers.write_text(_right_answers(number, policy=policy), encoding="utf-8")
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            code = main(argv)
        if "check" in argv and policy:
            assert "Challenge: your policy scored" in out.getvalue()
            assert code in (0, 1), command  # passing depends on the policy, not on the file
        else:
            assert code == 0, f"{command!r} exited with {code}:\n{out.getvalue()}"
        if target is not None:
            target.write_text(out.getvalue(), encoding="utf-8")
        ran.append(command)
    assert ran


@pytest.mark.slow
def test_readme_student_commands_run_as_written_from_one_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """README "Running the exercises": every command, as written, from the sdnet folder.

    A fresh clone is mimicked by copying the exercises and the model into ``tmp_path`` (so the
    answers file the README writes does not land in this repository); nothing may ``cd``
    between writing the answers file and checking it.
    """
    import shutil

    from sdnet.cli import main

    text = (TEACHING / "README.md").read_text(encoding="utf-8")
    section = text.split("## Running the exercises", 1)[1].split("\n## ", 1)[0]
    lines = [line.split("#")[0].strip() for line in _blocks_of(section, "bash")[0].splitlines()]
    lines = [line for line in lines if line]
    assert not any(line.startswith("cd ") or " cd " in line for line in lines), lines
    (tmp_path / "experiments" / "teaching").mkdir(parents=True)
    for toml in TEACHING.glob("[0-9][0-9]_*.toml"):
        shutil.copy(toml, tmp_path / "experiments" / "teaching" / toml.name)
    (tmp_path / "models" / "flexnet").mkdir(parents=True)
    for name in ("flexnet.mdl", "flexnet.toml"):  # the model and its card
        shutil.copy(ROOT / "models" / "flexnet" / name, tmp_path / "models" / "flexnet")
    monkeypatch.chdir(tmp_path)
    codes = []
    for line in lines:
        argv = shlex.split(line)
        if argv[0] == "jupyter":
            assert (ROOT / argv[-1]).is_file(), line  # the notebook path, from the sdnet folder
            continue
        assert argv[0] == "sdnet", line
        target = None
        if ">" in argv:
            target = Path(argv[argv.index(">") + 1])
            argv = argv[: argv.index(">")]
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            codes.append(main(argv[1:]))
        if target is not None:
            target.write_text(out.getvalue(), encoding="utf-8")
    # show, show --template, then check of the blank answers file: "not yet", not malformed
    assert codes == [0, 0, 1]


def _blocks_of(text: str, language: str) -> list[str]:
    return [body for lang, body in BLOCK.findall(text) if lang == language]


def test_notebooks_match_their_builder() -> None:
    """The committed notebooks are what build_notebooks.py writes (edit the builder, rebuild)."""
    pytest.importorskip("nbformat")
    import importlib.util

    spec = importlib.util.spec_from_file_location("build_notebooks",
                                                  TEACHING / "build_notebooks.py")
    assert spec is not None and spec.loader is not None
    builder = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(builder)
    import nbformat

    for path in NOTEBOOKS:
        built = builder.build(int(path.name[:2]), path.with_suffix(".toml"))
        committed = nbformat.read(path, as_version=4)
        assert [c.source for c in built.cells] == [c.source for c in committed.cells], path.name


HEADING = re.compile(r"^#+\s*Tasks?\s+(\d+)(?:\s*-\s*(\d+))?", re.MULTILINE)


def _tasks_headed(text: str) -> set[str]:
    tasks: set[str] = set()
    for first, last in HEADING.findall(text):
        tasks |= {str(n) for n in range(int(first), int(last or first) + 1)}
    return tasks


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_task_of_the_questions_has_a_heading(path: Path) -> None:
    """A question's ``task`` is a heading in the notebook and the worksheet (issue 11, #12)."""
    import tomllib

    questions = tomllib.loads(path.with_suffix(".toml").read_text(encoding="utf-8")).get(
        "questions", [])
    wanted = {str(q["task"]) for q in questions if q.get("task")}
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    notebook = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
    assert wanted <= _tasks_headed(notebook), (path.name, sorted(wanted - _tasks_headed(notebook)))
    worksheet = path.with_suffix(".md").read_text(encoding="utf-8")
    assert wanted <= _tasks_headed(worksheet), path.with_suffix(".md").name


def _printed(code: str) -> str:
    import matplotlib

    matplotlib.use("Agg")
    namespace: dict[str, object] = {"__name__": "__worksheet__"}
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "<exercise 2>", "exec"), namespace)
    return out.getvalue()


def test_exercise_2_prints_the_averages_its_key_checks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Notebook and worksheet print the brokers' and word of mouth's averages the key explains.

    They printed the mean of the saved points (5.70 brokers a year) while the key averages over
    time (6.01): a student copying the notebook's number was told it was wrong (issue 11, #12).
    """
    from sdnet.teaching import generate_key, load_exercises

    monkeypatch.chdir(TEACHING)
    entry = generate_key(load_exercises(TEACHING)[2]).entry("main_inflow_during_push")
    quoted = re.search(r"brokers brought in ([\d.]+) firms a year on average\s+and word of "
                       r"mouth ([\d.]+)", entry.explanation)
    assert quoted is not None, entry.explanation
    notebook = json.loads((TEACHING / "02_reinforcing_loops.ipynb").read_text(encoding="utf-8"))
    code = [
        "".join(c["source"]) for c in notebook["cells"]
        if c["cell_type"] == "code" and "Explorer" not in "".join(c["source"])
    ]
    worksheet = "\n".join(_blocks(TEACHING / "02_reinforcing_loops.md", "python"))
    for printed in (_printed("\n".join(code)), _printed(worksheet)):
        found = re.search(r"brokers ([\d.]+), word of mouth ([\d.]+)", printed)
        assert found is not None, printed
        assert found.groups() == quoted.groups()
