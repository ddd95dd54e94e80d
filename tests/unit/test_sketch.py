"""Reading the diagram stored in .mdl files: our own two-view sketch and the conformance models."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from sdnet.errors import ModelFileError, ModelNotFoundError, SketchError, UnknownViewError
from sdnet.sketch import parse_sketch, read_sketch

DATA = Path(__file__).resolve().parents[1] / "data"
TWO_VIEWS = DATA / "two_views.mdl"
CONFORMANCE = Path(__file__).resolve().parents[3] / "shared" / "conformance"
needs_shared = pytest.mark.skipif(
    not CONFORMANCE.is_dir(), reason=f"the shared conformance models are absent ({CONFORMANCE})"
)


def _sketch_lines(path: Path) -> list[str]:
    text = path.read_bytes().decode("utf-8", errors="replace")
    body = text.split("\\\\\\---///", 1)[1].split("///---\\\\\\", 1)[0]
    return body.splitlines()


def test_views_in_file_order_with_names() -> None:
    sketch = read_sketch(TWO_VIEWS)
    assert sketch.view_names == ("Stocks and flows", "Signals")
    assert sketch.version == "V300"
    assert len(sketch) == 2
    assert sketch.path == TWO_VIEWS


def test_variables_positions_sizes_and_kinds() -> None:
    view = read_sketch(TWO_VIEWS).view("Stocks and flows")
    by_name = {v.name: v for v in view.variables}
    stock = by_name["Stock A"]
    assert (stock.x, stock.y, stock.width, stock.height) == (300.0, 200.0, 40.0, 20.0)
    assert stock.is_stock and stock.kind == "stock" and not stock.is_ghost
    assert by_name["Inflow A"].kind == "flow"
    assert by_name["Rate A"].kind == "auxiliary"
    assert {s.name for s in view.stocks} == {"Stock A", "Stock B"}


def test_valves_clouds_comments() -> None:
    view = read_sketch(TWO_VIEWS).view("Stocks and flows")
    assert [v.id for v in view.valves] == [5, 10]
    assert all(v.is_attached for v in view.valves)
    assert [(c.id, c.x, c.y) for c in view.clouds] == [(2, 120.0, 200.0)]
    # the comment's text is stored on the line after its object line
    assert [c.text for c in view.comments] == ["Widgets arrive from outside and pass from A to B."]


def test_pipes_and_causal_links_are_told_apart() -> None:
    view = read_sketch(TWO_VIEWS).view("Stocks and flows")
    assert {(a.start, a.end) for a in view.pipes} == {(5, 1), (5, 2), (10, 7), (10, 1)}
    links = {a.id: a for a in view.links}
    assert set(links) == {13, 15, 16}
    assert links[13].polarity == "+" and links[15].polarity == "-"
    assert links[16].is_curved and links[16].points == ((360.0, 150.0),)
    assert not links[13].is_curved
    heads = {(a.start, a.end): a.has_head for a in view.pipes}
    # the pipe leaving a stock or a cloud has no arrowhead; the one entering has
    assert heads == {(5, 1): True, (5, 2): False, (10, 7): True, (10, 1): False}


def test_ghost_and_quoted_names() -> None:
    view = read_sketch(TWO_VIEWS).view("signals")
    ghost, signal = view.variables
    assert ghost.name == "Stock B" and ghost.is_ghost
    assert signal.name == "Signal, with comma"
    assert view.stocks == ()  # a shadow is not the stock itself


def test_view_lookup_ignores_case_and_accepts_index() -> None:
    sketch = read_sketch(TWO_VIEWS)
    assert sketch.view("STOCKS AND FLOWS") is sketch.views[0]
    assert sketch.view("stocks_and_flows") is sketch.views[0]
    assert sketch.view(1) is sketch.views[1]


def test_unknown_view_lists_valid_views() -> None:
    with pytest.raises(UnknownViewError) as info:
        read_sketch(TWO_VIEWS).view("Signal")
    assert str(info.value) == (
        f"model {TWO_VIEWS} has no view 'Signal'; did you mean 'Signals'? "
        "(valid views: 'Stocks and flows', 'Signals')"
    )
    assert info.value.valid == ["Stocks and flows", "Signals"]
    assert isinstance(info.value, KeyError) and isinstance(info.value, ModelFileError)


def test_file_without_sketch(tmp_path: Path) -> None:
    path = tmp_path / "bare.mdl"
    path.write_text("x = 1\n\t~\tdmnl\n\t~\t\n\t|\n")
    with pytest.raises(SketchError) as info:
        read_sketch(path)
    assert str(info.value) == (
        f"model {path} has no diagram: it lacks the '\\\\\\---/// Sketch information' "
        "section Vensim writes after the equations"
    )
    assert info.value.path == path


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFoundError):
        read_sketch(tmp_path / "nope.mdl")


def test_bad_object_line_names_line_and_view() -> None:
    text = (
        "\\\\\\---/// Sketch information\nV300  x\n*Main\n$192-192-192,0\n"
        "10,1,Stock,abc,200,40,20,3,3,0,0,0,0,0,0\n///---\\\\\\\n"
    )
    with pytest.raises(
        SketchError,
        match=r"^model <text>, line 5: cannot read sketch object "
        r"'10,1,Stock,abc,200,40,20,3,3,0,0,0,0,0,0' in view 'Main'",
    ):
        parse_sketch(text)


def test_bounds_cover_every_object() -> None:
    view = read_sketch(TWO_VIEWS).view("Stocks and flows")
    xmin, ymin, xmax, ymax = view.bounds()
    assert xmin == min(o.x - getattr(o, "width", 0) for o in view.objects().values())
    assert xmax == 520.0 + 40.0
    assert ymin == 60.0 - 20.0
    assert ymax == 290.0 + 8.0


SKETCH_MARK = b"\\\\\\---///"


def _conformance_models(*, with_sketch: bool) -> list[Path]:
    """The suite's .mdl files that do (or do not) carry Vensim's sketch section."""
    if not CONFORMANCE.is_dir():
        return []
    return [p for p in sorted(CONFORMANCE.glob("*/*.mdl"))
            if (SKETCH_MARK in p.read_bytes()) == with_sketch]


@needs_shared
@pytest.mark.parametrize(
    "path", _conformance_models(with_sketch=True), ids=lambda p: f"{p.parent.name}/{p.stem}"
)
def test_conformance_sketches_read_completely(path: Path) -> None:
    """Every object line of each conformance sketch becomes exactly one parsed object."""
    lines = _sketch_lines(path)
    sketch = read_sketch(path)
    counts = {"10": 0, "11": 0, "12": 0, "1": 0}
    for line in lines:
        head = line.split(",", 1)[0]
        if head in counts:
            counts[head] += 1
    views = sketch.views
    assert sum(len(v.variables) for v in views) == counts["10"]
    assert sum(len(v.valves) for v in views) == counts["11"]
    assert sum(len(v.clouds) + len(v.comments) for v in views) == counts["12"]
    assert sum(len(v.arrows) for v in views) == counts["1"]
    # every valve has its two pipes (arrows to deleted objects do occur, so are not checked)
    for view in views:
        for valve in view.valves:
            assert sum(valve.id in (a.start, a.end) for a in view.pipes) == 2


@needs_shared
@pytest.mark.parametrize(
    "path", _conformance_models(with_sketch=False), ids=lambda p: f"{p.parent.name}/{p.stem}"
)
def test_conformance_model_without_sketch_is_a_clear_error(path: Path) -> None:
    """Equations-only files (the suite has a few) say they have no diagram, naming the file."""
    with pytest.raises(SketchError, match=re.escape(str(path)) + ".*has no diagram"):
        read_sketch(path)


@needs_shared
def test_teacup_structure() -> None:
    view = read_sketch(CONFORMANCE / "teacup" / "teacup.mdl").views[0]
    assert [s.name for s in view.stocks] == ["Teacup Temperature"]
    flows = [v.name for v in view.variables if v.is_flow]
    assert flows == ["Heat Loss to Room"]
    assert len(view.clouds) == 1 and len(view.pipes) == 2
    assert sorted((a.start, a.end) for a in view.links) == [(1, 6), (7, 6), (8, 5)]


FLEXNET = Path(__file__).resolve().parents[2] / "models" / "flexnet" / "flexnet.mdl"


def _equation_names(path: Path) -> tuple[set[str], set[str]]:
    """(every variable defined, the stocks) read from the equations' left-hand sides."""
    text = path.read_text(encoding="utf-8", errors="replace").split("\\\\\\---///")[0]
    names: set[str] = set()
    stocks: set[str] = set()
    for chunk in text.split("|"):
        equation = chunk.split("~")[0]
        match = re.match(r"\s*([^=~:]+?)\s*(=|:)", equation, flags=re.DOTALL)
        if match is None or match.group(2) == ":":
            continue
        name = " ".join(re.sub(r"\[.*?\]", "", match.group(1)).split()).strip('"')
        if name.startswith("*"):
            continue
        names.add(name.lower())
        if re.match(r"\s*=\s*INTEG\s*\(", equation[match.end(1):], flags=re.DOTALL):
            stocks.add(name)
    return names, stocks


