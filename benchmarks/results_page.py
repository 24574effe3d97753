"""``BENCHMARKS.md``, rendered from the results committed under ``benchmarks/results`` (written by
``python benchmarks/render_docs.py``, which renders every generated page).

The page holds what ``python train_agent.py report DIR`` renders, made by the same functions from the
rows alone (``results.jsonl``), so that a claim cannot outlive its numbers:

- each suite directory (one with ``suite.json``): its leaderboard
  (:func:`dataselect_harness.ranking.write_suite_leaderboard`, written into a temporary copy of the
  rows, so that nothing under ``benchmarks/results`` changes), aggregate and verdict first;
- each other directory with a ``summary.md``: its table (:func:`dataselect_harness.report.summarize`,
  :func:`~dataselect_harness.report.format_table`);
- beside each, the command that runs its episodes, rebuilt from its rows (env, agents, keeps, seeds,
  epochs, frontier grid, env kwargs), and what the rows record of where and at which commits they ran;
- the trained policies under ``benchmarks/models``: the ``train`` command rebuilt from their
  ``train_args.json`` and their last held-out evaluation (``learning_curve.csv``, ``eval_baselines.csv``);
- what else is there, linked with the script that writes it.
"""

from __future__ import annotations

import csv
import json
import re
import shlex
import shutil
import sys
import tempfile
from collections import Counter
from collections.abc import Iterable
from dataclasses import MISSING, fields
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(ROOT))

RESULTS_DIR = Path("benchmarks/results")
MODELS_DIR = Path("benchmarks/models")
ARCHIVE = "docs/archive/BENCHMARKS-2026-12-03.md"
RENDER = "python benchmarks/render_docs.py"
DATA_ROOT = "PATH"  # what a rebuilt command says for the data root the rows ran on
# Files under benchmarks/results written by a script of their own (not by `train_agent.py report`):
# the script that writes each, by the name of the file or directory.
WRITTEN_BY = {
    "env_overhead.md": "env_overhead.py", "env_overhead.json": "env_overhead.py",
    **{name: f"{name}.py" for name in ("interval_coverage", "noise_memorisation", "outside_suite", "task_headroom")},
    "ppo_learning_bound.json": "ppo_learning_bound.py", "rule_policy": "explain_rule_policy.py",
    "sb3_proxy.md": "sb3_proxy.py", "sb3_proxy-b64.md": "sb3_proxy.py", "sb3_synthetic.md": "sb3_synthetic.py",
}


# ---------------------------------------------------------------------------------------------- helpers


def _rel(path: Path, root: Path) -> str:
    return path.relative_to(root).as_posix()


def _short(commit: Any) -> str:
    """``c8c2c78+dirty`` for a full hash with a suffix; ``unknown`` for a row without one."""
    if not commit:
        return "unknown"
    text = str(commit)
    head, _, suffix = text.partition("+")
    return head[:7] + (f"+{suffix}" if suffix else "")


def _counts(values: Iterable[str]) -> str:
    """``a: 3, b: 1``, in the order of first appearance."""
    return ", ".join(f"{v}: {n}" for v, n in Counter(values).items())


_num = "{:g}".format  # 0.5 -> "0.5", 1.0 -> "1"


def _kv(key: str, value: Any) -> str:
    """One ``K=V`` item of ``--env-kwargs`` as the shell takes it (JSON for dicts and lists)."""
    if isinstance(value, (dict, list)):
        return shlex.quote(f"{key}={json.dumps(value, sort_keys=True)}")
    if isinstance(value, float):
        return f"{key}={value:g}"
    return shlex.quote(f"{key}={value}")


def demote(markdown: str) -> str:
    """Every heading of ``markdown`` (a table of ``report``: no code blocks) one level deeper."""
    return re.sub(r"^(#{1,5} )", r"#\1", markdown, flags=re.M)


