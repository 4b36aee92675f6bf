"""The ``temcoco`` command line (see DESIGN.md 'Commands')."""

from __future__ import annotations

import inspect
import json
import os
import shutil
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.text import Text

from temcoco.cli_options import build_settings, field_option, settings_parameters
from temcoco.errors import TemcocoError
from temcoco.job import JobConfig
from temcoco.metrics.policy import MetricPolicy

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False, rich_markup_mode=None,
                  help="Temporally consistent infrared + visible video fusion (TemCoCo) at archive scale.")
# Markup off: clip names, paths and errors are printed literally (a clip may be called "cam[night]").
err = Console(stderr=True, soft_wrap=True, markup=False)
out = Console(soft_wrap=True, markup=False)
STATE = {"debug": False}
DEFAULT_LIMIT = 50  # rows `temcoco metrics` shows in a table unless --limit says otherwise

StorageOptions = Annotated[Optional[str], typer.Option("--storage-options", help="fsspec options as JSON (secrets: use AWS_* variables)")]


def _examples(*commands: str) -> str:
    """A command's help epilog: one or two runnable examples, one a line (``\\b``: click keeps the lines)."""
    return "\b\nExamples:\n" + "\n".join(f"  {c}" for c in commands)


def _version_callback(value: bool) -> None:
    if value:
        from temcoco.flows.fuse_archive import versions

        for name, v in versions().items():
            out.print(f"{name} {v}")
        raise typer.Exit()


@app.callback()
def main(
    debug: Annotated[bool, typer.Option("--debug", help="show tracebacks")] = False,
    version: Annotated[bool, typer.Option("--version", callback=_version_callback, is_eager=True,
                                          help="print versions and exit")] = False,
) -> None:
    STATE["debug"] = debug
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    # the temporary Prefect server of a local run can take more than the default 20 s to start on a busy machine
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    if not debug:  # the CLI prints its own summary and errors; Prefect's run logs still reach its API
        os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "CRITICAL")
        os.environ.setdefault("RAY_LOG_TO_STDERR", "0")


@app.command(epilog=_examples("temcoco fuse --ir clip_ir.mp4 --vi clip_vi.mp4 -o fused.mp4",
                             "temcoco fuse --ir ir_frames/ --vi vi_frames/ -o fused.mp4 --method laplacian --chunk 32"))
def fuse(
    ir: Annotated[str, typer.Option("--ir", help="IR video file or frame folder")],
    vi: Annotated[str, typer.Option("--vi", help="VI video file or frame folder")],
    output: Annotated[str, typer.Option("--output", "-o", help="fused .mp4")],
    method: str = field_option(JobConfig, "method"),
    weights: Optional[str] = field_option(JobConfig, "weights"),
    chunk: int = field_option(JobConfig, "chunk", help="core frames per chunk"),
    halo: Annotated[Optional[int], typer.Option(min=0, help="halo frames (default: the method's temporal radius)")] = None,
    device: str = field_option(JobConfig, "device"),
    storage_options: StorageOptions = None,
    mode: str = field_option(MetricPolicy, "mode", default="off", help="off (default), full or sampled: measure "
                             "the fused frames and print the metric table"),
    stride: int = field_option(MetricPolicy, "stride"),
) -> None:
    """Fuse one IR/VI pair in this process."""
    from rich.progress import Progress

    from temcoco.model.registry import load_method
    from temcoco.pipeline import fuse_pair
    from temcoco.storage.fs import parse_storage_options

    so = parse_storage_options(storage_options)
    policy = MetricPolicy(mode, stride)
    fusion = load_method(method, weights, device)
    if halo is not None and halo < fusion.temporal_radius:
        raise TemcocoError(f"--halo {halo} is below the method's temporal radius {fusion.temporal_radius}: "
                           "chunks would not match one-pass fusion")
    with Progress(console=err, transient=True) as bar:
        task = bar.add_task(f"fusing with {fusion.name}", total=None)
        result = fuse_pair(ir, vi, output, fusion, chunk, halo, so, on_frames=lambda n: bar.advance(task, n),
                           policy=policy)
    note = f" ({result.note})" if result.note else ""
    out.print(f"{output}: {result.frames} frames {result.width}x{result.height} @ {result.fps:g} fps, "
              f"{result.seconds:.1f} s, {result.frames / max(result.seconds, 1e-9):.2f} frames/s{note}")
    if result.metrics is not None:
        out.print(f"metrics ({policy.mode}, stride {policy.step}): {result.metrics_seconds:.1f} s of it")
        from temcoco.termtable import TextTable, cell, render

        table = TextTable(["metric", "value"], [[k, cell(v)] for k, v in result.metrics.items()], {"value"})
        _print_lines(render(table, _terminal_width()))


