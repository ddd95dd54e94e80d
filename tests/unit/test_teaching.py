"""Tests of sdnet.teaching: exercise files, keys generated from a model, answer checking.

The unit tests use a toy "bathtub" model with a closed-form solution (members fill towards
``gain * amount`` during the push and drain afterwards at ``leave_rate * (1 - CE)``), so every
key value can be compared with an analytic answer. Tests against the real flexnet exercises run
at the end and skip while the model or the engine is missing.
"""

from __future__ import annotations

import io
import math
import re
import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from sdnet.card import load_card
from sdnet.errors import (
    AnswerFileError,
    ExperimentError,
    InvalidValueError,
    UnknownVariableError,
)
from sdnet.params import Parameter, ParameterTable
from sdnet.teaching import (
    Key,
    Tolerance,
    answers_template,
    check_answers,
    generate_key,
    load_answers,
    load_exercise,
    parse_answers,
    question_form,
    resolve_policy,
    sample_worlds,
    score_policies,
)
from sdnet.teaching.expressions import evaluate, names_in

ROOT = Path(__file__).resolve().parents[2]
TEACHING = ROOT / "experiments" / "teaching"
#: the toy model has flexnet's push, presets and game names, so it uses flexnet's card
FLEXNET_CARD_FILE = ROOT / "models" / "flexnet" / "flexnet.toml"
FLEXNET_CARD = load_card(FLEXNET_CARD_FILE)


@pytest.fixture(autouse=True)
def _toy_card(tmp_path: Path) -> None:
    """The card beside the toy exercises' ``toy.mdl`` (read through the exercise's model)."""
    (tmp_path / "toy.toml").write_text(FLEXNET_CARD_FILE.read_text(encoding="utf-8"),
                                       encoding="utf-8")

# --------------------------------------------------------------------------- the toy model
TAU = 1.5  # Year: filling time constant of the toy


def _p(name: str, kind: str, lower: float, upper: float, default: float) -> Parameter:
    return Parameter(name, name.replace("_", " ").title(), "dmnl", lower, upper, default, "",
                     kind)


TOY_PARAMETERS = ParameterTable([
    _p("push_amount", "lever", 0, 2e6, 0),
    _p("push_start", "lever", 0, 30, 2),
    _p("push_duration", "lever", 0, 30, 3.5),
    _p("push_taper", "lever", 0, 10, 0),
    _p("local_match_requirement", "lever", 0, 1, 0),
    _p("community_entrepreneur_density", "region", 0, 1, 0.5),
    _p("external_networking", "region", 0, 1, 0.2),
    _p("number_of_firms", "region", 10, 1000, 100),
    _p("leave_rate", "uncertain", 0.1, 0.3, 0.2),
    _p("gain", "uncertain", 5e-5, 2e-4, 1e-4),
], where="the toy")


def toy_members(t: np.ndarray, *, amount: float, start: float, duration: float, ce: float,
                leave_rate: float = 0.2, gain: float = 1e-4) -> np.ndarray:
    """Closed form of the toy: fill during the push, drain after it."""
    end = start + duration
    level = gain * amount
    filling = level * (1 - np.exp(-np.clip(t - start, 0, None) / TAU))
    at_end = level * (1 - math.exp(-duration / TAU))
    draining = at_end * np.exp(-leave_rate * (1 - ce) * (t - end))
    return np.where(t <= end, filling, draining)


class ToySimulator:
    """Duck-types sdnet.engine.CompiledModel for the toy."""

    sha256 = "toy-model"
    parameters = TOY_PARAMETERS

    def __init__(self) -> None:
        self.calls = 0

    def simulate(self, values: Mapping[str, Any], *, n_runs: int,
                 final_time: float | None = None, time_step: float | None = None,
                 variables: Sequence[str] | None = None) -> SimpleNamespace:
        self.calls += 1
        full = {k: np.broadcast_to(np.asarray(values.get(k, p.default), dtype=float), (n_runs,))
                for k, p in TOY_PARAMETERS.items()}
        times = np.arange(0.0, (final_time or 30.0) + 1e-9, 0.25)
        members, cost = [], []
        for i in range(n_runs):
            kw = dict(amount=full["push_amount"][i], start=full["push_start"][i],
                      duration=full["push_duration"][i],
                      ce=full["community_entrepreneur_density"][i],
                      leave_rate=full["leave_rate"][i], gain=full["gain"][i])
            members.append(toy_members(times, **kw))
            on = np.clip(times - kw["start"], 0, kw["duration"])
            cost.append(kw["amount"] * on)
        return SimpleNamespace(
            times=times,
            outputs={"Total Members": np.array(members), "Cumulative Public Spending":
                     np.array(cost)},
            status=np.ones(n_runs, dtype=bool),
        )


TOY_REGIONS = {"community_entrepreneur_density": 0.2, "external_networking": 0.2}

TOY_EXERCISE = """\
[exercise]
number = 3
title = "Bathtub"
summary = "A toy."
findings = ["F7"]
goals = ["see a stock fill"]
model = "toy.mdl"
final_time = 20

[scenarios.low_ce]
description = "few community entrepreneurs"
push = { amount = 300000, start = 2, duration = 4 }
params = { community_entrepreneur_density = 0.2 }

[scenarios.high_ce]
description = "many community entrepreneurs"
push = { amount = 300000, start = 2, duration = 4 }
params = { community_entrepreneur_density = 0.8 }

[scenarios.none]
push = { amount = 0, start = 2, duration = 4 }

[measures.at_end]
scenario = "low_ce"
variable = "Total Members"
time = "push_end"

[measures.low_after]
scenario = "low_ce"
variable = "total_members"
time = "push_end + 10"

[measures.high_after]
scenario = "high_ce"
variable = "Total Members"
time = "push_end + 10"

[measures.peak_none]
scenario = "none"
variable = "Total Members"
reduce = "max"

[derived]
low_kept = "low_after / at_end"
high_kept = "high_after / at_end"

[[questions]]
id = "at_end"
prompt = "Members when the push ends?"
answer = "at_end"
tolerance = { relative = 0.1, absolute = 1 }
units = "firm"
explain = "The tub filled to {at_end:.1f} firms."

[[questions]]
id = "kept"
prompt = "Share kept 10 years later, low CE?"
answer = "low_kept"
tolerance = { absolute = 0.05 }
explain = "{low_after:.1f} of {at_end:.1f} firms remain."

[[questions]]
id = "which"
prompt = "Which region keeps more?"
kind = "choice"
options = { low_ce = "low_kept", high_ce = "high_kept" }
explain = "Slower draining keeps more."

[[questions]]
id = "forms_without_push"
prompt = "Does a network form without a push?"
kind = "boolean"
answer = "peak_none >= 3"
"""


