"""Students' answers files and the feedback on them.

An answers file is TOML::

    [exercise]
    number = 2                        # optional; checked against the exercise

    [answers]                         # question id = your answer
    members_at_end = 41.5             # numbers for numeric questions
    which_region = "embedded_prone"   # an option name for choices
    forms_without_push = false        # true/false for yes/no questions

    [predictions]                     # optional: what you predicted before running
    members_at_end = 80

    [policy]                          # the challenge only: your levers (Python names)
    push_amount = 250000
    push_duration = 3

``sdnet exercise check N ANSWERS.toml`` compares it with the key generated from the model and
says, for each question, what was expected and why. A malformed file raises
:class:`~sdnet.errors.AnswerFileError` naming the file, the key, the bad value and what is valid.
"""

from __future__ import annotations

import math
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

from sdnet.errors import AnswerFileError, close_matches
from sdnet.teaching.challenge import PolicyScore
from sdnet.teaching.exercises import Exercise, Question
from sdnet.teaching.keys import Key, KeyEntry

__all__ = [
    "STATUSES",
    "Answers",
    "CheckReport",
    "Feedback",
    "answers_template",
    "check_answers",
    "load_answers",
    "parse_answers",
    "question_form",
]

STATUSES: tuple[str, ...] = ("correct", "incorrect", "missing")
_SECTIONS: tuple[str, ...] = ("exercise", "answers", "predictions", "policy")
Answer = float | str | bool


@dataclass(frozen=True, slots=True)
class Answers:
    """A validated answers file.

    Attributes
    ----------
    path : Path or None
        Where it was read from.
    answers, predictions : mapping of question id to answer
        Numbers (float), option names (str) or yes/no (bool), by the question's kind.
    policy : mapping of lever name to float
        The challenge policy (empty elsewhere); validated against the model when scored.
    """

    path: Path | None
    answers: Mapping[str, Answer]
    predictions: Mapping[str, Answer]
    policy: Mapping[str, float]


@dataclass(frozen=True, slots=True)
class Feedback:
    """What a student learns about one answer."""

    question: str
    prompt: str
    status: str
    given: Answer | None
    expected: float | str | bool
    tolerance: float
    units: str
    explanation: str
    prediction: Answer | None = None
    also_accepted: tuple[str | bool, ...] = ()

    @property
    def correct(self) -> bool:
        """True when the answer matches the key within its tolerance."""
        return self.status == "correct"

    def to_text(self) -> str:
        """A few lines for the terminal: the verdict, the expected answer, why."""
        units = f" {self.units}" if self.units and self.units != "dmnl" else ""
        mark = {"correct": "RIGHT", "incorrect": "NOT YET", "missing": "NO ANSWER"}[self.status]
        lines = [f"[{mark}] {self.question}: {self.prompt}"]
        expected = _show(self.expected)
        if self.tolerance:
            expected += f"{units} (accepted within ±{_show(self.tolerance)}{units})"
        else:
            expected += units
        if self.also_accepted:
            expected += " (too close to call: " + ", ".join(
                _show(a) for a in self.also_accepted) + " also accepted)"
        if self.status != "missing":
            shown = _show(self.given) + (units if _is_number(self.given) else "")
            lines.append(f"    your answer: {shown}")
        lines.append(f"    expected:    {expected}")
        if self.status == "incorrect" and _is_number(self.given) and _is_number(self.expected):
            given, want = float(self.given), float(self.expected)  # type: ignore[arg-type]
            direction = "high" if given > want else "low"
            lines.append(f"    yours is {direction} by {_show(abs(given - want))}{units}")
        if self.explanation:
            lines.append(f"    why: {self.explanation}")
        if self.prediction is not None:
            lines.append(
                f"    you predicted {_show(self.prediction)} before running: "
                + ("the model agrees." if _agrees(self.prediction, self.expected, self.tolerance,
                                                  self.also_accepted)
                   else "compare it with the run; what did your prediction leave out?")
            )
        return "\n".join(lines)