def job_options(storage_options: StorageOptions = None,
                quiet: Annotated[bool, typer.Option("--quiet", "-q", help="no progress display (for cron)")] = False,
                **fields) -> tuple[JobConfig, bool]:
    """The options of every command that runs a job, besides the :class:`JobConfig` fields: the job
    built from those, and whether to stay quiet."""
    from temcoco.storage.fs import STORAGE_OPTIONS_ENV, parse_storage_options

    if storage_options is not None:  # secrets may be in there: the environment is their only carrier
        parse_storage_options(storage_options)
        os.environ[STORAGE_OPTIONS_ENV] = storage_options
    return build_settings(JobConfig, fields), quiet


def job_command(*examples: str):
    """Register ``command(job, quiet, ...)`` with an option for each :class:`JobConfig` field and
    those of :func:`job_options`, besides its own, so that ``submit`` and ``schedule`` take the same
    options and cannot drift apart; ``examples`` end its help."""

    def register(command):
        extra = [p for p in inspect.signature(job_options, eval_str=True).parameters.values() if p.kind != p.VAR_KEYWORD]
        own = [p for p in inspect.signature(command, eval_str=True).parameters.values() if p.name not in ("job", "quiet")]
        fields = settings_parameters(JobConfig)
        params = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY)  # archive and --out first, then the command's own
                  for p in fields[:2] + own + fields[2:] + extra]

        def run_command(**options):
            job, quiet = job_options(**{p.name: options.pop(p.name) for p in fields + extra})
            return command(job, quiet, **options)

        run_command.__signature__ = inspect.Signature(params)
        return app.command(name=command.__name__, help=inspect.getdoc(command), epilog=_examples(*examples))(run_command)

    return register


@job_command("temcoco submit ./archive --out ./out --workers 2",
             "temcoco submit s3://bucket/archive --out s3://bucket/fused --workers 8 --incremental")
def submit(job: JobConfig, quiet: bool) -> None:
    """Run the archive-fusion flow (Prefect + Ray) and print a summary."""
    from temcoco.flows.fuse_archive import fuse_archive
    from temcoco.job_view import summary_lines

    summary = _with_live_progress(quiet, lambda: fuse_archive(job))
    _print_lines(summary_lines(summary, job.out))
    raise typer.Exit(summary.exit_code)


def _print_lines(lines: list[str]) -> None:
    for line in lines:
        out.print(line, highlight=False)


def _with_live_progress(quiet: bool, run):
    """Run ``run()`` while showing clips and chunks done, frames/s and time left."""
    import threading
    import time

    from rich.live import Live

    from temcoco.flows.progress import reset

    progress = reset()
    if quiet or not err.is_terminal:
        return run()
    began, stop = time.perf_counter(), threading.Event()

    def line() -> str:
        elapsed = time.perf_counter() - began
        rate = progress.frames_fused / elapsed if elapsed else 0.0
        left = progress.chunks_total - progress.chunks_done
        eta = f", ~{left * elapsed / max(progress.chunks_done, 1):.0f} s left" if progress.chunks_done else ""
        return (f"clips {progress.clips_done}/{progress.clips_total}  chunks {progress.chunks_done}/"
                f"{progress.chunks_total}  {rate:.1f} frames/s{eta}")

    with Live(line(), console=err, transient=True, refresh_per_second=4) as live:
        ticker = threading.Thread(target=lambda: [live.update(line()) for _ in iter(lambda: stop.wait(0.25), True)],
                                  daemon=True)
        ticker.start()
        try:
            return run()
        finally:
            stop.set()


@job_command('temcoco schedule s3://bucket/archive --out s3://bucket/fused --cron "0 2 * * *" --quiet')
def schedule(
    job: JobConfig, quiet: bool,
    cron: Annotated[str, typer.Option(help='cron schedule in UTC, e.g. "0 2 * * *"')] = "0 2 * * *",
) -> None:
    """Serve a Prefect deployment that runs `submit --incremental` with these options on a cron schedule (Ctrl-C stops)."""
    from temcoco.flows.schedule import nightly_deployment, serve

    deployment = nightly_deployment(job, cron)
    if not quiet:
        err.print(f"serving deployment fuse_archive/{deployment.name} on '{cron}' (UTC); Ctrl-C to stop")
    serve(deployment)


