"""Job leases: a job id held by a live run is refused; a released or stale lease is free."""

import os

import pytest

from temcoco.errors import TemcocoError
from temcoco.storage.fs import write_json
from temcoco.storage.lease import JobLease


def test_a_job_id_held_by_a_live_run_is_refused(tmp_path):
    with JobLease(str(tmp_path), "j1"):
        with pytest.raises(TemcocoError, match="job j1 is running"):
            with JobLease(str(tmp_path), "j1"):
                pass
    with JobLease(str(tmp_path), "j1"):  # released: free again
        pass
    write_json(str(tmp_path / "jobs" / "j2.lease"), {"owner": "x", "host": os.uname().nodename, "pid": 2**22 + 7,
                                                      "expires": 1e12})
    with JobLease(str(tmp_path), "j2"):  # a killed run on this host: its lease is stale at once
        pass
