"""Issue 14 §1-2: Zarr ensemble stores, resumable blocks, the disk check and dask clusters."""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import sdnet
from sdnet.cluster import ClusterSpec, connect, parse_cluster
from sdnet.errors import ClusterError, DiskSpaceError, ResultFileError
from sdnet.runner import run_ensemble
from sdnet.store import EnsembleStore, estimate_bytes

DATA = Path(__file__).resolve().parents[1] / "data"
ROOT = Path(__file__).resolve().parents[2]
MODEL = DATA / "tiny_network.mdl"


@pytest.fixture(scope="module")
def tiny() -> sdnet.Model:
    return sdnet.load_model(MODEL)


@pytest.fixture(scope="module")
def ensemble(tiny: sdnet.Model) -> sdnet.EnsembleResult:
    return run_ensemble(tiny, {"word_of_mouth": [0.1, 0.2, 0.3, 0.5, 0.6]},
                        progress=False, seed=4)


def _argv(out: Path, *more: str) -> list[str]:
    return ["ensemble", str(MODEL), "--samples", "9", "--seed", "3", "--factors",
            "word_of_mouth,attrition_rate", "--no-progress", "--out", str(out), *more]


# -- the store ------------------------------------------------------------------------------


def test_a_zarr_store_reads_back_every_bit_and_float32_on_request(
    tmp_path: Path, ensemble: sdnet.EnsembleResult
) -> None:
    path = ensemble.save(tmp_path / "e.zarr")
    back = sdnet.EnsembleResult.load(path)
    np.testing.assert_array_equal(back.dataset["outputs"].to_numpy(),
                                  ensemble.dataset["outputs"].to_numpy())
    assert back.variables == ensemble.variables
    assert list(back.dataset["units"].to_numpy()) == list(ensemble.dataset["units"].to_numpy())
    pd.testing.assert_frame_equal(back.factors, ensemble.factors)
    assert back.provenance == ensemble.provenance
    assert list(back.dataset["status"].to_numpy()) == ["ok"] * 5
    small = sdnet.EnsembleResult.load(ensemble.save(tmp_path / "f.zarr", dtype="float32"))
    assert small.dataset["outputs"].dtype == np.float32
    np.testing.assert_array_equal(small.dataset["outputs"].to_numpy(),
                                  ensemble.dataset["outputs"].to_numpy().astype(np.float32))
    # old NetCDF files are read as before
    old = sdnet.EnsembleResult.load(ensemble.save(tmp_path / "e.nc"))
    np.testing.assert_array_equal(old.dataset["outputs"].to_numpy(),
                                  back.dataset["outputs"].to_numpy())


def test_xarray_opens_a_store_with_named_dimensions(
    tmp_path: Path, ensemble: sdnet.EnsembleResult
) -> None:
    import xarray as xr

    path = ensemble.save(tmp_path / "e.zarr")
    with xr.open_zarr(path, consolidated=False, chunks=None) as opened:
        assert opened["outputs"].dims == ("run", "time", "variable")
        assert [str(v) for v in opened["factor"].to_numpy()] == ["word_of_mouth"]
        np.testing.assert_array_equal(opened["outputs"].to_numpy(),
                                      ensemble.dataset["outputs"].to_numpy())


def test_a_store_with_blocks_missing_is_refused_naming_them(
    tmp_path: Path, ensemble: sdnet.EnsembleResult
) -> None:
    store = EnsembleStore.create(
        tmp_path / "half.zarr", times=ensemble.dataset["time"].to_numpy(),
        columns=ensemble.variables, units=["" for _ in ensemble.variables],
        factor_names=["word_of_mouth"], n_runs=5, block_size=2)
    first = store.blocks()[0]
    store.write_block(first, values=ensemble.dataset["outputs"].to_numpy()[:2],
                      ok=np.ones(2, bool), failure=["", ""], numerics=["", ""],
                      factors=np.zeros((2, 1)))
    assert store.done().tolist() == [True, False, False]
    with pytest.raises(ResultFileError) as error:
        sdnet.EnsembleResult.load(tmp_path / "half.zarr")
    assert str(error.value) == (
        f"{tmp_path / 'half.zarr'} lacks 2 of 3 blocks of runs (its run did not finish); run "
        "the same command again to complete it")
    (tmp_path / "plain").mkdir()
    with pytest.raises(ResultFileError, match="is a folder, not an ensemble file"):
        sdnet.EnsembleResult.load(tmp_path / "plain")