def sections(markdown: str, level: int = 2) -> tuple[str, dict[str, str]]:
    """``(preamble, {heading: body})`` of ``markdown`` split at its headings of ``level``."""
    mark = "#" * level + " "
    preamble, parts, current = [], {}, None
    for line in markdown.splitlines():
        if line.startswith(mark):
            current = line[len(mark):].strip()
            parts[current] = []
        elif current is None:
            preamble.append(line)
        else:
            parts[current].append(line)
    return "\n".join(preamble).strip(), {k: "\n".join(v).strip() for k, v in parts.items()}


def model_paths(root: Path) -> dict[str, str]:
    """Where each trained policy under ``benchmarks/models`` was written when it was trained (its
    ``train_args.json`` or ``interface.json`` says, as ``out``) -> where it is now (repo-relative)."""
    paths = {}
    for meta in sorted((root / MODELS_DIR).glob("**/*.json")):
        if meta.name in ("train_args.json", "interface.json"):
            out = json.loads(meta.read_text()).get("out")
            if out:
                paths[str(out)] = _rel(meta.parent, root)
    return paths


def agent_name(label: str, paths: dict[str, str]) -> str:
    """A row's agent as a command names it now: an ``sb3:`` path the policy had when it ran
    becomes its place under ``benchmarks/models``."""
    if not label.startswith("sb3:"):
        return label
    path = label[4:]
    if path in paths:
        return "sb3:" + paths[path]
    if "/benchmarks/models/" in path:
        return "sb3:benchmarks/models/" + path.split("/benchmarks/models/", 1)[1]
    return label


# ------------------------------------------------------------------------------------- what rows say


def read_rows(directory: Path) -> list[dict[str, Any]]:
    """The rows of a bench directory as ``report`` reads them (one per episode id)."""
    from dataselect_harness.results import read_results
    return list({r["id"]: r for r in read_results(directory)}.values())


def provenance(rows: list[dict[str, Any]]) -> dict[str, str]:
    """What the rows record of their runs: count, episode time, dates, devices, precision, commits."""
    rows = sorted(rows, key=lambda r: r.get("finished", ""))
    hours = sum(r.get("wall_time", 0.0) for r in rows) / 3600
    finished = [r["finished"][:10] for r in rows if r.get("finished")]
    return {
        "episodes": str(len(rows)),
        "episode time": f"{hours:.1f} h" if hours >= 1 else f"{60 * hours:.1f} min",
        "finished": (finished[0] if finished[0] == finished[-1] else f"{finished[0]} to {finished[-1]}")
        if finished else "—",
        "devices": _counts(str(r.get("device", "unknown")) for r in rows),
        "precision": _counts(str(r.get("precision", "unknown")) for r in rows),
        "commits": _counts(_short(r.get("git_commit")) for r in rows),
    }


def provenance_table(named_rows: list[tuple[str, list[dict[str, Any]]]]) -> str:
    """One line per directory: what :func:`provenance` finds in its rows."""
    cols = ["episodes", "episode time", "finished", "devices: episodes", "precision", "commits: episodes"]
    lines = ["| directory | " + " | ".join(cols) + " |", "|---|" + "---:|---:|" + "---|" * (len(cols) - 2)]
    for name, rows in named_rows:
        p = provenance(rows)
        lines.append(f"| `{name}` | {p['episodes']} | {p['episode time']} | {p['finished']} | {p['devices']} | "
                     f"{p['precision']} | {p['commits']} |")
    torch = sorted({p for _, rows in named_rows for p in (str(r.get('torch')) for r in rows)})
    return "\n".join(lines) + f"\n\ntorch {', '.join(torch)}; the commits are this repository's (`git show HASH`)."


def _agents(rows: list[dict[str, Any]], paths: dict[str, str]) -> list[str]:
    from dataselect_harness.results import is_frontier
    names = [agent_name(r["agent"], paths) for r in rows if not is_frontier(r)]
    return list(dict.fromkeys(["full", *names]))


