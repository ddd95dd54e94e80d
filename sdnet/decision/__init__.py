"""Deciding between policy packages: which package works, in how many worlds, at what cost.

Issue 13, section 2. A *package* (:class:`Package`) is a push schedule plus other lever values;
*worlds* are parameter sets of the uncertain constants (a table such as the non-implausible
sets ``sdnet calibrate`` writes), the same for every package and region. The modules:

* :mod:`sdnet.decision.packages`: the :class:`Package` object;
* :mod:`sdnet.decision.budgets`: :func:`equal_budget_packages`, packages spending one public
  budget differently (pure);
* :mod:`sdnet.decision.worlds`: reading and sampling a table of worlds (:func:`read_worlds`,
  :func:`sample_worlds`);
* :mod:`sdnet.decision.compare`: success rates with intervals, public cost per success,
  regret and satisficing robustness (pure);
* :mod:`sdnet.decision.evaluate`: :func:`evaluate_packages`, running packages x worlds on the
  vector engine into a tidy table;
* :mod:`sdnet.decision.optimize`: :func:`optimize_package`, the cheapest package that succeeds
  in a required share of a region's worlds, and the Pareto front of cost against success rate.
"""

from sdnet.decision.budgets import equal_budget_packages
from sdnet.decision.compare import (
    Condition,
    compare_packages,
    cost_per_success,
    cost_regret,
    parse_condition,
    regret,
    satisficing,
    success_interval,
)
from sdnet.decision.evaluate import evaluate_packages
from sdnet.decision.packages import Package
from sdnet.decision.worlds import read_worlds, sample_worlds

__all__ = [
    "Condition",
    "Package",
    "compare_packages",
    "cost_per_success",
    "cost_regret",
    "equal_budget_packages",
    "evaluate_packages",
    "parse_condition",
    "read_worlds",
    "regret",
    "sample_worlds",
    "satisficing",
    "success_interval",
]
