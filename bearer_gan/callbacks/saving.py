"""The trained networks as files: written at the end of a run, rebuilt by ``sample`` and ``evaluate``."""
import os
from typing import Any, Dict, Mapping, Tuple, Union

import torch
from torchbearer.callbacks import Callback

from .. import keys
from ..files import atomic_path
from ..models import build_from_spec, read_model_spec
from ..sampling import sampling_generator

__all__ = ['SaveModels', 'save_network', 'GeneratorFileError', 'load_generator']


def save_network(path: str, spec: Mapping[str, Any], network: torch.nn.Module) -> None:
    """Write ``network`` with its pair's model ``spec`` to ``path`` atomically, as :func:`load_generator` reads it."""
    with atomic_path(path) as temporary:
        torch.save({**spec, 'state_dict': network.state_dict()}, temporary)


class SaveModels(Callback):
    """Save the generator and the discriminator at the end of the run (and on Ctrl-C).

    ``generator.pt`` holds the generator that samples are drawn from (the moving average when
    :class:`GeneratorEMA` keeps one). Each file is a dict of plain values and tensors, loadable
    with ``torch.load(weights_only=True)``: the pair's model spec
    (:func:`~bearer_gan.models.model_spec`: name, latent size, image shape, classes, spectral
    norm) and the ``state_dict``, so that :func:`load_generator` (``bearer-gan sample`` and
    ``evaluate``) rebuilds the network without flags.

    Args:
        out_dir: the run's folder.
        model: the model spec, or just the pair's name for its defaults at 1 x 28 x 28.

    State Requirements:
        - reads :data:`torchbearer.MODEL` or :data:`~bearer_gan.keys.EMA_GENERATOR`, :data:`~bearer_gan.keys.DISCRIMINATOR`,
          :data:`~bearer_gan.keys.LATENT_DIM`
    """

    def __init__(self, out_dir: str, model: Union[str, Mapping[str, Any]]):
        self.out_dir = out_dir
        self.spec = read_model_spec({'model': model} if isinstance(model, str) else model)

    def on_end(self, state):
        if keys.NON_FINITE in state:  # keep the networks of the last good checkpoint, not NaN weights
            return
        spec = dict(self.spec, latent_dim=state[keys.LATENT_DIM])
        for filename, network in (('generator.pt', sampling_generator(state)),
                                  ('discriminator.pt', state[keys.DISCRIMINATOR])):
            save_network(os.path.join(self.out_dir, filename), spec, network)


class GeneratorFileError(ValueError):
    """A ``generator.pt`` that is truncated, corrupt or not a bearer_gan generator (the message names it)."""


def load_generator(run_dir: str, device: str = 'cpu',
                   filename: str = 'generator.pt') -> Tuple[torch.nn.Module, Dict[str, Any]]:
    """Rebuild the generator that :class:`SaveModels` wrote into ``run_dir``, in eval mode, on ``device``
    (``filename='generator.best.pt'``: the one ``--eval-interval`` kept at the best FID).

    Returns:
        ``(generator, spec)``: the network and its model spec (``spec['latent_dim']``,
        ``spec['image_shape']``, ``spec['num_classes']``, ...). Files written before specs
        existed rebuild as the 1 x 28 x 28 networks they were.

    Raises:
        FileNotFoundError: when ``run_dir`` holds no ``generator.pt``.
        GeneratorFileError: (a :class:`ValueError`) when the file is truncated, corrupt or not a
            bearer_gan generator (the message names it). Other errors are bugs and propagate.
    """
    path = os.path.join(run_dir, filename)
    if not os.path.isfile(path):
        raise FileNotFoundError(f'{run_dir!r} holds no {filename}; train one with bearer-gan train --out {run_dir}')
    try:
        saved = torch.load(path, map_location=device, weights_only=True)  # a dict of str, int, lists and tensors
    except Exception as error:  # truncated or garbage: whatever torch.load raises says only that
        raise GeneratorFileError(f'cannot load {path!r}: {type(error).__name__}: {error}') from error
    try:
        spec = read_model_spec(saved)
        generator = build_from_spec(spec)[0]
        generator.load_state_dict(saved['state_dict'])
    except (ValueError, KeyError, RuntimeError) as error:  # no spec, a spec no model has, weights that do not fit
        raise GeneratorFileError(f'cannot load {path!r}: {type(error).__name__}: {error}') from error
    return generator.to(device).eval(), spec
