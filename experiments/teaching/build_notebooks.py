"""Write the teaching notebooks (NN_name.ipynb) from the cells below.

The notebooks are generated so that they all share the same setup and explorer cells and stay
in step with the exercise files. Run from anywhere after editing:

    python3 experiments/teaching/build_notebooks.py

Each notebook runs top to bottom in a few seconds without a display (the tests execute them
with nbclient); the sliders appear when ipywidgets is installed (``pip install 'sdnet[teach]'``).
"""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).resolve().parent

SETUP = '''\
# Setup: run this cell first. The model is translated once, then cached.
import warnings

import matplotlib.pyplot as plt
from IPython.display import display

import sdnet

warnings.filterwarnings("ignore", category=DeprecationWarning)  # PySD's pandas deprecations

MODEL = "../../models/flexnet/flexnet.mdl"
model = sdnet.load_model(MODEL)'''

EXPLORER = '''\
# Explore: move a slider and the model re-runs and redraws (the previous run is dashed, the
# push shaded). Without ipywidgets (pip install 'sdnet[teach]') you get one static comparison.
from sdnet.teaching.explorer import Explorer

explorer = Explorer.from_path(
    MODEL, region={region!r}, values={values}
)
try:
    display(explorer.widget())
except ImportError as error:
    print(error)
    explorer.update({fallback})
    display(explorer.figure)'''

CHECK = '''\
**Check your answers.** Make a blank answers file, fill it in, and check it (in a terminal, from
the sdnet folder):

```bash
sdnet exercise show {n} --template > answers_{n:02d}.toml
sdnet exercise check {n} answers_{n:02d}.toml
```

The checker runs the model, compares each answer with the key within its stated tolerance, and
explains what was expected and why.'''