@pytest.fixture
def toy(tmp_path: Path) -> Any:
    path = tmp_path / "03_bathtub.toml"
    path.write_text(TOY_EXERCISE, encoding="utf-8")
    return load_exercise(path)


@pytest.fixture
def toy_key(toy: Any) -> Key:
    return generate_key(toy, simulator=ToySimulator())


def write(tmp_path: Path, text: str, name: str = "answers.toml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


# --------------------------------------------------------------------------- expressions
def test_expressions_compute_and_compare() -> None:
    assert evaluate("max(a, b) / c - 1", {"a": 3.0, "b": 5.0, "c": 2.0}) == 1.5
    assert evaluate("a < b <= 2 and not a > 1", {"a": 0.5, "b": 2.0}) is True
    assert names_in("min(x, 2) + y") == {"x", "y"}


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("__import__('os')", "calls a function other than min, max, abs"),
        ("a.real", "uses Attribute, which is not allowed"),
        ("'text'", "has a non-numeric constant"),
        ("a +", "cannot parse expression 'a +'"),
    ],
)
def test_expressions_refuse_code(expression: str, message: str) -> None:
    with pytest.raises(ExperimentError, match=re.escape(message)):
        evaluate(expression, {"a": 1.0})


def test_expression_errors_name_the_problem() -> None:
    with pytest.raises(ExperimentError, match=r"uses unknown name 'z'; known: a"):
        evaluate("z", {"a": 1.0})
    with pytest.raises(ExperimentError, match=r"divides by zero"):
        evaluate("a / 0", {"a": 1.0})


# --------------------------------------------------------------------------- keys
def test_key_values_match_the_closed_form(toy: Any, toy_key: Key) -> None:
    at_end = 0.0001 * 300000 * (1 - math.exp(-4 / TAU))
    low_after = at_end * math.exp(-0.2 * 0.8 * 10)
    high_after = at_end * math.exp(-0.2 * 0.2 * 10)
    assert toy_key.entry("at_end").value == pytest.approx(at_end, rel=1e-5)
    assert toy_key.entry("at_end").tolerance == pytest.approx(max(1, 0.1 * at_end), rel=1e-5)
    assert toy_key.entry("kept").value == pytest.approx(low_after / at_end, rel=1e-4)
    assert toy_key.entry("kept").tolerance == 0.05
    which = toy_key.entry("which")
    assert which.value == "high_ce"
    assert which.options["high_ce"] == pytest.approx(high_after / at_end, rel=1e-4)
    assert toy_key.entry("forms_without_push").value is False
    assert toy_key.model_sha256 == "toy-model"


def test_explanations_are_written_from_the_numbers(toy_key: Key) -> None:
    at_end = toy_key.values["at_end"]
    assert toy_key.entry("at_end").explanation == f"The tub filled to {at_end:.1f} firms."


def test_keys_regenerate_identically(toy: Any, toy_key: Key) -> None:
    again = generate_key(toy, simulator=ToySimulator())
    assert again.to_toml() == toy_key.to_toml()
    assert Key.from_toml(toy_key.to_toml()) == toy_key


def test_a_key_file_that_is_not_a_key_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ExperimentError, match=r"not an answer key written by `sdnet exercise "
                       r"key`: missing 'key'"):
        Key.from_toml("[values]\na = 1\n", path=tmp_path / "k.toml")


# --------------------------------------------------------------------------- checking
def right_answers(key: Key) -> dict[str, Any]:
    return {e.question: e.value for e in key.entries}


def test_right_answers_pass(toy: Any, toy_key: Key) -> None:
    answers = parse_answers({"answers": right_answers(toy_key)}, toy)
    report = check_answers(toy, answers, key=toy_key)
    assert report.passed
    assert report.n_correct == 4
    assert "4 of 4 answers right." in report.to_text()


def test_tolerance_edges(toy: Any, toy_key: Key) -> None:
    entry = toy_key.entry("at_end")
    value, width = float(entry.value), entry.tolerance
    inside = parse_answers({"answers": {"at_end": value + 0.99 * width}}, toy)
    outside = parse_answers({"answers": {"at_end": value - 1.01 * width}}, toy)
    assert check_answers(toy, inside, key=toy_key).feedback[0].status == "correct"
    assert check_answers(toy, outside, key=toy_key).feedback[0].status == "incorrect"


def test_wrong_answers_get_feedback_that_teaches(toy: Any, toy_key: Key) -> None:
    entry = toy_key.entry("at_end")
    given = float(entry.value) * 2
    answers = parse_answers({"answers": {"at_end": given, "which": "low_ce",
                                         "forms_without_push": True},
                             "predictions": {"at_end": given}}, toy)
    report = check_answers(toy, answers, key=toy_key)
    assert not report.passed
    statuses = {f.question: f.status for f in report.feedback}
    assert statuses == {"at_end": "incorrect", "kept": "missing", "which": "incorrect",
                        "forms_without_push": "incorrect"}
    text = report.feedback[0].to_text()
    assert f"expected:    {float(entry.value):.4g} firm (accepted within ±" in text
    assert f"yours is high by {given - float(entry.value):.4g} firm" in text
    assert f"why: The tub filled to {toy_key.values['at_end']:.1f} firms." in text
    assert "you predicted" in text and "what did your prediction leave out?" in text
    which = report.feedback[2].to_text()
    # the explanation is the exercise's sentence; the options' raw values are not appended
    assert which.endswith("    why: Slower draining keeps more.")
    assert "low_ce" not in which.split("why:")[1]
    assert "[NO ANSWER] kept" in report.to_text()