def test_flexnet_diagram_draws_every_stock_once() -> None:
    sketch = read_sketch(FLEXNET)
    assert len(sketch.views) >= 4
    names, stocks = _equation_names(FLEXNET)
    names.add("time")  # Vensim's built-in clock, drawn as a shadow
    drawn = [s.name for view in sketch for s in view.stocks]
    assert sorted(drawn) == sorted(stocks)  # each stock's box in exactly one view
    for view in sketch:
        for variable in view.variables:
            assert variable.name.lower() in names, (view.name, variable.name)
        for valve in view.valves:
            assert sum(valve.id in (a.start, a.end) for a in view.pipes) == 2


def test_views_are_found_without_their_number() -> None:
    sketch = read_sketch(FLEXNET)
    first = sketch.views[0]
    number, _, title = first.name.partition(" ")
    assert number.isdigit()  # flexnet numbers its views: "1 Membership", ...
    assert sketch.view(title.upper()) is first
    assert sketch.view(number) is first
    assert sketch.view(f"{number}_{title.lower()}") is first
    with pytest.raises(UnknownViewError):
        sketch.view("")


def test_an_xmile_file_says_its_diagram_is_not_read(tmp_path: Path) -> None:
    from sdnet.cli import main

    model = Path(__file__).resolve().parents[1] / "data" / "logistic.xmile"
    with pytest.raises(SketchError, match=r"logistic\.xmile has no diagram sdnet can draw: "
                       r"sdnet diagram reads the sketch of a Vensim \.mdl file, and an XMILE "
                       r"file's <views> are not read"):
        read_sketch(model)
    assert main(["diagram", str(model), "--out", str(tmp_path / "d.svg")]) == 2
    assert not (tmp_path / "d.svg").exists()