def _frontier_flag(rows: list[dict[str, Any]], keeps: set[float]) -> list[str]:
    """``--frontier`` when the rows' full-data grid is not the default one (and its keeps)."""
    from dataselect_harness.plan import DEFAULT_FRONTIER
    grid = {float(r["keep"]) for r in rows if str(r["agent"]).startswith("full@")} | {1.0}
    if grid == set(DEFAULT_FRONTIER) | keeps:
        return []
    extra = sorted(grid - keeps - {1.0})
    return ["--frontier", ",".join(map(_num, extra)) if extra else "''"]


def _agent_kwargs_flag(rows: list[dict[str, Any]], paths: dict[str, str]) -> list[str]:
    items = sorted({f"{agent_name(r['agent'], paths)}.{k}={v}" for r in rows
                    for k, v in r["agent_kwargs"].items() if k != "keep"})
    return ["--agent-kwargs", *map(shlex.quote, items)] if items else []


def bench_command(rows: list[dict[str, Any]], out: str, paths: dict[str, str]) -> str:
    """``python train_agent.py bench ...`` that plans exactly the episodes of ``rows``."""
    envs = sorted({r["env"] for r in rows})
    epochs = sorted({r["bench_epochs"] for r in rows})
    if len(envs) != 1 or len(epochs) != 1:
        raise ValueError(f"{out}: rows of several envs or schedules ({envs}, {epochs}): not one bench")
    keeps = {float(r["agent_kwargs"]["keep"]) for r in rows if "keep" in r["agent_kwargs"]}
    shared = None
    for r in rows:
        kw = {k: v for k, v in r["env_kwargs"].items() if k not in ("epochs", "action_mode", "obs_version")}
        shared = kw if shared is None else {k: v for k, v in shared.items() if k in kw and kw[k] == v}
    env_kwargs = [_kv(k, DATA_ROOT if k == "data_root" else v) for k, v in sorted((shared or {}).items())]
    parts = ["python train_agent.py bench", "--env", envs[0], "--agents", ",".join(_agents(rows, paths)),
             *(["--keep", ",".join(map(_num, sorted(keeps)))] if keeps else []),
             "--seeds", ",".join(str(s) for s in sorted({r["seed"] for r in rows})), "--epochs", str(epochs[0]),
             *_frontier_flag(rows, keeps), *(["--env-kwargs", *env_kwargs] if env_kwargs else []),
             *_agent_kwargs_flag(rows, paths), "--out", out]
    return " ".join(parts)


def suite_command(directory: Path, by_scenario: dict[str, list[dict[str, Any]]], root: Path,
                  paths: dict[str, str]) -> str:
    """``python train_agent.py suite NAME ...`` that plans the episodes of a suite directory."""
    manifest = json.loads((directory / "suite.json").read_text())
    rows = [r for rs in by_scenario.values() for r in rs]
    seeds = sorted({r["seed"] for r in rows})
    parts = ["python train_agent.py suite", manifest["suite"], "--out", _rel(directory, root),
             "--env-kwargs", f"data_root={DATA_ROOT}", "--agents", ",".join(_agents(rows, paths))]
    from dataselect_harness import suites
    if tuple(seeds) != suites.get(manifest["suite"]).seeds:
        parts += ["--seeds", ",".join(map(str, seeds))]
    return " ".join(parts)


# --------------------------------------------------------------------------------------------- pages


def leaderboard_markdown(directory: Path) -> str:
    """The leaderboard ``report`` writes for a suite directory, rendered from a copy of its rows."""
    from dataselect_harness.ranking import write_suite_leaderboard
    from dataselect_harness.suites import SUITE_FILE, scenario_dirs
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / directory.name
        copy.mkdir()
        shutil.copy(directory / SUITE_FILE, copy / SUITE_FILE)
        for d in scenario_dirs(directory):
            (copy / d.name).mkdir()
            for name in ("results.jsonl", "plan.json"):
                if (d / name).exists():
                    shutil.copy(d / name, copy / d.name / name)
        md = write_suite_leaderboard(copy)
    return "\n".join(line for line in md.splitlines() if not line.startswith("(Figure skipped"))