@dataclass(frozen=True, slots=True)
class CheckReport:
    """The result of checking an answers file against a key.

    Attributes
    ----------
    exercise : int
        Exercise number.
    title : str
        Exercise title.
    feedback : tuple of Feedback
        One per question.
    policy : PolicyScore or None
        The student's challenge policy, scored (challenge only).
    references : tuple of PolicyScore
        Reference policies in the same ensemble (challenge only).
    pass_reference : str
        The reference a policy must match to pass (challenge only).
    """

    exercise: int
    title: str
    feedback: tuple[Feedback, ...]
    policy: PolicyScore | None = None
    references: tuple[PolicyScore, ...] = ()
    pass_reference: str = ""

    @property
    def n_correct(self) -> int:
        """Number of right answers."""
        return sum(f.correct for f in self.feedback)

    @property
    def policy_passed(self) -> bool | None:
        """Whether the policy scores at least as well as the pass reference (None: no policy)."""
        if self.policy is None:
            return None
        bar = next((r.score for r in self.references if r.name == self.pass_reference), None)
        return bar is None or self.policy.score >= bar

    @property
    def passed(self) -> bool:
        """All questions right and, in the challenge, the policy passes."""
        return self.n_correct == len(self.feedback) and self.policy_passed is not False

    def to_text(self) -> str:
        """The full feedback, as ``sdnet exercise check`` prints it."""
        lines = [f"Exercise {self.exercise}: {self.title}", ""]
        for item in self.feedback:
            lines += [item.to_text(), ""]
        if self.feedback:
            lines.append(f"{self.n_correct} of {len(self.feedback)} answers right.")
        if self.policy is not None:
            lines += ["", _policy_table(self.policy, self.references, self.pass_reference)]
        return "\n".join(lines).rstrip() + "\n"


def _policy_table(policy: PolicyScore, references: tuple[PolicyScore, ...],
                  pass_reference: str) -> str:
    rows = sorted([policy, *references], key=lambda s: -s.score)
    rank = rows.index(policy) + 1
    lines = [
        f"Challenge: your policy scored {policy.score:.1f} points "
        f"(sustained in {policy.sustained_share:.0%} of {policy.n_runs} plausible worlds, "
        f"mean public cost ${policy.mean_cost / 1e6:.2f} million); "
        f"rank {rank} of {len(rows)}.",
        "",
        f"  {'policy':<28} {'score':>7} {'sustained':>10} {'cost $M':>8}",
    ]
    for row in rows:
        mark = "->" if row is policy else "  "
        lines.append(f"{mark}{row.name:<28} {row.score:>7.1f} {row.sustained_share:>10.0%} "
                     f"{row.mean_cost / 1e6:>8.2f}")
    bar = next((r for r in references if r.name == pass_reference), None)
    if bar is not None:
        verdict = "passes" if policy.score >= bar.score else "does not pass yet"
        lines += ["", f"Your policy {verdict}: the bar is the {bar.name!r} reference "
                  f"({bar.score:.1f} points)."]
        if policy.n_failed:
            lines.append(f"{policy.n_failed} runs failed numerically and count as not "
                         "sustained.")
    return "\n".join(lines)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"  # as written in an answers file
    if _is_number(value):
        number = float(value)
        return f"{number:,.0f}" if abs(number) >= 1e4 else f"{number:.4g}"
    return str(value)


def _agrees(given: Answer, expected: float | str | bool, tolerance: float,
            also_accepted: tuple[str | bool, ...] = ()) -> bool:
    entry = KeyEntry("", "", expected, tolerance=tolerance, also_accepted=also_accepted)
    return entry.accepts(given)


def question_form(question: Question) -> str:
    """What an answer to ``question`` looks like, e.g. ``"a number, in firm, accepted within
    ±1 firm"`` (the tolerance is part of the question, so students know it before answering).
    """
    if question.kind == "choice":
        return "one of " + ", ".join(f'"{o}"' for o in question.options)
    if question.kind == "boolean":
        return "true or false"
    units = f", in {question.units}" if question.units and question.units != "dmnl" else ""
    return f"a number{units}, accepted within {question.tolerance.describe(question.units)}"


