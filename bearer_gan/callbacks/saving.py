"""The trained networks as files: written at the end of a run, rebuilt by ``sample`` and ``evaluate``."""
import os

import torch
from torchbearer.callbacks import Callback

from .. import keys
from ..files import atomic_path
from ..models import build_models
from ..sampling import sampling_generator

__all__ = ['SaveModels', 'load_generator']


class SaveModels(Callback):
    """Save the generator and the discriminator at the end of the run (and on Ctrl-C).

    ``generator.pt`` holds the generator that samples are drawn from (the moving average when
    :class:`GeneratorEMA` keeps one). Each file is a dict of plain values and tensors (loadable with ``torch.load(weights_only=True)``):
    ``{'model': name, 'latent_dim': int, 'state_dict': ...}``, so that
    ``python -m bearer_gan sample`` can rebuild the network by name.

    State Requirements:
        - reads :data:`torchbearer.MODEL` or :data:`~bearer_gan.keys.EMA_GENERATOR`, :data:`~bearer_gan.keys.DISCRIMINATOR`,
          :data:`~bearer_gan.keys.LATENT_DIM`
    """

    def __init__(self, out_dir: str, model_name: str):
        self.out_dir, self.model_name = out_dir, model_name

    def on_end(self, state):
        if keys.NON_FINITE in state:  # keep the networks of the last good checkpoint, not NaN weights
            return
        for filename, network in (('generator.pt', sampling_generator(state)),
                                  ('discriminator.pt', state[keys.DISCRIMINATOR])):
            with atomic_path(os.path.join(self.out_dir, filename)) as temporary:
                torch.save({'model': self.model_name, 'latent_dim': state[keys.LATENT_DIM],
                            'state_dict': network.state_dict()}, temporary)


def load_generator(run_dir: str, device: str = 'cpu'):
    """Rebuild the generator that :class:`SaveModels` wrote into ``run_dir``, in eval mode.

    Returns:
        ``(generator, latent_dim, model_name)``

    Raises:
        FileNotFoundError: when ``run_dir`` holds no ``generator.pt``.
        ValueError: when the file is truncated, corrupt or not a bearer_gan generator (the message names it).
    """
    path = os.path.join(run_dir, 'generator.pt')
    if not os.path.isfile(path):
        raise FileNotFoundError(f'{run_dir!r} holds no generator.pt; train one with examples/gan.py --out {run_dir}')
    try:
        saved = torch.load(path, map_location=device, weights_only=True)  # a dict of str, int and tensors only
        generator = build_models(saved['model'], saved['latent_dim'])[0]
        generator.load_state_dict(saved['state_dict'])
    except Exception as error:  # truncated, garbage or foreign: name the file rather than show a traceback
        raise ValueError(f'cannot load {path!r}: {type(error).__name__}: {error}') from error
    return generator.to(device).eval(), saved['latent_dim'], saved['model']