def test_answers_template_lists_every_question(toy: Any) -> None:
    text = answers_template(toy)
    for q in toy.questions:
        assert f"# {q.id} = " in text
    assert "number = 3" in text


@pytest.mark.parametrize(
    ("tolerance", "units", "text"),
    [
        (Tolerance(absolute=1), "firm", "±1 firm"),
        (Tolerance(relative=0.25), "firm", "±25%"),
        (Tolerance(relative=0.1, absolute=2), "$", "±10% or ±2 $, whichever is larger"),
        (Tolerance(absolute=0.05), "dmnl", "±0.05"),
        (Tolerance(), "", "exact"),
    ],
)
def test_tolerances_are_stated_with_their_units(tolerance: Tolerance, units: str,
                                                text: str) -> None:
    assert tolerance.describe(units) == text


def test_a_relative_tolerance_scales_with_a_small_value(tmp_path: Path) -> None:
    path = tmp_path / "03_bathtub.toml"
    path.write_text(TOY_EXERCISE + """
[[questions]]
id = "small"
prompt = "Members with no push, to two decimals?"
answer = "at_end / 100"
tolerance = { relative = 0.25 }
units = "firm"
""", encoding="utf-8")
    exercise = load_exercise(path)
    key = generate_key(exercise, simulator=ToySimulator())
    value = float(key.entry("small").value)
    assert value == pytest.approx(key.values["at_end"] / 100, rel=1e-5)
    assert key.entry("small").tolerance == pytest.approx(0.25 * value, rel=1e-5)
    verdicts = {}
    for factor in (0.8, 1.2, 0.7, 1.3, 0.0):
        answers = parse_answers({"answers": {"small": value * factor}}, exercise)
        verdicts[factor] = check_answers(exercise, answers, key=key).feedback[-1].status
    assert verdicts == {0.8: "correct", 1.2: "correct", 0.7: "incorrect", 1.3: "incorrect",
                        0.0: "incorrect"}
    assert question_form(exercise.question("small")) == "a number, in firm, accepted within ±25%"
    assert "# Members with no push, to two decimals? (a number, in firm, accepted within " \
           "±25%)" in answers_template(exercise)


CLOSE_CALLS = """
[[questions]]
id = "close_choice"
prompt = "Which is larger?"
kind = "choice"
options = { plain = "at_end", boosted = "at_end * 1.01" }
explain = "Boosted {at_end:.1f} firms."

[[questions]]
id = "close_boolean"
prompt = "Is the boosted one larger?"
kind = "boolean"
answer = "at_end * 1.01 > at_end"
"""


def test_a_choice_too_close_to_call_accepts_every_answer_within_the_margin(
    tmp_path: Path
) -> None:
    path = tmp_path / "03_bathtub.toml"
    path.write_text(TOY_EXERCISE + CLOSE_CALLS, encoding="utf-8")
    exercise = load_exercise(path)
    key = generate_key(exercise, simulator=ToySimulator())
    choice, boolean = key.entry("close_choice"), key.entry("close_boolean")
    lead = 0.01 / 1.01  # (boosted - plain) / boosted
    assert choice.value == "boosted" and choice.margin == pytest.approx(lead, rel=1e-3)
    assert choice.also_accepted == ("plain",)
    assert boolean.value is True and boolean.margin == pytest.approx(lead, rel=1e-3)
    assert boolean.also_accepted == (False,)
    assert choice.explanation.endswith(
        f"Too close to call: the model's answer leads by only {lead:.1%}, less than the 5% "
        "this question needs to be graded, so 'boosted' and 'plain' are both accepted.")
    for given in ("plain", "boosted"):
        answers = parse_answers({"answers": {"close_choice": given, "close_boolean": False}},
                                exercise)
        report = check_answers(exercise, answers, key=key)
        assert [f.status for f in report.feedback[-2:]] == ["correct", "correct"]
        assert "expected:    boosted (too close to call: plain also accepted)" in \
            report.feedback[-2].to_text()
    assert key.warnings == (
        f"question 'close_choice' of exercise 3 is too close to call: the model's answer leads "
        f"by {lead:.1%}, less than the 5% it needs, so 'boosted', 'plain' are all accepted; "
        "reformulate it",
        f"question 'close_boolean' of exercise 3 is too close to call: the model's answer leads "
        f"by {lead:.1%}, less than the 5% it needs, so true, false are all accepted; "
        "reformulate it",
    )
    assert Key.from_toml(key.to_toml()) == key


def test_a_clear_margin_is_graded(tmp_path: Path) -> None:
    path = tmp_path / "03_bathtub.toml"
    strict = CLOSE_CALLS.replace('explain = "Boosted', 'too_close = 0.005\nexplain = "Boosted')
    path.write_text(TOY_EXERCISE + strict, encoding="utf-8")
    exercise = load_exercise(path)
    key = generate_key(exercise, simulator=ToySimulator())
    assert key.entry("close_choice").also_accepted == ()
    answers = parse_answers({"answers": {"close_choice": "plain"}}, exercise)
    assert check_answers(exercise, answers, key=key).feedback[-2].status == "incorrect"
    assert len(key.warnings) == 1  # the yes/no question keeps the default 5%