def test_the_disk_estimate_is_the_uncompressed_size() -> None:
    assert estimate_bytes(1000, 121, 9, 54, dtype="float64") == (
        1000 * (121 * 9 * 8 + 54 * 8 + 24) + 2**20)
    assert estimate_bytes(1000, 121, 9, 0, dtype="float32") == 1000 * (121 * 9 * 4 + 24) + 2**20


# -- sdnet ensemble: blocks, resumption, disk ------------------------------------------------


def test_a_killed_ensemble_keeps_its_blocks_and_the_rerun_resumes_identically(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import sdnet.scheduler
    from sdnet.cli import main

    monkeypatch.setattr(sdnet.scheduler, "BLOCK_SIZE", 3)
    original = sdnet.scheduler.run_block
    ran: list[int] = []

    def dies_on_the_third_block(compiled, job, block, factors):  # type: ignore[no-untyped-def]
        if block.index == 2:
            raise KeyboardInterrupt
        ran.append(block.index)
        return original(compiled, job, block, factors)

    monkeypatch.setattr(sdnet.scheduler, "run_block", dies_on_the_third_block)
    out = tmp_path / "ens"
    assert main(_argv(out)) == 130
    assert not out.exists()
    work = tmp_path / ".ens.sdnet-work" / "ensemble.zarr"
    assert EnsembleStore.open(work).done().tolist() == [True, True, False]
    monkeypatch.setattr(sdnet.scheduler, "run_block", original)
    capsys.readouterr()
    assert main(_argv(out)) == 0
    printed = capsys.readouterr().out
    assert "resuming: 6 of 9 runs were written by an interrupted attempt (kept)" in printed
    assert "9 runs of tiny_network.mdl (vector, euler), 2 factors, 0 failed, 0 flagged by the " \
        "numerical guard, 6 of them kept from an interrupted attempt" in printed
    assert not (tmp_path / ".ens.sdnet-work").exists()  # removed once the folder is whole
    resumed = sdnet.EnsembleResult.load(out / "ensemble.zarr")
    monkeypatch.setattr(sdnet.scheduler, "BLOCK_SIZE", 100)
    assert main(_argv(tmp_path / "whole")) == 0
    whole = sdnet.EnsembleResult.load(tmp_path / "whole" / "ensemble.zarr")
    np.testing.assert_array_equal(resumed.dataset["outputs"].to_numpy(),
                                  whole.dataset["outputs"].to_numpy())
    pd.testing.assert_frame_equal(resumed.factors, whole.factors)


def test_an_ensemble_that_does_not_fit_on_the_disk_is_refused_before_it_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import shutil
    from collections import namedtuple

    from sdnet.cli import main

    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda _path: usage(10**9, 10**9 - 1000, 1000))
    out = tmp_path / "ens"
    assert main(_argv(out)) == 2
    needed = estimate_bytes(9, 121, 5, 2) + 9 * 2 * 24
    assert capsys.readouterr().err == (
        f"sdnet ensemble: error: the ensemble of tiny_network.mdl (9 runs, seed 3) needs up to "
        f"{needed / 1e9:.2f} GB in {out} but only 0.00 GB are free on that disk; free some "
        "space, write elsewhere (--out), keep fewer variables (--vars) or store float32 "
        "(--dtype float32)\n")
    assert not out.exists()
    with pytest.raises(DiskSpaceError) as error:
        sdnet.outputs.check_disk_space(out, needed)
    assert (error.value.needed, error.value.free) == (needed, 1000)


