"""Read the diagram (the "sketch") that Vensim stores at the end of a ``.mdl`` file.

A ``.mdl`` file keeps its stock-and-flow drawing after the equations, in a section that starts
with ``\\\\\\---/// Sketch information`` and ends with ``///---\\\\\\``. Each view begins with
its own ``\\\\\\---///`` line, a version line (``V300`` or ``V364``), a title line
(``*View 1``) and a line of default styles (``$...``); then one object per line, as
comma-separated fields whose first field says what the object is:

=====  ===================================================================================
type   fields used here (Vensim's "sketch object" layout)
=====  ===================================================================================
10     variable: ``10,id,name,x,y,w,h,shape,bits,...``; ``shape`` 3 is the box of a stock,
       bit 5 of ``shape`` (32) marks the name of a flow attached to its valve; bit 0 of
       ``bits`` clear marks a shadow ("ghost") copy of a variable defined in another place
11     valve of a flow: ``11,id,0,x,y,w,h,shape,...``
12     comment; a comment whose name field is ``48`` is a cloud (source or sink of a flow);
       when bit 2 of ``bits`` is set the text is on the next line
1      arrow: ``1,id,from,to,shape,hidden,polarity,thickness,...,n|(x,y)...|``; a pipe of a
       flow joins a valve to a stock or a cloud and is drawn thick (thickness 22 in the files
       read so far); ``shape`` 100 on a pipe marks the end without an arrowhead; ``shape`` 1
       on a causal link means it is curved through the first point of the list
30, 31 bitmaps and metafiles (kept as :class:`SketchOther`, not drawn)
=====  ===================================================================================

``x``, ``y`` are the centre of an object in screen pixels (``y`` grows downwards) and ``w``,
``h`` are half its width and height. The layout follows Vensim's documentation of the sketch
format and the readers of xmutil and PySD (whose sketch grammar splits a model into modules by
view). This module only reads text: it never imports PySD.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from sdnet.errors import ModelNotFoundError, SketchError, UnknownViewError

__all__ = [
    "Sketch",
    "SketchArrow",
    "SketchCloud",
    "SketchComment",
    "SketchOther",
    "SketchValve",
    "SketchVariable",
    "SketchView",
    "parse_sketch",
    "read_sketch",
]

_SECTION_START = "\\\\\\---///"
_SECTION_END = "///---\\\\\\"
_CLOUD_NAME = "48"
_STOCK_SHAPE = 3
_ATTACHED_BIT = 1 << 5
_TEXT_ON_NEXT_LINE_BIT = 1 << 2
_PIPE_NO_HEAD_SHAPE = 100
_CURVED_SHAPE = 1
_POINTS = re.compile(r"\((-?\d+(?:\.\d+)?),(-?\d+(?:\.\d+)?)\)")
# Vensim stores polarity as an ASCII code; "S"/"O" are the same-/opposite-direction letters.
_POLARITY = {
    ord("+"): "+",
    ord("-"): "-",
    ord("S"): "+",
    ord("s"): "+",
    ord("O"): "-",
    ord("0"): "-",
}


@dataclass(frozen=True)
class SketchVariable:
    """A variable drawn in a view (sketch object type 10).

    Attributes
    ----------
    id : int
        Object number, unique within the view.
    name : str
        The Vensim name as written in the equations.
    x, y : float
        Centre of the object (screen pixels; ``y`` grows downwards).
    width, height : float
        Half the width and half the height of the object (pixels).
    shape : int
        Vensim's shape code: 3 is a stock's box; bit 5 (32) marks a flow's name attached to
        its valve.
    bits : int
        Vensim's flag bits; bit 0 clear marks a shadow (ghost) variable.
    """

    id: int
    name: str
    x: float
    y: float
    width: float
    height: float
    shape: int
    bits: int

    @property
    def is_stock(self) -> bool:
        """Drawn as a stock's box."""
        return (self.shape & ~_ATTACHED_BIT) == _STOCK_SHAPE

    @property
    def is_flow(self) -> bool:
        """The name of a flow, attached to its valve."""
        return bool(self.shape & _ATTACHED_BIT)

    @property
    def is_ghost(self) -> bool:
        """A shadow copy of a variable defined elsewhere (drawn grey, in angle brackets)."""
        return not self.bits & 1

    @property
    def kind(self) -> str:
        """``"stock"``, ``"flow"`` or ``"auxiliary"`` (from the drawing, not the equations)."""
        if self.is_stock:
            return "stock"
        if self.is_flow:
            return "flow"
        return "auxiliary"


