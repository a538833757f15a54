# Snakemake's scheduler as the profiles set it (included by the Snakefile, and by the bare
# workflow of benchmarks/scheduler.py, which measures these settings).
import threading


def cancel_scheduling_timers():
    """Let the process exit as soon as the run is over.

    Snakemake's job-rate limiter starts a timer for one more scheduling pass after every pass,
    and the process waits for the last timer before it exits. The profiles count the rate over
    a long timespan (a short one wakes the scheduler once per finished job per timespan, a
    core's worth at thousands of subjects), so the timers left at the end are cancelled here:
    only Snakemake's own, which are the only ones that hold the process."""
    for thread in threading.enumerate():
        function = getattr(thread, "function", None)
        if isinstance(thread, threading.Timer) and getattr(
            function, "__module__", ""
        ).startswith("snakemake."):
            thread.cancel()


onsuccess:
    cancel_scheduling_timers()


onerror:
    cancel_scheduling_timers()
