# Snakemake's scheduler as the profiles set it (included by the Snakefile, and by the bare
# workflow of benchmarks/scheduler.py, which measures these settings).
import threading


def cancel_scheduling_timers():
    """Let the process exit as soon as the run is over.

    Snakemake's job-rate limiter starts a timer for one more scheduling pass after every pass,
    and the process waits for the last timer before it exits. Each finished job starts such a
    chain, so a local run of N subjects wakes the scheduler N times per timespan: with the
    default 1 s, the scheduler alone takes a core after a few hundred subjects. The profiles
    therefore count the rate over a long timespan, and these hooks cancel the timers left when
    no job is left to schedule, so that the long timespan costs no wait at exit."""
    for thread in threading.enumerate():
        if isinstance(thread, threading.Timer):
            thread.cancel()


onsuccess:
    cancel_scheduling_timers()


onerror:
    cancel_scheduling_timers()