def suite_section(directory: Path, root: Path, paths: dict[str, str], number: int) -> str:
    """A suite directory: its command, its provenance, its leaderboard (the sections across scenarios
    first: aggregate and verdict, learned controllers, headroom; then each scenario's), links."""
    from dataselect_harness import suites
    rel = _rel(directory, root)
    manifest = json.loads((directory / suites.SUITE_FILE).read_text())
    by_scenario = {d.name: read_rows(d) for d in suites.scenario_dirs(directory)}
    present = _agents([r for rs in by_scenario.values() for r in rs], paths)
    missing = [a for a in suites.get(manifest["suite"]).agents if a not in present]
    preamble, parts = sections(leaderboard_markdown(directory))
    lines = [f"## {number}. The `{manifest['suite']}` suite: `{rel}`", "",
             f"Rendered as `python train_agent.py report {rel}` renders its "
             f"[leaderboard.md]({rel}/leaderboard.md). The episodes (rebuilt from the rows: every agent they hold, "
             "the suite's scenarios, keeps and seeds):", "",
             "```bash", suite_command(directory, by_scenario, root, paths), "```", ""]
    if missing:
        lines += [f"The suite's default agents that have no rows here: {', '.join(f'`{a}`' for a in missing)}.", ""]
    for name, rs in by_scenario.items():
        if absent := [a for a in present if a not in _agents(rs, paths)]:
            lines += [f"- `{name}` has no rows of {', '.join(f'`{a}`' for a in absent)}.", ""]
    lines += ["Scenarios (`suite.json`):", "", "| scenario | env | env kwargs | E | keeps | about |",
              "|---|---|---|---:|---|---|"]
    lines += [f"| `{sc['name']}` | `{sc['env']}` | `{json.dumps(sc['env_kwargs'], sort_keys=True)}` | {sc['epochs']} | "
              f"{', '.join(map(_num, sc['keep']))} | {sc.get('about', '')} |" for sc in manifest["scenarios"]]
    lines += ["", "Where and when the rows ran (their own record):", "",
              provenance_table([(f"{rel}/{n}", rs) for n, rs in by_scenario.items()]), "",
              re.sub(r"^# .*\n", "", preamble).strip(), ""]
    for heading, body in parts.items():
        if heading not in by_scenario:
            lines += [f"### {heading}", "", body, ""]
            if heading.startswith("Aggregate"):
                lines += [f"![per-scenario Δ vs the frontier with 95% CIs, and the aggregate IQM]({rel}/leaderboard.png)",
                          ""]
    lines += ["### Per scenario", "", "Each scenario's Δ table from the leaderboard; its `summary.md` has each "
              "agent's accuracy, compute, FLOPs and wall time.", ""]
    for heading in (h for h in parts if h in by_scenario):
        lines += [f"#### {heading}", "",
                  f"[summary.md]({rel}/{heading}/summary.md), [pareto.png]({rel}/{heading}/pareto.png)", "",
                  parts[heading], ""]
    return "\n".join(lines)


def bench_section(directory: Path, root: Path, paths: dict[str, str], number: str) -> str:
    """A bench directory: its command, its provenance and its summary table."""
    from dataselect_harness.report import format_table, summarize
    rel = _rel(directory, root)
    rows = read_rows(directory)
    named = sorted({agent_name(r["agent"], paths) for r in rows} - {r["agent"] for r in rows})
    lines = [f"### {number} `{rel}`", "", "```bash", bench_command(rows, rel, paths), "```", ""]
    if named:
        lines += [f"Its rows name the policies by the paths they had when they ran; they are now "
                  f"{', '.join(f'`{n}`' for n in named)}.", ""]
    lines += [provenance_table([(rel, rows)]), "",
              f"[summary.md]({rel}/summary.md), [pareto.png]({rel}/pareto.png), [curves.png]({rel}/curves.png). "
              "The table, as `report` renders it:", "",
              demote(format_table(summarize(rows), rows)).strip(), ""]
    return "\n".join(lines)


