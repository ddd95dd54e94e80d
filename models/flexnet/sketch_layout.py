"""Regenerate the diagram (Vensim sketch) of ``flexnet.mdl`` from a list of positions.

Run ``python3 models/flexnet/sketch_layout.py`` after editing the equations or the layout
below; it rewrites the sketch section of ``flexnet.mdl`` in place and leaves the equations
untouched. Why a script: the model has about 130 variables in five views, and a generated
layout on a grid guarantees what a hand-edited one does not: every variable is drawn in exactly
one view, every input of a variable is drawn in that variable's view (as a grey shadow
``<name>`` when it lives in another view), every causal link is an arrow, and no two names
overlap (the script refuses to write a layout with overlapping objects).

Layout units: ``(column, row)`` on a grid of ``COL`` x ``ROW`` pixels; fractions are allowed.
Sketch syntax (Vensim's ``V300`` text format, as in the public SD test models):

* ``10,id,name,x,y,w,h,shape,bits,...``: a variable; shape 3 = stock box, 8 = plain name,
  40 = name of a flow attached to its valve; bits 3 = defined here, 2 = shadow;
* ``11,id,0,x,y,6,8,34,3,...``: a flow's valve; ``12,id,48,x,y,10,8,0,3,...``: a cloud;
* ``1,id,from,to,shape,...,thickness,...|(x,y)|``: an arrow; pipes of flows have thickness 22
  and shape 4 (end with an arrowhead, into the destination) or 100 (the source end); causal
  links have thickness 0 and point at a flow's valve.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

MODEL = Path(__file__).with_name("flexnet.mdl")
COL = 190  # px between grid columns
ROW = 50  # px between grid rows
X0, Y0 = 110, 60  # px of grid cell (0, 0)
MAX_ARROW = 420  # px: a longer causal link is drawn from a nearby shadow instead

SKETCH_HEADER = "\\\\\\---/// Sketch information - do not modify anything except names"
VERSION = "V300  Do not put anything below this section - it will be ignored"
STYLE = "$192-192-192,0,Times New Roman|12||0-0-0|0-0-0|0-0-255|-1--1--1|-1--1--1|72,72,100,0"
SKETCH_END = "///---\\\\\\"
CONTROL = {"FINAL TIME", "INITIAL TIME", "SAVEPER", "TIME STEP"}


@dataclass
class Flow:
    """A flow: its name, source and destination (a stock name or None for a cloud), valve cell."""

    name: str
    source: str | None
    target: str | None
    valve: tuple[float, float]
    label_dy: float = 0.4  # rows below (+) or above (-) the valve


@dataclass
class View:
    """One view of the diagram: stocks, flows, plain variables and chosen shadow positions."""

    title: str
    stocks: dict[str, tuple[float, float]]
    flows: list[Flow]
    variables: dict[str, tuple[float, float]]
    shadows: dict[str, tuple[float, float]] = field(default_factory=dict)


def _two_way(stock_from: str, stock_to: str, forward: str, back: str, col: float,
             row: float) -> list[Flow]:
    """Joining-like and leaving-like flows between two stocks on one row."""
    return [Flow(forward, stock_from, stock_to, (col, row - 0.3), -0.45),
            Flow(back, stock_to, stock_from, (col, row + 0.3), 0.45)]


def _segment_rows(seg: str, r: float) -> tuple[dict, list, dict]:
    stocks = {f"{seg} Potential Members": (1, r), f"{seg} Members": (3, r)}
    flows = _two_way(f"{seg} Potential Members", f"{seg} Members", f"{seg} Joining",
                     f"{seg} Leaving", 2, r)
    variables = {
        f"{seg} Attractiveness": (2, r - 3.6),
        f"{seg} Spontaneous Joining": (0.4, r - 2), f"{seg} Word of Mouth Joining": (1.5, r - 2.7),
        f"{seg} Broker Joining": (2.6, r - 2), f"{seg} Broker Focus": (3.7, r - 2.7),
        f"{seg} Quitting": (1.4, r + 2), f"{seg} Closures": (2.6, r + 2),
    }
    return stocks, flows, variables


def _views() -> list[View]:
    m_stocks, m_flows, m_vars = _segment_rows("Micro", 5)
    e_stocks, e_flows, e_vars = _segment_rows("Established", 16)
    membership = View(
        "1 Membership",
        {**m_stocks, **e_stocks},
        m_flows + e_flows,
        {**m_vars, **e_vars,
         "Attractiveness Threshold": (1, 0.6), "Attractiveness Spread": (3, 0.6),
         "Spontaneous Joining Rate": (-0.4, 1.6), "Word of Mouth Rate": (0.6, 1.2),
         "Broker Contact Rate": (4.6, 2.0), "Broker Conversion": (4.6, 3.0),
         "Minimum Joining Time": (2, 10.3),
         "Base Attrition Rate": (0.2, 8), "Value Attrition Rate": (1.3, 8.6),
         "Micro Closure Rate": (3.4, 8), "Established Closure Rate": (3.4, 19),
         "Broker Staff": (4.6, 9.5), "Broker Recruiting Staff": (3.6, 10.5),
         "Facilitation Need per Member": (4.6, 11.5), "Contact Coverage": (5.8, 10.5),
         "Total Members": (5.2, 6.5), "Member Satisfaction": (5.6, 7.5),
         "Member Churn Rate": (5.6, 8.5), "Micro Member Share": (5.8, 5.5),
         "Members": (4.6, 13), "Potential Members": (4.6, 14)},
    )
    trust = View(
        "2 Trust and learning",
        {"Trust": (2, 3), "Collective Knowledge": (2, 9)},
        [Flow("Trust Building", None, "Trust", (1, 3)),
         Flow("Trust Erosion", "Trust", None, (3, 3)),
         Flow("Knowledge Learning", None, "Collective Knowledge", (1, 9)),
         Flow("Knowledge Loss", "Collective Knowledge", None, (3, 9))],
        {"Collaboration": (0.5, 5), "Effective Trust": (1.5, 6),
         "Interaction": (2.5, 6), "Trust Propensity": (0, 4),
         "Trust Build Rate": (0.5, 1.5), "Trust Erosion Ratio": (3.5, 1.5),
         "Trust Churn Sensitivity": (4.5, 2.5), "Institutional Trust Factor": (0.5, 7),
         "Interaction Half Size": (3.5, 6.5), "Knowledge Learning Rate": (0.5, 11),
         "Knowledge Lifetime": (3.5, 11), "Knowledge Loss per Exit": (4.5, 10),
         "External Knowledge Access": (5.5, 6), "External Substitutability": (6.5, 5),
         "Member Knowledge Access": (5, 8.5), "Network Incremental Share": (6.5, 7),
         "Micro Learning Value": (6, 10.5), "Established Learning Value": (6, 12),
         "Micro Full Learning Value": (7.5, 10), "Established Full Learning Value": (7.5, 12.5),
         "Full Learning Value": (8.5, 11.25),
         "Micro Knowledge Access": (5, 13), "Established Knowledge Access": (5, 14),
         "Knowledge Access": (3.5, 13.5)},
    )
    sponsorship = View(
        "3 Sponsorship and funds",
        {"Embeddedness": (2, 3), "Network Funds": (2, 9), "Service Capacity": (6, 9)},
        [Flow("Sponsor Recruitment", None, "Embeddedness", (1, 3)),
         Flow("Sponsor Disengagement", "Embeddedness", None, (3, 3)),
         Flow("Revenue", None, "Network Funds", (1, 9)),
         Flow("Spending", "Network Funds", None, (3, 9)),
         Flow("Staff Change", None, "Service Capacity", (5, 9))],
        {"Legitimacy": (2.5, 5.5), "Legitimacy Half Share": (3.5, 6.5),
         "Member Region Share": (3.5, 4.5),
         "Sponsor Pool": (1.5, 0.5), "Sponsor Appeal": (2.5, 4.5), "Local Institution Share": (0.5, 0),
         "Sponsor Recruitment Rate": (0.5, 1.5), "Sponsor Memory": (3.5, 1.5),
         "Cultivation Effect": (0.5, 5), "Cultivation Half Staff": (0, 6),
         "Cultivation Staff": (1, 7), "Crowding Out Strength": (0, 8),
         "Public Revenue Share": (0, 10.5), "Sponsor Contributions": (1.5, 11.5),
         "Institution Contributions": (1, 13.5), "Community Entrepreneur Contributions": (2.5, 12.5),
         "Sponsor Support per Firm": (2.5, 14.5), "Fee Revenue": (0.5, 12.5),
         "Sponsor Capacity": (3.5, 13.5), "Sponsor Support per Member": (0.5, 14.5),
         "Sponsor Money per Member": (5, 13.5), "Fee Share of Revenue": (6.5, 13.5),
         "Sponsor Share of Revenue": (6.5, 14.5),
         "Sponsor Volunteer Time": (4.5, 3), "Volunteer Time at Full Embeddedness": (5.5, 2),
         "Desired Staff": (4.5, 11), "Fund Drawdown Time": (3.5, 11.5),
         "Minimum Spending Time": (3.5, 7.5), "Cost per Staff": (4.5, 7.5),
         "Staff Adjustment Time": (5.5, 11.5), "Active Staff": (5, 6.5),
         "Member Service Staff": (6.5, 6.5), "Service Intensity": (7, 5),
         "Minimum Group Size": (7.5, 6.5), "Broker Staff": (6, 5)},
    )
    # Broker Staff is defined in the membership view; in view 3 it is drawn as a shadow.
    del sponsorship.variables["Broker Staff"]
    sponsorship.shadows["Broker Staff"] = (6, 5)
    policy = View(
        "4 Policy levers and region",
        {"Cumulative Public Spending": (5, 4)},
        [Flow("Public Push Grant", None, "Cumulative Public Spending", (4, 4))],
        {"Push Amount": (0, 1), "Push Start": (1, 1), "Push Duration": (2, 1),
         "Push Taper": (3, 1), "Push End Time": (2.5, 2), "Scheduled Push": (1, 3),
         "Local Match Requirement": (0, 4.5), "Public Dollars per Local Dollar": (1, 6),
         "Unconditional Grant": (2, 4.5), "Matched Grant": (2, 5.5),
         "Broker Share": (0, 8.5), "Sponsor Cultivation Share": (1, 8.5),
         "Membership Fee": (2, 8.5), "Micro Targeting": (3, 8.5),
         "Number of Firms": (0, 10.5), "Micro Share": (1, 10.5),
         "Community Entrepreneur Density": (2, 10.5), "External Networking": (3, 10.5)},
        {"Time": (0, 2.5)},
    )
    value = View(
        "5 Value of membership",
        {"Micro Perceived Value": (3, 3), "Established Perceived Value": (3, 8)},
        [Flow("Micro Value Adjustment", None, "Micro Perceived Value", (2, 3)),
         Flow("Established Value Adjustment", None, "Established Perceived Value", (2, 8))],
        {"Micro Service Value": (0.5, 1), "Micro Member Benefit": (1, 2),
         "Established Service Value": (0.5, 10), "Established Member Benefit": (1, 9),
         "Micro Full Service Value": (0, 0), "Established Full Service Value": (0, 11),
         "Micro Contact Value": (1.5, 0.5), "Established Contact Value": (1.5, 10.5),
         "Micro Full Contact Value": (2.5, -0.5), "Established Full Contact Value": (2.5, 11.5),
         "Full Service Value": (6, 3), "Full Contact Value": (6, 4.5),
         "Micro Capability Gap": (6, 1.5), "Established Capability Gap": (6, 8.5),
         "Established Capability Share": (6, 10),
         "Value Perception Time": (2, 5.5), "Average Member Benefit": (4.5, 5.5),
         "Service Intensity Scale": (0, 5.5),
         "Member Benefit": (4.5, 4.5), "Perceived Value": (4.5, 6.5)},
    )
    return [membership, trust, sponsorship, policy, value]


# --- reading the equations -------------------------------------------------------------------


def read_equations(text: str) -> dict[str, str]:
    """Map each variable name (left-hand side, without subscripts) to its right-hand sides."""
    body = text.split(SKETCH_HEADER)[0]
    equations: dict[str, str] = {}
    for chunk in body.split("|"):
        if "=" not in chunk or "~" not in chunk:
            continue
        head = chunk.split("~")[0]
        if ":" in head.split("=")[0]:
            continue  # a subscript range
        left, _, right = head.partition("=")
        name = re.sub(r"\[.*", "", left).strip()
        name = re.sub(r"\s+", " ", name.replace("\\\n", " "))
        if not name or name.startswith("*") or name.upper() in CONTROL:
            continue
        equations[name] = equations.get(name, "") + " " + right.replace("\\\n", " ")
    return equations


def references(expression: str, names: list[str]) -> set[str]:
    """The variables an expression refers to (longest names first, whole words only)."""
    found: set[str] = set()
    text = " " + re.sub(r"\s+", " ", expression) + " "
    for name in sorted(names, key=len, reverse=True):
        pattern = r"(?<![A-Za-z0-9_])" + re.escape(name).replace(r"\ ", r"\s+") + \
            r"(?![A-Za-z0-9_])"
        if re.search(pattern, text, flags=re.IGNORECASE):
            found.add(name)
            text = re.sub(pattern, " ", text, flags=re.IGNORECASE)
    return found


# --- layout ----------------------------------------------------------------------------------


def _px(cell: tuple[float, float]) -> tuple[int, int]:
    return round(X0 + cell[0] * COL), round(Y0 + cell[1] * ROW)


def _half_width(name: str) -> int:
    return max(20, round(3.5 * len(name)) + 4)


@dataclass
class _Box:
    what: str
    x: int
    y: int
    w: int
    h: int

    def overlaps(self, other: _Box) -> bool:
        return abs(self.x - other.x) < self.w + other.w and abs(self.y - other.y) < self.h + other.h


def build_view(view: View, equations: dict[str, str], home: dict[str, str]) -> list[str]:
    """The sketch lines of one view (objects numbered from 1)."""
    lines: list[str] = []
    ids: dict[str, int] = {}  # variable name -> sketch id (label for flows)
    valves: dict[str, int] = {}  # flow name -> valve id
    boxes: list[_Box] = []
    next_id = 1

    def new_id() -> int:
        nonlocal next_id
        next_id += 1
        return next_id - 1

    def place(box: _Box) -> None:
        for other in boxes:
            if box.overlaps(other):
                raise SystemExit(f"{view.title}: {box.what} overlaps {other.what}")
        boxes.append(box)

    for name, cell in view.stocks.items():
        x, y = _px(cell)
        i = new_id()
        ids[name] = i
        w = max(45, 2 * len(name) + 6)
        place(_Box(name, x, y, w, 24))
        lines.append(f"10,{i},{name},{x},{y},{w},22,3,3,0,0,0,0,0,0")
    names = [*equations, "Time"]
    for flow in view.flows:
        vx, vy = _px(flow.valve)
        ends = []
        for end in (flow.source, flow.target):
            if end is None:
                side = -1 if end is flow.source else 1
                cx = vx + side * COL // 2
                c = new_id()
                place(_Box(f"cloud of {flow.name}", cx, vy, 10, 8))
                lines.append(f"12,{c},48,{cx},{vy},10,8,0,3,0,0,-1,0,0,0")
                ends.append((c, cx, vy))
            else:
                sx, _ = _px(view.stocks[end])
                ends.append((ids[end], sx, vy))
        v = new_id()
        valves[flow.name] = v
        lines.append(f"11,{v},48,{vx},{vy},6,8,34,3,0,0,1,0,0,0")
        lx, ly = vx, round(vy + flow.label_dy * ROW)
        label = new_id()
        ids[flow.name] = label
        w = _half_width(flow.name)
        place(_Box(flow.name, lx, ly, w, 8))
        lines.append(f"10,{label},{flow.name},{lx},{ly},{w},8,40,3,0,0,-1,0,0,0")
        for role, (end_id, ex, ey) in zip(("source", "target"), ends, strict=True):
            shape = 100 if role == "source" else 4
            mx = (vx + ex) // 2
            # keep names off the pipe (between the valve and the end's edge)
            boxes.append(_Box(f"pipe of {flow.name}", mx, ey, max(abs(ex - vx) // 2 - 12, 1), 5))
            lines.append(f"1,{new_id()},{v},{end_id},{shape},0,0,22,0,0,0,-1--1--1,,1|({mx},{ey})|")
    for name, cell in view.variables.items():
        x, y = _px(cell)
        i = new_id()
        ids[name] = i
        w = _half_width(name)
        place(_Box(name, x, y, w, 8))
        lines.append(f"10,{i},{name},{x},{y},{w},8,8,3,0,0,0,0,0,0")
    # Inputs are drawn where they are used: an arrow starts from the nearest copy of its
    # source; a source defined in another view, or further than MAX_ARROW pixels, gets a grey
    # shadow copy in a free cell near the variable that uses it.
    defined_here = [*view.stocks, *(f.name for f in view.flows), *view.variables]
    position: dict[int, tuple[int, int]] = {}
    for line in lines:
        fields = line.split(",")
        if fields[0] in ("10", "11", "12"):
            position[int(fields[1])] = (int(fields[3]), int(fields[4]))
    copies: dict[str, list[int]] = {name: [i] for name, i in ids.items()}

    def add_shadow(name: str, near: tuple[int, int], cells: list[tuple[float, float]]) -> int:
        w = _half_width("<" + name + ">")
        ux, uy = near
        candidates = list(cells)
        for radius in range(1, 14):
            for dr in (0.0, -0.5 * radius, 0.5 * radius, -radius, radius):
                for dc in (-0.5 * radius, 0.5 * radius, 0.0, -radius, radius):
                    candidates.append(((ux - X0) / COL + dc, (uy - Y0) / ROW + dr))
        for cell in candidates:
            x, y = _px(cell)
            if x < 40 or y < 20:
                continue
            box = _Box("<" + name + ">", x, y, w, 8)
            if not any(box.overlaps(b) for b in boxes):
                break
        else:  # pragma: no cover - the grid is large
            raise SystemExit(f"{view.title}: no room for the shadow of {name}")
        place(box)
        i = new_id()
        position[i] = (x, y)
        copies.setdefault(name, []).append(i)
        lines.append(f"10,{i},{name},{x},{y},{w},8,8,2,0,3,-1,0,0,0,128-128-128,0-0-0,"
                     f"|12||128-128-128")
        return i

    for name, cell in view.shadows.items():
        if name not in copies:
            add_shadow(name, _px(cell), [cell])
    arrows: list[tuple[int, int]] = []
    for name in defined_here:
        if name in view.stocks:
            continue  # a stock's inputs are its flows, drawn as pipes
        target = valves.get(name, ids[name])
        tx, ty = position[target]
        for ref in sorted(references(equations[name], names)):
            if home.get(ref) == view.title and ref not in copies:
                raise SystemExit(f"{view.title}: {ref} is defined here but not placed")
            best = None
            for i in copies.get(ref, []):
                sx, sy = position[i]
                distance = ((sx - tx) ** 2 + (sy - ty) ** 2) ** 0.5
                if best is None or distance < best[0]:
                    best = (distance, i)
            if best is None or best[0] > MAX_ARROW:
                source = add_shadow(ref, (tx, ty), [])
            else:
                source = best[1]
            arrows.append((source, target))
    for source, target in arrows:
        (ax, ay), (bx, by) = position[source], position[target]
        lines.append(f"1,{new_id()},{source},{target},0,0,0,0,0,64,0,-1--1--1,,1|"
                     f"({(ax + bx) // 2},{(ay + by) // 2})|")
    return lines


def build_sketch(text: str) -> str:
    """The whole sketch section for the model text."""
    equations = read_equations(text)
    views = _views()
    home: dict[str, str] = {}
    for view in views:
        for name in [*view.stocks, *(f.name for f in view.flows), *view.variables]:
            if name in home:
                raise SystemExit(f"{name} is placed in {home[name]} and in {view.title}")
            if name not in equations:
                raise SystemExit(f"{view.title}: {name} is not a variable of the model")
            home[name] = view.title
    missing = sorted(set(equations) - set(home))
    if missing:
        raise SystemExit(f"variables not placed in any view: {missing}")
    out: list[str] = []
    for view in views:
        out += [SKETCH_HEADER, VERSION, f"*{view.title}", STYLE]
        out += build_view(view, equations, home)
    out.append(SKETCH_END)
    return "\n".join(out) + "\n"


def main() -> int:
    text = MODEL.read_text(encoding="utf-8")
    equations_part = text.split(SKETCH_HEADER)[0]
    MODEL.write_text(equations_part + build_sketch(text), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
