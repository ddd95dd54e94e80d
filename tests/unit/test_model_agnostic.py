"""The package core knows no model: flexnet's names live in its card, not in sdnet's code.

Every name flexnet's card gives (the constants its push schedule and presets set, its
outcomes' variables, its checks' and game's variables, its preset names) is searched in the
string literals of every module under ``sdnet/`` (docstrings and comments may use flexnet as
an example; code may not name it) and in the text of every page file the package ships
(``.js``, ``.html``, ``.css``, templates; comments left out): the simulator's script once
hard-coded ``"Public Push Grant"``, which a scan of Python literals never saw. A hit outside
the documented exceptions below fails: the name belongs on the card, read through
``model.card``.

flexnet's *words* (network, members, firms, sponsors, brokers, grant, embeddedness, Malecki)
are searched too, in the prose of those literals (texts with a space: a user reads them) and
in the page files: what a report, a message or the page says of a model comes from its card's
``[words]``, names and labels, so another model's user never reads of networks of firms.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import numpy as np

from sdnet.card import load_card
from sdnet.params import python_name

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "sdnet"
CARD = ROOT / "models" / "flexnet" / "flexnet.toml"
MODEL = CARD.with_suffix(".mdl")
#: Vensim's own control variables: every model has them
CONTROLS = {"INITIAL TIME", "FINAL TIME", "TIME STEP", "SAVEPER"}

#: Where a flexnet name may appear in code, and why (none: sdnet check --robust reads what
#: the card's [robust] names, since issue 12).
EXCEPTIONS: dict[str, str] = {}
#: Page files the package ships (the simulator's page): scanned as text, comments left out.
PAGE_SUFFIXES = (".js", ".html", ".htm", ".css", ".jinja", ".j2", ".tmpl", ".svg")
#: flexnet's words: what another model's user must never read
FLEXNET_WORDS = re.compile(r"\b(networks?|members?|firms?|sponsors?|sponsorship|brokers?|"
                           r"brokering|grants?|embedded|embeddedness|malecki|flexnet)\b",
                           re.IGNORECASE)
#: Prose that may use a flexnet word, and why (module -> texts it may start with).
WORD_EXCEPTIONS: dict[str, tuple[str, ...]] = {
    # the course's exercises are flexnet's (experiments/teaching): the command says so
    "commands/exercise.py": ("Teaching exercises on embedded networks", "Findings of Malecki"),
}
#: Texts that may name flexnet: the shipped model's path in command examples and the
#: installed data folder (``packaged_data("flexnet")``, the checkout's ``models/flexnet``).
ALLOWED_PATHS = re.compile(r"models/flexnet/\S*|\S*flexnet\.(mdl|toml|svg)\b|^flexnet$")
#: Names of file formats and of the exercise language taken from the push schedule's fields
#: (thresholds.csv's push_amount/push_duration columns; an exercise's push_start ... push_end
#: times), not model constants.
ALLOWED_WORDS = re.compile(r"^push_(amount|start|duration|taper|end)$")


def _flexnet_names() -> set[str]:
    card = load_card(CARD)
    names: set[str] = set()
    for schedule in card.schedules.values():
        names |= set(schedule.parameters.values())
    for preset in card.presets.values():
        names |= {preset.name, *preset.values}
    for outcome in card.outcomes.values():
        names |= {outcome.variable, *(v for v in outcome.options.values()
                                      if isinstance(v, str))}
    names |= {*card.variables, *card.report_variables, *card.charts,
              *(s["name"] for s in card.sliders)}
    for check in card.sanity:
        names |= set(check.variables)
    assert card.game is not None
    names |= {card.game.outcome, card.game.population, card.game.cost, card.game.quality}
    for law in card.checks.conserved:
        names |= {*law.parts, law.total}
    for run in card.checks.extreme:
        names |= {*run.values, *run.initial}
    for knockout in card.checks.knockout:
        names |= set(knockout.values)
    assert card.robust is not None
    names |= {*card.robust.variables.values(), *card.robust.presets.values(),
              *card.robust.stress}
    # every variable defined in flexnet.mdl (its equations, before the sketch)
    equations = MODEL.read_text(encoding="utf-8").split("\\\\\\---///")[0]
    names |= {m.group(1).strip() for m in re.finditer(
        r"^([A-Za-z][A-Za-z0-9 '_]*?)\s*(?:\[[^\]]*\])?\s*(?:=|:)", equations, re.MULTILINE)
        } - CONTROLS
    spelled = {n for name in names for n in (name, python_name(name))}
    # one-word names ("Trust", "typical") are ordinary words; multi-word ones are flexnet's
    return {n for n in spelled if "_" in n or " " in n} | {"flexnet"}


def _literals(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    # docstrings and other bare string statements (attribute docs) are documentation
    docstrings = {id(node.value) for node in ast.walk(tree)
                  if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)}
    return [(node.lineno, node.value) for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str)
            and id(node) not in docstrings]


_JS_COMMENT = re.compile(r"/\*.*?\*/|(?<![:\\\"'`])//[^\n]*", re.DOTALL)
_HTML_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)


def _page_text(path: Path) -> str:
    """A page file's text without its comments (line numbers kept)."""
    text = path.read_text(encoding="utf-8")
    blank = (lambda m: re.sub(r"[^\n]", " ", m.group(0)))  # noqa: E731
    text = _HTML_COMMENT.sub(blank, text)
    return _JS_COMMENT.sub(blank, text) if path.suffix in (".js", ".css") else text


def _page_files() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*") if p.suffix.lower() in PAGE_SUFFIXES)