def test_the_estimate_is_printed_and_big_factor_tables_are_parquet(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import sdnet.commands.ensemble as command
    from sdnet.cli import main

    monkeypatch.setattr(command, "PARQUET_ROWS", 5)
    out = tmp_path / "ens"
    assert main(_argv(out, "--dtype", "float32", "--export", "csv")) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("the ensemble of tiny_network.mdl (9 runs, seed 3): 9 runs x "
                              "121 times x 5 variables (float32) need at most 1.3 MB on disk (")
    parquet = pd.read_parquet(out / "factors.parquet")
    csv = pd.read_csv(out / "factors.csv", index_col="run")
    pd.testing.assert_frame_equal(parquet, csv)
    stored = sdnet.EnsembleResult.load(out / "ensemble.zarr")
    assert stored.dataset["outputs"].dtype == np.float32
    rows = pd.read_csv(out / "trajectories.csv")
    assert list(rows.columns[:2]) == ["run", "time"] and len(rows) == 9 * 121
    np.testing.assert_array_equal(
        rows[stored.variables].to_numpy().reshape(9, 121, -1).astype(np.float32),
        stored.dataset["outputs"].to_numpy())


def test_where_processes_cannot_fork_a_spawn_pool_gives_the_same_bits(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sdnet.engine.parallel
    import sdnet.scheduler
    from sdnet.cli import main

    monkeypatch.setattr(sdnet.scheduler, "BLOCK_SIZE", 5)
    assert sdnet.scheduler.local_executor() == "here"
    assert main(_argv(tmp_path / "here")) == 0
    monkeypatch.setattr(sdnet.engine.parallel, "can_fork", lambda: False)  # macOS, Windows
    monkeypatch.setattr(sdnet.scheduler, "default_workers", lambda: 2)
    assert sdnet.scheduler.local_executor() == "processes"
    assert main(_argv(tmp_path / "spawned")) == 0
    here = sdnet.EnsembleResult.load(tmp_path / "here" / "ensemble.zarr")
    spawned = sdnet.EnsembleResult.load(tmp_path / "spawned" / "ensemble.zarr")
    assert here.dataset["outputs"].to_numpy().tobytes() == \
        spawned.dataset["outputs"].to_numpy().tobytes()
    assert list(here.dataset["numerics"].to_numpy()) == \
        list(spawned.dataset["numerics"].to_numpy())


# -- clusters --------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["local", "local:0", "local:x", "2", "tcp://host",
                                   "http://h:1", "tcp://h:99999", ""])
