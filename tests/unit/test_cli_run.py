"""``sdnet describe`` and ``sdnet run``: files written, summary printed, clean errors."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from sdnet.cli import main
from sdnet.model import Model, load_model
from sdnet.policy import Push

BASE_PUSH = Push(amount=300_000, start=2, duration=3.5)  # flexnet's card's base push

DATA = Path(__file__).resolve().parent.parent / "data"
BATHTUB = str(DATA / "bathtub.mdl")
NETWORK = str(DATA / "tiny_network.mdl")


def _csv(folder: Path) -> pd.DataFrame:
    return pd.read_csv(folder / "run.csv", index_col="time")


def _error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


def test_describe_lists_stocks_parameters_and_loops(
    bathtub: Model, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["describe", BATHTUB]) == 0
    out = capsys.readouterr().out
    assert f"stocks ({len(bathtub.stocks)})" in out
    assert f"parameters ({len(bathtub.parameters)})" in out
    for parameter in bathtub.parameters.values():
        assert parameter.vensim_name in out
    assert "feedback loops named in the model (1)" in out
    assert "B1    draining  Outflow" in out
    assert "Faucet Flow     faucet_flow     lever" in out


def test_describe_filters_kinds(network: Model, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["describe", NETWORK, "--kind", "lever"]) == 0
    out = capsys.readouterr().out
    assert f"parameters ({len(network.parameters.of_kind('lever'))})" in out
    assert "Number of Firms" not in out
    assert main(["describe", NETWORK, "--kind", "levers"]) == 2
    assert _error_line(capsys) == (
        "sdnet describe: error: unknown parameter kind 'levers'; valid kinds: lever, region, "
        "uncertain, constant, control"
    )


def test_run_writes_csv_and_png_matching_the_api(
    bathtub: Model, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "bath"
    assert main(["run", BATHTUB, "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    frame = _csv(out)
    expected = bathtub.run()
    assert list(frame.columns) == expected.variables == list(bathtub.key_variables)
    pd.testing.assert_frame_equal(frame, expected.frame, check_exact=False, rtol=1e-12)
    assert (out / "run.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert f"wrote {out / 'run.csv'} and {out / 'run.png'}" in printed
    assert "Water in Tub" in printed


def test_run_with_region_push_and_set(
    network: Model, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = [
        "run", NETWORK, "--region", "embedded-prone",
        "--push-amount", str(BASE_PUSH.amount), "--push-start", str(BASE_PUSH.start),
        "--push-duration", str(BASE_PUSH.duration),
        "--set", "Word of Mouth=0.4", "--final-time", "12", "--out", str(tmp_path),
    ]
    assert main(args) == 0
    printed = capsys.readouterr().out
    expected = network.run(
        {"word_of_mouth": 0.4}, region="embedded_prone", push=BASE_PUSH, final_time=12
    )
    frame = _csv(tmp_path)
    assert list(frame.columns) == ["Members[Micro]", "Members[Established]", "Total Members",
                                   "Trust", "Public Push Grant"]
    pd.testing.assert_frame_equal(frame, expected.frame, check_exact=False, rtol=1e-12)
    assert "region embedded_prone; push $300,000/yr from year 2 for 3.5 yr" in printed


def test_push_fields_not_given_keep_the_models_values(
    network: Model, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", NETWORK, "--push-amount", "1000", "--final-time", "4",
                 "--vars", "Public Push Grant", "--out", str(tmp_path)]) == 0
    capsys.readouterr()
    grant = _csv(tmp_path)["Public Push Grant"]
    start = network.parameters["push_start"].default
    duration = network.parameters["push_duration"].default
    on = (grant.index >= start) & (grant.index < start + duration)
    assert (grant[on] == 1000.0).all() and (grant[~on] == 0.0).all()


def test_vars_all_and_a_list(
    bathtub: Model, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", BATHTUB, "--vars", "all", "--out", str(tmp_path / "all")]) == 0
    assert list(_csv(tmp_path / "all").columns) == bathtub.run(variables="all").variables
    assert main(["run", BATHTUB, "--vars", "outflow, Inflow", "--out", str(tmp_path / "two")]) == 0
    assert list(_csv(tmp_path / "two").columns) == ["Outflow", "Inflow"]
    capsys.readouterr()


def test_the_summary_of_all_variables_shows_stocks_then_what_changes(
    network: Model, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    assert main(["run", NETWORK, "--vars", "all", "--out", str(tmp_path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("---")) + 1
    shown = [line.split("  ")[0] for line in lines[start:] if not line.startswith(("...",
                                                                                   "wrote"))]
    frame = _csv(tmp_path)
    stocks = [c for c in frame.columns if c in network.stock_columns()]
    changing = [c for c in frame.columns if c not in stocks and frame[c].nunique() > 1]
    assert len(stocks + changing) >= 12
    assert shown == (stocks + changing)[:len(shown)]
    assert len(shown) == min(12, len(frame.columns))


def test_time_options(tmp_path: Path, capsys: pytest.CaptureFixture[str], cache: Path) -> None:
    assert main(["run", BATHTUB, "--final-time", "5", "--time-step", "0.25", "--saveper", "0.5",
                 "--out", str(tmp_path)]) == 0
    capsys.readouterr()
    frame = _csv(tmp_path)
    assert frame.index[-1] == 5.0
    assert frame.index[1] - frame.index[0] == 0.5


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--set", "faucet_flow=abc"],
         "invalid value for 'faucet_flow': 'abc' (expected a finite number)"),
        (["--set", "faucet_flow=nan"],
         "invalid value for 'faucet_flow': nan (expected a finite number)"),
        (["--set", "faucet_flow=50"],
         "value 50.0 for 'faucet_flow' is outside its declared range [0, 20] "
         "(--no-check-ranges runs extreme conditions on purpose)"),
        (["--set", "faucet_flow"],
         "invalid value for '--set': 'faucet_flow' (expected NAME=VALUE, e.g. "
         "time_step=0.25)"),
        (["--set", "Water in Tub=3"],
         "'Water in Tub' is a stock of the model, not a parameter; to start from other stock "
         "values pass initial_state= (e.g. result.state_at(10))"),
        (["--vars", "Watr in Tub"],
         "unknown variable 'Watr in Tub' of bathtub.mdl; did you mean 'Water in Tub'?"),
        # bathtub has no model card, so it has no presets (flexnet's regions are its card's)
        (["--region", "typical"],
         "unknown preset 'typical'; valid presets: none (the model's card defines no "
         "[[presets]])"),
    ],
)
def test_bad_input_exits_2_with_one_line(
    args: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    cache: Path,
) -> None:
    assert main(["run", BATHTUB, *args, "--out", str(tmp_path)]) == 2
    assert _error_line(capsys) == f"sdnet run: error: {message}"
    assert not (tmp_path / "run.csv").exists()


def test_bad_push_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str], cache: Path) -> None:
    assert main(["run", NETWORK, "--push-amount", "1000", "--push-duration", "-1",
                 "--out", str(tmp_path)]) == 2
    assert _error_line(capsys) == (
        "sdnet run: error: push duration must not be negative (got -1)"
    )
    assert main(["run", NETWORK, "--push-amount", "1000", "--push-start", "12",
                 "--final-time", "10", "--out", str(tmp_path)]) == 2
    assert _error_line(capsys) == (
        "sdnet run: error: push start 12 is after the end of the run (final time 10)"
    )


def test_missing_and_malformed_model_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], cache: Path
) -> None:
    missing = tmp_path / "none.mdl"
    assert main(["run", str(missing)]) == 2
    assert _error_line(capsys) == (
        f"sdnet run: error: model file not found: {missing} (give the path of a Vensim .mdl "
        "file)"
    )
    assert main(["describe", str(DATA / "malformed.mdl")]) == 2
    assert _error_line(capsys).startswith(
        f"sdnet describe: error: cannot read model {DATA / 'malformed.mdl'}, line "
    )


def test_warnings_print_as_one_line_and_the_handler_is_restored(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import warnings

    import sdnet.commands.describe as describe

    def warn_then_succeed(args: object) -> int:
        warnings.warn("flexnet.mdl: invalid value encountered in add (PySD)", RuntimeWarning,
                      stacklevel=1)
        return 0

    monkeypatch.setattr(describe, "run", warn_then_succeed)
    before = warnings.showwarning
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        assert main(["describe", NETWORK]) == 0
    assert capsys.readouterr().err == (
        "sdnet describe: warning: flexnet.mdl: invalid value encountered in add (PySD)\n")
    assert warnings.showwarning is before


def test_argparse_errors_are_clean(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["run", BATHTUB, "--push-amount", "lots"])
    assert caught.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert err == (
        "sdnet run: error: argument --push-amount: invalid float value: 'lots' "
        "(see `sdnet run --help`)\n"
    )


def test_help_has_an_example(capsys: pytest.CaptureFixture[str]) -> None:
    for command in ("run", "describe"):
        with pytest.raises(SystemExit) as caught:
            main([command, "--help"])
        assert caught.value.code == 0
        out = capsys.readouterr().out
        assert f"sdnet {command} models/flexnet/flexnet.mdl" in out


def test_vector_engine(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], network: Model
) -> None:
    runner = importlib.util.find_spec("sdnet.runner")
    code = main(["run", NETWORK, "--engine", "vector", "--final-time", "4",
                 "--out", str(tmp_path)])
    if runner is None:
        assert code == 2
        assert _error_line(capsys) == (
            "sdnet run: error: the vector engine is not available yet "
            "(sdnet.runner.run_single is missing); use --engine pysd"
        )
        return
    assert code == 0
    capsys.readouterr()
    expected = network.run(final_time=4)
    frame = _csv(tmp_path)
    assert list(frame.columns) == expected.variables
    pd.testing.assert_frame_equal(frame, expected.frame, check_exact=False, rtol=1e-6)


@pytest.mark.skipif(
    shutil.which("sdnet") is None, reason="the sdnet console script is not installed"
)
def test_console_script(tmp_path: Path, cache: Path) -> None:
    env = {**os.environ, "SDNET_CACHE_DIR": str(cache)}
    done = subprocess.run(
        ["sdnet", "run", BATHTUB, "--out", str(tmp_path)],
        capture_output=True, text=True, env=env, check=False, timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "run.csv").exists()
    failed = subprocess.run(
        ["sdnet", "run", BATHTUB, "--set", "faucet_flow=50"],
        capture_output=True, text=True, env=env, check=False, timeout=300,
    )
    assert failed.returncode == 2
    assert failed.stderr.strip().splitlines() == [
        "sdnet run: error: value 50.0 for 'faucet_flow' is outside its declared range [0, 20] "
        "(--no-check-ranges runs extreme conditions on purpose)"
    ]


def test_plot_run_draws_every_element_and_shades_the_push(network: Model) -> None:
    from sdnet.plotting.runs import plot_run, push_span

    result = network.run(region="typical", push=BASE_PUSH, final_time=10)
    ax = plot_run(result, ["Members"])
    labels = [line.get_label() for line in ax.get_lines()]
    assert labels == ["Members (Micro)", "Members (Established)"]
    assert ax.get_ylabel() == result.units["Members"]
    assert ax.get_xlabel() == f"time ({result.units['Time']})"
    assert push_span(result) == (BASE_PUSH.start, BASE_PUSH.end)
    shaded = [p for p in ax.patches if p.get_label() == "public push"]
    assert len(shaded) == 1
    assert push_span(network.run(final_time=2)) is None


def test_plot_run_rejects_nothing_and_unknown_names(network: Model) -> None:
    from sdnet.errors import PlotInputError, UnknownVariableError
    from sdnet.plotting.runs import plot_run

    result = network.run(final_time=2)
    with pytest.raises(PlotInputError) as caught:
        plot_run(result, [])
    assert str(caught.value) == "plot_run needs at least one variable to draw"
    with pytest.raises(UnknownVariableError):
        plot_run(result, ["Embeddedness"])


CONFORMANCE = Path(__file__).resolve().parents[3] / "shared" / "conformance"


@pytest.mark.skipif(
    not CONFORMANCE.is_dir(), reason="../shared/conformance (the SD test-model suite) is absent"
)
@pytest.mark.parametrize("case", ["teacup", "subscripted_flows", "smooth"])
def test_run_any_vensim_model(
    case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], cache: Path
) -> None:
    source = next((CONFORMANCE / case).glob("*.mdl"))
    assert main(["run", str(source), "--out", str(tmp_path)]) == 0
    capsys.readouterr()
    model = load_model(source)
    assert list(_csv(tmp_path).columns) == model.stock_columns()
    assert (tmp_path / "run.png").exists()


def test_an_out_folder_that_cannot_be_made_gives_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "afile"
    blocker.write_text("not a folder")
    with pytest.raises(SystemExit) as caught:
        main(["run", str(BATHTUB), "--out", str(blocker)])
    assert caught.value.code == 2
    err = capsys.readouterr().err
    assert err == (f"sdnet run: error: argument --out: {blocker} is a file, not a folder (give "
                   "a new or existing folder to write into) (see `sdnet run --help`)\n")


# --------------------------------------------------------------------------- issue 11 (#8, #11)
def _argparse_error(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    with pytest.raises(SystemExit) as caught:
        main(argv)
    assert caught.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err
    command = argv[0]
    return err.strip().removesuffix(f" (see `sdnet {command} --help`)")


@pytest.mark.parametrize("command", ["run", "ensemble"])
@pytest.mark.parametrize("text", ["", " , ,"])
def test_vars_without_a_name_is_refused(
    capsys: pytest.CaptureFixture[str], command: str, text: str
) -> None:
    extra = ["--samples", "2"] if command == "ensemble" else []
    assert _argparse_error(capsys, [command, BATHTUB, *extra, "--vars", text]) == (
        f"sdnet {command}: error: argument --vars: no variable names in {text!r} (give 'all' "
        "or names separated by commas)")


@pytest.mark.parametrize(("width", "message"), [
    ("0", "0 is too narrow (give at least 10 characters)"),
    ("-3", "-3 is too narrow (give at least 10 characters)"),
    ("wide", "expected a whole number of characters, got 'wide'"),
])
def test_describe_width_is_validated(
    capsys: pytest.CaptureFixture[str], width: str, message: str
) -> None:
    assert _argparse_error(capsys, ["describe", BATHTUB, "--width", width]) == (
        f"sdnet describe: error: argument --width: {message}")


@pytest.mark.parametrize("command", ["run", "ensemble", "experiment", "report"])
@pytest.mark.parametrize("below", [False, True])
def test_out_naming_a_file_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str, below: bool
) -> None:
    blocker = tmp_path / "results.txt"
    blocker.write_text("mine\n", encoding="utf-8")
    out = blocker / "sub" if below else blocker
    first = {"run": [BATHTUB], "ensemble": [BATHTUB, "--samples", "2"],
             "experiment": [str(tmp_path / "study.toml")], "report": [str(tmp_path)]}[command]
    assert _argparse_error(capsys, [command, *first, "--out", str(out)]) == (
        f"sdnet {command}: error: argument --out: {blocker} is a file, not a folder (give a "
        "new or existing folder to write into)")
    assert blocker.read_text(encoding="utf-8") == "mine\n"


def test_a_folder_given_as_the_model_is_named_a_folder(
    capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["describe", str(DATA)]) == 2
    line = _error_line(capsys)
    assert line.startswith(f"sdnet describe: error: the model path is a folder, not a file: "
                           f"{DATA} (give the path of a Vensim .mdl file; in it: "
                           "allocation.mdl, bass_diffusion.mdl, bathtub.mdl, ")


def test_run_writes_only_into_its_own_folders(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "run.csv").write_text("my data")
    assert main(["run", BATHTUB, "--out", str(mine)]) == 2
    assert "holds files sdnet did not write (run.csv)" in capsys.readouterr().err
    assert (mine / "run.csv").read_text() == "my data"
    out = tmp_path / "out"
    assert main(["run", BATHTUB, "--out", str(out)]) == 0
    assert main(["run", BATHTUB, "--final-time", "5", "--out", str(out)]) == 0  # same model
    assert _csv(out).index[-1] == 5
    assert main(["run", NETWORK, "--out", str(out)]) == 2
    assert capsys.readouterr().err.startswith(
        f"sdnet run: error: {out} holds another run (the run of {Path(BATHTUB).name}, written ")
    assert main(["run", NETWORK, "--out", str(out), "--overwrite"]) == 0
    assert "Total Members" in _csv(out).columns
