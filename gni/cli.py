"""The ``gni`` command (also ``python -m gni``).

    gni data prepare --dataset shakespeare_char [--profile cpu]
    gni data info
    gni train --dataset shakespeare_char --profile smoke --seed 0 [--set key=value ...]
    gni sweep GRID.yaml [--executor local|dask] [--workers N] [--scheduler tcp://...]
    gni pairs --dataset shakespeare_char --profile paper --seeds 1000-1003 [--noise key=value]
    gni book [--profile cpu] [-p name=value ...] [--only 01_reproduce]

Errors in the input, and files or folders that cannot be read or written, print one
line, ``gni: error: ...``, and exit with status 2.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from gni import GniError, paths
from gni.config import PROFILES, RunConfig, data_sizes, make_config, profile_config
from gni.data import DATASETS, prepared_dir, record_manifests
from gni.envelope import STAGES
from gni.untrusted import load_yaml, read_text

DESCRIPTION = """\
gni: gradient noise injection for small character-level GPTs. Prepare the data,
train one run or a grid of runs into the results store, build the book."""
EXAMPLES = "examples:\n" + "\n".join(
    line for line in __doc__.splitlines() if line.startswith("    gni ")
)


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Shows each option's default, unless it is None, False or empty or the help names it."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        default = action.default
        if default is None or default is False or default == [] or "default" in (action.help or ""):
            return action.help
        return super()._get_help_string(action)


def _loss(value: float | None) -> str:
    """A loss (nats or bits per character) to 4 decimals; n/a when there is none."""
    return "n/a" if value is None else f"{value:.4f}"


def _parse_sets(items: Sequence[str], option: str = "--set") -> dict[str, str]:
    overrides = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise GniError(f"{option} {item!r}: expected key=value")
        if key.strip() in overrides:
            raise GniError(f"{option} {key.strip()} is given twice")
        overrides[key.strip()] = value.strip()
    return overrides


def _cmd_data_prepare(args: argparse.Namespace) -> int:
    sizes = data_sizes(args.profile)
    if args.dataset != "all":
        sizes = {args.dataset: sizes[args.dataset]}
    for (name, n_bytes), manifest in zip(sizes.items(), record_manifests(sizes), strict=True):
        print(f"{name}: prepared in {prepared_dir(name, n_bytes)}; described in {manifest}")
    return 0


def _cmd_data_info(args: argparse.Namespace) -> int:
    mirror = paths.data_mirror()
    print(f"data folder: {paths.data_dir()}")
    print(f"mirror (GNI_DATA_MIRROR): {mirror if mirror else 'not set'}")
    for name, dataset in DATASETS.items():
        print(f"\n{name}: {dataset.description}")
        print(f"  canonical: {dataset.url} ({dataset.download.size:,} bytes)")
        for profile in PROFILES:
            n_bytes = profile_config(name, profile).data_bytes
            folder = prepared_dir(name, n_bytes)
            what = "whole text" if n_bytes is None else f"first {n_bytes:,} bytes"
            state = "prepared" if (folder / "meta.json").is_file() else "not prepared"
            print(f"  {profile:<6} {what}: {state}")
    return 0


def _cmd_train(args: argparse.Namespace) -> int:
    from gni.results import ResultsStore
    from gni.train import train  # torch start-up is paid only by commands that train

    if args.checkpoint_interval is not None and args.checkpoint_interval < 0:
        raise GniError(
            f"--checkpoint-interval {args.checkpoint_interval} must be >= 0 (0: no checkpoints)"
        )
    config = make_config(args.dataset, args.profile, args.seed, _parse_sets(args.set))
    store = ResultsStore()
    result = train(
        config,
        store=store,
        device=args.device,
        checkpoint_interval=args.checkpoint_interval,
        progress=False if args.quiet else None,
    )
    s = result.summary
    if result.reused_because == "waited":
        print(f"reused {result.path} (another process trained it while this one waited)")
    elif result.reused_because == "lost race":
        print(f"reused {result.path} (another process wrote it first; this run's copy discarded)")
    elif result.reused:
        print(f"reused {result.path}")
    else:
        print(f"wrote {result.path}")
    print(
        f"status {s['status']}, final train loss {_loss(s['final_train_loss_eval'])} "
        f"(eval mode; last minibatch {_loss(s['final_train_loss_minibatch'])}), "
        f"best val loss {_loss(s['best_val_loss'])}, val bpc {_loss(s['final_val_bpc'])}"
    )
    return 0 if s["status"] == "ok" else 1


def _cmd_pairs(args: argparse.Namespace) -> int:
    import torch  # a device check, before any data is read

    from gni.pairs import (
        PAPER_NOISE,
        check_device_for,
        differences,
        pair_configs,
        pair_table,
        parse_seeds,
    )
    from gni.report import interval
    from gni.results import ResultsStore
    from gni.train import train

    check_device_for(args.profile, args.device, torch.cuda.is_available())
    noise = _parse_sets(args.noise, "--noise") if args.noise else PAPER_NOISE
    pairs = pair_configs(
        args.dataset, args.profile, parse_seeds(args.seeds), _parse_sets(args.set), noise
    )
    store = ResultsStore()

    def train_one(config: RunConfig) -> dict:
        result = train(
            config,
            store=store,
            device=args.device,
            checkpoint_interval=args.checkpoint_interval,
            progress=False if args.quiet else None,
        )
        print(f"{'reused' if result.reused else 'wrote'} {result.path}", flush=True)
        return result.summary

    table = pair_table(pairs, train_one)
    for row in table.itertuples():
        print(
            f"seed {row.seed}: best val loss {_loss(row.baseline_best_val_loss)} without noise, "
            f"{_loss(row.noise_best_val_loss)} with ({row.noise_status} on {row.noise_device})"
        )
    for measure, comparison in differences(table).items():
        print(f"{measure}, noise - baseline: {interval(comparison.difference)} nats/char")
    failed = (table[["baseline_status", "noise_status"]] != "ok").to_numpy().any()
    return 1 if failed else 0


def _cmd_sweep(args: argparse.Namespace) -> int:
    from gni.sweep import run  # imports torch and, for dask, distributed

    table = run(
        args.grid,
        executor=args.executor,
        workers=args.workers,
        scheduler=args.scheduler,
        threads_per_worker=args.threads_per_worker,
        profile=args.profile,
        progress=False if args.quiet else None,
        **({} if args.max_runs is None else {"max_runs": args.max_runs}),
    )
    counts = table["status"].value_counts().to_dict()
    statuses = sorted(counts.items(), key=lambda item: (item[0] != "ok", item[0]))
    print(f"{len(table)} runs: " + ", ".join(f"{n} {status}" for status, n in statuses))
    n_failed = counts.get("failed", 0)
    n_trained = int(table["trained"].sum())
    print(
        f"{n_trained} trained, {len(table) - n_trained - n_failed} reused from the store, "
        f"{n_failed} failed" + (" (not recorded: the next sweep tries again)" if n_failed else "")
    )
    for row in table[table["status"] == "failed"].itertuples():
        print(f"failed {row.run_id}: {row.error}")
    print(f"records in {paths.results_dir()}")
    return 0 if "failed" not in counts else 1


def _book_parameters(args: argparse.Namespace) -> dict[str, Any]:
    """The chapter parameters of ``--parameters FILE`` (YAML) and then ``-p name=value``
    (text); :func:`gni.book.check_book_parameters` types both as the chapters declare."""
    parameters = {}
    if args.parameters:
        path = Path(args.parameters)
        loaded = load_yaml(read_text(path, f"--parameters {path}"), f"--parameters {path}") or {}
        if not isinstance(loaded, dict):
            raise GniError(f"{args.parameters} must hold a mapping of parameter to value")
        parameters.update(loaded)
    given: set[str] = set()
    for item in args.p:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise GniError(f"-p {item!r}: expected name=value")
        if key.strip() in given:
            raise GniError(f"-p {key.strip()} is given twice")
        given.add(key.strip())
        parameters[key.strip()] = value  # typed by the chapter's declaration (gni.book)
    return parameters


def _cmd_book(args: argparse.Namespace) -> int:
    from gni.book import build_book

    build_book(
        Path(args.root) if args.root else None,
        profile=args.profile,
        parameters=_book_parameters(args),
        only=args.only,
        execute=not args.no_execute,
        jobs=args.jobs,
    )
    return 0


def _cmd_envelope(args: argparse.Namespace) -> int:
    from gni.envelope import run_stage
    from gni.preregistration import design_path, frozen_path, load_design
    from gni.results import ResultsStore

    if args.workers < 1:
        raise GniError(f"--workers={args.workers} is out of range; allowed: at least 1")
    design_file = Path(args.design) if args.design else design_path()
    design = load_design(design_file)
    design.regime(args.regime)  # an unknown regime: one line, before anything runs
    frozen = frozen_path(args.regime, design_file)
    run_stage(design, args.regime, args.stage, ResultsStore(), frozen, args.workers)
    return 0


def _command(commands: argparse._SubParsersAction, name: str, what: str) -> argparse.ArgumentParser:
    """A subcommand that ``what`` describes, in its parent's help and its own."""
    parser = commands.add_parser(name, help=what, formatter_class=HelpFormatter)
    parser.description = f"{parser.prog}: {what}."
    return parser