def test_a_bad_cluster_value_names_the_option_and_the_valid_forms(
    value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from sdnet.cli import main

    with pytest.raises(ClusterError) as error:
        parse_cluster(value)
    assert str(error.value) == (
        f"invalid value for --cluster: {value!r} (expected local:N (a LocalCluster of N worker "
        "processes on this machine, e.g. local:2) or tcp://HOST:PORT (a running dask "
        "scheduler, e.g. tcp://10.0.0.5:8786))")
    with pytest.raises(SystemExit) as exit_code:
        main(["ensemble", str(MODEL), "--samples", "2", "--cluster", value])
    assert exit_code.value.code == 2
    assert f"argument --cluster: invalid value {value!r} (expected local:N" in \
        capsys.readouterr().err
    assert parse_cluster("tcp://10.0.0.5:8786") == ClusterSpec("address",
                                                               address="tcp://10.0.0.5:8786")


def test_an_unreachable_scheduler_fails_clearly_within_the_timeout() -> None:
    import time

    started = time.perf_counter()
    with pytest.raises(ClusterError) as error, connect("tcp://127.0.0.1:9", timeout=1.0):
        pass
    assert time.perf_counter() - started < 15
    assert str(error.value).startswith("cannot reach the dask scheduler at tcp://127.0.0.1:9 "
                                       "within 1 s (")


def test_without_a_cluster_nothing_needs_dask(tmp_path: Path) -> None:
    """dask hidden (as if not installed): an ensemble runs without even looking for
    dask.distributed; --cluster says what to install. (xarray itself imports dask whenever it
    is installed, so "dask not imported" cannot be the test; "not needed" is.)"""
    code = (
        "import sys\nsys.modules['dask'] = None\nlooked = []\n"
        "class Watch:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        looked.append(name) if name.split('.')[0] == 'distributed' else None\n"
        "sys.meta_path.insert(0, Watch())\n"
        "from sdnet.cli import main\n"
        f"assert main({_argv(tmp_path / 'ens')!r}) == 0\n"
        "assert not looked and 'distributed' not in sys.modules, looked\n"
        f"assert main({_argv(tmp_path / 'ens2', '--cluster', 'local:2')!r}) == 2\n"
        "assert looked[0] == 'distributed', looked\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=ROOT, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stderr.splitlines()[-1] == (
        "sdnet ensemble: error: --cluster needs dask.distributed, which is not installed: pip "
        "install 'sdnet[scale]' (or run without --cluster)")
    assert (tmp_path / "ens" / "ensemble.zarr").is_dir()


@pytest.fixture(scope="module")
def scheduler() -> object:
    """A LocalCluster of two worker processes (started once for the tests below, which run
    on one pytest-xdist worker: group "cluster")."""
    distributed = pytest.importorskip("distributed",
                                      reason="dask.distributed (sdnet[scale]) not installed")
    import cloudpickle
    import dask

    # the worker hooks below are sent by value: workers need not import this test module
    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    with dask.config.set({"distributed.comm.timeouts.connect": "60s"}), \
            distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                     dashboard_address=":0", silence_logs=50) as cluster:
        yield cluster.scheduler_address


class _Hook:
    """A worker plugin (installed on every worker, also on one that joins later) that wraps
    :func:`sdnet.scheduler.run_block` in the worker: it appends each block it integrated to
    the file ``log``; with ``kill``, the first attempt at that block kills its worker process
    (``os._exit``, as a lost machine); with ``hold``, blocks from that index on wait until
    the file ``release`` exists and then fail without integrating anything."""

    name = "sdnet-test-hook"

    def __init__(self, log: Path, *, kill: int = -1, hold: int = -1,
                 release: Path | None = None) -> None:
        self.log, self.kill, self.hold = str(log), kill, hold
        self.release = str(release or log.with_suffix(".release"))

    def setup(self, worker: object = None) -> None:
        import os
        import time

        import sdnet.scheduler as scheduler

        original = scheduler.__dict__.setdefault("_unhooked_run_block", scheduler.run_block)
        killed = Path(self.log + ".killed")

        def hooked(compiled, job, block, factors):  # type: ignore[no-untyped-def]
            if block.index == self.kill and not killed.exists():
                killed.write_text(str(os.getpid()))
                os._exit(1)
            if 0 <= self.hold <= block.index:
                deadline = time.monotonic() + 60
                while not Path(self.release).exists() and time.monotonic() < deadline:
                    time.sleep(0.02)
                raise RuntimeError(f"block {block.index} held, then dropped")
            outcome = original(compiled, job, block, factors)
            with open(self.log, "a", encoding="utf-8") as handle:
                handle.write(f"{block.index} {block.size}\n")
            return outcome

        scheduler.run_block = hooked

    def teardown(self, worker: object = None) -> None:
        import sdnet.scheduler as scheduler

        scheduler.run_block = scheduler.__dict__.pop("_unhooked_run_block",
                                                     scheduler.run_block)


