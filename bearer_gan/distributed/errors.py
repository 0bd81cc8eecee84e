"""The errors of a multi-process run, apart from the code that raises them.

The command line (:mod:`bearer_gan.cli.train`) turns each into its own exit: a configuration that
cannot train under DDP is a usage error (code 2, one line from rank 0), a lost rank ends the run
with code 1 and one line from the lowest surviving rank. Every part of :mod:`bearer_gan.distributed`
raises them, so they live here, below all of it, with no dependency of their own.
"""

__all__ = ['DistributedError', 'UnsupportedUnderDDP', 'RankFailure']


class DistributedError(RuntimeError):
    """A multi-process run cannot go on."""


class UnsupportedUnderDDP(DistributedError, ValueError):
    """A configuration that cannot train under DistributedDataParallel; the message says what to change."""


class RankFailure(DistributedError):
    """Another rank died, hung or failed; the message names it.

    Attributes:
        report: whether this rank should print the message (only the lowest surviving rank does).
    """

    def __init__(self, message: str, report: bool = True):
        super().__init__(message)
        self.report = report