def answers_template(exercise: Exercise, *,
                     lever_defaults: Mapping[str, float] | None = None) -> str:
    """A blank answers file for an exercise, with each question as a comment.

    Parameters
    ----------
    exercise : Exercise
        The exercise.
    lever_defaults : mapping of str to float, optional
        The model's default value of each challenge lever (Python names), shown for levers the
        challenge gives no default of its own; default read from the compiled model.
    """
    lines = [f"# Answers to exercise {exercise.number}: {exercise.title}",
             f"# Check them with: sdnet exercise check {exercise.number} THIS_FILE.toml", "",
             "[exercise]", f"number = {exercise.number}", "", "[answers]"]
    for q in exercise.questions:
        lines.append(f"# {q.prompt} ({question_form(q)})")
        if q.kind == "choice":
            options = ", ".join(f'"{o}"' for o in q.options)
            lines.append(f"# {q.id} = ONE OF {options}")
        elif q.kind == "boolean":
            lines.append(f"# {q.id} = true OR false")
        else:
            lines.append(f"# {q.id} = A NUMBER")
    lines += ["", "[predictions]", "# optional: the same keys, with what you predicted "
              "before running the model"]
    challenge = exercise.challenge
    if challenge is not None:
        missing = [lever for lever in challenge.levers if lever not in challenge.defaults]
        if missing and lever_defaults is None:
            from sdnet.engine import compile_model

            parameters = compile_model(exercise.model).parameters
            lever_defaults = {lever: parameters[lever].default for lever in missing}
        defaults = {**(lever_defaults or {}), **challenge.defaults}
        lines += ["", "[policy]", "# your levers; missing ones take these defaults"]
        for lever in challenge.levers:
            lines.append(f"# {lever} = {defaults[lever]:g}")
    return "\n".join(lines) + "\n"


def _check_value(exercise: Exercise, question_id: str, value: Any, *, path: Path | None,
                 section: str) -> Answer:
    question = next((q for q in exercise.questions if q.id == question_id), None)
    key = f"{section}.{question_id}"
    if question is None:
        ids = [q.id for q in exercise.questions]
        hint = close_matches(question_id, ids)
        message = f"exercise {exercise.number} has no question {question_id!r}"
        if hint:
            message += f"; did you mean {', '.join(map(repr, hint))}?"
        raise AnswerFileError(message, path=path, key=key, value=question_id,
                              valid=", ".join(ids))
    if question.kind == "number":
        if not _is_number(value) or not math.isfinite(value):
            raise AnswerFileError(f"expected a number, got {value!r}", path=path, key=key,
                                  value=value, valid="a finite number such as 42 or 0.35, "
                                  "without quotes")
        return float(value)
    if question.kind == "boolean":
        if not isinstance(value, bool):
            raise AnswerFileError(f"expected true or false, got {value!r}", path=path, key=key,
                                  value=value, valid="true, false (without quotes)")
        return value
    options = list(question.options)
    if isinstance(value, str):
        # "word of mouth", "Word-of-mouth" and "word_of_mouth" are one answer
        chosen = {_option_key(o): o for o in options}.get(_option_key(value))
        if chosen is not None:
            return chosen
    raise AnswerFileError(f"{value!r} is not one of the options", path=path, key=key,
                          value=value, valid=", ".join(repr(o) for o in options))


def _option_key(text: str) -> str:
    """An option name as compared: case, spaces, hyphens and underscores do not matter."""
    return "_".join(re.split(r"[\s_\-]+", text.strip().lower()))


def parse_answers(data: Mapping[str, Any], exercise: Exercise, *,
                  path: str | Path | None = None) -> Answers:
    """Validate parsed TOML as an answers file of ``exercise``.

    Raises
    ------
    AnswerFileError
        On any malformed part (unknown section or question, wrong type, wrong exercise).
    """
    path = None if path is None else Path(path)
    for section in data:
        if section not in _SECTIONS:
            hint = close_matches(section, _SECTIONS)
            raise AnswerFileError(
                f"unknown section [{section}]"
                + (f"; did you mean [{hint[0]}]?" if hint else ""),
                path=path, key=section, value=section, valid=", ".join(_SECTIONS))
        if not isinstance(data[section], dict):
            raise AnswerFileError(f"[{section}] must be a table (a [{section}] header followed "
                                  "by name = value lines)", path=path, key=section,
                                  value=data[section])
    head = data.get("exercise", {})
    for key, value in head.items():
        if key != "number":
            raise AnswerFileError(f"unknown key {key!r}", path=path, key=f"exercise.{key}",
                                  value=value, valid="number")
        if isinstance(value, bool) or not isinstance(value, int):
            raise AnswerFileError(
                f"the exercise number must be a whole number without quotes, not {value!r}",
                path=path, key="exercise.number", value=value,
                valid=f"number = {exercise.number}")
        if value != exercise.number:
            raise AnswerFileError(
                f"this file is for exercise {value!r}, but you are checking exercise "
                f"{exercise.number}", path=path, key="exercise.number", value=value,
                valid=str(exercise.number))
    answers = {k: _check_value(exercise, k, v, path=path, section="answers")
               for k, v in data.get("answers", {}).items()}
    predictions = {k: _check_value(exercise, k, v, path=path, section="predictions")
                   for k, v in data.get("predictions", {}).items()}
    policy: dict[str, float] = {}
    if data.get("policy"):
        if exercise.challenge is None:
            raise AnswerFileError(f"exercise {exercise.number} has no policy challenge",
                                  path=path, key="policy", value=data["policy"],
                                  valid="no [policy] section")
        levers = exercise.challenge.levers
        for name, value in data["policy"].items():
            if name not in levers:
                hint = close_matches(name, levers)
                raise AnswerFileError(
                    f"{name!r} is not a lever of the challenge"
                    + (f"; did you mean {', '.join(map(repr, hint))}?" if hint else ""),
                    path=path, key=f"policy.{name}", value=name, valid=", ".join(levers))
            if not _is_number(value) or not math.isfinite(value):
                raise AnswerFileError(f"expected a number, got {value!r}", path=path,
                                      key=f"policy.{name}", value=value,
                                      valid="a finite number, without quotes")
            policy[name] = float(value)
    return Answers(path=path, answers=MappingProxyType(answers),
                   predictions=MappingProxyType(predictions), policy=MappingProxyType(policy))


