"""Grading past one machine: each submission is a task on a Dask worker (``--scheduler``).

``--scheduler local:N`` starts a :class:`distributed.LocalCluster` of N worker processes on
127.0.0.1 (one thread each: a task spends its time waiting for its grading job);
``--scheduler tcp://HOST:PORT`` uses a running Dask scheduler (``dask scheduler`` on one host,
``dask worker tcp://HOST:PORT`` on each grading host, or dask-jobqueue / dask-kubernetes).

A task (:func:`grade_task`) runs on a worker exactly what ``--jobs`` runs on the coordinator's
machine: :func:`grader.course.job_runner._run_job_process`, the per-student ``python -I`` grading
job with its wall-clock budget and the same sandbox (bubblewrap on the worker host; a worker
starts each job as ``python -I``, not from a job fork server as ``--jobs`` does). What comes
back is data: the job's JSON result. The files the coordinator's merge reads (the scratch
gradebook and the graded notebooks, under the job's scratch folder) stay where the job wrote
them, so the course folder must be on a filesystem shared by the coordinator and the workers
at the same path (one machine for ``local:N``; NFS / a shared volume on a cluster).

Each attempt of a task grades in a scratch folder of its own, so a retry never mixes with the
files of an attempt that died with its worker; and the job process dies with the thread that
started it (``PR_SET_PDEATHSIG``, see :data:`grader.course.job_runner._BOOT`), so a killed
worker leaves no grading job behind. Dask reschedules the tasks of a lost worker on another
one (up to ``distributed.scheduler.allowed-failures`` times); ``retries`` covers a task that
raised. The coordinator alone writes the gradebook, as results arrive.
"""

from __future__ import annotations

import contextlib
import re
import threading
import uuid
from collections.abc import Iterator
from dataclasses import asdict, replace
from pathlib import Path

from grader.course.grade_job import JobSpec

#: Times a task that raised is run again (worker loss is rescheduled by Dask on its own).
RETRIES = 2
_ADDRESS = re.compile(r"^(tcp|tls|inproc|ucx)://[^\s/]+$")


def parse_scheduler(text: str) -> tuple[str, int | str]:
    """``"local:N"`` -> ``("local", N)``; ``"tcp://HOST:PORT"`` -> ``("address", text)``."""
    if not isinstance(text, str):
        raise TypeError(f"scheduler must be a str, got {type(text).__name__}")
    if text.startswith("local:"):
        count = text.split(":", 1)[1]
        if not count.isdigit() or int(count) < 1:
            raise ValueError(f"scheduler {text!r}: local:N needs a whole number N >= 1")
        return "local", int(count)
    if _ADDRESS.match(text):
        return "address", text
    raise ValueError(f"scheduler {text!r} is neither local:N nor a Dask address "
                     "such as tcp://HOST:PORT")


@contextlib.contextmanager
def dask_client(scheduler: str) -> Iterator:
    """A :class:`distributed.Client` for ``scheduler`` (a LocalCluster for ``local:N``,
    stopped on exit)."""
    from distributed import Client, LocalCluster

    kind, value = parse_scheduler(scheduler)
    if kind == "local":
        with LocalCluster(n_workers=int(value), threads_per_worker=1, processes=True,
                          host="127.0.0.1", dashboard_address=None) as cluster, \
                Client(cluster) as client:
            yield client
    else:
        with Client(str(value), timeout="30s") as client:
            yield client


def grade_task(spec: dict, budget: dict) -> dict:
    """Runs on a Dask worker: one submission's grading job, in a scratch folder of its own.

    ``spec`` is a :class:`JobSpec` and ``budget`` a :class:`~grader.course.job_runner.Budget`,
    as dicts. Returns the job's result (a dict; ``scratch`` names the attempt's folder).
    """
    from grader.course.job_runner import Budget, _run_job_process

    job = JobSpec(**spec)
    attempt = uuid.uuid4().hex[:8]
    job = replace(job, scratch=f"{job.scratch}-{attempt}",
                  result=str(Path(job.result).with_suffix(f".{attempt}.json")))
    return _run_job_process(job, Budget(**budget))


def dask_results(scheduler: str, specs: dict[str, JobSpec], budget,
                 stop: threading.Event) -> Iterator[tuple[str, dict | BaseException]]:
    """Grade ``specs`` (student -> job) on Dask; yield ``(student, job result or error)`` as
    they finish. Once ``stop`` is set, the tasks not finished are cancelled."""
    from distributed import as_completed

    token = uuid.uuid4().hex[:8]
    with dask_client(scheduler) as client:
        futures = {client.submit(grade_task, asdict(spec), asdict(budget), pure=False,
                                 key=f"cs231n-grade-{student}-{token}", retries=RETRIES): student
                   for student, spec in specs.items()}
        done = as_completed(futures)
        try:
            for future in done:
                student = futures[future]
                try:
                    yield student, future.result()
                except Exception as exc:  # noqa: BLE001 - a lost task costs one student
                    yield student, exc
                if stop.is_set():
                    break
        finally:
            client.cancel([f for f in futures if not f.done()])