def train_command(args: dict[str, Any], where: str) -> str:
    """``python train_agent.py train ...`` from a model's recorded arguments: each flag whose value
    differs from its default (:class:`dataselect_harness.train.TrainArgs`)."""
    from dataselect_harness.options import flag_of, is_option
    from dataselect_harness.train import TrainArgs
    parts = ["python train_agent.py train"]
    for f in fields(TrainArgs):
        if not is_option(f) or f.name not in args:
            continue
        value = args[f.name]
        default = f.default_factory() if f.default_factory is not MISSING else f.default
        if f.name == "out":
            parts += [flag_of(f), where]
        elif f.name in ("algo", "env", "interface"):  # always named: what was trained, and how
            parts += [flag_of(f), str(value)]
        elif value == default or (isinstance(default, tuple) and tuple(value) == default):
            continue
        elif isinstance(value, bool):
            parts.append(flag_of(f))
        elif isinstance(value, dict):
            parts += [flag_of(f), *(_kv(k, DATA_ROOT if k == "data_root" else v) for k, v in sorted(value.items()))]
        elif isinstance(value, (list, tuple)):
            parts += [flag_of(f), ",".join(map(str, value))]
        else:
            parts += [flag_of(f), _num(value) if isinstance(value, float) else str(value)]
    return " ".join(parts)


def _last_row(path: Path) -> dict[str, str] | None:
    if not path.exists():
        return None
    with path.open() as f:
        rows = list(csv.DictReader(f))
    return rows[-1] if rows else None


def models_section(root: Path, number: int) -> str:
    """The trained policies under ``benchmarks/models``: how each was trained, what its curve ended at."""
    lines = [f"## {number}. Trained policies: `{MODELS_DIR.as_posix()}`", "",
             "Each directory's `train_args.json` (or, for the oldest, `interface.json`) records the arguments of "
             "the `train` run that made it; the command below is rebuilt from them (flags at their defaults "
             "left out). Its last held-out evaluation is the last row of its `learning_curve.csv` (mean over the "
             "`--eval-tasks` held-out tasks: final validation accuracy and validation Δ vs the full-data frontier); "
             "the baselines are `eval_baselines.csv`, played once on the same tasks. How they rank on CIFAR is the "
             "learned section of the suite above.", "",
             "| model | trained by | env steps | training wall time | held-out val accuracy | "
             "val Δ vs frontier | baselines' val accuracy |", "|---|---|---:|---:|---:|---:|---|"]
    for meta in sorted((root / MODELS_DIR).glob("**/train_args.json")) + \
            sorted(p for p in (root / MODELS_DIR).glob("**/interface.json") if not (p.parent / "train_args.json").exists()):
        where = _rel(meta.parent, root)
        args = json.loads(meta.read_text())
        curve = _last_row(meta.parent / "learning_curve.csv")
        base = meta.parent / "eval_baselines.csv"
        baselines = "—"
        if base.exists():
            with base.open() as f:
                baselines = ", ".join(f"{b['agent']} {float(b['mean_val_accuracy']):.3f}" for b in csv.DictReader(f))
        if curve:
            steps, wall = int(curve["env_steps"]), float(curve["wall_time_s"])
            acc, delta = f"{float(curve['mean_val_accuracy']):.3f}", f"{float(curve['mean_val_vs_frontier']):+.2f}"
        else:
            steps, wall = int(args.get("env_steps", 0)), float(args.get("train_wall_time_s", "nan"))
            acc = delta = "—"
        lines.append(f"| `{where}` | `{train_command(args, where)}` | {steps:,} | {wall / 60:.1f} min | {acc} | "
                     f"{delta} | {baselines} |")
    return "\n".join(lines) + "\n"


def _is_bench(directory: Path) -> bool:
    return (directory / "summary.md").exists() and (directory / "results.jsonl").exists()