CELLS: dict[int, list[tuple[str, str]]] = {
    1: [
        ("md", "## Task 1: the push as a flow of money\n\n**Predict** first: how much public "
               "money will the network have received by year 30 in total? Write it down."),
        ("code", '''\
push = sdnet.Push(300_000, 2, 3.5, taper=2)  # $/yr, start year, years at full strength, taper
result = model.run(region="typical", push=push, variables=[
    "Total Members", "Micro Joining", "Established Joining", "Micro Leaving",
    "Established Leaving", "Cumulative Public Spending", "Public Push Grant",
])
frame = result.to_frame()
print("push:", push.describe(), "- ends in year", push.end)
print(f"total public spending by year 30: ${frame.loc[30, 'Cumulative Public Spending']:,.0f}")
print(f"by hand: 300,000 x 3.5 + 300,000 x 2 / 2 = ${300_000 * 3.5 + 300_000 * 2 / 2:,.0f}")'''),
        ("md", "## Tasks 2-4: members as a bathtub\n\n**Predict**: sketch members over time. "
               "When will the stock peak: when the push starts to taper, when it ends, or "
               "later?"),
        ("code", '''\
from sdnet.plotting.runs import plot_run

frame["Joining"] = frame["Micro Joining"] + frame["Established Joining"]
frame["Leaving"] = frame["Micro Leaving"] + frame["Established Leaving"]
fig, (top, bottom) = plt.subplots(2, 1, figsize=(8, 5), sharex=True, layout="constrained")
plot_run(result, "Total Members", ax=top)
bottom.plot(frame.index, frame["Joining"], label="joining (inflow)")
bottom.plot(frame.index, frame["Leaving"], label="leaving (outflow)")
bottom.set_ylabel("firm/Year")
bottom.legend()
peak = frame["Total Members"].idxmax()
for ax in (top, bottom):
    ax.axvline(peak, color="k", lw=0.8, ls=":")
plt.show()
print(f"members at the push end (year {push.end:g}): {frame.loc[push.end, 'Total Members']:.1f}")
print(f"peak: year {peak:g}; joining {frame.loc[peak, 'Joining']:.2f}, "
      f"leaving {frame.loc[peak, 'Leaving']:.2f} firm/yr")
print(f"10 years after the push: {frame.loc[push.end + 10, 'Total Members']:.1f} members")'''),
        ("md", "**Explain** (worksheet): why does the stock peak where the two curves cross, "
               "and why does it fall after the push?"),
    ],
    2: [
        ("md", "## Task 1: no push\n\n**Predict**: with no push at all, how many firms will "
               "be members in a typical region of 150 firms?"),
        ("code", '''\
runs = {
    "no push": model.run(region="typical", push=sdnet.Push(0, 2, 3.5)),
    "half push": model.run(region="typical", push=sdnet.Push(150_000, 2, 3.5)),
    "base push": model.run(region="typical", push=sdnet.Push(300_000, 2, 3.5)),
}
fig, ax = plt.subplots(figsize=(8, 3.5), layout="constrained")
for label, run in runs.items():
    ax.plot(run.frame.index, run["Total Members"], label=label)
ax.axvspan(2, 5.5, color="C1", alpha=0.15, label="push")
ax.set_xlabel("Year")
ax.set_ylabel("members (firm)")
ax.legend()
plt.show()
for label, run in runs.items():
    print(f"{label:>9}: peak {run['Total Members'].max():6.2f} firms")'''),
        ("md", "## Task 2: half the push\n\n**Predict**: half the base push reaches what "
               "fraction of the base push's peak membership: exactly half, less, or more?"),
        ("code", '''\
ratio = runs["half push"]["Total Members"].max() / runs["base push"]["Total Members"].max()
print(f"half / base peak = {ratio:.2f}")'''),
        ("md", "## Task 3: who recruits, the push or the loop?\n\n**Predict**: while the push "
               "runs, do more firms join through brokers (paid by the push) or by word of mouth "
               "(R1)? Is there still a network ten years after the push ends?"),
        ("code", '''\
import numpy as np

channels = model.run(region="typical", push=sdnet.Push(300_000, 2, 3.5), variables=[
    "Total Members", "Micro Broker Joining", "Established Broker Joining",
    "Micro Word of Mouth Joining", "Established Word of Mouth Joining",
]).to_frame()
brokers = channels["Micro Broker Joining"] + channels["Established Broker Joining"]
mouth = channels["Micro Word of Mouth Joining"] + channels["Established Word of Mouth Joining"]
fig, ax = plt.subplots(figsize=(8, 3), layout="constrained")
ax.plot(channels.index, brokers, label="brokers (push)")
ax.plot(channels.index, mouth, label="word of mouth (R1)")
ax.axvspan(2, 5.5, color="C1", alpha=0.15, label="push")
ax.set_xlabel("Year")
ax.set_ylabel("joining (firm/Year)")
ax.legend()
plt.show()

def time_average(series, start, end):
    """Average over the years start-end (trapezoid rule), as the answer key computes it."""
    window = series.loc[start:end]
    return np.trapezoid(window, window.index) / (end - start)


print(f"during the push: brokers {time_average(brokers, 2, 5.5):.2f}, "
      f"word of mouth {time_average(mouth, 2, 5.5):.2f} firm/yr on average")
print(f"10 years after the push (year 15.5): {channels.loc[15.5, 'Total Members']:.2f} firms")'''),
    ],
    3: [
        ("md", "## Tasks 1-2: who gains?\n\n**Predict**: who gets more from membership, a "
               "micro/new firm or an established one? Will micro firms be over-represented?"),
        ("code", '''\
from sdnet.plotting.runs import plot_run

push = sdnet.Push(300_000, 2, 3.5)
result = model.run(region="embedded_prone", push=push, variables=[
    "Member Benefit", "Micro Member Share", "Micro Share", "Total Members", "Trust",
    "Collective Knowledge", "Micro Joining", "Trust Building",
])
frame = result.to_frame()
fig, (top, bottom) = plt.subplots(2, 1, figsize=(8, 5), sharex=True, layout="constrained")
plot_run(result, "Member Benefit", ax=top)
bottom.plot(frame.index, frame["Micro Member Share"], label="micro share of members")
bottom.plot(frame.index, frame["Micro Share"], ls="--", label="micro share of all firms")
bottom.set_ylabel("dmnl")
bottom.legend()
plt.show()
end = push.end
micro = frame.loc[end, "Member Benefit[Micro]"]
established = frame.loc[end, "Member Benefit[Established]"]
print(f"benefit per member at the push end: micro {micro:,.0f}, established {established:,.0f} "
      f"$/(firm*Year), ratio {micro / established:.2f}")
print(f"micro share of members {frame.loc[end, 'Micro Member Share']:.2f} vs "
      f"of firms {frame.loc[end, 'Micro Share']:.2f}")'''),
        ("md", "## Task 3: what comes first?\n\n**Predict** the order of the peaks of joining, "
               "trust building and collective knowledge."),
        ("code", '''\
fig, ax = plt.subplots(figsize=(8, 3), layout="constrained")
for name in ("Micro Joining", "Trust Building", "Collective Knowledge"):
    series = frame[name]
    ax.plot(frame.index, series / series.max(), label=f"{name} (peak year {series.idxmax():g})")
ax.set_xlabel("Year")
ax.set_ylabel("share of its own peak")
ax.legend()
plt.show()'''),
        ("md", "## Task 4: learning below critical mass\n\n**Predict**: without a push, how "
               "much collective knowledge (an index from 0 to 1) builds up?"),
        ("code", '''\
no_push = model.run(region="embedded_prone", push=sdnet.Push(0, 2, 3.5))
print("collective knowledge without a push: at most "
      f"{no_push['Collective Knowledge'].max():.4f}")'''),
    ],
    4: [
        ("md", "## Task 1: the same push in two regions\n\n**Predict**: ten years after the "
               "push ends, what fraction of its members will each network still have?"),
        ("code", '''\
push = sdnet.Push(300_000, 2, 3.5)
names = ["Total Members", "Embeddedness", "Sponsor Contributions", "Average Member Benefit"]
runs = {region: model.run(region=region, push=push, variables=names).to_frame()
        for region in ("typical", "embedded_prone")}
fig, axes = plt.subplots(2, 2, figsize=(9, 5), sharex=True, layout="constrained")
for ax, name in zip(axes.flat, names, strict=True):
    for region, frame in runs.items():
        ax.plot(frame.index, frame[name], label=region)
    ax.axvspan(push.start, push.end, color="C1", alpha=0.15)
    ax.set_title(name, fontsize="medium")
axes[0, 0].legend()
plt.show()
for region, frame in runs.items():
    kept = frame.loc[push.end + 10, "Total Members"] / frame.loc[push.end, "Total Members"]
    print(f"{region:>15}: kept {kept:.0%} of members; sponsors give "
          f"${frame.loc[push.end + 5, 'Sponsor Contributions']:,.0f}/yr five years after")'''),
        ("md", "## Tasks 2-3: benefit per member and local money\n\n**Explain** in the "
               "worksheet why the embedded network gives more per member after the push."),
        ("code", '''\
window = slice(push.end, push.end + 5)
for region, frame in runs.items():
    print(f"{region:>15}: mean benefit per member in the 5 years after the push "
          f"{frame.loc[window, 'Average Member Benefit'].mean():,.0f} $/(firm*Year)")'''),
    ],
    5: [
        ("md", "## Task 1: the same push where firms already network outside\n\n**Predict**: "
               "will the push recruit more or fewer members in the externally networked "
               "region?"),
        ("code", '''\
push = sdnet.Push(300_000, 2, 3.5)
names = ["Total Members", "Network Incremental Share", "Knowledge Access",
         "Member Knowledge Access", "External Knowledge Access"]
runs = {
    "typical, push": model.run(region="typical", push=push, variables=names),
    "externally networked, push": model.run(region="externally_networked", push=push,
                                            variables=names),
    "externally networked, no push": model.run(region="externally_networked",
                                               push=sdnet.Push(0, 2, 3.5), variables=names),
    "embedded-prone, push": model.run(region="embedded_prone", push=push, variables=names),
}
fig, (top, bottom) = plt.subplots(2, 1, figsize=(8, 5), sharex=True, layout="constrained")
for label, run in runs.items():
    top.plot(run.frame.index, run["Total Members"], label=label)
    bottom.plot(run.frame.index, run["Knowledge Access[Micro]"], label=label)
top.set_ylabel("members (firm)")
bottom.set_ylabel("knowledge access of a micro firm")
top.legend(fontsize="small")
plt.show()
typical, external = (runs[k]["Total Members"].max() for k in ("typical, push",
                                                               "externally networked, push"))
print(f"peak members: typical {typical:.1f}, externally networked {external:.1f} "
      f"(ratio {external / typical:.2f})")'''),
        ("md", "## Tasks 2-3: can firms substitute?\n\n**Predict**: without any network, how "
               "close does a firm in the externally networked region come to the knowledge "
               "access of members of an embedded network?"),
        ("code", '''\
later = push.end + 10
alone = runs["externally networked, no push"].to_frame().loc[later, "Knowledge Access[Micro]"]
members = runs["embedded-prone, push"].to_frame().loc[later, "Member Knowledge Access"]
print(f"year {later:g}: external ties alone {alone:.2f}, members of an embedded network "
      f"{members:.2f}, ratio {alone / members:.2f}")'''),
    ],
    6: [
        ("md", "## Task 1: one lucky world is not enough\n\nThe challenge scores a policy in "
               "200 plausible worlds (a Latin-hypercube sample of the model's uncertain "
               "parameters). **Predict**: in what share of them does the base push sustain "
               "the network?"),
        ("code", '''\
from sdnet.engine import compile_model
from sdnet.policy import region_values
from sdnet.teaching import load_exercise, sample_worlds, score_policies

exercise = load_exercise("06_policy_challenge.toml")
challenge = exercise.challenge
simulator = compile_model(exercise.model)
references = {r.name: r.levers for r in challenge.references}

# Your policy: change these numbers (levers not given take the challenge defaults).
my_policy = {
    "push_amount": 250_000,
    "push_duration": 4,
    "push_taper": 2,
    "local_match_requirement": 0.3,
    "sponsor_cultivation_share": 0.3,
}
REGION = challenge.region  # the challenge's region; try "typical" to see how much harder it is
scores = score_policies(challenge, {"my policy": my_policy, **references}, simulator=simulator,
                        card=model.card, region_values=region_values(REGION, card=model.card))
print(f"{'policy':<24}{'score':>8}{'sustained':>11}{'cost $M':>9}")
for s in sorted(scores.values(), key=lambda s: -s.score):
    print(f"{s.name:<24}{s.score:>8.1f}{s.sustained_share:>11.0%}{s.mean_cost / 1e6:>9.2f}")'''),
        ("md", "## Task 2: see the worlds\n\nEach thin line is one plausible world under your "
               "policy; the dashed line is the members needed at year 30."),
        ("code", '''\
import numpy as np

worlds = sample_worlds(simulator.parameters, challenge.n_runs, seed=challenge.seed)
levers = scores["my policy"].levers
values = {**region_values(REGION, card=model.card), **levers, **worlds}
simulation = simulator.simulate(values, n_runs=challenge.n_runs,
                                final_time=challenge.final_time, variables=["Total Members"])
members = simulation.outputs["Total Members"]
firms = region_values(REGION, card=model.card).get(
    "number_of_firms", simulator.parameters["number_of_firms"].default)
needed = challenge.sustain_fraction * firms
fig, ax = plt.subplots(figsize=(8, 3.5), layout="constrained")
ok = members[:, -1] >= needed
ax.plot(simulation.times, members[ok].T, color="C2", lw=0.5, alpha=0.4)
ax.plot(simulation.times, members[~ok].T, color="C3", lw=0.5, alpha=0.25)
ax.axhline(needed, color="k", ls="--", lw=1)
end = levers["push_start"] + levers["push_duration"] + levers["push_taper"]
ax.axvspan(levers["push_start"], end, color="C1", alpha=0.15)
ax.set_xlabel("Year")
ax.set_ylabel("members (firm)")
ax.set_title(f"sustained in {ok.mean():.0%} of {challenge.n_runs} worlds (green)")
plt.show()
print("median members at year 30:", round(float(np.median(members[:, -1])), 1))'''),
        ("md", "## Task 3: design\n\nChange `my_policy` above and re-run both cells until you "
               "beat the base push at lower cost. Then put it in the `[policy]` section of your "
               "answers file: `sdnet exercise check 6` scores it in the same worlds and ranks "
               "it against the reference policies."),
    ],
    7: [
        ("md", "## Tasks 1-3: the simulator's runs, here\n\nStart the simulator in a "
               "terminal (`sdnet serve models/flexnet/flexnet.mdl`, from the sdnet folder) and "
               "work through the "
               "worksheet there. This notebook makes the same runs, to check your readings and "
               "to draw the saved scenarios in one figure."),
        ("code", '''\
base = sdnet.Push(300_000, 2, 3.5)
saved = ["Total Members", "Embeddedness", "Cumulative Public Spending"]
runs = {
    "base push": model.run(region="embedded_prone", push=base, variables=saved),
    "no push": model.run(region="embedded_prone", push=sdnet.Push(0, 2, 3.5), variables=saved),
    "matched": model.run(region="embedded_prone", push=sdnet.Push(300_000, 2, 3.5, match=0.6),
                         params={"sponsor_cultivation_share": 0.3}, variables=saved),
    "typical region": model.run(region="typical", push=base, variables=saved),
}
fig, (top, bottom) = plt.subplots(1, 2, figsize=(10, 3.5), layout="constrained")
for name, run in runs.items():
    frame = run.to_frame()
    top.plot(frame.index, frame["Total Members"], label=name)
    bottom.plot(frame.index, frame["Embeddedness"], label=name)
    print(f"{name:15s} year 30: members {frame['Total Members'].iloc[-1]:6.1f}, embeddedness "
          f"{frame['Embeddedness'].iloc[-1]:.2f}, public money "
          f"${frame['Cumulative Public Spending'].iloc[-1]:,.0f}")
top.set_ylabel("Total Members (firm)")
bottom.set_ylabel("Embeddedness")
for ax in (top, bottom):
    ax.set_xlabel("Year")
    ax.axvspan(2, 5.5, color="C1", alpha=0.15)
top.legend()
plt.show()'''),
        ("md", "**Explain** (worksheet): why does the matched push spend less and leave less?"),
    ],
}