@dataclass(frozen=True)
class SketchValve:
    """The valve of a flow (type 11): ``x``, ``y`` centre, ``width``, ``height`` half sizes."""

    id: int
    x: float
    y: float
    width: float
    height: float
    shape: int

    @property
    def is_attached(self) -> bool:
        """The valve carries the name of its flow (bit 5 of the shape)."""
        return bool(self.shape & _ATTACHED_BIT)


@dataclass(frozen=True)
class SketchCloud:
    """A cloud (type 12 with name ``48``): the source or sink of a flow outside the model."""

    id: int
    x: float
    y: float
    width: float
    height: float


@dataclass(frozen=True)
class SketchComment:
    """A text comment placed on the view (type 12)."""

    id: int
    text: str
    x: float
    y: float
    width: float
    height: float


@dataclass(frozen=True)
class SketchOther:
    """An object that is kept but not drawn: bitmaps (30), metafiles (31), unknown types."""

    id: int
    type: int
    x: float
    y: float


@dataclass(frozen=True)
class SketchArrow:
    """An arrow (type 1): a causal link, or a pipe of a flow.

    Attributes
    ----------
    id : int
        Object number.
    start, end : int
        Object numbers the arrow leaves and reaches.
    shape : int
        Vensim's code: 0 straight, 1 curved (through ``points[0]``); on pipes 100 marks the
        end without an arrowhead.
    polarity : str or None
        ``"+"``, ``"-"`` or ``None`` when not drawn.
    thickness : int
        Vensim's thickness field (22 on the pipes of flows).
    points : tuple of (float, float)
        The points stored after the ``|`` (control point of a curve, bends of a pipe).
    is_pipe : bool
        The arrow is a pipe of a flow (joins a valve to a stock or a cloud and is thick).
    """

    id: int
    start: int
    end: int
    shape: int
    polarity: str | None
    thickness: int
    points: tuple[tuple[float, float], ...]
    is_pipe: bool = False

    @property
    def is_curved(self) -> bool:
        """A causal link drawn as an arc through ``points[0]``."""
        return not self.is_pipe and self.shape == _CURVED_SHAPE and len(self.points) >= 1

    @property
    def has_head(self) -> bool:
        """An arrowhead is drawn at ``end`` (pipes leaving a stock or cloud have none)."""
        return not (self.is_pipe and self.shape == _PIPE_NO_HEAD_SHAPE)


SketchObject = SketchVariable | SketchValve | SketchCloud | SketchComment | SketchOther


@dataclass(frozen=True)
class SketchView:
    """One view of the diagram: a title and the objects drawn in it, in file order."""

    name: str
    variables: tuple[SketchVariable, ...]
    valves: tuple[SketchValve, ...]
    clouds: tuple[SketchCloud, ...]
    comments: tuple[SketchComment, ...]
    arrows: tuple[SketchArrow, ...]
    others: tuple[SketchOther, ...] = ()

    def objects(self) -> dict[int, SketchObject]:
        """Every placed object (not arrows) by its id."""
        found: dict[int, SketchObject] = {}
        for group in (self.variables, self.valves, self.clouds, self.comments, self.others):
            for obj in group:
                found[obj.id] = obj
        return found

    @property
    def stocks(self) -> tuple[SketchVariable, ...]:
        """The stocks drawn (not their shadows) in this view."""
        return tuple(v for v in self.variables if v.is_stock and not v.is_ghost)

    @property
    def pipes(self) -> tuple[SketchArrow, ...]:
        """The pipes of flows."""
        return tuple(a for a in self.arrows if a.is_pipe)

    @property
    def links(self) -> tuple[SketchArrow, ...]:
        """The causal links (every arrow that is not a pipe)."""
        return tuple(a for a in self.arrows if not a.is_pipe)

    def bounds(self) -> tuple[float, float, float, float]:
        """``(xmin, ymin, xmax, ymax)`` of every object and arrow point (pixels)."""
        xs: list[float] = []
        ys: list[float] = []
        for obj in self.objects().values():
            half_w = getattr(obj, "width", 0.0)
            half_h = getattr(obj, "height", 0.0)
            xs += [obj.x - half_w, obj.x + half_w]
            ys += [obj.y - half_h, obj.y + half_h]
        for arrow in self.arrows:
            for px, py in arrow.points:
                xs.append(px)
                ys.append(py)
        if not xs:
            return (0.0, 0.0, 0.0, 0.0)
        return (min(xs), min(ys), max(xs), max(ys))


