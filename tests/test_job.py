"""One job object: `submit` and `schedule` build the same JobConfig from the same options, and a
deployment hands it to the flow unchanged."""

from dataclasses import MISSING, fields, replace

import click
import pytest
import typer
from typer.testing import CliRunner

from temcoco import cli
from temcoco.errors import TemcocoError
from temcoco.job import JobConfig
from temcoco.metrics.policy import MetricPolicy
from temcoco.options import OPTION
from temcoco.storage.jobs import JobSummary

# every option of submit and schedule but --job-id (schedule refuses a fixed one; submit adds JOB_ID)
FULL = ["s3://bucket/archive", "--out", "s3://bucket/out", "--workers", "3", "--cpus-per-worker", "2",
        "--ray-address", "ray://head:10001", "--method", "laplacian", "--weights", "/models/tuned.safetensors",
        "--chunk", "16", "--device", "cpu", "--storage-options", '{"anon": false}', "--quiet",
        "--allow-source", "s3://cams/north", "--allow-source", "/mnt/shared", "--redo", "--verify-content",
        "--metrics", "sampled", "--metric-stride", "4", "--incremental", "--keep-staging", "--max-retries", "5",
        "--max-pixels", "1000000"]
JOB_ID = ["--job-id", "night-1"]
EXPECTED = JobConfig(archive="s3://bucket/archive", out="s3://bucket/out", workers=3, cpus_per_worker=2,
                     ray_address="ray://head:10001", method="laplacian", weights="/models/tuned.safetensors",
                     chunk=16, device="cpu", allow_sources=("s3://cams/north", "/mnt/shared"), redo=True,
                     verify_content=True, metrics=MetricPolicy("sampled", 4), incremental=True, keep_staging=True,
                     max_retries=5, max_pixels=1_000_000)
JOB_FIELDS = [f for f in fields(JobConfig) if f.name != "metrics"] + list(fields(MetricPolicy))  # metrics: its fields


def captured_job(monkeypatch, command: str, args: list[str]) -> JobConfig:
    """The JobConfig that `temcoco <command> <args>` hands on (submit: to the flow; schedule: to Prefect,
    validated back into the flow's parameter the way a deployment run does)."""
    import temcoco.flows.fuse_archive as flow_module
    import temcoco.flows.schedule as schedule_module

    seen, real_flow = {}, flow_module.fuse_archive

    def fake_flow(job):
        seen["job"] = job
        return JobSummary(job_id="x", date="2026-01-01", ok=0, failed=0, skipped=0, clips=0, frames=0, seconds=0.0,
                          method=job.method, model_version="v", failures={})

    def fake_serve(deployment):
        seen["job"] = real_flow.validate_parameters(deployment.parameters)["job"]

    monkeypatch.setattr(flow_module, "fuse_archive", fake_flow)
    monkeypatch.setattr(schedule_module, "serve", fake_serve)
    result = CliRunner().invoke(cli.app, [command, *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return seen["job"]


def command_of(name: str) -> click.Command:
    return typer.main.get_group(cli.app).commands[name]


def test_full_gives_every_option_of_submit():
    given = set(FULL + JOB_ID)
    assert [p.opts[0] for p in command_of("submit").params if isinstance(p, click.Option) and not given & set(p.opts)] == []


def test_submit_builds_the_job_from_every_option(monkeypatch):
    monkeypatch.setenv("TEMCOCO_STORAGE_OPTIONS", "{}")  # restored after the test
    job = captured_job(monkeypatch, "submit", FULL + JOB_ID)
    assert job == replace(EXPECTED, job_id="night-1") and job.storage_options == {"anon": False}  # not a field


@pytest.mark.parametrize("command", ["submit", "schedule"])
def test_every_job_field_is_an_option_with_its_help_and_the_dataclass_default(command):
    options = {p.name: p for p in command_of(command).params}
    context = click.Context(command_of(command), info_name=command)
    for f in JOB_FIELDS:
        spec, option = f.metadata[OPTION], options[f.name]
        shown = option.get_help_record(context)[1]
        assert shown.startswith(spec.help) and (spec.argument or option.opts[0] == spec.flag(f.name)), (f.name, shown)
        if f.default is MISSING:
            assert option.required and "[required]" in shown, (f.name, shown)
        else:
            assert option.default == f.default, (f.name, option.default)
            assert f.default in (None, False, ()) or f"[default: {f.default}" in shown, (f.name, shown)


def test_schedule_runs_the_same_job_as_submit(monkeypatch, prefect_harness):
    monkeypatch.setenv("TEMCOCO_STORAGE_OPTIONS", "{}")
    scheduled = captured_job(monkeypatch, "schedule", [*FULL, "--cron", "0 3 * * *"])
    assert scheduled == replace(captured_job(monkeypatch, "submit", FULL), incremental=True)


def test_deployment_keeps_the_cron_and_refuses_fixed_job_ids(prefect_harness):
    from temcoco.flows.schedule import nightly_deployment

    deployment = nightly_deployment(EXPECTED, "0 2 * * *")
    assert deployment.schedules[0].schedule.cron == "0 2 * * *"
    with pytest.raises(TemcocoError, match="invalid --cron"):
        nightly_deployment(EXPECTED, "every night")
    with pytest.raises(TemcocoError, match="new job id"):
        nightly_deployment(replace(EXPECTED, job_id="fixed"), "0 2 * * *")


@pytest.mark.parametrize("options, words", [
    ({"chunk": 0}, "--chunk must be at least 1"),
    ({"workers": 0}, "--workers must be at least 1"),
    ({"max_retries": -1}, "--max-retries must be at least 0"),
    ({"max_pixels": 0}, "--max-pixels must be at least 1"),
    ({"method": "nope"}, "unknown method"),
    ({"device": "tpu"}, "unknown device"),
])
def test_bad_settings_are_one_line_errors(options, words):
    with pytest.raises(TemcocoError, match=words):
        JobConfig("a", "o", **options)