def other_section(root: Path, covered: set[Path], number: int) -> str:
    """What else is under ``benchmarks/results``: written by scripts of their own, linked, not rendered here."""
    lines = [f"## {number}. Other measurements", "",
             "Written by scripts of their own, each with its machine, date and settings in the file; linked, not "
             "rendered here (their numbers are theirs, not this page's):", "",
             "| result | written by |", "|---|---|"]
    for entry in sorted((root / RESULTS_DIR).iterdir()):
        if entry.name == "retired" or entry in covered or any(c.is_relative_to(entry) for c in covered):
            continue
        lines.append(f"| [`{_rel(entry, root)}`]({_rel(entry, root)}) | "
                     f"{f'`python benchmarks/{WRITTEN_BY[entry.name]}`' if entry.name in WRITTEN_BY else 'not recorded'} |")
    return "\n".join(lines) + "\n"


def retired_section(root: Path, paths: dict[str, str], number: int) -> str:
    """``benchmarks/results/retired``: results of scenarios and leaderboards that were replaced."""
    retired = root / RESULTS_DIR / "retired"
    if not retired.is_dir():
        return ""
    lines = [f"## {number}. Retired results: `{_rel(retired, root)}`", "",
             f"Results a later scenario or rendering replaced; why is in the [archive]({ARCHIVE}).", ""]
    others = []
    for i, d in enumerate(sorted(p for p in retired.iterdir() if p.is_dir()), 1):
        if _is_bench(d):
            lines.append(bench_section(d, root, paths, f"{number}.{i}"))
        else:
            others.append(d)
    if others:
        lines += ["Without rows (a rendering kept as it was, not re-rendered):", ""]
        lines += [f"- [`{_rel(d, root)}`]({_rel(d, root)})" for d in others]
    return "\n".join(lines) + "\n"


def render_benchmarks(root: Path = ROOT) -> str:
    """``BENCHMARKS.md``, rendered from the results directories under ``root / benchmarks/results``."""
    from dataselect_harness import suites
    results = root / RESULTS_DIR
    paths = model_paths(root)
    suite_dirs = sorted(d for d in results.iterdir() if d.is_dir() and (d / suites.SUITE_FILE).exists())
    bench_dirs = sorted((p.parent for p in results.glob("**/summary.md")),
                        key=lambda d: _rel(d, root))
    bench_dirs = [d for d in bench_dirs if _is_bench(d) and "retired" not in d.relative_to(results).parts
                  and not any(d.is_relative_to(s) for s in suite_dirs)]
    out = ["# Benchmarks", "",
           f"<!-- Generated by `{RENDER}` from the committed results; edit the generator, not this page. -->", "",
           "The current results, rendered by "
           f"`{RENDER}` from the results directories committed under [`benchmarks/results`](benchmarks/results) with "
           "the functions `python train_agent.py report DIR` uses, from the rows alone (`results.jsonl`, one line per "
           "episode). Beside each directory: the command that runs its episodes, rebuilt from the rows, and where, "
           "when and at which commits the rows say they ran. `tests/test_docs.py` renders this page again and fails "
           "when it differs from the committed one, so a number here cannot outlive its rows.", "",
           "How to read Δ, the frontier, the aggregate and the headroom: [docs/leaderboard.md](docs/leaderboard.md). "
           f"The earlier hand-written page, with the history and reasoning of each result: [{ARCHIVE}]({ARCHIVE}) "
           "(its tables are of older code and no longer match their files).", ""]
    body, number, covered = [], 1, set()
    for d in suite_dirs:
        body.append(suite_section(d, root, paths, number))
        covered.add(d)
        number += 1
    if bench_dirs:
        body.append(f"## {number}. Bench directories\n")
        for i, d in enumerate(bench_dirs, 1):
            body.append(bench_section(d, root, paths, f"{number}.{i}"))
            covered.add(d)
        number += 1
    if (root / MODELS_DIR).is_dir():
        body.append(models_section(root, number))
        number += 1
    retired = retired_section(root, paths, number)
    if retired:
        body.append(retired)
        number += 1
    body.append(other_section(root, covered, number))
    toc = ["Contents:", ""] + [f"- {line[3:]}" for part in body for line in part.splitlines()
                                if line.startswith("## ")] + [""]
    return "\n".join(out + toc + body).rstrip() + "\n"
