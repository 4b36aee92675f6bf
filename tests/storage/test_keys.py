"""Safe storage names: any clip id gets a key that is safe and reversible; unsafe job ids are refused."""

import pytest

from temcoco.errors import TemcocoError
from temcoco.job import JobConfig
from temcoco.storage.keys import clip_id_of, clip_key


HOSTILE = ["cam 1", "clip vidéo", "cam::1", "cam[1]", "*", "?", "cam%41", "#tag", "-lead", "[bold]x", "cam[/]",
           "a~b", ".hidden", "..", "日本語 ナイト", "x" * 120, "cam?[*]", "100%", "cam*", "a b [c] (d)"]


@pytest.mark.parametrize("name", HOSTILE)
def test_clip_keys_are_safe_and_reversible(name):
    key = clip_key(name)
    assert not set(key) & set("*?[]/:#\\ ") and not key.startswith(".") and len(key) <= 160
    assert clip_id_of(key) == name


@pytest.mark.parametrize("job_id", ["../x", "a/b", "x::y", "", "-x", "a b", "x" * 101, "a..b"])
def test_unsafe_job_ids_are_refused(job_id):
    with pytest.raises(TemcocoError, match="invalid --job-id"):
        JobConfig("a", "o", job_id=job_id, method="average")
