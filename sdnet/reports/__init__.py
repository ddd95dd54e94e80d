"""Reports: the only code that writes figures, HTML and Markdown.

:func:`write_report` turns a study's results folder (layout in ``docs/architecture.md``) into

* ``report.html``: one self-contained file (figures inline as SVG, styles inline, no script,
  no request to any network address) that can be opened and forwarded as is;
* ``report.md``: the same content, with the figures as ``figures/*.svg``;
* ``tables/*.csv``: every table of the report.

Sections the study did not produce are replaced by a short note saying what is absent.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from sdnet.outputs import output_folder
from sdnet.reports._brief import BriefItem
from sdnet.reports._build import build_sections
from sdnet.reports._calibration import write_history_match, write_point_fit
from sdnet.reports._document import (
    render_figures,
    render_html,
    render_markdown,
    write_assets,
)
from sdnet.reports._results import StudyResults, load_results

__all__ = [
    "BriefItem",
    "StudyResults",
    "load_results",
    "write_diagram",
    "write_history_match",
    "write_point_fit",
    "write_report",
]


def write_report(results_dir: str | Path, *, out: str | Path | None = None,
                 overwrite: bool = False, progress: Callable[[str], None] | None = None,
                 workers: int | None = None) -> Path:
    """Write the report of a finished study.

    The report folder is written whole (see :mod:`sdnet.outputs`): a new or empty folder, or
    one holding an earlier report of the same results folder, which is replaced (only the files
    sdnet wrote there are removed; files you added stay).

    Parameters
    ----------
    results_dir : str or Path
        The study's results folder.
    out : str or Path, optional
        Folder to write into (created if needed); ``<results_dir>/report`` when omitted.
    overwrite : bool
        Replace another output in ``out`` (a report of another study, a study, a run).
    progress : callable, optional
        Told in a few words what is being done (each section, each figure rendered), e.g.
        to print on stderr; nothing is printed otherwise.
    workers : int, optional
        Processes rendering the figures (default: one per CPU, at most 4; 1 renders them in
        this process).

    Returns
    -------
    Path
        The path of ``report.html``.

    Raises
    ------
    ResultsFolderError
        The folder does not exist, is not a study's results folder, or a file is malformed.
    OutputFolderError
        ``out`` is a file, holds files sdnet did not write, or holds another output and
        ``overwrite`` is false (:class:`~sdnet.errors.OutputFolderLockedError` when another
        sdnet command is writing it).
    """
    results = load_results(results_dir)
    out_dir = Path(out) if out is not None else results.path / "report"
    source = results.path.resolve()
    with output_folder(out_dir, kind="report", identity=str(source),
                       label=f"the report of {results.path}", overwrite=overwrite) as staging:
        title, subtitle, sections = build_sections(results, progress=progress)
        sections = render_figures(sections, workers=workers, progress=progress)
        write_assets(sections, staging.path)
        (staging.path / "report.md").write_text(render_markdown(title, subtitle, sections),
                                                encoding="utf-8")
        (staging.path / "report.html").write_text(render_html(title, subtitle, sections),
                                                  encoding="utf-8")
    return out_dir / "report.html"


def write_diagram(
    model: str | Path, out: str | Path, *, view: str | None = None
) -> Path:
    """Draw a model's stock-and-flow diagram (one view, or every view stacked) to a file.

    Parameters
    ----------
    model : str or Path
        The Vensim ``.mdl`` file.
    out : str or Path
        The image to write; its suffix picks the format (``.svg``, ``.png``, ``.pdf``).
    view : str, optional
        Name of the view to draw; every view, one above the other, when omitted.

    Raises
    ------
    ModelNotFoundError, SketchError, UnknownViewError
        The model is missing, has no (or an empty) diagram, or no view of that name.
    """
    from matplotlib.figure import Figure

    from sdnet.errors import SketchError
    from sdnet.plotting.diagram import diagram_figsize, plot_diagram
    from sdnet.reports._document import svg_bytes
    from sdnet.sketch import read_sketch

    sketch = read_sketch(model)
    views = [sketch.view(view)] if view is not None else list(sketch.views)
    views = [v for v in views if v.objects()]
    if not views:
        which = f"view {view!r}" if view is not None else "every view"
        raise SketchError(f"nothing to draw: {which} of model {model} is empty", path=model)
    # one scale for every view: each is drawn as wide (in pixels) as the widest
    span = max(v.bounds()[2] - v.bounds()[0] for v in views)
    sizes = [diagram_figsize(v, min_width=span) for v in views]
    width = max(w for w, _ in sizes)
    figure = Figure(figsize=(width, sum(h for _, h in sizes)), layout="constrained")
    grid = figure.add_gridspec(len(views), 1, height_ratios=[h for _, h in sizes])
    for i, v in enumerate(views):
        plot_diagram(v, ax=figure.add_subplot(grid[i, 0]), min_width=span)
    out_path = Path(out)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    if out_path.suffix.lower() == ".svg":
        out_path.write_bytes(svg_bytes(figure))
    else:
        figure.savefig(out_path, dpi=200)
    return out_path
