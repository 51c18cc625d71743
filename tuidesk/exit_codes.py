"""Exit codes every headless command shares; 75 is what MTAs and cron wrappers retry on."""

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    FAILURE = 1
    USAGE = 2
    EX_USAGE = 64  # sysexits EX_USAGE, `pipe` only: the MTA bounces, the postmaster sees why
    TEMPFAIL = 75  # EX_TEMPFAIL: the MTA keeps the mail and retries