def test_a_tolerance_wider_than_the_value_is_flagged(tmp_path: Path, toy_key: Key) -> None:
    assert toy_key.warnings == ()
    path = tmp_path / "03_bathtub.toml"
    path.write_text(TOY_EXERCISE.replace("tolerance = { absolute = 0.05 }",
                                         "tolerance = { absolute = 1 }"), encoding="utf-8")
    key = generate_key(load_exercise(path), simulator=ToySimulator())
    kept = key.entry("kept")
    assert key.warnings == (
        f"question 'kept' of exercise 3 accepts ±1 around {kept.value:g}: answers of the wrong "
        "size pass; make the tolerance relative",)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("[answers\nx = 1", r"not valid TOML: "),
        ("[answer]\nat_end = 1", r"\[answer\] unknown section \[answer\]; did you mean "
         r"\[answers\]\? \(valid: exercise, answers, predictions, policy\)"),
        ("[answers]\nat_ned = 1", r"\[answers.at_ned\] exercise 3 has no question 'at_ned'; "
         r"did you mean 'at_end'\? \(valid: at_end, kept, which, forms_without_push\)"),
        ('[answers]\nat_end = "12"', r"\[answers.at_end\] expected a number, got '12' \(valid: "
         r"a finite number such as 42 or 0.35, without quotes\)"),
        ("[answers]\nat_end = true", r"\[answers.at_end\] expected a number, got True"),
        ("[answers]\nat_end = nan", r"\[answers.at_end\] expected a number, got nan"),
        ('[answers]\nwhich = "middle"', r"\[answers.which\] 'middle' is not one of the options "
         r"\(valid: 'low_ce', 'high_ce'\)"),
        ('[answers]\nforms_without_push = "no"', r"\[answers.forms_without_push\] expected "
         r"true or false, got 'no' \(valid: true, false \(without quotes\)\)"),
        ("[exercise]\nnumber = 2", r"\[exercise.number\] this file is for exercise 2, but you "
         r"are checking exercise 3 \(valid: 3\)"),
        ('[exercise]\nnumber = "3"', r"\[exercise.number\] the exercise number must be a whole "
         r"number without quotes, not '3' \(valid: number = 3\)"),
        ("[policy]\npush_amount = 1", r"\[policy\] exercise 3 has no policy challenge"),
        ("answers = 3", r"\[answers\] \[answers\] must be a table"),
    ],
)
def test_malformed_answer_files_are_refused_clearly(
    tmp_path: Path, toy: Any, content: str, message: str
) -> None:
    path = write(tmp_path, content)
    with pytest.raises(AnswerFileError, match=message) as info:
        load_answers(path, toy)
    assert str(info.value).startswith(f"{path}: ")
    assert info.value.path == path


def test_missing_answer_file(tmp_path: Path, toy: Any) -> None:
    with pytest.raises(AnswerFileError, match=r"answers file not found \(valid: the path of a "
                       r"TOML file; make one with `sdnet exercise show 3 --template`\)"):
        load_answers(tmp_path / "nope.toml", toy)


