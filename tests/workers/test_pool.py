import pytest

from temcoco.errors import TemcocoError
from temcoco.job import JobConfig
from temcoco.workers.pool import ActorResources, actor_resources


def job(**options) -> JobConfig:
    return JobConfig("archive", "out", method="average", **options)


def test_gpu_cluster_gets_one_gpu_per_actor():
    assert actor_resources({"CPU": 8, "GPU": 4}, job(workers=4)) == ActorResources(1, 1, "cuda")
    # GPU actors do not need a CPU each beyond what Ray finds: 16 GPU workers on 8 CPUs is fine to ask
    assert actor_resources({"CPU": 8, "GPU": 16}, job(workers=16, cpus_per_worker=1)).num_gpus == 1


def test_cpu_cluster_gets_cpu_actors_with_their_cores():
    assert actor_resources({"CPU": 4}, job(workers=2, cpus_per_worker=2)) == ActorResources(2, 0, "cpu")


def test_device_cpu_keeps_actors_off_gpus():
    assert actor_resources({"CPU": 4, "GPU": 1}, job(workers=2, device="cpu")) == ActorResources(1, 0, "cpu")


def test_impossible_requests_are_clear_errors():
    with pytest.raises(TemcocoError, match="needs 4 CPUs; the Ray cluster has 2"):
        actor_resources({"CPU": 2}, job(workers=2, cpus_per_worker=2))
    with pytest.raises(TemcocoError, match="no GPU"):
        actor_resources({"CPU": 2}, job(workers=1, device="cuda"))


def test_more_gpu_workers_than_gpus_is_a_clear_error():
    with pytest.raises(TemcocoError, match="--workers 3 needs 3 GPUs .* the Ray cluster has 2"):
        actor_resources({"CPU": 16, "GPU": 2}, job(workers=3))