def load_answers(path: str | Path, exercise: Exercise) -> Answers:
    """Read and validate an answers file (see the module docstring for its layout).

    Raises
    ------
    AnswerFileError
        If the file is missing, not TOML, or malformed.
    """
    path = Path(path)
    make_one = f"`sdnet exercise show {exercise.number} --template`"
    if path.is_dir():
        raise AnswerFileError("the answers file is a folder", path=path,
                              valid=f"the path of a TOML file; make one with {make_one}")
    try:
        # utf-8-sig: editors such as Windows Notepad start the file with a byte-order mark
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError as error:
        raise AnswerFileError("answers file not found", path=path,
                              valid=f"the path of a TOML file; make one with {make_one}"
                              ) from error
    except UnicodeDecodeError as error:
        raise AnswerFileError("answers file is not UTF-8 text", path=path) from error
    except OSError as error:
        raise AnswerFileError(f"answers file cannot be read ({error.strerror or error})",
                              path=path) from error
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise AnswerFileError(f"not valid TOML: {error}", path=path,
                              valid='lines such as `members_at_end = 42` or `region = "typical"`'
                              ) from error
    return parse_answers(data, exercise, path=path)


def _feedback(entry: KeyEntry, prompt: str, given: Answer | None,
              prediction: Answer | None) -> Feedback:
    status = ("missing" if given is None
              else "correct" if entry.accepts(given) else "incorrect")
    # The explanation states the compared numbers in words and units (the exercise's
    # ``explain``); the options' raw values stay in the key for teachers.
    return Feedback(question=entry.question, prompt=prompt, status=status, given=given,
                    expected=entry.value, tolerance=entry.tolerance, units=entry.units,
                    explanation=entry.explanation, prediction=prediction,
                    also_accepted=entry.also_accepted)


def check_answers(
    exercise: Exercise,
    answers: Answers,
    *,
    key: Key,
    policy_score: PolicyScore | None = None,
    references: tuple[PolicyScore, ...] | None = None,
) -> CheckReport:
    """Compare answers with the key of the same exercise.

    Parameters
    ----------
    exercise : Exercise
        The exercise (for the prompts).
    answers : Answers
        From :func:`load_answers`.
    key : Key
        Generated by :func:`sdnet.teaching.generate_key` for the same exercise.
    policy_score : PolicyScore, optional
        The student's challenge policy, scored in the same ensemble as the key's references
        (``sdnet exercise check`` does this with :func:`sdnet.teaching.score_policies`).
    references : tuple of PolicyScore, optional
        The reference policies scored with it; default the key's.
    """
    if key.exercise != exercise.number:
        raise AnswerFileError(f"the key is for exercise {key.exercise}, not {exercise.number}",
                              key="key.exercise", value=key.exercise)
    feedback = tuple(
        _feedback(key.entry(q.id), q.prompt, answers.answers.get(q.id),
                  answers.predictions.get(q.id))
        for q in exercise.questions
    )
    return CheckReport(
        exercise=exercise.number, title=exercise.title, feedback=feedback,
        policy=policy_score,
        references=key.references if references is None else references,
        pass_reference=exercise.challenge.pass_reference if exercise.challenge else "",
    )