# --------------------------------------------------------------------------- exercise files
@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ('reduce = "max"', 'reduce = "peak"', r"\[measures.peak_none.reduce\] unknown reducer "
         r"'peak' \(valid: at, max, min, mean, time_of_max, time_of_min\)"),
        ('scenario = "none"', 'scenario = "nothing"', r"\[measures.peak_none.scenario\] unknown "
         r"scenario 'nothing'"),
        ("tolerance = { absolute = 0.05 }\n", "", r"\[questions.kept\] missing table "
         r"'tolerance'"),
        ("{low_after:.1f} of", "{low_afterr:.1f} of", r"\[questions.kept.explain\] bad "
         r"field\(s\) low_afterr"),
        ('time = "push_end + 10"', 'time = "push_stop + 10"', r"unknown time name\(s\) "
         r"push_stop"),
        ("number = 3", "number = 4", r"\[exercise.number\] is 4, but the file name says '03'"),
        ('answer = "low_kept"', 'answer = "low_kep"', r"\[questions.kept\] uses unknown "
         r"name\(s\) low_kep"),
        ('explain = "Slower', 'too_close = 1.5\nexplain = "Slower',
         r"\[questions.which.too_close\] a relative lead in \[0, 1\) for choice and yes/no "
         r"questions \(numbers have a tolerance\)"),
        ('units = "firm"', 'units = "firm"\ntoo_close = 0.1',
         r"\[questions.at_end.too_close\] a relative lead in \[0, 1\) for choice and yes/no "
         r"questions \(numbers have a tolerance\)"),
    ],
)
def test_malformed_exercise_files_are_refused_clearly(
    tmp_path: Path, old: str, new: str, message: str
) -> None:
    assert old in TOY_EXERCISE
    path = tmp_path / "03_bathtub.toml"
    path.write_text(TOY_EXERCISE.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(ExperimentError, match=message):
        load_exercise(path)


def test_unknown_output_variable_names_close_matches(tmp_path: Path) -> None:
    path = tmp_path / "03_bathtub.toml"
    path.write_text(TOY_EXERCISE.replace('variable = "total_members"',
                                         'variable = "Total Member"'), encoding="utf-8")
    with pytest.raises(UnknownVariableError, match=r"unknown output variable 'Total Member' of "
                       r".*03_bathtub.toml; did you mean 'Total Members'"):
        generate_key(load_exercise(path), simulator=ToySimulator())


# --------------------------------------------------------------------------- the challenge
CHALLENGE = TOY_EXERCISE + """
[challenge]
region = "typical"
levers = ["push_amount", "push_start", "push_duration"]
defaults = { push_start = 2 }
n_runs = 64
seed = 7
final_time = 20
years_after_push = 10
sustain_fraction = 0.05
cost_weight = 10
pass_reference = "long"

[[challenge.references]]
name = "none"
levers = { push_amount = 0 }

[[challenge.references]]
name = "long"
levers = { push_amount = 300000, push_duration = 6 }
"""


@pytest.fixture
def challenge(tmp_path: Path) -> Any:
    path = tmp_path / "03_bathtub.toml"
    path.write_text(CHALLENGE, encoding="utf-8")
    return load_exercise(path)


def test_worlds_are_reproducible_and_in_range() -> None:
    a = sample_worlds(TOY_PARAMETERS, 50, seed=3)
    b = sample_worlds(TOY_PARAMETERS, 50, seed=3)
    assert set(a) == {"leave_rate", "gain"}
    for name, column in a.items():
        np.testing.assert_array_equal(column, b[name])
        p = TOY_PARAMETERS[name]
        assert p.lower <= column.min() and column.max() <= p.upper
        # a Latin hypercube puts exactly one point in each of the 50 strata
        strata = np.floor((column - p.lower) / (p.upper - p.lower) * 50)
        assert sorted(strata) == list(range(50))


def test_scores_follow_their_definition(challenge: Any) -> None:
    c = challenge.challenge
    scores = score_policies(c, {"mine": {"push_amount": 200000, "push_duration": 5}},
                            simulator=ToySimulator(), card=FLEXNET_CARD,
                            region_values=TOY_REGIONS)
    mine = scores["mine"]
    worlds = sample_worlds(TOY_PARAMETERS, c.n_runs, seed=c.seed)
    final = np.array([
        toy_members(np.array([20.0]), amount=200000, start=2, duration=5, ce=0.2,
                    leave_rate=lr, gain=g)[0]
        for lr, g in zip(worlds["leave_rate"], worlds["gain"], strict=True)
    ])
    share = float(np.mean(final >= 0.05 * 100))
    assert mine.sustained_share == pytest.approx(share)
    assert mine.mean_cost == pytest.approx(200000 * 5)
    assert mine.score == pytest.approx(100 * share - 10 * 1.0)
    assert mine.levers == {"push_amount": 200000, "push_start": 2, "push_duration": 5}


def test_challenge_key_and_check_rank_the_policy(challenge: Any) -> None:
    key = generate_key(challenge, simulator=ToySimulator(), region_values=TOY_REGIONS)
    assert [r.name for r in key.references] == ["none", "long"]
    assert key.references[0].score == 0.0  # no push: nothing sustained, nothing spent
    assert Key.from_toml(key.to_toml()) == key
    answers = parse_answers({"policy": {"push_amount": 300000, "push_duration": 6}}, challenge)
    scores = score_policies(challenge.challenge,
                            {"your policy": answers.policy,
                             **{r.name: r.levers for r in challenge.challenge.references}},
                            simulator=ToySimulator(), card=FLEXNET_CARD,
                            region_values=TOY_REGIONS)
    policy = scores.pop("your policy")
    assert policy.score == pytest.approx(key.references[1].score, rel=1e-5)
    report = check_answers(challenge, answers, key=key, policy_score=policy,
                           references=tuple(scores.values()))
    assert report.policy_passed is True
    text = report.to_text()
    assert f"Challenge: your policy scored {policy.score:.1f} points" in text
    assert "Your policy passes: the bar is the 'long' reference" in text


def test_policies_are_validated(challenge: Any) -> None:
    c = challenge.challenge
    with pytest.raises(UnknownVariableError, match=r"unknown lever 'push_amout' of the "
                       r"challenge; did you mean 'push_amount'"):
        resolve_policy(c, {"push_amout": 1.0}, parameters=TOY_PARAMETERS, card=FLEXNET_CARD)
    with pytest.raises(InvalidValueError, match=r"invalid value for 'push_start \+ "
                       r"push_duration \+ push_taper': 12.0 \(expected at most 10 \(the push "
                       r"must end 10 years before year 20\)\)"):
        resolve_policy(c, {"push_duration": 10}, parameters=TOY_PARAMETERS, card=FLEXNET_CARD)
    with pytest.raises(AnswerFileError, match=r"\[policy.push_amount\] expected a number, "
                       r"got '1e5'"):
        parse_answers({"policy": {"push_amount": "1e5"}}, challenge)


# --------------------------------------------------------------------------- the explorer

@pytest.fixture
def explorer() -> Any:
    from sdnet.teaching.explorer import Explorer, Slider

    sliders = (Slider("push_amount", "push", 0.0, 400_000.0, 100_000.0),
               Slider("push_duration", "duration", 1.0, 5.0, 1.0),
               Slider("community_entrepreneur_density", "CE", 0.0, 1.0, 0.2))
    return Explorer(ToySimulator(), card=FLEXNET_CARD, region="typical",
                    variables=["Total Members"], sliders=sliders,
                    values={"push_amount": 300_000, "push_duration": 4}, final_time=20)


def test_explorer_redraws_the_run_with_a_ghost_and_the_push(explorer: Any) -> None:
    times = np.arange(0.0, 20.0 + 1e-9, 0.25)
    first = toy_members(times, amount=300_000, start=2, duration=4, ce=0.2)
    line, ghost = explorer._lines[0], explorer._ghosts[0]
    np.testing.assert_allclose(line.get_ydata(), first)
    assert np.isnan(ghost.get_ydata()).all()  # no previous run yet
    explorer.update(push_amount=100_000, push_duration=2)
    second = toy_members(times, amount=100_000, start=2, duration=2, ce=0.2)
    np.testing.assert_allclose(line.get_ydata(), second)
    np.testing.assert_allclose(ghost.get_ydata(), first)
    full, taper = explorer._spans[0]
    assert (full.get_x(), full.get_width()) == (2.0, 2.0)
    assert taper.get_width() == 0.0
    assert explorer.push_period() == (2.0, 4.0, 4.0)
    assert explorer.render().startswith(b"\x89PNG")
    at_end = float(np.interp(4.0, times, second))
    assert explorer.summary().startswith(f"Total Members: {at_end:.1f} when the public push ends")


def test_explorer_prefetches_every_one_move_neighbour(explorer: Any) -> None:
    sliders = explorer.sliders
    assert explorer.prefetch() == sum(len(s.positions) - 1 for s in sliders)
    calls = explorer.simulator.calls
    explorer.update(community_entrepreneur_density=1.0)
    assert explorer.simulator.calls == calls  # a prefetched move runs nothing new
    times = np.arange(0.0, 20.0 + 1e-9, 0.25)
    expected = toy_members(times, amount=300_000, start=2, duration=4, ce=1.0)
    np.testing.assert_allclose(explorer._lines[0].get_ydata(), expected)


def test_explorer_redraws_the_y_axis_for_a_new_range(explorer: Any) -> None:
    from PIL import Image

    def tick_label_strip(png: bytes) -> np.ndarray:
        """The pixels left of the first panel, where its y tick labels are."""
        image = np.asarray(Image.open(io.BytesIO(png)))
        box = explorer.axes[0].bbox
        height = image.shape[0]
        return image[int(height - box.y1):int(height - box.y0), :int(box.x0) - 2]

    before, top_before = explorer.render(), explorer.axes[0].get_ylim()[1]
    explorer.update(push_amount=0.0)
    explorer.update(push_amount=0.0)  # the ghost of the big run is gone too
    top_after = explorer.axes[0].get_ylim()[1]
    assert top_after < top_before
    assert top_after >= float(np.nanmax(explorer._lines[0].get_ydata()))
    after = explorer.render()
    assert tick_label_strip(after).min() < 128  # dark label pixels are there
    assert not np.array_equal(tick_label_strip(after), tick_label_strip(before))
    # the y axes are hidden only while the frame is drawn: a saved figure has them
    assert all(ax.yaxis.get_visible() for ax in explorer.axes)
    labels = [t.get_text() for t in explorer.axes[0].get_yticklabels()]
    assert any(label.strip() for label in labels)


def test_explorer_makes_sliders_from_constant_names() -> None:
    from sdnet.teaching.explorer import Explorer

    explorer = Explorer(ToySimulator(), variables=["Total Members"],
                        sliders=["push_duration", "Leave Rate"], final_time=20)
    duration, leave = explorer.sliders
    parameter = TOY_PARAMETERS["leave_rate"]
    assert (leave.name, leave.lower, leave.upper) == (
        "leave_rate", parameter.lower, parameter.upper
    )
    assert len(leave.positions) == 21
    assert duration.positions[-1] == TOY_PARAMETERS["push_duration"].upper
    explorer.update(leave_rate=float(leave.positions[-1]))
    assert explorer.values["leave_rate"] == leave.positions[-1]


def test_explorer_refuses_bad_sliders() -> None:
    from sdnet.teaching.explorer import Explorer

    with pytest.raises(UnknownVariableError, match=r"'push_durations'.*did you mean "
                       r"'push_duration'"):
        Explorer(ToySimulator(), variables=["Total Members"], sliders=["push_durations"])
    with pytest.raises(InvalidValueError, match=r"invalid value for 'sliders': 3 \(expected "
                       r"Slider objects or names of model constants\)"):
        Explorer(ToySimulator(), variables=["Total Members"], sliders=[3])
    open_ended = ToySimulator()
    open_ended.parameters = ParameterTable(
        [*TOY_PARAMETERS.values(), Parameter("open_rate", "Open Rate", "1/Year", 0, None, 0.1,
                                             "", "uncertain")], where="the toy")
    with pytest.raises(InvalidValueError, match=r"'sliders': 'open_rate' \(expected a constant "
                       r"with a declared range \[min,max\] in the model file \(Open Rate has "
                       r"none\)"):
        Explorer(open_ended, variables=["Total Members"], sliders=["open_rate"])


def test_explorer_refuses_bad_moves(explorer: Any) -> None:
    with pytest.raises(UnknownVariableError, match=r"unknown slider 'push_amout' of the "
                       r"explorer; did you mean 'push_amount'"):
        explorer.update(push_amout=1)
    with pytest.raises(InvalidValueError, match=r"invalid value for 'push_duration': 9 "
                       r"\(expected a number in \[1, 5\]\)"):
        explorer.update(push_duration=9)


def test_explorer_widget_moves_the_model(explorer: Any) -> None:
    pytest.importorskip("ipywidgets")
    box = explorer.widget()
    controls = box.children[0].children[:-1]
    assert [c.tooltip for c in controls] == [s.name for s in explorer.sliders]
    controls[0].value = 200_000.0
    assert explorer.values["push_amount"] == 200_000.0
    assert "re-run and redraw" in box.children[0].children[-1].value


# --------------------------------------------------------------------------- the real exercises
def test_every_exercise_file_loads_and_its_worksheet_asks_every_question() -> None:
    from sdnet.teaching import load_exercises

    exercises = load_exercises(TEACHING)
    assert sorted(exercises) == list(range(1, len(exercises) + 1))
    assert len(exercises) >= 5
    assert any(e.challenge is not None for e in exercises.values())
    for exercise in exercises.values():
        text = exercise.worksheet.read_text(encoding="utf-8")
        for question in exercise.questions:
            assert f"`{question.id}`" in text, (exercise.path.name, question.id)
        assert exercise.notebook.is_file()




@pytest.fixture(scope="module")
def real_keys() -> dict[int, tuple[Any, Key]]:
    from sdnet.teaching import load_exercises

    return {n: (e, generate_key(e)) for n, e in load_exercises(TEACHING).items()}


@pytest.mark.slow
def test_real_keys_regenerate_identically(real_keys: dict[int, tuple[Any, Key]]) -> None:
    for exercise, key in real_keys.values():
        assert generate_key(exercise).to_toml() == key.to_toml(), exercise.path.name
        assert Key.from_toml(key.to_toml()) == key


@pytest.mark.slow
def test_real_keys_accept_right_and_reject_wrong_answers(
    real_keys: dict[int, tuple[Any, Key]]
) -> None:
    for exercise, key in real_keys.values():
        right = parse_answers({"answers": right_answers(key)}, exercise)
        assert check_answers(exercise, right, key=key).n_correct == len(exercise.questions)
        wrong: dict[str, Any] = {}
        for entry in key.entries:
            if entry.kind == "number":
                wrong[entry.question] = float(entry.value) + 3 * entry.tolerance + 1
            elif entry.kind == "boolean":
                wrong[entry.question] = not entry.value
            else:
                wrong[entry.question] = next(o for o in entry.options if o != entry.value)
        report = check_answers(exercise, parse_answers({"answers": wrong}, exercise), key=key)
        assert report.n_correct == 0
        for feedback, entry in zip(report.feedback, key.entries, strict=True):
            assert feedback.explanation.startswith(entry.explanation)
            assert entry.explanation  # every key entry explains itself


@pytest.mark.slow
def test_real_keys_agree_between_the_engine_and_pysd(
    real_keys: dict[int, tuple[Any, Key]]
) -> None:
    """The fast engine generates the keys; PySD, the reference implementation, must agree."""
    for exercise, key in real_keys.values():
        if exercise.challenge is not None:
            continue  # the challenge's ensemble needs the engine
        reference = generate_key(exercise, engine="pysd")
        for name, value in key.values.items():
            assert reference.values[name] == pytest.approx(value, rel=1e-4, abs=1e-9), name
        for ours, theirs in zip(key.entries, reference.entries, strict=True):
            if ours.kind == "number":
                assert theirs.value == pytest.approx(ours.value, rel=1e-4), ours.question
            else:
                assert theirs.value == ours.value, ours.question


@pytest.mark.slow
def test_real_keys_are_decisive(real_keys: dict[int, tuple[Any, Key]]) -> None:
    """No graded answer of the shipped exercises is a close call or has a loose tolerance.

    A model change that makes one fragile fails here (and ``sdnet exercise key`` warns).
    """
    for _, key in real_keys.values():
        assert key.warnings == ()
        for entry in key.entries:
            if entry.kind == "choice":
                assert entry.margin is not None and entry.margin >= entry.too_close


@pytest.mark.slow
def test_a_small_real_value_has_a_relative_tolerance(
    real_keys: dict[int, tuple[Any, Key]]
) -> None:
    exercise, key = real_keys[4]
    entry = key.entry("typical_kept")
    value = float(entry.value)  # about 1% of the members kept (flexnet v2)
    assert 0 < value < 0.1
    assert "±25%" in question_form(exercise.question("typical_kept"))
    for given, status in [(value * 0.8, "correct"), (value * 1.2, "correct"),
                          (value * 0.7, "incorrect"), (value * 1.3, "incorrect"),
                          (value + 0.9, "incorrect"), (0.0, "incorrect")]:
        answers = parse_answers({"answers": {"typical_kept": given}}, exercise)
        feedback = check_answers(exercise, answers, key=key).feedback
        assert next(f for f in feedback if f.question == "typical_kept").status == status


@pytest.mark.slow
def test_real_choice_feedback_reads_as_sentences(
    real_keys: dict[int, tuple[Any, Key]]
) -> None:
    exercise, key = real_keys[2]
    answers = parse_answers({"answers": {"main_inflow_during_push": "word_of_mouth"}}, exercise)
    feedback = next(f for f in check_answers(exercise, answers, key=key).feedback
                    if f.question == "main_inflow_during_push")
    brokers, mouth = key.values["brokers"], key.values["word_of_mouth"]
    assert (f"brokers brought in {brokers:.2f} firms a year on average and word of mouth "
            f"{mouth:.2f} firms a year.") in feedback.explanation
    assert "(brokers " not in feedback.to_text() and "word_of_mouth " not in feedback.to_text()


def test_the_challenge_template_gives_every_lever_its_default() -> None:
    from sdnet.engine import compile_model
    from sdnet.teaching import load_exercises

    exercise = load_exercises(TEACHING)[6]
    challenge = exercise.challenge
    assert challenge is not None
    parameters = compile_model(exercise.model).parameters
    text = answers_template(exercise)
    policy = text.split("[policy]\n", 1)[1].splitlines()[1:]
    expected = [f"# {lever} = {challenge.defaults.get(lever, parameters[lever].default):g}"
                for lever in challenge.levers]
    assert policy == expected
    assert "sponsor_cultivation_share" not in challenge.defaults  # the model's default is used


def test_the_challenge_text_says_what_the_score_counts(
    capsys: pytest.CaptureFixture[str]
) -> None:
    from sdnet.cli import main
    from sdnet.teaching import load_exercises

    exercise = load_exercises(TEACHING)[6]
    c = exercise.challenge
    assert c is not None
    latest = c.final_time - c.years_after_push
    summary = " ".join(exercise.summary.split())
    assert (f"still working at year {c.final_time:g}, at least ten years after the money stops "
            f"(the push must end by year {latest:g})") in summary
    assert c.years_after_push == 10  # "ten years" in the text
    assert main(["exercise", "--dir", str(TEACHING), "show", "6"]) == 0
    shown = capsys.readouterr().out
    assert (f"Total Members is still at least {c.sustain_fraction:.0%} of Number of Firms at "
            f"year {c.final_time:g}, {c.years_after_push:g} or more after the money stops "
            f"(the public push must end by {latest:g})") in shown


# --------------------------------------------------------------------------- the command line
def test_cli_lists_shows_and_refuses_malformed_answers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from sdnet.cli import main

    (tmp_path / "03_bathtub.toml").write_text(TOY_EXERCISE, encoding="utf-8")
    assert main(["exercise", "--dir", str(tmp_path), "list"]) == 0
    assert capsys.readouterr().out == " 3  Bathtub  [F7]  (4 questions)\n"
    assert main(["exercise", "--dir", str(tmp_path), "show", "3"]) == 0
    shown = capsys.readouterr().out
    assert "  at_end = ...   Members when the push ends? (a number, in firm, accepted within "\
           "±10% or ±1 firm, whichever is larger)" in shown
    assert main(["exercise", "--dir", str(tmp_path), "show", "3", "--template"]) == 0
    assert capsys.readouterr().out == answers_template(load_exercise(tmp_path /
                                                                     "03_bathtub.toml"))
    bad = write(tmp_path, "[answers]\nwhich = 'middle'\n")
    assert main(["exercise", "--dir", str(tmp_path), "check", "3", str(bad)]) == 2
    assert capsys.readouterr().err == (
        f"sdnet exercise: error: {bad}: [answers.which] 'middle' is not one of the options "
        "(valid: 'low_ce', 'high_ce')\n")
    assert main(["exercise", "--dir", str(tmp_path), "show", "9"]) == 2
    assert capsys.readouterr().err == (
        f"sdnet exercise: error: {tmp_path.resolve()}: no exercise 9 (valid: 3)\n")


@pytest.mark.parametrize(
    ("policy", "message"),
    [
        ("push_amount = 5000000", r"\[policy.push_amount\] push_amount = 5000000.0 cannot be "
         r"used \(valid: a number in \[0, 2e\+06\]\)"),
        ("push_duration = 19", r"\[policy\] push_start \+ push_duration \+ push_taper = 21.0 "
         r"cannot be used \(valid: at most 20 \(the push must end 10 years before year 30\)\)"),
    ],
)
def test_cli_refuses_a_policy_it_cannot_score(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], policy: str, message: str
) -> None:
    from sdnet.cli import main

    answers = write(tmp_path, f"[policy]\n{policy}\n")
    assert main(["exercise", "--dir", str(TEACHING), "check", "6", str(answers)]) == 2
    assert re.fullmatch(rf"sdnet exercise: error: {re.escape(str(answers))}: {message}\n",
                        capsys.readouterr().err)