@contextlib.contextmanager
def _hooked(scheduler: str, hook: _Hook) -> Iterator[object]:
    """A client of ``scheduler`` with ``hook`` installed on its workers (removed at the end)."""
    import distributed

    class Plugin(distributed.WorkerPlugin):
        def setup(self, worker: object) -> None:
            hook.setup(worker)

        def teardown(self, worker: object) -> None:
            hook.teardown(worker)

    with distributed.Client(scheduler, timeout=60) as client:
        client.register_plugin(Plugin(), name=_Hook.name)
        try:
            yield client
        finally:
            client.unregister_worker_plugin(_Hook.name)


def _logged(log: Path, *, sizes: bool = False) -> list[int]:
    """The blocks the workers integrated (their indices, or with ``sizes`` their runs)."""
    lines = log.read_text().splitlines() if log.exists() else []
    return sorted(int(line.split()[1 if sizes else 0]) for line in lines)


@pytest.mark.xdist_group("cluster")
def test_a_cluster_of_two_workers_gives_the_same_bits(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, scheduler: str
) -> None:
    import sdnet.scheduler
    from sdnet.cli import main

    monkeypatch.setattr(sdnet.scheduler, "BLOCK_SIZE", 4)  # 3 blocks over 2 workers
    assert main(_argv(tmp_path / "here")) == 0
    assert main(_argv(tmp_path / "cluster", "--cluster", scheduler)) == 0
    here = sdnet.EnsembleResult.load(tmp_path / "here" / "ensemble.zarr")
    there = sdnet.EnsembleResult.load(tmp_path / "cluster" / "ensemble.zarr")
    assert here.dataset["outputs"].to_numpy().tobytes() == \
        there.dataset["outputs"].to_numpy().tobytes()
    pd.testing.assert_frame_equal(here.factors, there.factors)
    assert there.provenance is not None and there.provenance.spec["cluster"] == scheduler
    assert here.flags == there.flags
    # the same workers, another ensemble of another size in the same folder
    bigger = _argv(tmp_path / "cluster", "--cluster", scheduler, "--overwrite")
    bigger[bigger.index("9")] = "14"
    assert main(bigger) == 0
    assert len(sdnet.EnsembleResult.load(tmp_path / "cluster" / "ensemble.zarr").ok) == 14


@pytest.mark.xdist_group("cluster")
def test_workers_that_run_other_code_are_refused_naming_what_differs(scheduler: str) -> None:
    import distributed

    from sdnet.cluster import check_environment, environment

    here = environment()
    assert set(here) == {"python", "numpy", "numba", "sdnet", "sdnet code"}
    with distributed.Client(scheduler, timeout=60) as client:
        check_environment(client)  # the same Python, libraries and code: accepted
        n_workers = len(client.scheduler_info()["workers"])
        with pytest.raises(ClusterError) as error:
            check_environment(client, here={**here, "numpy": "1.0.0"})
    text = str(error.value)
    assert text.startswith(f"the workers of {scheduler} do not run what this machine runs, "
                           "so their numbers would not be the same bit for bit: tcp://")
    assert text.count(f"has numpy {here['numpy']} (here 1.0.0)") == n_workers >= 1
    assert text.endswith("Install the same Python, numpy, numba and sdnet on every worker "
                         '(docs/scaling.md, "Several machines")')


@pytest.mark.xdist_group("cluster")
def test_workers_write_the_store_themselves_only_where_they_see_its_folder(
    tmp_path: Path, scheduler: str
) -> None:
    import distributed

    from sdnet.cluster import sees_folder

    class Elsewhere:  # a worker on another machine, without a shared file system
        def run(self, function: object, *args: object, on_error: str) -> dict[str, bool]:
            return {"tcp://10.0.0.6:40000": False, "tcp://127.0.0.1:40001": True}

    assert not sees_folder(Elsewhere(), tmp_path)
    with distributed.Client(scheduler, timeout=60) as client:
        assert sees_folder(client, tmp_path)  # the LocalCluster's workers see this disk
    assert list(tmp_path.iterdir()) == []  # the probe is gone


