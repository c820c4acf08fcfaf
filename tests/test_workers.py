"""Jobs on forked one-thread workers (`workers.py`): every job's result, in other processes of one
thread each, errors raised in the caller, and how many workers the automatic count chooses."""

from __future__ import annotations

import os
import time

import pytest
import torch

from obliviate import workers
from obliviate.workers import fork_available, run_jobs, worker_count

needs_fork = pytest.mark.skipif(not fork_available(), reason="workers fork (Linux)")


def _where(i: int) -> tuple[int, int, int]:
    return i * i, os.getpid(), torch.get_num_threads()


@needs_fork
def test_jobs_run_in_forked_one_thread_workers_and_every_result_comes_back():
    parent_threads = torch.get_num_threads()
    done = {}
    run_jobs(_where, 5, 2, done.__setitem__)
    assert sorted(done) == [0, 1, 2, 3, 4]
    assert [done[i][0] for i in range(5)] == [0, 1, 4, 9, 16]
    pids = {pid for _, pid, _ in done.values()}
    assert os.getpid() not in pids and len(pids) == 5  # a process of its own for each job
    assert {threads for _, _, threads in done.values()} == {1}
    assert torch.get_num_threads() == parent_threads  # the caller's own threads are untouched


def test_one_worker_runs_the_jobs_here_in_order():
    done = []
    run_jobs(_where, 3, 1, lambda i, r: done.append((i, r[1])))
    assert done == [(0, os.getpid()), (1, os.getpid()), (2, os.getpid())]


def _fails_on_two(i: int) -> int:
    if i == 2:
        raise ValueError("job 2 failed")
    return i


@needs_fork
def test_a_failing_job_raises_in_the_caller():
    with pytest.raises(ValueError, match="job 2 failed"):
        run_jobs(_fails_on_two, 4, 2, lambda i, r: None)


def _dies_on_one(i: int) -> int:
    if i == 1:
        os._exit(9)  # as if killed: no result, no exception
    return i


@needs_fork
def test_a_worker_that_dies_fails_the_call_with_its_exit_code():
    done = []
    with pytest.raises(RuntimeError, match=r"job 1: its worker process died \(exit code 9"):
        run_jobs(_dies_on_one, 3, 2, lambda i, r: done.append(i))
    assert 1 not in done


@needs_fork
def test_at_most_the_asked_workers_run_at_once(tmp_path):
    def job(i: int) -> int:
        (tmp_path / f"{i}.start").touch()
        running = len(list(tmp_path.glob("*.start"))) - len(list(tmp_path.glob("*.end")))
        time.sleep(0.2)
        (tmp_path / f"{i}.end").touch()
        return running

    done = {}
    run_jobs(job, 6, 2, done.__setitem__)
    assert sorted(done) == list(range(6))
    assert max(done.values()) == 2  # two side by side, never three


def test_worker_count(monkeypatch):
    monkeypatch.setattr(workers, "fork_available", lambda: True)
    monkeypatch.setattr(workers, "usable_cores", lambda: 8)
    monkeypatch.setattr(workers, "available_memory", lambda: 20 * 2**30)
    assert worker_count(0, 12, 5 * 2**30) == 4  # memory: 20 GiB at 5 each
    assert worker_count(0, 3, 2**30) == 3  # rows
    assert worker_count(0, 12, 2**30) == 8  # cores
    assert worker_count(0, 12, 40 * 2**30) == 1  # not even one fits: in this process
    assert worker_count(6, 3, 5 * 2**30) == 3  # asked for, at most one per row
    monkeypatch.setattr(workers, "available_memory", lambda: None)
    assert worker_count(0, 12, 5 * 2**30) == 8
    monkeypatch.setattr(workers, "fork_available", lambda: False)
    assert worker_count(0, 12, 2**30) == 1
    with pytest.raises(ValueError, match="2 workers need fork"):
        worker_count(2, 12, 2**30)
