import pytest

from temcoco.errors import TemcocoError
from temcoco.workers.pool import ActorResources, PoolConfig, actor_resources


def test_gpu_cluster_gets_one_gpu_per_actor():
    assert actor_resources({"CPU": 8, "GPU": 4}, PoolConfig(workers=4)) == ActorResources(1, 1, "cuda")
    # GPU actors do not need a CPU each beyond what Ray finds: 16 GPU workers on 8 CPUs is fine to ask
    assert actor_resources({"CPU": 8, "GPU": 16}, PoolConfig(workers=16, cpus_per_worker=1)).num_gpus == 1


def test_cpu_cluster_gets_cpu_actors_with_their_cores():
    assert actor_resources({"CPU": 4}, PoolConfig(workers=2, cpus_per_worker=2)) == ActorResources(2, 0, "cpu")


def test_device_cpu_keeps_actors_off_gpus():
    assert actor_resources({"CPU": 4, "GPU": 1}, PoolConfig(workers=2), device="cpu") == ActorResources(1, 0, "cpu")


def test_impossible_requests_are_clear_errors():
    with pytest.raises(TemcocoError, match="needs 4 CPUs; the Ray cluster has 2"):
        actor_resources({"CPU": 2}, PoolConfig(workers=2, cpus_per_worker=2))
    with pytest.raises(TemcocoError, match="no GPU"):
        actor_resources({"CPU": 2}, PoolConfig(workers=1), device="cuda")


def test_nightly_deployment_runs_incremental_on_the_cron(prefect_harness):
    from temcoco.flows.schedule import nightly_deployment

    d = nightly_deployment("s3://b/archive", "s3://b/out", "0 2 * * *", method="laplacian", workers=3)
    assert d.parameters["incremental"] is True and d.parameters["workers"] == 3
    assert d.schedules[0].schedule.cron == "0 2 * * *"
    with pytest.raises(TemcocoError, match="invalid --cron"):
        nightly_deployment("a", "b", "every night")