@app.command(epilog=_examples(
    "temcoco metrics demo-out --job demo",
    "temcoco metrics demo-out --sql \"SELECT clip_id, error FROM metrics WHERE status = 'failed'\" --format csv"))
def metrics(
    out_: Annotated[str, typer.Argument(metavar="OUT", help="output location of submit")],
    sql: Annotated[Optional[str], typer.Option(help="SQL over the view `metrics` (instead of the options below)")] = None,
    columns: Annotated[Optional[str], typer.Option(help="columns to show, e.g. clip_id,status,SSIM (default: a summary)")] = None,
    all_columns: Annotated[bool, typer.Option("--all-columns", help="show every column")] = False,
    job: Annotated[Optional[str], typer.Option("--job", help="only this job's rows")] = None,
    limit: Annotated[Optional[int], typer.Option(min=0, help=f"rows at most; 0: all (default: {DEFAULT_LIMIT} in a table, all otherwise)")] = None,
    format: Annotated[str, typer.Option("--format", help="table, csv, json (one array) or jsonl (an object a line)")] = "table",
    storage_options: StorageOptions = None,
) -> None:
    """Show the metrics table: by default a summary of every clip, newest job first (DuckDB SQL with --sql)."""
    from temcoco.metrics_view import LimitedRows, metrics_view, numeric_columns
    from temcoco.rowformat import FORMATS, write_rows
    from temcoco.storage.fs import parse_storage_options
    from temcoco.storage.results import query_batches
    from temcoco.termtable import TextTable, cell, render

    if format not in FORMATS:
        raise TemcocoError(f"--format must be {', '.join(FORMATS[:-1])} or {FORMATS[-1]}")
    view = metrics_view(sql, columns, all_columns, job)
    reader = query_batches(out_, view.sql, parse_storage_options(storage_options))
    names = reader.schema.names
    rows = LimitedRows(iter(reader), (DEFAULT_LIMIT if format == "table" else None) if limit is None else limit or None)
    if format != "table":
        write_rows(format, names, rows, sys.stdout)
        if rows.left_out:
            err.print(f"{rows.left_out} more rows left out by --limit {limit}")
        return
    cells = [[cell(r[c], view.shorten.get(c)) for c in names] for r in rows]
    if not cells and job:
        raise TemcocoError(f"no rows of job {job!r} under {out_}: `temcoco jobs {out_}` lists the jobs")
    _print_lines(render(TextTable(names, cells, numeric_columns(reader.schema)), _terminal_width()))
    if rows.left_out:
        out.print(f"… {rows.left_out} more rows (--limit 0 shows all)", highlight=False)


@app.command(epilog=_examples("temcoco jobs demo-out", "temcoco jobs demo-out --job demo"))
def jobs(
    out_: Annotated[str, typer.Argument(metavar="OUT", help="output location of submit")],
    job: Annotated[Optional[str], typer.Option("--job", help="print this job's summary, as submit did at its end")] = None,
    storage_options: StorageOptions = None,
) -> None:
    """List the jobs under OUT, newest first (one line each); with --job, one job's summary."""
    from temcoco.job_view import jobs_table, state_lines, summary_lines
    from temcoco.storage.fs import parse_storage_options
    from temcoco.storage.jobs import list_jobs, read_job
    from temcoco.termtable import render

    so = parse_storage_options(storage_options)
    if job is None:
        _print_lines(render(jobs_table(list_jobs(out_, so)), _terminal_width()))
        return
    record = read_job(out_, job, so)
    _print_lines(summary_lines(record.summary, out_) if record.summary else state_lines(record, out_))


def _terminal_width() -> int:
    """The terminal's width (``COLUMNS`` first); 120 when the output is not a terminal."""
    return shutil.get_terminal_size((120, 24)).columns


@app.command(epilog=_examples("temcoco evaluate --ir clip_ir.mp4 --vi clip_vi.mp4 --fused fused.mp4",
                             "temcoco evaluate --ir clip_ir.mp4 --vi clip_vi.mp4 --fused fused.mp4 --json"))
