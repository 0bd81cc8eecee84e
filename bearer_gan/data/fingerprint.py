"""What a run trained on, recorded so that a resumed run can tell whether its data are the same.

A data set's name does not pin its contents: ``mnist`` is 60,000 digits online and, after the
offline fallback, the 5,000 of ``mnist-5k``; a folder of images can change between two runs.
:func:`data_fingerprint` records the set actually loaded, its number of images and a SHA-256 of
its decoded images and labels (about a tenth of a second for MNIST), and ``config.json`` keeps it.
A folder is not read again for it, in memory or streamed from disk: its digest covers the digest
of each file's path, size and modification time that loading it made for its cache
(:attr:`~bearer_gan.data.base.ImageData.source`) and the shape the files decode to, so a run
made in memory resumes streamed, and the other way round.
"""
import hashlib
from typing import Dict, Optional, Union

import numpy as np
import torch

from .base import ImageData

__all__ = ['data_fingerprint', 'fingerprint_difference']


def _update(digest, tensor: torch.Tensor):
    array = np.ascontiguousarray(tensor.detach().cpu().numpy())
    digest.update(f'{array.dtype.str}{array.shape}'.encode())
    digest.update(memoryview(array).cast('B'))


def data_fingerprint(data: ImageData) -> Dict[str, Union[str, int]]:
    """``{'dataset': name actually loaded, 'images': N, 'sha256': hex digest}`` of a decoded data set.

    The digest covers the images' dtype, shape and bytes, then the labels' (when there are any),
    so two loads of the same files give the same digest on any machine. For a folder it covers
    the files' names, sizes and modification times instead, and the labels.
    """
    digest = hashlib.sha256()
    if data.source is not None:
        digest.update(repr((data.source, tuple(data.images.shape))).encode())
    else:
        _update(digest, data.images)
    if data.labels is not None:
        _update(digest, data.labels)
    return {'dataset': data.name, 'images': int(len(data.images)), 'sha256': digest.hexdigest()}


def fingerprint_difference(recorded: Dict[str, object], loaded: Dict[str, object]) -> Optional[str]:
    """How the data ``loaded`` now differ from those ``recorded`` by a run, in a few words; None when they are the same."""
    if recorded.get('dataset') != loaded.get('dataset'):
        return f"the run trained on {recorded.get('dataset')!r}, this would train on {loaded.get('dataset')!r}"
    if recorded.get('images') != loaded.get('images'):
        return f"the run trained on {recorded.get('images')} images, {loaded.get('images')} were loaded now"
    if recorded.get('sha256') != loaded.get('sha256'):
        return f"the images loaded now differ from the run's (content hash {str(loaded.get('sha256'))[:12]} " \
               f"instead of {str(recorded.get('sha256'))[:12]})"
    return None
