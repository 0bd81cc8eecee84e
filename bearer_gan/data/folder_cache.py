"""The cache of a decoded folder in ``data_dir/folders``: a changed file or other settings rebuild it.

Decoding a folder reads every file; the cache makes the second start take seconds. A cache is
found by a name made of two hashes:

* the folder (its real path) with the requested ``image_size`` and ``channels``: another size
  or channel count is another cache, and both stay;
* every file's relative path, size in bytes and modification time (ns): a file changed, added
  or removed gives another name, and the stale cache of that folder and those settings is
  deleted when the new one is written. Sizes and times are what ``make`` and ``rsync`` compare:
  listing them costs one ``stat`` per file, where a content hash would read the whole folder at
  every start. A file rewritten with the same size *and* its old modification time restored
  is not noticed: delete the cache (or touch the file) after such a copy.

Each cache is two files written atomically (:func:`bearer_gan.files.atomic_path`): ``<name>.pt``,
the plan (the files kept, their labels, the classes, the image shape, the files skipped), and
``<name>.images.pt``, the ``uint8`` images, absent when the set is streamed. Both are read with
``torch.load(weights_only=True)``. A cache that cannot be written (a read-only ``data_dir``) or
read is a warning, and the folder is decoded again.
"""
import hashlib
import os
import re
import warnings
from typing import Optional

import torch

from ..files import atomic_path

__all__ = ['CACHE_VERSION', 'FolderCache']

#: Part of every cache name: raised when what a cache holds, or how images are decoded, changes.
CACHE_VERSION = 1


def _digest(*parts) -> str:
    return hashlib.sha256(repr(parts).encode()).hexdigest()


class FolderCache:
    """Where the decoded images of one folder, with one ``image_size`` and ``channels``, are cached.

    Args:
        data_dir: the cache goes into ``data_dir/folders``.
        listing: the folder's files (:class:`~bearer_gan.data.image_files.FolderListing`).
        image_size: the requested size, None included (the cache is of the request, not of its outcome).
        channels: the requested channels, None included.
    """

    def __init__(self, data_dir: str, listing, image_size: Optional[int], channels: Optional[int]):
        self.folder = os.path.join(data_dir, 'folders')
        name = re.sub(r'[^\w.-]+', '_', os.path.basename(os.path.normpath(os.path.realpath(listing.root)))) or 'folder'
        self.prefix = f'{name}-{_digest(CACHE_VERSION, os.path.realpath(listing.root), image_size, channels)[:12]}-'
        self.fingerprint = _digest(listing.files, listing.labels, listing.classes, listing.stamps)
        stem = os.path.join(self.folder, self.prefix + self.fingerprint[:16])
        self.plan_path, self.images_path = stem + '.pt', stem + '.images.pt'

    def read_plan(self) -> Optional[dict]:
        """The cached plan of this folder as it is now, or None (no cache, a stale one, or an unreadable one)."""
        if not os.path.exists(self.plan_path):
            return None
        try:
            plan = torch.load(self.plan_path, weights_only=True)
            if plan['fingerprint'] == self.fingerprint:
                return plan
        except Exception as error:  # a damaged file: torch.load raises many types
            warnings.warn(f'ignoring the unreadable cache {self.plan_path} ({type(error).__name__}); decoding the '
                          'folder again', stacklevel=3)
        return None

    def read_images(self, shape: torch.Size) -> Optional[torch.Tensor]:
        """The cached ``uint8`` images if there are any of ``shape``, else None."""
        if not os.path.exists(self.images_path):
            return None
        try:
            images = torch.load(self.images_path, weights_only=True)
            if images.dtype == torch.uint8 and images.shape == shape:
                return images
        except Exception as error:  # a damaged file: torch.load raises many types
            warnings.warn(f'ignoring the unreadable cache {self.images_path} ({type(error).__name__}); decoding '
                          'the folder again', stacklevel=3)
        return None

    def write(self, plan: dict, images: Optional[torch.Tensor] = None):
        """Cache ``plan`` and (when not streamed) ``images``, then delete this folder's stale caches.

        The images are written first: a plan on disk means its images are complete, or absent.
        """
        try:
            os.makedirs(self.folder, exist_ok=True)
            if images is not None:
                with atomic_path(self.images_path) as temporary:
                    torch.save(images, temporary)
            with atomic_path(self.plan_path) as temporary:
                torch.save(dict(plan, fingerprint=self.fingerprint), temporary)
        except OSError as error:
            warnings.warn(f'cannot cache the decoded images in {self.folder!r} ({error.strerror or error}); the next '
                          'run decodes the folder again', stacklevel=3)
            return
        current = {os.path.basename(self.plan_path), os.path.basename(self.images_path)}
        for name in os.listdir(self.folder):
            if name.startswith(self.prefix) and name not in current:
                try:
                    os.remove(os.path.join(self.folder, name))
                except OSError:
                    pass  # another process took it, or it is read-only: it is only stale
