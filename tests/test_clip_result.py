"""Clip results are typed from the actor to the job summary; their statuses are the rows' strings."""

import json

from temcoco.clip_result import ClipResult, Status
from temcoco.flows.fuse_archive import Tally
from temcoco.storage.finished import FinishedClip


def test_statuses_are_the_strings_rows_and_summaries_hold():
    assert [s.value for s in Status] == ["ok", "failed", "skipped"]
    assert json.dumps({"status": Status.SKIPPED}) == '{"status": "skipped"}'
    row = {"clip_id": "c", "status": "failed", "error": "unreadable", "frames": None, "seconds": 1.5}
    assert ClipResult.of_row(row) == ClipResult("c", Status.FAILED, "unreadable", seconds=1.5)


def test_the_tally_counts_each_status_and_what_was_kept():
    tally = Tally()
    kept = FinishedClip("a", "ok", "v", "fp", "ir/a", "vi/a", 10, 2.0, 3.0, 1.5).result
    for result in (kept, ClipResult("b", Status.OK, frames=5, flowD_seam=1.0, flowD_inner=1.0),
                   ClipResult("c", Status.SKIPPED), ClipResult("d", Status.FAILED, "unreadable")):
        tally.add(result)
    assert (tally.clips, tally.ok, tally.skipped, tally.failed, tally.kept, tally.frames) == (4, 2, 1, 1, 1, 15)
    assert tally.failures == {"d": "unreadable"} and tally.seams.value == 4.0 / 2.5