# --------------------------------------------------------------------------- issue 11 (#10-#12)
@pytest.mark.parametrize("where", ["before", "after"])
def test_cli_takes_dir_before_or_after_the_action(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], where: str
) -> None:
    from sdnet.cli import main

    (tmp_path / "03_bathtub.toml").write_text(TOY_EXERCISE, encoding="utf-8")
    argv = (["exercise", "--dir", str(tmp_path), "list"] if where == "before"
            else ["exercise", "list", "--dir", str(tmp_path)])
    assert main(argv) == 0
    assert capsys.readouterr().out == " 3  Bathtub  [F7]  (4 questions)\n"


@pytest.mark.parametrize("spelling", ["high ce", "High-CE", " high_ce ", "HIGH  CE"])
def test_a_choice_is_read_whatever_its_spacing_and_case(
    tmp_path: Path, toy: Any, spelling: str
) -> None:
    answers = load_answers(write(tmp_path, f'[answers]\nwhich = "{spelling}"\n'), toy)
    assert answers.answers["which"] == "high_ce"


def test_an_answers_file_with_a_byte_order_mark_is_read(tmp_path: Path, toy: Any) -> None:
    path = tmp_path / "answers.toml"
    path.write_bytes(b"\xef\xbb\xbf[answers]\nat_end = 12.5\n")
    assert load_answers(path, toy).answers["at_end"] == 12.5