def _training_options(parser: argparse.ArgumentParser) -> None:
    """The options of every command that trains runs itself: device, checkpoints, quiet."""
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    parser.add_argument(
        "--checkpoint-interval",
        type=int,
        default=None,
        help="steps between checkpoints (default: every evaluation; 0: none)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gni", description=DESCRIPTION, epilog=EXAMPLES, formatter_class=HelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)

    data = _command(commands, "data", "fetch, verify and prepare datasets")
    data_commands = data.add_subparsers(dest="data_command", required=True)
    prep = _command(data_commands, "prepare", "fetch and tokenise a dataset")
    prep.add_argument("--dataset", required=True, help=f"{' | '.join(DATASETS)} | all")
    prep.add_argument(
        "--profile",
        default="cpu",
        help=f"{' | '.join(PROFILES)}: decides how much of the text is used",
    )
    prep.set_defaults(func=_cmd_data_prepare)
    info = _command(data_commands, "info", "where the data is and what is prepared")
    info.set_defaults(func=_cmd_data_info)

    tr = _command(commands, "train", "train one run and record it in the results store")
    tr.add_argument("--dataset", required=True, help=" | ".join(DATASETS))
    tr.add_argument("--profile", default="cpu", help=" | ".join(PROFILES))
    tr.add_argument("--seed", type=int, default=0, help="seeds init, batches, dropout and noise")
    tr.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a RunConfig field, e.g. --set dropout=0.1 "
        "--set noise_schedule=exponential --set noise_args=sigma0:0.01,gamma:0.999",
    )
    _training_options(tr)
    tr.set_defaults(func=_cmd_train)

    pr = _command(
        commands, "pairs", "train paired runs, baseline and noise, seed by seed (a GPU's job)"
    )
    pr.add_argument("--dataset", required=True, help=" | ".join(DATASETS))
    pr.add_argument("--profile", default="paper", help=" | ".join(PROFILES))
    pr.add_argument("--seeds", required=True, help="first-last (inclusive) or a, b, c")
    pr.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a RunConfig field in both runs of every pair",
    )
    pr.add_argument(
        "--noise",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="the noise run's own settings (default: noise_schedule=exponential, "
        "noise_args=sigma0:0.01,gamma:0.99)",
    )
    _training_options(pr)
    pr.set_defaults(func=_cmd_pairs)

    sw = _command(commands, "sweep", "train a grid of runs (what the store lacks)")
    sw.add_argument("grid", help="a grid YAML file (see gni.sweep)")
    sw.add_argument("--executor", default="local", help="local | dask")
    sw.add_argument(
        "--workers",
        type=int,
        default=1,
        help="worker processes (local) or LocalCluster workers (dask)",
    )
    sw.add_argument(
        "--scheduler",
        default=None,
        help="address of a running Dask scheduler, e.g. tcp://host:8786",
    )
    sw.add_argument(
        "--threads-per-worker",
        type=int,
        default=1,
        help="torch threads per run (0: torch's default)",
    )
    sw.add_argument(
        "--max-runs",
        type=int,
        default=None,
        help="refuse a grid of more runs than this (default: 10,000, gni.grids.MAX_RUNS)",
    )
    sw.add_argument("--profile", default=None, help="replace the grid's profile for every run")
    sw.add_argument("--quiet", action="store_true", help="no progress bar")
    sw.set_defaults(func=_cmd_sweep)

    en = _command(
        commands, "envelope", "a stage of the decisive test: tune, pilot, freeze or confirm"
    )
    en.add_argument("stage", choices=STAGES, help="tune | pilot | freeze | confirm, in order")
    en.add_argument("--regime", required=True, help="a regime of the design (cpu | cpu-long)")
    en.add_argument("--workers", type=int, default=2, help="processes that train at once")
    en.add_argument(
        "--design", default=None, help="the design (default: book/preregistration/design.yaml)"
    )
    en.set_defaults(func=_cmd_envelope)

    bk = _command(commands, "book", "execute every chapter with papermill, build the book")
    bk.add_argument("--profile", default="cpu", help=f"{' | '.join(PROFILES)}, for every chapter")
    bk.add_argument(
        "-p",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a chapter parameter, typed as the chapters declare it, for every chapter that has it",
    )
    bk.add_argument("--parameters", default=None, help="a YAML file of chapter parameters")
    bk.add_argument("--only", nargs="+", default=None, help="execute only these chapters")
    bk.add_argument(
        "--no-execute",
        action="store_true",
        help="build from the executed notebooks already in book/executed/",
    )
    bk.add_argument(
        "--jobs", type=int, default=None, help="chapters executed at once (default: one per CPU)"
    )
    bk.add_argument("--root", default=None, help="the book's root folder (default: checkout)")
    bk.set_defaults(func=_cmd_book)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except GniError as e:
        print(f"gni: error: {e}", file=sys.stderr)
        return 2
    except OSError as e:  # a full disk, a read-only folder: one line naming the path
        print(f"gni: error: {_os_error(e)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("gni: interrupted", file=sys.stderr)
        return 130


def _os_error(e: OSError) -> str:
    """An OSError on one line: the path (or paths) first, then what went wrong."""
    reason = e.strerror or str(e) or type(e).__name__
    if e.filename is None:
        return reason
    if e.filename2 is None:
        return f"{e.filename}: {reason}"
    return f"{e.filename} -> {e.filename2}: {reason}"
