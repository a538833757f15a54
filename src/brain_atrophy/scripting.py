"""What every Snakemake script shares: logging to ``snakemake.log`` and readable errors."""

from __future__ import annotations

import contextlib
import io
import logging
import os
import shutil
import sys
import traceback

from .errors import InputError

LOG_FORMAT = "%(asctime)s %(levelname)s %(message)s"
# Where console() writes while run_script sends stderr to the log; None: sys.stderr.
_console = None


def console(message: str) -> None:
    """Write one deliberate line to the console (the job's real stderr), also while run_script
    sends everything else written to stderr to the rule's log."""
    stream = _console or sys.stderr
    stream.write(message + "\n")  # one write: a line, whole, among other threads' output
    stream.flush()


def keep_going(work, output, record, left_out: str) -> None:
    """Run ``work()``. Under --keep-going (BRAIN_ATROPHY_KEEP_GOING=1, set by the workflow) an
    InputError leaves only ``record(err)`` in the job's ``output`` folder (nothing partial beside
    it), one console line says that ``left_out`` was left out, and the job succeeds."""
    try:
        work()
    except InputError as err:
        if os.environ.get("BRAIN_ATROPHY_KEEP_GOING") != "1":
            raise
        shutil.rmtree(output, ignore_errors=True)
        record(err)
        console(f"brain-atrophy: ERROR ({left_out} left out, --keep-going): {err}")


def _fileno(stream) -> int | None:
    try:
        return stream.fileno()
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
        return None


@contextlib.contextmanager
def _stderr_into(log_path):
    """Send stderr to the log file: Python's sys.stderr, and the file descriptor under it (so
    that what C libraries write follows), while console() writes to the real stderr."""
    global _console
    real = sys.stderr
    log = open(log_path, "a", buffering=1, encoding="utf-8", errors="backslashreplace")
    fd = _fileno(real)
    saved_fd = None
    if fd is None:  # a stream with no descriptor under it (e.g. one a test put there)
        _console = real
    else:
        real.flush()
        saved_fd = os.dup(fd)
        os.dup2(log.fileno(), fd)
        _console = open(saved_fd, "w", encoding=getattr(real, "encoding", None) or "utf-8", closefd=False)
    sys.stderr = log
    try:
        yield
    finally:
        sys.stderr = real
        log.flush()
        if saved_fd is not None:
            real.flush()  # what was written through a kept reference to it belongs to the log
            _console.close()
            os.dup2(saved_fd, fd)
            os.close(saved_fd)
        _console = None
        log.close()


def report_failure(error: Exception, rule: str, log_path) -> None:
    """Log why a job of rule ``rule`` failed, and say it on the console. A fault in the user's
    data (InputError) is one line, "ERROR <file>: <fault>", in both; anything else leaves its
    traceback in the log (``log_path``, named on the console)."""
    logger = logging.getLogger("brain_atrophy")
    if isinstance(error, InputError):
        logger.error("%s", error)
        console(f"brain-atrophy: ERROR in rule {rule}: {error}")
    else:
        logger.error("unexpected failure:\n%s", "".join(traceback.format_exception(error)))
        console(
            f"brain-atrophy: unexpected failure in rule {rule}: {type(error).__name__}: {error}"
            f" (traceback in {log_path})"
        )


def run_script(smk, main) -> None:
    """Run ``main(smk)``, a Snakemake script's body, with logging to the rule's log file (see
    run_logged)."""
    run_logged(smk.log[0] if smk.log else None, smk.rule, lambda: main(smk))


def run_logged(log_path, rule: str, main) -> None:
    """Run ``main()`` for rule ``rule`` with logging to ``log_path`` (None: stderr).

    Python warnings and anything written to stderr while ``main`` runs go to the log file too;
    console() writes deliberate lines to the console. A fault in the user's data (InputError)
    becomes one line, "ERROR <file>: <fault>", in the log and on the console, and exit status 1;
    anything else leaves its traceback in the log.
    """
    if log_path:
        open(log_path, "w").close()  # a fresh log; the handler and the stderr capture append to it
        handler = logging.FileHandler(log_path, mode="a", encoding="utf-8")
        capture = _stderr_into(log_path)
    else:
        handler, capture = logging.StreamHandler(), contextlib.nullcontext()
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    logging.captureWarnings(True)
    try:
        with capture:
            try:
                main()
            except Exception as err:
                report_failure(err, rule, log_path)
                sys.exit(1)
    finally:
        logging.captureWarnings(False)
        root.removeHandler(handler)
        root.setLevel(level)
        handler.close()