def test_a_folder_as_the_answers_file_is_refused_clearly(tmp_path: Path, toy: Any) -> None:
    with pytest.raises(AnswerFileError, match=r"the answers file is a folder \(valid: the path "
                       r"of a TOML file"):
        load_answers(tmp_path, toy)


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("10.0 ** 400", r"overflows \(its value exceeds 1.8e308, the largest float\)"),
        ("10 ** 400 + at_end", r"overflows"),
        ("(0 - at_end) ** 0.5", r"has no real value"),
        ("0 ** -1", r"divides by zero"),
    ],
)
def test_an_exercise_expression_that_cannot_be_computed_is_named(
    tmp_path: Path, expression: str, message: str
) -> None:
    path = tmp_path / "03_bathtub.toml"
    path.write_text(TOY_EXERCISE.replace('high_kept = "high_after / at_end"',
                                         f'high_kept = "{expression}"'), encoding="utf-8")
    with pytest.raises(ExperimentError, match=rf"\[derived.high_kept\] expression .*{message}"
                       ) as info:
        generate_key(load_exercise(path), simulator=ToySimulator())
    assert info.value.path == path


@pytest.mark.parametrize(
    ("expression", "message"),
    [("max()", r"calls max\(\) with 0 argument\(s\) \(it takes one or more values\)"),
     ("abs(at_end, 2)", r"calls abs\(\) with 2 argument\(s\) \(it takes one value\)")],
)
def test_an_exercise_expression_calling_a_function_wrongly_is_refused_at_load(
    tmp_path: Path, expression: str, message: str
) -> None:
    path = tmp_path / "03_bathtub.toml"
    path.write_text(TOY_EXERCISE.replace('high_kept = "high_after / at_end"',
                                         f'high_kept = "{expression}"'), encoding="utf-8")
    with pytest.raises(ExperimentError, match=message) as info:
        load_exercise(path)
    assert str(info.value).startswith(f"{path}: ")