@pytest.mark.xdist_group("cluster")
@pytest.mark.filterwarnings("ignore::sdnet.errors.SdnetWarning")
def test_every_stage_of_a_screened_grown_study_runs_on_the_cluster_with_the_same_bits(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, scheduler: str
) -> None:
    """The main Morris screen, the extra Morris seeds, the Sobol' stage, its growth, the
    integration check (half step, RK4) and the threshold bisection all run on the cluster:
    this process is forbidden to integrate anything, and the numbers equal a run without a
    cluster bit for bit."""
    import sdnet.experiment.analyses as analyses
    import sdnet.runner
    from sdnet.experiment import load_experiment, run_experiment

    sys.path.insert(0, str(ROOT / "tests" / "integration"))
    from test_study import _write_study  # type: ignore[import-not-found]

    study = load_experiment(_write_study(
        tmp_path, region={"preset": "typical"},
        factors=[{"name": "push_duration", "bounds": [0, 10]},
                 {"name": "push_amount", "bounds": [0, 800000]}, {"name": "word_of_mouth"},
                 {"name": "attrition_rate"}],
        design={"method": "morris", "n": 4},
        metrics=[{"name": "members_share"},
                 {"name": "peak_members", "variable": "Total Members", "reducer": "peak"}],
        analysis={"screen": {"top": 3, "n": 8, "metric": "members_share", "seeds": 2},
                  "grow": {"max_n": 16, "top": 2}, "integration_check": {"n": 4},
                  "thresholds": {"amounts": [200000], "duration": [0, 10], "tol": 0.5}}))
    here = run_experiment(study, progress=False)

    def nothing_here(*args: object, **kwargs: object) -> None:
        raise AssertionError("a stage integrated runs in the client, not on the cluster")

    monkeypatch.setattr(sdnet.runner, "_vector_chunk", nothing_here)
    bisected: list[int] = []  # runs of each step of the threshold bisection
    sustained_of = analyses._sustained_of
    monkeypatch.setattr(analyses, "_sustained_of", lambda model, study, table, **options: (
        bisected.append(len(table)), sustained_of(model, study, table, **options))[1])
    log = tmp_path / "blocks.log"
    with _hooked(scheduler, _Hook(log)):
        there = run_experiment(study, progress=False, cluster=scheduler)
    growth = there.summary["growth"]
    assert growth["sizes"] == [8, 16] == here.summary["growth"]["sizes"]  # it grew once
    assert there.summary["screen_stability"]["seeds"] == \
        here.summary["screen_stability"]["seeds"]
    # every run of every stage was integrated on the cluster, once: the study's screen, the
    # second seed's, the Sobol' stage, its added rows, the half-step and the RK4 re-runs,
    # the bisection's steps; each stage (one chunk) was cut into tasks for the two workers
    n_screen = here.screen_design.n_runs * len(study.cases)
    n_sobol = 8 * (2 + 3) * len(study.cases)  # the added rows of N = 16 are as many
    stages = [n_screen, n_screen, n_sobol, n_sobol, 4, 4]
    assert max(stages) <= study.run.chunk_size
    assert bisected  # the bracket's ends, then its halvings
    assert sum(_logged(log, sizes=True)) == sum(stages) + sum(bisected)
    assert len(_logged(log)) >= 2 * len(stages)
    assert list(here.ensemble.dataset["numerics"].to_numpy()) == \
        list(there.ensemble.dataset["numerics"].to_numpy())
    assert here.ensemble.dataset["outputs"].to_numpy().tobytes() == \
        there.ensemble.dataset["outputs"].to_numpy().tobytes()
    pd.testing.assert_frame_equal(here.metrics, there.metrics)
    pd.testing.assert_frame_equal(here.runs, there.runs)
    for key in ("screen_stability", "growth", "integration_check", "numerical_flags",
                "thresholds"):
        assert key in there.summary and here.summary[key] == there.summary[key], key


