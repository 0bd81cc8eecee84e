"""``bearer-gan train``: the flags parsed into a :class:`~bearer_gan.config.RunConfig`, the run built and trained by
:mod:`bearer_gan.recipe`, and its end turned into an exit code and a summary.

This module holds no training logic: the resume policy is :func:`bearer_gan.run_folder.choose_run`,
the run is :func:`bearer_gan.recipe.prepare_run` and :func:`bearer_gan.recipe.train`. What it adds is
what a command line needs: a user's mistake is one line and exit code 2, a non-finite loss exit
code 1, Ctrl-C or SIGTERM 130, and under torchrun only rank 0 speaks
(:func:`~bearer_gan.distributed.main_process_only`).
"""
import contextlib
import os
import sys
import time
import warnings
from typing import Iterator, List, NoReturn, Optional

from .. import distributed
from ..checkpoint import CHECKPOINT
from ..callbacks.tensorboard import write_scores
from ..config import RunConfig
from ..evaluation import evaluate_run, score_summary
from ..files import write_json
from ..report.page import write_report
from ..flags import parse_run_flags
from ..recipe import USER_ERRORS, make_batches, prepare_run, train
from ..run_folder import choose_run
from ..safety import NonFiniteLossError

__all__ = ['warn', 'usage_errors', 'clean_exits', 'report', 'main']

@distributed.main_process_only
def warn(text: str):
    """Print a warning on stderr, once per run: under torchrun only rank 0 prints it."""
    print(f'warning: {text}', file=sys.stderr)


@distributed.main_process_only
def _say(text: str, file=None):
    print(text, file=file)  # None: sys.stdout as it is now (a test may have replaced it)


@contextlib.contextmanager
def _warnings_as_lines() -> Iterator[None]:
    """Python warnings printed as one ``warning:`` line (rank 0 only) for the block, then as before."""
    shown = warnings.showwarning
    warnings.showwarning = lambda message, *_, **__: warn(message)
    try:
        yield
    finally:
        warnings.showwarning = shown


def _usage_exit(program: str, error: BaseException) -> NoReturn:
    _say(f'{program}: error: {" ".join(str(error).split())}', file=sys.stderr)
    sys.exit(2)


@contextlib.contextmanager
def usage_errors(program: str) -> Iterator[None]:
    """A user's mistake (:data:`USER_ERRORS`) in the block ends the program with one line and exit code 2; so does
    a rank that could not start because rank 0 could not (rank 0 says why)."""
    try:
        yield
    except USER_ERRORS as error:
        _usage_exit(program, error)
    except distributed.RankFailure:
        sys.exit(2)


@contextlib.contextmanager
def clean_exits(out: str, program: str) -> Iterator[None]:
    """A run that stops on a non-finite loss exits with code 1, one stopped by Ctrl-C or SIGTERM with 130;
    both say where the outputs and the checkpoint are (:func:`bearer_gan.trial.run_gan` has written them).

    Under torchrun every rank stops at the same step and exits with the same code; rank 0 prints the
    message and the others one line each. A lost rank ends the run with code 1 and one line naming it.
    """
    checkpoint_path = os.path.join(out, CHECKPOINT)
    try:
        yield
    except NonFiniteLossError as error:
        last_good = (f'the last good checkpoint is {checkpoint_path}' if os.path.exists(checkpoint_path)
                     else 'no checkpoint was due before it')
        _say(f'{program}: {error}. The GIF and history so far are in {out}; {last_good}. Try a lower --lr.',
             file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt as error:
        if distributed.is_main_process():
            print(f'\nstopped: the outputs so far and a checkpoint are in {out}; continue with '
                  f'{program} --resume {out}', file=sys.stderr)
        else:
            print(f'rank {distributed.rank()}: {str(error) or "stopped"}', file=sys.stderr)
        sys.exit(130)
    except distributed.RankFailure as error:  # no goodbye to the group: a rank is gone
        if error.report:
            print(f'{program}: error: {error}. The last checkpoint is {checkpoint_path}; continue with '
                  f'{program} --resume {out}', file=sys.stderr)
        sys.exit(1)
    except distributed.UnsupportedUnderDDP as error:
        _usage_exit(program, error)


def _resumed_line(invocation, run: str, path: str, step: int, steps: int) -> str:
    how = (f'from {path}' if invocation.resume else
           f'from {path}: it holds this run (the same command); --overwrite starts it over')
    if step >= steps:
        return f'{run} already trained all {steps} steps; nothing to train (--resume {run} --steps N extends it)'
    return f'resuming {run} at step {step} of {steps} {how}'


@distributed.main_process_only
def report(config: RunConfig, history, seconds: float, evaluate: bool = True, quiet: bool = False):
    """Print the summary of a finished run, score its generator into ``eval.json``, and list its outputs
    (``quiet``: the summary and the scores only). Under torchrun rank 0 does; the others have nothing to report."""
    out, metrics = config.out, (history[-1] if history else {})
    step = metrics.get('step', config.steps)
    means = ', '.join(f'{label} = {metrics[name]:.3f}' for name, label in (
        ('running_d_x', 'D(x)'), ('running_d_g_z', 'D(G(z))'), ('running_g_loss', 'g_loss'),
        ('running_d_loss', 'd_loss')) if isinstance(metrics.get(name), (int, float)))
    ended = f'trained to step {step}' if step >= config.steps else f'stopped at step {step} of {config.steps}'
    print(f'{ended} in {seconds:.0f} s on {config.device}' + (f': running {means}' if means else ''))
    if evaluate:
        scores = evaluate_run(out, n=10000, device=config.device)
        write_json(os.path.join(out, 'eval.json'), scores)
        print(score_summary(scores))
        if config.tensorboard:
            write_scores(os.path.join(out, 'tensorboard'), scores, step)
        write_report(out)  # the page again, with the scores
    if quiet:
        return
    for name, what in (('samples', 'sample grids'), ('progress.gif', 'training GIF'), ('real.png', 'real images'),
                       ('losses.png', 'loss plot'), ('history.csv', 'per-step history'),
                       ('generator.pt', 'generator'), ('discriminator.pt', 'discriminator'),
                       ('eval.json', 'scores'), ('eval_history.csv', 'scores in training'),
                       ('generator.best.pt', 'best generator'), ('report.html', 'report page'),
                       ('checkpoint.pt', 'checkpoint'), ('tensorboard', 'TensorBoard logs')):
        if os.path.exists(os.path.join(out, name)):
            print(f'{what:>17}: {os.path.join(out, name)}')


def main(argv: Optional[List[str]] = None, prog: Optional[str] = None):
    """``bearer-gan train [flags]``: exit code 2 on a user's mistake, 1 on a non-finite loss, 130 on Ctrl-C."""
    prog = prog or os.path.basename(sys.argv[0])
    config, invocation = parse_run_flags(argv, prog)
    with _warnings_as_lines():
        with usage_errors(prog):
            config, resumed = choose_run(config, invocation)
        with clean_exits(config.out, prog), distributed.process_group(config.device) as device:
            with usage_errors(prog):
                config, checkpoint, path, data, spec = prepare_run(config, resumed, warn=warn, device=device)
            if checkpoint is not None and not invocation.quiet:
                _say(_resumed_line(invocation, resumed, path, checkpoint['step'], config.steps))
            batches = make_batches(data, config, start_step=checkpoint['step'] if checkpoint else 0)
            began = time.time()
            history = train(config, data, batches, checkpoint, quiet=invocation.quiet, preview=invocation.preview,
                            spec=spec)
        report(config, history, time.time() - began, evaluate=invocation.evaluate, quiet=invocation.quiet)
