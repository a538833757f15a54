"""One log file per job for jobs that run as threads of one process.

A job in its own process logs through the process's root logger and stderr
(scripting.run_logged). Jobs that Snakemake runs inside its own process (the subject jobs'
``run:`` rule, README "Speed") share both with each other and with Snakemake. Here each job
thread registers its log file. The package's log records and the Python warnings raised in that
thread go to that file. Records and warnings from other threads go where they went before.

A job thread may also register where its console lines go (scripting.console): in Snakemake's
process, Snakemake's own logger, whose lock keeps a job's line from landing inside one of
Snakemake's.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import warnings

LOG_FORMAT = "%(asctime)s %(levelname)s %(message)s"
PACKAGE_LOGGER = "brain_atrophy"
# A warning is shown once per code location by default. A long-lived process would show it in
# the first subject's log only, so warnings raised from these modules are always shown: each
# subject whose image triggers it gets the line in its own log.
ALWAYS_SHOWN_MODULES = r"(brain_atrophy|nibabel)(\.|$)"

_logs: dict[int, object] = {}  # thread ident -> that job's open log file
_consoles: dict[int, object] = {}  # thread ident -> where that job's console lines go
_lock = threading.Lock()
_saved: dict = {}  # what installing changed, to restore when the last job ends
_SHOWWARNING_AT_IMPORT = warnings.showwarning


class _ThreadLogHandler(logging.Handler):
    """Writes a record to the log of the job running in the record's thread, if any."""

    def emit(self, record: logging.LogRecord) -> None:
        stream = _logs.get(record.thread)
        if stream is None:
            return  # not a job thread: the record's other handlers (root's, if any) take it
        try:
            stream.write(self.format(record) + "\n")
            stream.flush()
        except Exception:
            self.handleError(record)


def _show_warning(message, category, filename, lineno, file=None, line=None):
    stream = _logs.get(threading.get_ident())
    if stream is None:
        # not a job thread (or, held on to by someone, after the last job): as before
        previous = _saved.get("showwarning", _SHOWWARNING_AT_IMPORT)
        previous(message, category, filename, lineno, file, line)
        return
    stream.write(warnings.formatwarning(message, category, filename, lineno, line))
    stream.flush()


def _install() -> None:
    """Route the package's records and warnings by thread (when the first job starts)."""
    package = logging.getLogger(PACKAGE_LOGGER)
    handler = _ThreadLogHandler()
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    _saved.update(handler=handler, level=package.level, showwarning=warnings.showwarning)
    package.addHandler(handler)
    if package.getEffectiveLevel() > logging.INFO:
        package.setLevel(logging.INFO)
    warnings.showwarning = _show_warning
    warnings.filterwarnings("always", module=ALWAYS_SHOWN_MODULES)
    _saved["filter"] = warnings.filters[0]


def _uninstall() -> None:
    """Put back what _install changed (when the last running job ends)."""
    package = logging.getLogger(PACKAGE_LOGGER)
    package.removeHandler(_saved["handler"])
    package.setLevel(_saved["level"])
    if warnings.showwarning is _show_warning:
        warnings.showwarning = _saved["showwarning"]
    with contextlib.suppress(ValueError):  # gone if someone reset the filters meanwhile
        warnings.filters.remove(_saved["filter"])
    _saved.clear()


def thread_console():
    """Where this thread's console lines go, if its job said (thread_log's ``console``)."""
    return _consoles.get(threading.get_ident())


@contextlib.contextmanager
def thread_log(log_path, console=None):
    """Within the block, this thread's package log records and Python warnings go to a fresh
    ``log_path`` (other threads' are unaffected), and its console lines to ``console(line)``
    when given."""
    stream = open(log_path, "w", encoding="utf-8", errors="backslashreplace")
    ident = threading.get_ident()
    with _lock:
        if not _logs:
            _install()
        _logs[ident] = stream
        if console is not None:
            _consoles[ident] = console
    try:
        yield
    finally:
        with _lock:
            del _logs[ident]
            _consoles.pop(ident, None)
            if not _logs:
                _uninstall()
        stream.close()
