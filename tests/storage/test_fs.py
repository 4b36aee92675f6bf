"""Storage writes: atomic publication under unique temp names; concurrent writability probes."""

import json
import os
import threading

from temcoco.storage.fs import check_writable, write_json


def test_publication_is_atomic_with_unique_temp_names(tmp_path):
    url = str(tmp_path / "x" / "state.json")
    errors = []

    def writer(n):
        try:
            for i in range(50):
                write_json(url, {"writer": n, "i": i, "pad": "x" * 10_000})
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and json.loads((tmp_path / "x" / "state.json").read_text())["i"] == 49
    assert os.listdir(tmp_path / "x") == ["state.json"]


def test_two_jobs_probing_one_output_at_once_both_succeed(tmp_path):
    errors = []

    def probe():
        try:
            for _ in range(30):
                check_writable(str(tmp_path), None)
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=probe) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
