"""What every Snakemake script shares: logging to ``snakemake.log`` and readable errors."""

from __future__ import annotations

import logging
import sys
import traceback

from .errors import InputError


def run_script(smk, main) -> None:
    """Run ``main(smk)`` with logging to the rule's log file.

    A fault in the user's data (InputError) becomes one line, "ERROR <file>: <fault>", in the
    log and on the console, and exit status 1; anything else leaves its traceback in the log.
    """
    log_path = smk.log[0] if smk.log else None
    handlers = [logging.FileHandler(log_path, mode="w")] if log_path else [logging.StreamHandler()]
    logging.basicConfig(level=logging.INFO, handlers=handlers, format="%(asctime)s %(levelname)s %(message)s")
    logger = logging.getLogger("brain_atrophy")
    try:
        main(smk)
    except InputError as err:
        logger.error("%s", err)
        print(f"brain-atrophy: ERROR in rule {smk.rule}: {err}", file=sys.stderr, flush=True)
        sys.exit(1)
    except Exception as err:
        logger.error("unexpected failure:\n%s", traceback.format_exc())
        print(
            f"brain-atrophy: unexpected failure in rule {smk.rule}: {type(err).__name__}: {err}"
            f" (traceback in {log_path})",
            file=sys.stderr,
            flush=True,
        )
        sys.exit(1)
