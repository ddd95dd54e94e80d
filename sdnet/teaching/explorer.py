"""Interactive exploration for the teaching notebooks: sliders that re-run the model.

An :class:`Explorer` holds one figure: the current run of the model (solid), the previous run
(a grey "ghost" line, to compare before and after a change), and the push period shaded (full
strength dark, phase-out light). Moving a slider re-runs the model with the vectorized engine
and redraws.

Speed (``benchmarks/interactive_latency.py``, 2-core machine, nothing else running). A slider
move re-runs one model run on the vectorized engine (13 ms for flexnet at the explorer's time
step of 1/8 year: a single run computes with numpy scalars, see ``sdnet.engine.functions.full``)
and draws only what changed over a cached background (blitting); a new y-range redraws the two
y axes over a cached frame (about 25 ms) instead of the whole figure (55 ms). Measured over 60
random moves: median 33 ms, slowest 58 ms, against a target of 100 ms per change.
``prefetch=True`` also runs, after each change and in one vectorized call, every setting one
slider move away, so the next move is a cache hit (median 20 ms); it is off by default because
the prefetch itself takes 90-340 ms, during which a notebook cannot answer the next move.

ipywidgets is an optional extra (``pip install sdnet[teach]``): :meth:`Explorer.widget` needs
it; everything else (updates, figure, prefetch) works without it, which is how the notebook
tests run headless.
"""

from __future__ import annotations

import functools
import io
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from sdnet.card import ModelCard
from sdnet.errors import InvalidValueError, UnknownVariableError

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from sdnet.policy import Push
    from sdnet.teaching.challenge import EnsembleSimulator

__all__ = ["Explorer", "Slider", "card_sliders"]


@dataclass(frozen=True, slots=True)
class Slider:
    """One slider: a model constant (Python name) and its grid of positions.

    Attributes
    ----------
    name : str
        Python name of the constant, e.g. ``"push_amount"``.
    label : str
        What the slider shows.
    lower, upper, step : float
        The grid ``lower, lower + step, ..., upper`` (in the constant's units).
    """

    name: str
    label: str
    lower: float
    upper: float
    step: float

    @property
    def positions(self) -> np.ndarray:
        """Every value the slider can take."""
        n = round((self.upper - self.lower) / self.step)
        return np.round(self.lower + self.step * np.arange(n + 1), 10)

    def snap(self, value: float) -> float:
        """The grid position nearest to ``value``."""
        positions = self.positions
        return float(positions[int(np.argmin(np.abs(positions - value)))])


def card_sliders(card: ModelCard, parameters: Any) -> tuple[Slider, ...]:
    """The sliders a model offers: the card's ``[model] sliders`` (a name alone spans the
    declared range in 20 steps), else every lever and region constant with a declared range.
    """
    if not card.sliders:
        return tuple(_as_slider(p.name, parameters) for kind in ("lever", "region")
                     for p in parameters.of_kind(kind).values()
                     if p.bounded and p.upper > p.lower)
    sliders = []
    for entry in card.sliders:
        base = _as_slider(entry["name"], parameters)
        lower, upper = entry.get("lower", base.lower), entry.get("upper", base.upper)
        sliders.append(Slider(base.name, entry.get("label", base.label), lower, upper,
                              entry.get("step", (upper - lower) / 20)))
    return tuple(sliders)