def _page_hits(pattern: re.Pattern[str]) -> list[str]:
    found = []
    for path in _page_files():
        relative = path.relative_to(PACKAGE).as_posix()
        for number, line in enumerate(_page_text(path).splitlines(), start=1):
            for match in pattern.finditer(ALLOWED_PATHS.sub("", line)):
                found.append(f"{relative}:{number}: {match.group(0)!r} in {line.strip()[:70]!r}")
    return found


def test_the_scan_finds_flexnet_names_where_they_are(tmp_path: Path) -> None:
    names = _flexnet_names()
    assert {"push_amount", "Total Members", "number_of_firms", "embedded_prone",
            "Sponsor Recruitment Rate", "Micro Joining", "membership_fee", "flexnet",
            "Fee Revenue", "network_funds"} <= names  # the last two: from flexnet.mdl only
    assert not {"FINAL TIME", "final_time"} & names
    pattern = re.compile("|".join(re.escape(n) for n in sorted(names, key=len, reverse=True)))
    # what robustness.py held before its names moved to the card: the scan sees such code,
    # and not the same names in a docstring
    module = tmp_path / "fallback.py"
    module.write_text('"""Reads Total Members."""\nOUTPUTS = ("Total Members", "Micro Joining")\n'
                      'FEE_PUMP = {"membership_fee": 18_000.0}\n', encoding="utf-8")
    hits = [m.group(0) for _, text in _literals(module) for m in pattern.finditer(text)]
    assert sorted(hits) == ["Micro Joining", "Total Members", "membership_fee"]


def test_the_page_scan_reads_the_simulators_script(tmp_path: Path) -> None:
    """The page files are found and read without their comments: the line that once named
    flexnet's grant would be caught, a comment naming it would not."""
    assert {"serve/static/app.js", "serve/static/index.html", "serve/static/app.css"} <= {
        p.relative_to(PACKAGE).as_posix() for p in _page_files()}
    script = tmp_path / "page.js"
    script.write_text('// "Public Push Grant" in a comment\n'
                      'const wanted = [rules.outcome, "Public Push Grant"]; /* grant */\n'
                      'const url = "http://example.org/network";\n', encoding="utf-8")
    text = _page_text(script)
    names = re.compile(re.escape("Public Push Grant"))
    assert [n for n, line in enumerate(text.splitlines(), 1) if names.search(line)] == [2]
    assert [m.group(0) for m in FLEXNET_WORDS.finditer(text)] == ["Grant", "network"]


def test_no_flexnet_name_in_the_core_outside_the_documented_exceptions() -> None:
    names = _flexnet_names()
    # case-sensitive: "Push Amount" is flexnet's constant, "push amount" the push schedule's
    # field in words
    pattern = re.compile("|".join(re.escape(n) for n in sorted(names, key=len, reverse=True)))
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE).as_posix()
        if relative in EXCEPTIONS:
            continue
        for line, text in _literals(path):
            if text.startswith(("example:", "examples:")):
                continue  # a command's examples run the shipped model
            for match in pattern.finditer(ALLOWED_PATHS.sub("", text)):
                if not ALLOWED_WORDS.match(match.group(0)):
                    found.append(f"{relative}:{line}: {match.group(0)!r} in {text[:70]!r}")
    found += [hit for hit in _page_hits(pattern)
              if not ALLOWED_WORDS.match(hit.split("'")[1])]
    assert found == []


def test_no_flexnet_word_in_the_cores_prose_or_pages() -> None:
    """Messages, labels and page text the core writes use the card's words, not flexnet's."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE).as_posix()
        if relative in EXCEPTIONS:
            continue
        allowed = WORD_EXCEPTIONS.get(relative, ())
        for line, text in _literals(path):
            if text.startswith(("example:", "examples:")) or text.startswith(allowed):
                continue  # a command's examples run the shipped model
            prose = ALLOWED_PATHS.sub("", text)
            if " " not in prose.strip():
                continue  # a key or an identifier (a card's [words] key "members"), not prose
            for match in FLEXNET_WORDS.finditer(prose):
                found.append(f"{relative}:{line}: {match.group(0)!r} in {text[:70]!r}")
    found += _page_hits(FLEXNET_WORDS)
    assert found == []


def test_a_model_without_a_card_gets_neutral_simulator_and_explorer() -> None:
    """No card: the simulator charts the model's variables (not its control variables) and
    has no game; the explorer plots its stocks, offers its lever and region constants and
    shades no push."""
    import matplotlib

    matplotlib.use("Agg")
    from sdnet.engine import compile_model
    from sdnet.serve.setup import setup_for
    from sdnet.teaching.explorer import Explorer

    bass = ROOT / "tests" / "data" / "bass_diffusion.mdl"
    compiled = compile_model(bass)
    setup = setup_for(compiled.parameters, model_path=bass, outputs=compiled.outputs)
    assert [o.variable for o in setup.outcomes][:3] == [
        "Potential Adopters", "Adopters", "Adoption"]
    assert setup.game is None and setup.push_period(setup.start_values()) is None
    explorer = Explorer.from_path(bass)
    assert explorer.variables == ("Potential Adopters", "Adopters")
    assert [s.name for s in explorer.sliders] == ["market_size"]  # its one [region] constant
    assert explorer.push_period() == (0.0, 0.0, 0.0)
    # the run is the engine's at the slider's grid value of Market Size (1,090 of 100-10,000)
    assert explorer.values == {"market_size": 1090.0}
    adopters = compiled.simulate(explorer.values, n_runs=1, final_time=30,
                                 time_step=0.125).outputs["Potential Adopters"][0]
    times = np.arange(0, 30 + 1e-9, 0.25)  # the explorer's saved times
    assert explorer.summary() == (
        f"Potential Adopters: {float(np.interp(10.0, times, adopters)):.1f} at time 10")