@dataclass(frozen=True)
class Sketch:
    """The whole diagram of a model: its views in file order.

    Attributes
    ----------
    path : Path or None
        The ``.mdl`` file read (``None`` when parsed from text).
    version : str
        The sketch format's version code (``"V300"``, ``"V364"``).
    views : tuple of SketchView
    """

    path: Path | None
    version: str
    views: tuple[SketchView, ...]

    @property
    def view_names(self) -> tuple[str, ...]:
        """Names of the views, in file order."""
        return tuple(view.name for view in self.views)

    def view(self, name: str | int) -> SketchView:
        """Return a view by name or 0-based index.

        A name matches ignoring case, spaces/underscores and a leading view number, so
        ``"membership"``, ``"1 membership"`` and ``"1"`` all find the view ``"1 Membership"``.

        Raises
        ------
        UnknownViewError
            No view has that name; the message lists the valid ones.
        """
        if isinstance(name, int):
            if 0 <= name < len(self.views):
                return self.views[name]
            raise UnknownViewError(str(name), valid=self.view_names, path=self._where)
        wanted = _fold(name)
        for key in (_fold, _unnumbered, _number) if wanted else ():
            found = [view for view in self.views if key(view.name) == wanted]
            if len(found) == 1:
                return found[0]
        raise UnknownViewError(name, valid=self.view_names, path=self._where)

    def __iter__(self) -> Iterator[SketchView]:
        return iter(self.views)

    def __len__(self) -> int:
        return len(self.views)

    @property
    def _where(self) -> Path | str:
        return self.path if self.path is not None else "<text>"


def _fold(name: str) -> str:
    return re.sub(r"[\s_]+", " ", name).strip().lower()


def _unnumbered(name: str) -> str:
    """A view name without its leading number: "1 Membership" -> "membership"."""
    return re.sub(r"^\d+[\s.:)_-]*", "", _fold(name))


def _number(name: str) -> str:
    """The leading number of a view name ("" when it has none)."""
    match = re.match(r"^(\d+)", _fold(name))
    return match.group(1) if match else ""


