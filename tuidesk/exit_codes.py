"""Exit codes every headless command shares; 75 is what MTAs and cron wrappers retry on."""

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    FAILURE = 1
    USAGE = 2
    TEMPFAIL = 75  # EX_TEMPFAIL: the MTA keeps the mail and retries
