"""The command line: ``bearer-gan train | sample | evaluate`` (also ``python -m bearer_gan``).

* :mod:`~bearer_gan.cli.parsing`: argument types and one-line errors (exit code 2).
* :mod:`~bearer_gan.cli.args`: the training flags, defined once.
* :mod:`~bearer_gan.cli.config`: ``config.json``'s format, older formats, and what makes two runs the same.
* :mod:`~bearer_gan.cli.run_dir`: a run's output folder, checked, prepared and read back.
* :mod:`~bearer_gan.cli.display`: what a run prints, on a terminal and elsewhere.
* :mod:`~bearer_gan.cli.train`: one training run, step by step.
* :mod:`~bearer_gan.cli.tools`: ``sample`` and ``evaluate``.
* :mod:`~bearer_gan.cli.main`: the ``bearer-gan`` command.
"""
from .parsing import (ArgumentParser, UsageError, existing_dir, fail, positive_float, positive_int, probability,
                      torch_device)
from .run_dir import RUN_OUTPUTS, check_out_dir, prepare_out_dir, read_config, writable_dir

__all__ = ['ArgumentParser', 'UsageError', 'existing_dir', 'fail', 'positive_float', 'positive_int', 'probability',
           'torch_device', 'RUN_OUTPUTS', 'check_out_dir', 'prepare_out_dir', 'read_config', 'writable_dir']
