"""`docs_per_task`: a small slice of a real benchmark that keeps MIA members trained-on."""

from __future__ import annotations

import pytest

from obliviate.data import load_benchmark
from obliviate.data.records import subset_benchmark
from tests.conftest import SHARED_LUME


@pytest.mark.skipif(not SHARED_LUME.is_dir(), reason="../shared/data/lume is not beside the repository")
def test_lume_subset_keeps_n_per_task_and_matching_members():
    full = load_benchmark(SHARED_LUME)
    small = subset_benchmark(full, 2)
    for name, split in small.splits.items():
        for side in ("forget", "retain"):
            docs = getattr(split, side)
            assert sorted(d.task for d in docs) == ["Task1", "Task1", "Task2", "Task2", "Task3", "Task3"]
            # the first two of each task, in file order
            firsts = [d for d in getattr(full.splits[name], side) if d.task == "Task1"][:2]
            assert [d.id for d in docs if d.task == "Task1"] == [d.id for d in firsts]
        forget_ids = {d.id for d in split.forget}
        assert split.member, name
        assert all(m.id.removesuffix("sc1") in forget_ids for m in split.member)
        assert len(split.nonmember) == len(split.member)
    assert small.fingerprint() != full.fingerprint()