EXPLORERS: dict[int, tuple[str, str, str]] = {
    # region, starting values, fallback change (without ipywidgets)
    1: ("typical", "sdnet.Push(300_000, 2, 3.5, taper=2).as_params(model.card)", "push_taper=0"),
    2: ("typical", "sdnet.Push(300_000, 2, 3.5).as_params(model.card)", "push_amount=150_000"),
    3: ("embedded_prone", "sdnet.Push(300_000, 2, 3.5).as_params(model.card)",
        "push_amount=150_000"),
    4: ("typical", "sdnet.Push(300_000, 2, 3.5).as_params(model.card)",
        "community_entrepreneur_density=0.8"),
    5: ("typical", "sdnet.Push(300_000, 2, 3.5).as_params(model.card)", "external_networking=0.8"),
    6: ("embedded_prone", "my_policy", "push_duration=8"),
    7: ("embedded_prone", "sdnet.Push(300_000, 2, 3.5).as_params(model.card)",
        "local_match_requirement=0.5"),
}


def build(number: int, toml_path: Path) -> nbformat.NotebookNode:
    """The notebook of one exercise."""
    head = tomllib.loads(toml_path.read_text(encoding="utf-8"))["exercise"]
    goals = "\n".join(f"- {goal}" for goal in head["goals"])
    intro = (
        f"# Exercise {number}: {head['title']}\n\n{' '.join(head['summary'].split())}\n\n"
        f"Findings of Malecki (1996): {', '.join(head['findings'])}. Worksheet: "
        f"[{toml_path.with_suffix('.md').name}]({toml_path.with_suffix('.md').name}).\n\n"
        f"**Learning goals**\n\n{goals}\n\nWork through the cells in order: *predict* (write "
        "your prediction down before running), *run*, then *explain* in the worksheet."
    )
    cells = [new_markdown_cell(intro), new_code_cell(SETUP)]
    for kind, text in CELLS[number]:
        cells.append(new_markdown_cell(text) if kind == "md" else new_code_cell(text))
    region, values, fallback = EXPLORERS[number]
    cells.append(new_markdown_cell("## Explore\n\nMove the sliders (levers and region "
                                   "descriptors). Each move re-runs the model; the dashed line "
                                   "is the run before, the shaded band the push."))
    cells.append(new_code_cell(EXPLORER.format(region=region, values=values, fallback=fallback)))
    cells.append(new_markdown_cell(CHECK.format(n=number)))
    notebook = new_notebook(cells=cells)
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                       "language": "python"}
    notebook.metadata["language_info"] = {"name": "python"}
    return notebook


def main() -> int:
    """Write every notebook beside its exercise file."""
    for toml_path in sorted(HERE.glob("[0-9][0-9]_*.toml")):
        number = int(toml_path.name[:2])
        notebook = build(number, toml_path)
        for index, cell in enumerate(notebook.cells):  # stable ids: no churn on rebuild
            cell["id"] = f"ex{number:02d}-{index:02d}"
        nbformat.validate(notebook)
        toml_path.with_suffix(".ipynb").write_text(nbformat.writes(notebook) + "\n",
                                                   encoding="utf-8")
        print(f"wrote {toml_path.with_suffix('.ipynb').name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
