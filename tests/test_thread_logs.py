"""Per-thread job logs (brain_atrophy.thread_logs): jobs running as threads of one process each
get their own records and warnings, and the process is left as it was."""

import logging
import threading
import warnings

from brain_atrophy.thread_logs import thread_console, thread_log

log = logging.getLogger("brain_atrophy.probe")
REGISTRY: dict = {}  # one module's warning registry, shared by every thread, as in a real module


def warn_from_package():
    """A warning raised from one line of a package module (nibabel's, or ours)."""
    warnings.warn_explicit("odd header", UserWarning, "p.py", 7, module="nibabel.p", registry=REGISTRY)


def job(path, name, started, release):
    with thread_log(path):
        started.wait()  # every job is inside its log block before any writes
        log.info("measuring %s", name)
        warn_from_package()  # the same line in every job
        release.wait()
        log.info("done %s", name)


def test_concurrent_jobs_write_only_their_own_lines(tmp_path):
    names = ["a", "b", "c"]
    started, release = threading.Barrier(len(names)), threading.Barrier(len(names))
    threads = [threading.Thread(target=job, args=(tmp_path / f"{n}.log", n, started, release)) for n in names]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for name in names:
        text = (tmp_path / f"{name}.log").read_text()
        lines = [line for line in text.splitlines() if " INFO " in line]
        assert [line.split(" INFO ")[1] for line in lines] == [f"measuring {name}", f"done {name}"]
        # shown once per job, not once per process
        assert text.count("UserWarning: odd header") == 1, text


def test_other_threads_records_stay_out_of_job_logs(tmp_path):
    inside, outside = threading.Event(), threading.Event()

    def bystander():
        inside.wait()
        log.warning("not a job's line")
        outside.set()

    thread = threading.Thread(target=bystander)
    thread.start()
    with thread_log(tmp_path / "job.log"):
        inside.set()
        outside.wait()
        log.info("a job's line")
    thread.join()
    text = (tmp_path / "job.log").read_text()
    assert "a job's line" in text and "not a job's line" not in text


def test_the_process_is_left_as_it_was(tmp_path):
    package = logging.getLogger("brain_atrophy")
    before = (list(package.handlers), package.level, warnings.showwarning, list(warnings.filters))
    with thread_log(tmp_path / "job.log"):
        assert package.handlers != before[0] and warnings.showwarning is not before[2]
    assert (list(package.handlers), package.level, warnings.showwarning, list(warnings.filters)) == before


def test_a_jobs_console_is_its_threads_only(tmp_path):
    seen = []
    other = threading.Thread(target=lambda: seen.append(thread_console()))
    with thread_log(tmp_path / "job.log", console=print):
        assert thread_console() is print
        other.start()
        other.join()
    assert seen == [None] and thread_console() is None