class Explorer:
    """Re-run the model as sliders move; draw the run, a ghost of the previous one, the push.

    Parameters
    ----------
    simulator : EnsembleSimulator
        The vectorized model, ``sdnet.engine.compile_model(path)``; see :meth:`from_path`.
    card : ModelCard, optional
        The model's card (:meth:`from_path` finds it): its presets, push schedule, sliders
        and report variables. Default: the neutral card.
    variables : sequence of str, optional
        Output columns to plot, one panel each (Vensim names); default the card's first two
        ``report_variables``, else the first two outputs.
    region : str, optional
        A preset of the card whose values start the sliders.
    push : Push, optional
        A push of the card's schedule to start from.
    values : mapping, optional
        Starting values of any constants (Python names); they win over region and push.
    sliders : sequence of Slider or str, optional
        Which constants get sliders (default :func:`card_sliders`). A name (Python or
        Vensim spelling) gets a slider over the constant's declared range in 20 steps.
    final_time : float
        Horizon, Year.
    time_step : float
        Integration step, Year (1/8 keeps a cold update short; see the module docstring).
    prefetch : bool
        Run every one-move neighbour after each change (off by default; see the module
        docstring).
    """

    def __init__(
        self,
        simulator: EnsembleSimulator,
        *,
        card: ModelCard | None = None,
        variables: Sequence[str] | None = None,
        region: str | None = None,
        push: Push | None = None,
        values: Mapping[str, float] | None = None,
        sliders: Sequence[Slider | str] | None = None,
        final_time: float = 30.0,
        time_step: float = 0.125,
        prefetch: bool = False,
    ) -> None:
        from matplotlib.figure import Figure

        card = ModelCard() if card is None else card
        self.card = card
        self.simulator = simulator
        parameters = simulator.parameters
        if variables is None:
            outputs = list(getattr(simulator, "outputs", ()))
            stocks = [v for v in getattr(simulator, "stocks", ()) if v in outputs]
            others = [v for v in outputs if v.upper() not in
                      ("INITIAL TIME", "FINAL TIME", "TIME STEP", "SAVEPER")]
            variables = ([v for v in card.report_variables if v in outputs][:2]
                         or stocks[:2] or others[:2])
        self.variables = tuple(variables)
        self.sliders = (card_sliders(card, parameters) if sliders is None
                        else tuple(_as_slider(s, parameters) for s in sliders))
        self.final_time = float(final_time)
        self.time_step = float(time_step)
        self.prefetching = prefetch
        start: dict[str, float] = {}
        if region is not None:
            start |= parameters.resolve(dict(card.preset(region).values))
        if push is not None:
            start |= parameters.resolve(push.as_params(card))
        start |= parameters.resolve(dict(values or {}))
        self.values: dict[str, float] = {}
        for slider in self.sliders:
            default = start.get(slider.name, parameters[slider.name].default)
            self.values[slider.name] = slider.snap(default)
        self.fixed = {k: v for k, v in start.items() if k not in self.values}
        self._cache: dict[tuple[float, ...], dict[str, np.ndarray]] = {}
        self._times: np.ndarray | None = None
        self.previous: dict[str, np.ndarray] | None = None
        self.current = self._run_many([dict(self.values)])[0]

        from matplotlib.backends.backend_agg import FigureCanvasAgg

        self.figure: Figure = Figure(figsize=(8, 2.4 * len(self.variables)), dpi=80,
                                     layout="constrained")
        self._canvas = FigureCanvasAgg(self.figure)
        axes = self.figure.subplots(len(self.variables), 1, sharex=True, squeeze=False)[:, 0]
        self.axes = tuple(axes)
        times = self._times if self._times is not None else np.zeros(0)
        self._ghosts = []
        self._lines = []
        self._spans: list[tuple[Any, Any]] = []
        for ax, name in zip(self.axes, self.variables, strict=True):
            (ghost,) = ax.plot(times, np.full_like(self.current[name], np.nan), color="0.6",
                               linestyle="--", linewidth=1.2, label="previous run")
            (line,) = ax.plot(times, self.current[name], color="C0", linewidth=2,
                              label="this run")
            full = ax.axvspan(0, 0, color="C1", alpha=0.18, linewidth=0,
                              label=card.word("schedule").removeprefix("the "))
            taper = ax.axvspan(0, 0, color="C1", alpha=0.08, linewidth=0, label="phase-out")
            ax.set_ylabel(name)
            ax.set_xlim(0, self.final_time)
            ax.grid(alpha=0.3)
            self._ghosts.append(ghost)
            self._lines.append(line)
            self._spans.append((full, taper))
        self.figure.legend(handles=[*self._lines[:1], *self._ghosts[:1], *self._spans[0]],
                           loc="outside lower center", ncols=4, fontsize="small", frameon=False)
        self.axes[-1].set_xlabel(card.time_unit or "Time")
        self._title = self.axes[0].set_title(" ", fontsize="medium")
        # What changes on an update is drawn over a cached background (blitting): rendering
        # the axes, ticks and labels again would cost more than the model run.
        self._animated = [*self._ghosts, *self._lines, *(p for pair in self._spans for p in pair),
                          self._title]
        for artist in self._animated:
            artist.set_animated(True)
        self._backgrounds: dict[tuple[float, ...], Any] = {}
        self._png: bytes | None = None  # the last update's rendering
        self._canvas.draw()  # lay the figure out once (constrained), then freeze the layout
        self.figure.set_layout_engine("none")
        # The frame: everything but the y axes, the only static part that depends on the
        # y-range. A new y-range then redraws two axes over it, not the whole figure (whose
        # legend, labels and x ticks take most of a full draw: 55 ms against about 25 ms).
        for ax in self.axes:
            ax.yaxis.set_visible(False)
        self._canvas.draw()
        self._frame = self._canvas.copy_from_bbox(self.figure.bbox)
        for ax in self.axes:
            ax.yaxis.set_visible(True)
        self._redraw()

    @classmethod
    def from_path(cls, path: str | Path, *, card: str | Path | ModelCard | None = None,
                  **options: Any) -> Explorer:
        """An explorer of the model file at ``path`` (compiled with the vectorized engine),
        with its card (the ``.toml`` beside it, or ``card``)."""
        from sdnet.card import find_card
        from sdnet.engine import compile_model

        found = card if isinstance(card, ModelCard) else find_card(path, card)
        return cls(compile_model(path), card=found, **options)

    # ----------------------------------------------------------------- running
    def _key(self, values: Mapping[str, float]) -> tuple[float, ...]:
        return tuple(round(float(values[s.name]), 9) for s in self.sliders)

    def _run_many(self, settings: Sequence[Mapping[str, float]]) -> list[dict[str, np.ndarray]]:
        missing = [s for s in settings if self._key(s) not in self._cache]
        if missing:
            batch: dict[str, Any] = dict(self.fixed)
            for slider in self.sliders:
                batch[slider.name] = np.array([s[slider.name] for s in missing])
            simulation = self.simulator.simulate(
                batch, n_runs=len(missing), final_time=self.final_time,
                time_step=self.time_step, variables=list(self.variables),
            )
            self._times = np.asarray(simulation.times, dtype=float)
            for i, setting in enumerate(missing):
                self._cache[self._key(setting)] = {
                    name: np.asarray(simulation.outputs[name])[i] for name in self.variables
                }
        runs = [self._cache[self._key(s)] for s in settings]
        _trim(self._cache, _MAX_RUNS)  # after the lookup: the runs asked for may be old ones
        return runs

    def prefetch(self) -> int:
        """Run (in one vectorized call) every setting one slider move away; return how many.

        Also renders the axes for every y-range those runs need, so the next move only draws
        the lines.
        """
        settings = []
        for slider in self.sliders:
            for position in slider.positions:
                setting = dict(self.values)
                setting[slider.name] = float(position)
                if self._key(setting) not in self._cache:
                    settings.append(setting)
        if settings:
            self._run_many(settings)
        # Render the backgrounds the next move may need (its run with this one as the ghost).
        limits = {self._limits(run, self.current) for run in self._neighbours()}
        for limit in limits - set(self._backgrounds):
            self._background_for(limit)
        if limits:
            self._redraw()  # restore this run's y-ranges
        return len(settings)

    def _neighbours(self) -> list[dict[str, np.ndarray]]:
        settings = []
        for slider in self.sliders:
            for position in slider.positions:
                setting = dict(self.values)
                setting[slider.name] = float(position)
                settings.append(setting)
        return self._run_many(settings)

    def update(self, **changes: float) -> float:
        """Set sliders (Python names), re-run and redraw; return the seconds it took.

        The time covers the model run (or cache lookup), updating the lines and rendering
        the figure to PNG, as a notebook displays it; prefetching is not included (it happens
        after the figure is shown, see :meth:`widget`).

        Raises
        ------
        UnknownVariableError
            If a name is not one of the sliders.
        InvalidValueError
            If a value is outside the slider's range.
        """
        began = time.perf_counter()
        names = {s.name: s for s in self.sliders}
        for name, value in changes.items():
            if name not in names:
                raise UnknownVariableError(name, candidates=names, what="slider",
                                           where="the explorer")
            slider = names[name]
            if not slider.lower - 1e-9 <= float(value) <= slider.upper + 1e-9:
                raise InvalidValueError(name, value, expected=f"a number in "
                                        f"[{slider.lower:g}, {slider.upper:g}]")
            self.values[name] = slider.snap(float(value))
        self.previous = self.current
        self.current = self._run_many([dict(self.values)])[0]
        self._redraw()
        self._png = self.render()  # what the widget shows: the timing includes it
        return time.perf_counter() - began

    # ----------------------------------------------------------------- drawing
    def push_period(self) -> tuple[float, float, float]:
        """Start, end of full strength, and end of phase-out of the current push (Year)."""
        value = {**self.fixed, **self.values}
        params = self.simulator.parameters
        schedule = self.card.push
        if schedule is None or not all(n in params for n in schedule.parameters.values()):
            return (0.0, 0.0, 0.0)  # no push schedule: nothing to shade

        def get(field: str) -> float:
            name = schedule.parameters.get(field)
            return 0.0 if name is None else float(value.get(name, params[name].default))

        start = get("start")
        full = start + get("duration")
        end = full + get("taper")
        return (start, start, start) if get("amount") <= 0 else (start, full, end)

    def _limits(self, current: Mapping[str, np.ndarray],
                previous: Mapping[str, np.ndarray] | None) -> tuple[float, ...]:
        """Each panel's y-range: a "nice" ceiling of the data, so few distinct ranges occur."""
        limits = []
        for name in self.variables:
            top = float(np.nanmax(current[name]))
            if previous is not None:
                top = max(top, float(np.nanmax(previous[name])))
            limits.append(_nice_ceiling(top * 1.1))
        return tuple(limits)

    def _background_for(self, limits: tuple[float, ...]) -> Any:
        """The rendered axes, ticks and labels for these y-ranges (cached: drawing is slow)."""
        if limits not in self._backgrounds:
            self._canvas.restore_region(self._frame)
            for ax, top in zip(self.axes, limits, strict=True):
                ax.set_ylim(0, top)
                ax.draw_artist(ax.yaxis)  # ticks, tick labels, grid lines and label
            self._backgrounds[limits] = self._canvas.copy_from_bbox(self.figure.bbox)
            _trim(self._backgrounds, _MAX_BACKGROUNDS)
        return self._backgrounds[limits]

    def _redraw(self) -> None:
        limits = self._limits(self.current, self.previous)
        background = self._background_for(limits)
        for ax, top in zip(self.axes, limits, strict=True):
            ax.set_ylim(0, top)
        start, full, end = self.push_period()
        times = self._times if self._times is not None else np.zeros(0)
        for i, name in enumerate(self.variables):
            self._lines[i].set_data(times, self.current[name])
            if self.previous is not None:
                self._ghosts[i].set_data(times, self.previous[name])
            full_span, taper_span = self._spans[i]
            _set_span(full_span, start, full)
            _set_span(taper_span, full, end)
        self._title.set_text(self.summary())
        self._canvas.restore_region(background)
        for artist in self._animated:
            artist.axes.draw_artist(artist)

    def summary(self) -> str:
        """One line of key numbers of the current run (for the figure title)."""
        times = self._times if self._times is not None else np.zeros(1)
        _, _, end = self.push_period()
        first = self.variables[0]
        series = self.current[first]
        at_end = float(np.interp(end, times, series))
        later = min(end + 10, self.final_time)
        after = float(np.interp(later, times, series))
        unit = (self.card.time_unit or "time").lower()
        if self.card.push is None:
            return f"{first}: {after:.1f} at {unit} {later:g}"
        return (f"{first}: {at_end:.1f} when {self.card.word('schedule')} ends ({unit} "
                f"{end:g}), {after:.1f} at {unit} {later:g}")

    def render(self) -> bytes:
        """The figure as PNG bytes, as last drawn (what the notebook shows)."""
        from PIL import Image

        buffer = io.BytesIO()
        Image.fromarray(np.asarray(self._canvas.buffer_rgba())).save(
            buffer, format="png", compress_level=1
        )
        return buffer.getvalue()

    # ----------------------------------------------------------------- widgets
    def widget(self) -> Any:
        """Sliders and the figure as an ipywidgets box (needs the 'teach' extra).

        Raises
        ------
        ImportError
            If ipywidgets is not installed; the message says how to install it.
        """
        try:
            import ipywidgets as widgets
        except ImportError as error:
            raise ImportError("the sliders need ipywidgets: pip install 'sdnet[teach]' "
                              "(or pip install ipywidgets)") from error
        from IPython.display import Image, display

        output = widgets.Output()
        timing = widgets.HTML()

        def show() -> None:
            with output:
                output.clear_output(wait=True)
                display(Image(self._png if self._png is not None else self.render()))

        def changed(name: str, change: Mapping[str, Any]) -> None:
            seconds = self.update(**{name: change["new"]})
            show()
            timing.value = f"<small>re-run and redraw: {1000 * seconds:.0f} ms</small>"
            if self.prefetching:
                self.prefetch()

        controls = []
        for slider in self.sliders:
            control = widgets.FloatSlider(
                value=self.values[slider.name], min=slider.lower, max=slider.upper,
                step=slider.step, description=slider.label, continuous_update=False,
                tooltip=slider.name, readout_format=".3g",
                style={"description_width": "110px"},
            )
            control.observe(functools.partial(changed, slider.name), names="value")
            controls.append(control)
        show()
        if self.prefetching:
            self.prefetch()
        return widgets.HBox([widgets.VBox([*controls, timing]), output])


