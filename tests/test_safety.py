"""The one SIGINT / SIGTERM path (:func:`bearer_gan.safety.stop_requests`) and finding a trial's guard, in this process.

Whole runs stopped by a signal are tested end to end in ``test_checkpoint.py`` (one process) and
``test_distributed.py`` (torchrun).
"""
import os
import signal

import pytest
import torchbearer

from bearer_gan.safety import STOP_SIGNALS, TrainingGuard, stop_requests
from bearer_gan.tb_internals import callbacks_of
from conftest import make_trial


@pytest.fixture
def handlers():
    """SIGINT's and SIGTERM's handlers before the test, put back after it."""
    before = {signum: signal.getsignal(signum) for signum in STOP_SIGNALS}
    yield before
    for signum, handler in before.items():
        signal.signal(signum, handler)


def test_sigterm_and_the_first_sigint_request_a_stop_and_a_second_sigint_interrupts(handlers):
    for first in STOP_SIGNALS:
        guard = TrainingGuard()
        with stop_requests(guard):
            os.kill(os.getpid(), first)
            assert guard.stop_requested.wait(5)
            os.kill(os.getpid(), signal.SIGTERM)  # SIGTERM again: still only a request
            with pytest.raises(KeyboardInterrupt):
                os.kill(os.getpid(), signal.SIGINT)
                signal.sigtimedwait([], 0.5)  # a point where the handler runs
        assert {signum: signal.getsignal(signum) for signum in STOP_SIGNALS} == handlers


def test_the_previous_handlers_come_back_after_an_error_unless_kept(handlers):
    guard = TrainingGuard()
    with pytest.raises(ValueError):
        with stop_requests(guard):
            raise ValueError('a failed run')
    assert {signum: signal.getsignal(signum) for signum in STOP_SIGNALS} == handlers
    with pytest.raises(KeyboardInterrupt):
        with stop_requests(guard, signals=(signal.SIGTERM,), keep_after_error=True):
            raise KeyboardInterrupt('stopped after step 3')
    assert signal.getsignal(signal.SIGINT) is handlers[signal.SIGINT]  # not handled here
    kept = signal.getsignal(signal.SIGTERM)
    assert kept is not handlers[signal.SIGTERM]
    os.kill(os.getpid(), signal.SIGTERM)  # a late SIGTERM is a stop request, not the end of the process
    assert guard.stop_requested.wait(5)
    with stop_requests(guard, signals=(signal.SIGTERM,), keep_after_error=True):
        pass
    assert signal.getsignal(signal.SIGTERM) is kept  # a normal end puts back what was there


def test_a_trial_finds_its_guard_and_a_trial_without_one_says_so():
    trial, _, _ = make_trial()
    guard = TrainingGuard.of(trial)
    assert isinstance(guard, TrainingGuard) and callbacks_of(trial.state)[0] is guard
    with pytest.raises(ValueError, match='has no TrainingGuard'):
        TrainingGuard.of(torchbearer.Trial(None))