def read_sketch(path: str | Path) -> Sketch:
    """Read the diagram stored in a Vensim ``.mdl`` file.

    Parameters
    ----------
    path : str or Path
        The ``.mdl`` file.

    Returns
    -------
    Sketch

    Raises
    ------
    ModelNotFoundError
        The file does not exist.
    SketchError
        The file has no sketch section, or a line of it cannot be read.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelNotFoundError(path)
    if path.suffix.lower() in (".xmile", ".stmx", ".xml"):
        # XMILE keeps its diagram in <views>, in another layout: said plainly rather than as
        # a Vensim file missing its sketch
        raise SketchError(
            f"model {path} has no diagram sdnet can draw: sdnet diagram reads the sketch of a "
            "Vensim .mdl file, and an XMILE file's <views> are not read (every other command "
            "takes the XMILE file)", path=path)
    # Vensim writes UTF-8 ({UTF-8} header) or the platform code page; names are ASCII in
    # practice, so undecodable bytes (e.g. in the trailing settings block) are replaced.
    text = path.read_bytes().decode("utf-8", errors="replace")
    return parse_sketch(text, path=path)


def parse_sketch(text: str, *, path: str | Path | None = None) -> Sketch:
    """Parse the sketch section out of the text of a ``.mdl`` file.

    Parameters
    ----------
    text : str
        The whole model file (equations and sketch) or only its sketch section.
    path : str or Path, optional
        Where the text came from, for error messages.

    Raises
    ------
    SketchError
        There is no sketch section, it has no view, or a line cannot be read.
    """
    where: Path | str = Path(path) if path is not None else "<text>"
    start = text.find(_SECTION_START)
    if start < 0:
        raise SketchError(
            f"model {where} has no diagram: it lacks the '\\\\\\---/// Sketch information' "
            "section Vensim writes after the equations",
            path=where,
        )
    body = text[start:]
    end = body.find(_SECTION_END)
    if end >= 0:
        body = body[:end]
    lines = body.splitlines()
    version = ""
    raw_views: list[tuple[str, list[tuple[int, str, str | None]]]] = []
    i = 0
    line_offset = text[:start].count("\n") + 1
    while i < len(lines):
        line = lines[i].rstrip("\r")
        lineno = line_offset + i
        i += 1
        stripped = line.strip()
        if not stripped or stripped.startswith(_SECTION_START) or stripped.startswith("$"):
            continue
        if re.match(r"^V\d+\b", stripped):
            version = version or stripped.split()[0]
            continue
        if stripped.startswith("*"):
            raw_views.append((stripped[1:].strip(), []))
            continue
        if not raw_views:
            raise SketchError(
                f"model {where}, line {lineno}: sketch object before any '*View' title line",
                path=where,
            )
        next_line = lines[i].rstrip("\r") if i < len(lines) else None
        raw_views[-1][1].append((lineno, line, next_line))
        if _text_on_next_line(line):
            i += 1  # the comment's text was consumed with it
    if not raw_views:
        raise SketchError(f"model {where} has a sketch section without any view", path=where)
    views = tuple(_build_view(name, objects, where) for name, objects in raw_views)
    return Sketch(path=Path(path) if path is not None else None, version=version, views=views)


def _fields(line: str) -> list[str]:
    return next(csv.reader([line], skipinitialspace=False))


def _text_on_next_line(line: str) -> bool:
    if not line.startswith("12,"):
        return False
    fields = _fields(line)
    if len(fields) < 9 or fields[2] == _CLOUD_NAME:
        return False
    try:
        return bool(int(fields[8]) & _TEXT_ON_NEXT_LINE_BIT)
    except ValueError:
        return False


def _build_view(
    name: str, objects: list[tuple[int, str, str | None]], where: Path | str
) -> SketchView:
    variables: list[SketchVariable] = []
    valves: list[SketchValve] = []
    clouds: list[SketchCloud] = []
    comments: list[SketchComment] = []
    others: list[SketchOther] = []
    raw_arrows: list[tuple[int, int, int, int, str | None, int, tuple[tuple[float, float], ...]]]
    raw_arrows = []
    for lineno, line, next_line in objects:
        try:
            if line.startswith("1,"):
                head, _, tail = line.partition("|")
                fields = _fields(head)
                points = tuple((float(px), float(py)) for px, py in _POINTS.findall(tail))
                raw_arrows.append(
                    (
                        int(fields[1]),
                        int(fields[2]),
                        int(fields[3]),
                        int(fields[4]),
                        _POLARITY.get(int(fields[6])),
                        int(fields[7]),
                        points,
                    )
                )
                continue
            fields = _fields(line)
            kind = int(fields[0])
            oid = int(fields[1])
            if kind == 10:
                variables.append(
                    SketchVariable(
                        id=oid,
                        name=_clean_name(fields[2]),
                        x=float(fields[3]),
                        y=float(fields[4]),
                        width=float(fields[5]),
                        height=float(fields[6]),
                        shape=int(fields[7]),
                        bits=int(fields[8]),
                    )
                )
            elif kind == 11:
                valves.append(
                    SketchValve(
                        id=oid,
                        x=float(fields[3]),
                        y=float(fields[4]),
                        width=float(fields[5]),
                        height=float(fields[6]),
                        shape=int(fields[7]),
                    )
                )
            elif kind == 12 and fields[2] == _CLOUD_NAME:
                clouds.append(
                    SketchCloud(
                        id=oid,
                        x=float(fields[3]),
                        y=float(fields[4]),
                        width=float(fields[5]),
                        height=float(fields[6]),
                    )
                )
            elif kind == 12:
                text = fields[2]
                if int(fields[8]) & _TEXT_ON_NEXT_LINE_BIT:
                    text = (next_line or "").strip()
                comments.append(
                    SketchComment(
                        id=oid,
                        text=_clean_name(text),
                        x=float(fields[3]),
                        y=float(fields[4]),
                        width=float(fields[5]),
                        height=float(fields[6]),
                    )
                )
            else:
                others.append(
                    SketchOther(id=oid, type=kind, x=float(fields[3]), y=float(fields[4]))
                )
        except (ValueError, IndexError, StopIteration) as error:
            raise SketchError(
                f"model {where}, line {lineno}: cannot read sketch object {line[:60]!r} "
                f"in view {name!r} ({error})",
                path=where,
            ) from error
    valve_ids = {v.id for v in valves}
    pipe_ends = valve_ids | {c.id for c in clouds} | {v.id for v in variables if v.is_stock}
    arrows = []
    for aid, start, end, shape, polarity, thickness, points in raw_arrows:
        touches_valve = start in valve_ids or end in valve_ids
        is_pipe = touches_valve and start in pipe_ends and end in pipe_ends and thickness > 0
        arrows.append(
            SketchArrow(
                id=aid,
                start=start,
                end=end,
                shape=shape,
                polarity=polarity,
                thickness=thickness,
                points=points,
                is_pipe=is_pipe,
            )
        )
    return SketchView(
        name=name,
        variables=tuple(variables),
        valves=tuple(valves),
        clouds=tuple(clouds),
        comments=tuple(comments),
        arrows=tuple(arrows),
        others=tuple(others),
    )


def _clean_name(name: str) -> str:
    # Vensim escapes line breaks in names and comments as "\n" and may quote names.
    name = name.strip()
    if len(name) >= 2 and name[0] == name[-1] == '"':
        name = name[1:-1]
    return name.replace("\\n", " ").replace("\\\n", " ").strip()
