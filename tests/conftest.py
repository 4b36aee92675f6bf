"""Shared fixtures: one Ray cluster and one Prefect test harness per test session, test media."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "0")

from temcoco.devdata import DEV_DATA as M3SVD


@pytest.fixture(scope="session")
def m3svd() -> Path:
    """The real M3SVD dev sequences (../shared/data/m3svd-dev), or skip."""
    if not M3SVD.exists():
        pytest.skip(f"real data not found at {M3SVD} (see ../shared/data/README.md)")
    return M3SVD


SECRET_KEY = "temcoco-test-secret-7c1e9b2f"  # distinctive, so tests can prove it is never written anywhere


@pytest.fixture(scope="session")
def ray_cluster(s3_server):
    """A local Ray cluster shared by all tests (starting one takes ~10 s). It starts after the S3
    server, so its actors inherit the AWS_* variables (secrets are never handed to actors otherwise)."""
    import ray

    if not ray.is_initialized():
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


@pytest.fixture(scope="session")
def prefect_harness():
    """A temporary Prefect API + database shared by all tests (starting one takes ~20 s)."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture(scope="session")
def moto_server():
    """A real S3-API server (moto's) on loopback; AWS_* variables point at it for this session.

    Yields (server, endpoint URL); ``server.log`` records the requests it serves. Buckets are
    created by the tests that need them.
    """
    from tests.support.s3server import start_moto

    saved = {k: os.environ.get(k) for k in ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
                                            "AWS_DEFAULT_REGION")}
    server, endpoint = start_moto("testing", SECRET_KEY)
    yield server, endpoint
    server.stop()
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


@pytest.fixture(scope="session")
def s3_server(moto_server):
    """The endpoint URL of the session's S3-API server (see ``moto_server``)."""
    return moto_server[1]