@pytest.mark.xdist_group("cluster")
def test_ensembles_and_package_comparisons_run_on_the_cluster_with_the_same_bits(
    tmp_path: Path, tiny: sdnet.Model, ensemble: sdnet.EnsembleResult, scheduler: str
) -> None:
    """run_ensemble(cluster=) and evaluate_packages(cluster=) (each generation of
    [optimize] is one) give the local numbers, guard findings and failure texts."""
    from sdnet.decision import Package, evaluate_packages
    from sdnet.metrics import user_metric

    bass = sdnet.load_model(DATA / "bass_diffusion.mdl")
    worlds = pd.DataFrame({"imitation_coefficient": [0.05, 0.3, 0.9]})
    worlds.index.name = "world"
    adopted = user_metric("adopted", variable="Adopters", reducer="final")
    packages = [Package("quiet", params={"innovation_coefficient": 0.001}),
                Package("loud", params={"innovation_coefficient": 0.05})]
    here = evaluate_packages(bass, packages, worlds, outcomes=[adopted], final_time=10)
    log = tmp_path / "blocks.log"
    with _hooked(scheduler, _Hook(log)) as client:
        there = evaluate_packages(bass, packages, worlds, outcomes=[adopted], final_time=10,
                                  cluster=client)
        runs = run_ensemble(tiny, {"word_of_mouth": [0.1, 0.2, 0.3, 0.5, 0.6]},
                            progress=False, seed=4, cluster=client)
    pd.testing.assert_frame_equal(here, there)
    assert sum(_logged(log, sizes=True)) == 6 + 5 and len(_logged(log)) >= 4
    assert runs.dataset["outputs"].to_numpy().tobytes() == \
        ensemble.dataset["outputs"].to_numpy().tobytes()
    for name in ("status", "failure", "numerics"):
        assert list(runs.dataset[name].to_numpy()) == list(ensemble.dataset[name].to_numpy())
    assert runs.flags == ensemble.flags


@pytest.mark.xdist_group("cluster")
def test_a_lost_worker_costs_its_block_once_and_the_result_is_whole_and_identical(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, scheduler: str
) -> None:
    import os

    import sdnet.scheduler
    from sdnet.cli import main

    monkeypatch.setattr(sdnet.scheduler, "BLOCK_SIZE", 3)  # 3 blocks
    assert main(_argv(tmp_path / "here")) == 0
    log = tmp_path / "blocks.log"
    with _hooked(scheduler, _Hook(log, kill=1)):
        assert main(_argv(tmp_path / "cluster", "--cluster", scheduler)) == 0
    pid = int((tmp_path / "blocks.log.killed").read_text())  # the worker died at block 1 ...
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert _logged(log) == [0, 1, 2]  # ... and another integrated it, once
    here = sdnet.EnsembleResult.load(tmp_path / "here" / "ensemble.zarr")
    there = sdnet.EnsembleResult.load(tmp_path / "cluster" / "ensemble.zarr")
    assert there.dataset["outputs"].to_numpy().tobytes() == \
        here.dataset["outputs"].to_numpy().tobytes()
    assert list(there.dataset["status"].to_numpy()) == ["ok"] * 9
    pd.testing.assert_frame_equal(here.factors, there.factors)