def test_an_expression_of_one_value_takes_max_of_it() -> None:
    assert evaluate("max(a)", {"a": 2.5}) == 2.5
    assert evaluate("min(a, 1, 3)", {"a": 2.5}) == 1.0


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\xff\xfe[key]", r"key file is not UTF-8 text"),
        (b"xx = [", r"not an answer key written by `sdnet exercise key`: Invalid value"),
        (b"[key]\nexercise = 3\n", r"not an answer key written by `sdnet exercise key`: "
         r"missing 'title'"),
        (None, r"the key file is a folder"),
        (b"", r"not an answer key written by `sdnet exercise key`: missing 'key'"),
    ],
)
def test_cli_names_a_bad_key_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes | None, message: str
) -> None:
    from sdnet.cli import main

    (tmp_path / "03_bathtub.toml").write_text(TOY_EXERCISE, encoding="utf-8")
    answers = write(tmp_path, "[answers]\n")
    key = tmp_path / "key.toml"
    if content is None:
        key.mkdir()
    else:
        key.write_bytes(content)
    assert main(["exercise", "check", "3", str(answers), "--key", str(key),
                 "--dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert re.fullmatch(rf"sdnet exercise: error: {re.escape(str(key))}: {message}.*\n", err)


def test_a_key_of_another_exercise_is_refused(tmp_path: Path, toy_key: Key) -> None:
    path = tmp_path / "key.toml"
    path.write_text(toy_key.to_toml(), encoding="utf-8")
    assert Key.load(path, exercise=3) == toy_key
    with pytest.raises(ExperimentError, match=r"\[key.exercise\] this is the key of exercise 3, "
                       r"not of exercise 2"):
        Key.load(path, exercise=2)
