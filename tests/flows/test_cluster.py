"""A two-node Ray cluster on this machine: `submit --ray-address` spreads work over both nodes."""

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import psutil
import pytest

from tests.support.archives import good_archive

RAY = str(Path(sys.executable).parent / "ray")


def kill_cluster(temp_dir: str) -> None:
    """Stop only this cluster's processes (``ray stop`` would also stop the tests' own cluster)."""
    roots = [p for p in psutil.process_iter(["cmdline"])
             if p.pid != os.getpid() and any(temp_dir in a for a in (p.info["cmdline"] or []))]
    procs = {c for p in roots for c in [p, *p.children(recursive=True)]}
    for p in procs:
        try:
            p.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(list(procs), timeout=10)
    shutil.rmtree(temp_dir, ignore_errors=True)


@pytest.fixture(scope="module")
def two_node_cluster(tmp_path_factory):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    temp_dir = f"/tmp/rt{uuid.uuid4().hex[:8]}"
    token = tmp_path_factory.mktemp("ray") / "auth_token"
    token.write_text(secrets.token_hex(32))
    # Token authentication, as a real cluster has it: nodes and driver share the token.
    env = {"RAY_ENABLE_UV_RUN_RUNTIME_ENV": "0", "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": str(token)}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    env = dict(os.environ)
    common = ["--num-cpus", "1", "--disable-usage-stats"]
    try:
        subprocess.run([RAY, "start", "--head", "--port", str(port), "--include-dashboard=false",
                        "--temp-dir", temp_dir, *common], check=True, capture_output=True, env=env, timeout=120)
        subprocess.run([RAY, "start", "--address", f"127.0.0.1:{port}", "--resources", '{"second_node": 1}', *common],
                       check=True, capture_output=True, env=env, timeout=120)
        yield f"127.0.0.1:{port}"
    finally:
        kill_cluster(temp_dir)
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def test_submit_uses_both_nodes(two_node_cluster, tmp_path):
    archive = good_archive(tmp_path / "archive", clips=2, frames=16)
    out = tmp_path / "out"
    p = subprocess.run([sys.executable, "-m", "temcoco.cli", "submit", str(archive), "--out", str(out), "--job-id",
                        "two", "--ray-address", two_node_cluster, "--workers", "2", "--method", "laplacian",
                        "--chunk", "4", "--quiet"], capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr
    work = json.loads((out / "jobs" / "two.json").read_text())["work_by_node"]
    assert len(work) == 2, work  # each node's actor began a clip: the first streamed, the last fanned out
    assert all(stages.get("start", 0) > 0 for stages in work.values()), work
    assert sum(stages.get("fuse_chunk", 0) for stages in work.values()) > 0, work


def test_more_workers_than_the_cluster_has_cpus_is_a_clear_error(two_node_cluster, tmp_path):
    archive = good_archive(tmp_path / "archive", clips=1, frames=4)
    p = subprocess.run([sys.executable, "-m", "temcoco.cli", "submit", str(archive), "--out", str(tmp_path / "out"),
                        "--ray-address", two_node_cluster, "--workers", "3", "--method", "average", "--quiet"],
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 2 and "needs 3 CPUs; the Ray cluster has 2" in p.stderr, p.stderr
    assert "Traceback" not in p.stderr