@pytest.mark.xdist_group("cluster")
def test_a_killed_client_resumes_on_the_cluster_computing_only_the_missing_blocks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
    scheduler: str
) -> None:
    """`sdnet ensemble --cluster` in a process killed (SIGKILL) once two of its four blocks
    are stored; the same command again integrates only the other two, keeps the stored
    chunks untouched, and gives the bits of an uninterrupted run."""
    import time

    import sdnet.scheduler
    from sdnet.cli import main

    out = tmp_path / "ens"
    argv = _argv(out, "--cluster", scheduler)
    argv[argv.index("9")] = "12"
    work = tmp_path / ".ens.sdnet-work" / "ensemble.zarr"
    log = tmp_path / "blocks.log"
    hook = _Hook(log, hold=2)
    # the command itself, with blocks of 3 runs (4 blocks) for a small test
    code = ("import sys\nimport sdnet.scheduler\nsdnet.scheduler.BLOCK_SIZE = 3\n"
            f"from sdnet.cli import main\nsys.exit(main({argv!r}))\n")
    with _hooked(scheduler, hook) as client:
        client_process = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT,
                                          stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            deadline = time.monotonic() + 120
            while _done(work)[:2] != [True, True]:
                assert client_process.poll() is None, client_process.communicate()
                assert time.monotonic() < deadline, "blocks 0 and 1 were never stored"
                time.sleep(0.05)
        finally:
            client_process.kill()
            client_process.communicate()
        # the scheduler forgets the dead client's tasks; then the held ones may end
        while client.run_on_scheduler(lambda dask_scheduler: len(dask_scheduler.tasks)):
            assert time.monotonic() < deadline, "the scheduler kept the killed client's tasks"
            time.sleep(0.05)
        Path(hook.release).touch()
    assert not out.exists() and _done(work) == [True, True, False, False]
    kept = {p: p.stat().st_mtime_ns for p in (work / "outputs").rglob("*") if p.is_file()}
    assert _logged(log) == [0, 1]

    monkeypatch.setattr(sdnet.scheduler, "BLOCK_SIZE", 3)
    capsys.readouterr()
    with _hooked(scheduler, _Hook(log)):
        assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "resuming: 6 of 12 runs were written by an interrupted attempt (kept)" in printed
    assert _logged(log) == [0, 1, 2, 3]  # blocks 2 and 3 only, once each
    final = out / "ensemble.zarr"
    for path, stamp in kept.items():  # the kept blocks' chunks were not written again
        assert (final / path.relative_to(work)).stat().st_mtime_ns == stamp
    resumed = sdnet.EnsembleResult.load(final)
    assert main([*_argv(tmp_path / "whole"), "--samples", "12"]) == 0
    whole = sdnet.EnsembleResult.load(tmp_path / "whole" / "ensemble.zarr")
    assert resumed.dataset["outputs"].to_numpy().tobytes() == \
        whole.dataset["outputs"].to_numpy().tobytes()
    pd.testing.assert_frame_equal(resumed.factors, whole.factors)


def _done(store: Path) -> list[bool]:
    """The ``done`` mask of a store being written by another process (empty until readable)."""
    try:
        return EnsembleStore.open(store, mode="r").done().tolist()
    except (ResultFileError, KeyError, OSError, ValueError):
        return []


def test_a_big_study_writes_zarr_and_parquet_and_the_report_reads_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sdnet.experiment.folder as folder
    from sdnet.experiment import run_experiment
    from sdnet.reports._results import load_results

    sys.path.insert(0, str(ROOT / "tests" / "integration"))
    from test_study import _small_study  # type: ignore[import-not-found]

    study = _small_study(tmp_path / "spec")
    with pytest.warns(sdnet.errors.SdnetWarning):
        run_experiment(study, out=tmp_path / "small", progress=False)
    monkeypatch.setattr(folder, "PARQUET_ROWS", 1)
    monkeypatch.setattr(folder, "ZARR_BYTES", 1)
    with pytest.warns(sdnet.errors.SdnetWarning):
        run_experiment(study, out=tmp_path / "big", progress=False)
    names = {p.name for p in (tmp_path / "big").iterdir()}
    assert {"factors.parquet", "metrics.parquet", "ensemble.zarr"} <= names
    assert not {"factors.csv", "metrics.csv", "ensemble.nc"} & names
    small, big = load_results(tmp_path / "small"), load_results(tmp_path / "big")
    assert small.ensemble is not None and big.ensemble is not None
    np.testing.assert_array_equal(small.ensemble.dataset["outputs"].to_numpy(),
                                  big.ensemble.dataset["outputs"].to_numpy())
    pd.testing.assert_frame_equal(small.metrics, big.metrics, check_dtype=False)
    pd.testing.assert_frame_equal(small.factors, big.factors, check_dtype=False)