def evaluate(
    ir: Annotated[str, typer.Option("--ir", help="IR source (video or frame folder)")],
    vi: Annotated[str, typer.Option("--vi", help="VI source")],
    fused: Annotated[str, typer.Option("--fused", help="fused video or frame folder (any method)")],
    ref_ir: Annotated[Optional[str], typer.Option("--ref-ir", help="clean IR reference")] = None,
    ref_vi: Annotated[Optional[str], typer.Option("--ref-vi", help="clean VI reference")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="one JSON object keyed by metric column")] = False,
    storage_options: StorageOptions = None,
) -> None:
    """The metric suite for any fused video."""
    from temcoco.metrics import evaluate_streams
    from temcoco.storage.fs import parse_storage_options
    from temcoco.termtable import TextTable, cell, render

    result = evaluate_streams(ir, vi, fused, ref_ir, ref_vi, parse_storage_options(storage_options))
    if as_json:
        sys.stdout.write(json.dumps(result, default=str) + "\n")
    else:
        table = TextTable(["metric", "value"], [[k, cell(v)] for k, v in result.items()], {"value"})
        _print_lines(render(table, _terminal_width()))


@app.command(epilog=_examples("temcoco report demo-out --job demo"))
def report(
    out_: Annotated[str, typer.Argument(metavar="OUT", help="output location of submit")],
    job: Annotated[str, typer.Option("--job", help="job id")],
    storage_options: StorageOptions = None,
) -> None:
    """Write the job's HTML report (submit writes it too) and print where it is."""
    from temcoco.report import render
    from temcoco.storage.fs import parse_storage_options

    url = render(out_, job, parse_storage_options(storage_options))
    out.print(url)


@app.command(name="convert-weights", epilog=_examples("temcoco convert-weights VideoFusionNet_495000.pth paper.safetensors"))
def convert_weights(
    src: Annotated[Path, typer.Argument(metavar="OFFICIAL.pth", help="the authors' checkpoint, e.g. VideoFusionNet_495000.pth")],
    dst: Annotated[Path, typer.Argument(metavar="OUT.safetensors", help="temcoco weights file to write")],
) -> None:
    """Convert the published TemCoCo checkpoint into weights for the `paper` network (no code in it runs)."""
    from temcoco.model.paper.convert import convert_weights as convert

    out.print(convert(src, dst))


@app.command(epilog=_examples("temcoco gc demo-out", "temcoco gc s3://bucket/fused --min-age 48"))
def gc(
    out_: Annotated[str, typer.Argument(metavar="OUT", help="output location of submit")],
    min_age: Annotated[float, typer.Option(min=0, help="while a job runs, keep temp files younger than this (hours)")] = 24,
    storage_options: StorageOptions = None,
) -> None:
    """Remove staging of jobs no longer running and temp files that killed runs left; print what was freed."""
    from temcoco.storage.fs import parse_storage_options
    from temcoco.storage.gc import collect

    done = collect(out_, parse_storage_options(storage_options), min_age * 3600)
    for url in done.removed:
        out.print(f"removed {url}")
    out.print(f"freed {done.freed / 1e6:.1f} MB in {len(done.removed)} places")


@app.command(epilog=_examples("temcoco compact demo-out"))
def compact(
    out_: Annotated[str, typer.Argument(metavar="OUT", help="output location of submit")],
    storage_options: StorageOptions = None,
) -> None:
    """Fold the metrics rows of finished jobs into the table's parts (jobs do it when they end)."""
    from temcoco.storage.compaction import compact as compact_table
    from temcoco.storage.fs import parse_storage_options

    done = compact_table(out_, parse_storage_options(storage_options))
    out.print(f"folded {done.folded} rows into {done.written} new parts; the table has {done.parts} parts "
              f"({done.deleted} files deleted)")


@app.command(epilog=_examples("temcoco train temcoco/model/configs/small.toml",
                             "temcoco train temcoco/model/configs/small.toml --resume"))
def train(
    config: Annotated[Path, typer.Argument(help="training config (.toml), e.g. temcoco/model/configs/small.toml")],
    resume: Annotated[bool, typer.Option(help="continue from the latest checkpoint")] = False,
) -> None:
    """Train or fine-tune the network."""
    from temcoco.model.train import TrainConfig
    from temcoco.model.train import train as run_training

    path = run_training(TrainConfig.from_toml(config), resume)
    out.print(f"weights: {path}")


def run() -> None:
    """Entry point: user mistakes and unexpected failures are one line on stderr (``--debug``: traceback)."""
    try:
        app()
    except TemcocoError as e:
        _report(e, 2)
    except Exception as e:  # noqa: BLE001 - a bug or an unexpected failure
        _report(e, 1, hint=" (run with --debug for the traceback)")


def _report(e: BaseException, code: int, hint: str = "") -> None:
    if STATE["debug"]:
        raise e
    message = str(e) if isinstance(e, TemcocoError) else f"{type(e).__name__}: {e}"
    err.print(Text("error: ", style="red") + Text(f"{message}{hint}"))
    raise SystemExit(code)


if __name__ == "__main__":
    run()