#: caps on what an explorer keeps (oldest dropped first): runs are a few kB each, rendered
#: backgrounds about 1 MB
_MAX_RUNS = 5000
_MAX_BACKGROUNDS = 32


def _as_slider(slider: Slider | str, parameters: Any) -> Slider:
    """``slider`` itself, or a slider over the declared range of the constant it names."""
    if isinstance(slider, Slider):
        return slider
    if not isinstance(slider, str):
        raise InvalidValueError("sliders", slider,
                                expected="Slider objects or names of model constants")
    parameter = parameters[slider]  # UnknownVariableError with close matches
    if not parameter.bounded:
        raise InvalidValueError(
            "sliders", slider,
            expected=f"a constant with a declared range [min,max] in the model file "
                     f"({parameter.vensim_name} has none), or a Slider(name, label, lower, "
                     f"upper, step)",
        )
    return Slider(parameter.name, parameter.vensim_name, float(parameter.lower),
                  float(parameter.upper), (parameter.upper - parameter.lower) / 20)


def _trim(cache: dict[Any, Any], size: int) -> None:
    """Drop the oldest entries of an insertion-ordered cache beyond ``size``."""
    while len(cache) > size:
        del cache[next(iter(cache))]


def _nice_ceiling(value: float) -> float:
    """The smallest of 1, 2, 2.5, 5 times a power of ten that is >= ``value`` (1 for <= 0)."""
    if not np.isfinite(value) or value <= 0:
        return 1.0
    power = 10.0 ** np.floor(np.log10(value))
    for factor in (1.0, 2.0, 2.5, 5.0, 10.0):
        if factor * power >= value * (1 - 1e-12):
            return float(factor * power)
    return float(10 * power)  # pragma: no cover


def _set_span(patch: Any, x0: float, x1: float) -> None:
    """Move an ``axvspan`` rectangle to ``[x0, x1]`` (matplotlib >= 3.9 returns a Rectangle)."""
    if hasattr(patch, "set_x") and hasattr(patch, "set_width"):
        patch.set_x(x0)
        patch.set_width(max(x1 - x0, 0.0))
    else:  # pragma: no cover - older matplotlib returned a Polygon
        patch.set_xy([[x0, 0], [x0, 1], [x1, 1], [x1, 0]])
