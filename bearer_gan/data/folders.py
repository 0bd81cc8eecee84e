"""A folder of the user's own images as a data set: read once, cached, or streamed when too large.

:func:`load_folder` finds the images (:mod:`~bearer_gan.data.image_files`), reads their headers
to decide the image shape, decodes every file once (with a progress bar on a terminal, by
worker processes for large folders), skips unreadable ones with one warning, and caches the
result in ``data_dir/folders`` (:mod:`~bearer_gan.data.folder_cache`), so the second start is
quick. Sizes and channels follow these rules:

* ``image_size``: resize the shorter side to it (antialiased) and centre-crop square. Without
  it, images that all have one size keep it; images of different sizes are all brought to the
  smallest shorter side among them, centre-cropped square, so that no image is enlarged (which
  would only blur it) and every image fits one tensor.
* ``channels``: 1 (PIL's ``L``) or 3 (``RGB``, alpha dropped). Without it: 1 when every image is
  stored greyscale, else 3.
"""
import os
import sys
import time
import warnings
from typing import Iterable, List, Optional, Sequence, Tuple

import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset

from .base import DatasetError, ImageData
from .folder_cache import FolderCache
from .image_files import GREY_MODES, FolderImages, FolderListing, list_folder
from .streaming import decode_workers, memory_budget

__all__ = ['load_folder']


class _Checked(Dataset):
    """Each image with whether it decoded (a blank image when not), so one damaged file does not stop a pass."""

    def __init__(self, images: FolderImages, keep: bool):
        self.images, self.keep = images, keep

    def __len__(self):
        return len(self.images)

    def __getitem__(self, index):
        try:
            image = self.images.read(index)
        except DatasetError:
            return torch.zeros(self.images.image_shape if self.keep else (0,), dtype=torch.uint8), False
        return (image if self.keep else torch.zeros(0, dtype=torch.uint8)), True


class _Header(Dataset):
    """``(width, height, stored greyscale)`` of each file, from its header; ``(0, 0, False)`` when unreadable."""

    def __init__(self, root: str, files: Sequence[str]):
        self.root, self.files = root, files

    def __len__(self):
        return len(self.files)

    def __getitem__(self, index):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter('ignore')
                with Image.open(os.path.join(self.root, self.files[index])) as image:
                    return image.size[0], image.size[1], image.mode in GREY_MODES
        except Exception:  # PIL raises many types for damaged files
            return 0, 0, False


class _Progress:
    """A tqdm bar on a terminal; elsewhere one line when a long pass starts and one when it ends."""

    def __init__(self, total: int, what: str, enabled: bool):
        self.total, self.what, self.began = total, what, time.time()
        terminal = enabled and sys.stderr.isatty()
        self.lines = enabled and not terminal and total >= 1000
        self.bar = None
        if terminal:
            from tqdm.auto import tqdm
            self.bar = tqdm(total=total, desc=what, unit='img', leave=False, file=sys.stderr)
        elif self.lines:
            print(f'{what}: {total} images ...', flush=True)

    def update(self, count: int):
        if self.bar is not None:
            self.bar.update(count)

    def close(self):
        if self.bar is not None:
            self.bar.close()
        elif self.lines:
            seconds = time.time() - self.began
            print(f'{self.what}: {self.total} images in {seconds:.1f} s ({self.total / max(seconds, 1e-9):.0f}/s)',
                  flush=True)


def _passes(dataset: Dataset, num_workers: int, what: str, progress: bool) -> Iterable:
    """The items of ``dataset`` in order, in batches of 64, decoded by ``num_workers`` processes (0: here)."""
    loader = DataLoader(dataset, batch_size=64, num_workers=num_workers, collate_fn=None,
                        generator=torch.Generator().manual_seed(0))
    bar = _Progress(len(dataset), what, progress)
    try:
        for batch in loader:
            yield batch
            bar.update(len(batch[0]))
    finally:
        bar.close()


def _plan(listing: FolderListing, image_size: Optional[int], channels: Optional[int], num_workers: int,
          progress: bool) -> dict:
    """Decide the image shape, from every file's header unless ``image_size`` and ``channels`` fix it; keep the
    files whose header is readable (those without one are found by the decoding pass then)."""
    if image_size is not None and channels is not None:
        return dict(files=list(listing.files), labels=None if listing.labels is None else list(listing.labels),
                    classes=None if listing.classes is None else list(listing.classes),
                    shape=[channels, image_size, image_size], image_size=image_size, skipped=[])
    sizes, grey = [], []
    for widths, heights, greys in _passes(_Header(listing.root, listing.files), num_workers,
                                          f'reading {listing.root}', progress):
        sizes += list(zip(widths.tolist(), heights.tolist()))
        grey += greys.tolist()
    readable = [index for index, size in enumerate(sizes) if min(size) > 0]
    distinct = {sizes[index] for index in readable}
    if channels is None:
        channels = 1 if readable and all(grey[index] for index in readable) else 3
    if image_size is None and len(distinct) > 1:
        image_size = min(min(size) for size in distinct)
        if progress:
            print(f'the images in {listing.root} have {len(distinct)} different sizes: each is resized so that its '
                  f'shorter side is {image_size} px (the smallest) and centre-cropped to {image_size} x {image_size}; '
                  'pass --image-size to choose', flush=True)
    if image_size is not None:
        shape = (channels, image_size, image_size)
    else:
        width, height = distinct.pop() if distinct else (0, 0)
        shape = (channels, height, width)
    return dict(files=[listing.files[index] for index in readable],
                labels=None if listing.labels is None else [listing.labels[index] for index in readable],
                classes=None if listing.classes is None else list(listing.classes),
                shape=list(shape), image_size=image_size,
                skipped=[file for index, file in enumerate(listing.files) if min(sizes[index]) == 0])


def _decode(images: FolderImages, keep: bool, num_workers: int, progress: bool
            ) -> Tuple[List[bool], Optional[torch.Tensor]]:
    """Decode every image once: whether each decoded, and (``keep``) the decoded ones in one ``uint8`` tensor.

    The tensor is allocated once, at its final size, and filled in order: loading a folder takes
    the decoded array's memory and not twice that.
    """
    decoded = torch.empty(images.shape, dtype=torch.uint8) if keep else None
    ok, filled = [], 0
    for batch, decodable in _passes(_Checked(images, keep), num_workers, f'decoding {images.root}', progress):
        ok += decodable.tolist()
        if keep:
            good = batch if decodable.all() else batch[decodable]
            decoded[filled:filled + len(good)] = good
            filled += len(good)
    if keep and filled < len(decoded):
        decoded = decoded[:filled].clone()  # only when files were damaged; the view would keep the whole array
    return ok, decoded


def _bytes(count: int) -> str:
    return f'{count / 2 ** 30:.2f} GiB' if count >= 2 ** 30 else f'{count / 2 ** 20:.1f} MiB'


def load_folder(path: str, data_dir: str = './data', image_size: Optional[int] = None,
                channels: Optional[int] = None, memory_limit: Optional[int] = None,
                num_workers: Optional[int] = None, progress: bool = True) -> ImageData:
    """A folder of images as a data set: decoded once into ``uint8`` ``(N, C, H, W)``, or streamed when too large.

    The first load reads every file once and caches the result in ``data_dir/folders``; a later
    load with the same files (same paths, sizes and modification times) and the same
    ``image_size`` and ``channels`` reads the cache. Files that cannot be decoded are skipped with
    one warning that counts and names them. When the decoded images would take more than
    ``memory_limit`` bytes, ``images`` is a :class:`~bearer_gan.data.image_files.FolderImages`,
    which decodes on demand (every file is still checked once, and the result cached, so the set
    and its order are exactly those of an in-memory load).

    Args:
        path: the folder: one sub-folder of images per class, or images directly in it.
        data_dir: where the cache goes (``data_dir/folders``); a cache that cannot be written is a warning.
        image_size: resize the shorter side to this and centre-crop square (see the module's rules when None).
        channels: 1 or 3; None: 1 when every image is stored greyscale, else 3.
        memory_limit: bytes the decoded images may take before they are streamed; None:
            :func:`~bearer_gan.data.streaming.memory_budget` for the CPU.
        num_workers: processes decoding the first pass; None: :func:`~bearer_gan.data.streaming.decode_workers`.
        progress: show a progress bar (on a terminal) or a few lines, and the size chosen for mixed sizes.

    Returns:
        ``labels`` and ``classes`` from the class sub-folders, None for a flat folder; ``name`` is ``path``.

    Raises:
        DatasetError: for a missing path, a file, or a folder without a readable image.
        ValueError: for an image size below 8 or a channel count other than 1 or 3.
    """
    if image_size is not None and image_size < 8:
        raise ValueError(f'image size must be at least 8 pixels, got {image_size}')
    if channels not in (None, 1, 3):
        raise ValueError(f'channels must be 1 or 3, got {channels}')
    listing = list_folder(path)
    workers = decode_workers(len(listing.files)) if num_workers is None else num_workers
    cache = FolderCache(data_dir, listing, image_size, channels)
    plan = cache.read_plan()
    checked = plan is not None
    if not checked:
        plan = _plan(listing, image_size, channels, workers, progress)
    files = FolderImages(path, plan['files'], plan['shape'], plan['image_size'])
    limit = memory_budget() if memory_limit is None else memory_limit
    stream = files.shape.numel() > limit
    images = None if stream or not checked else cache.read_images(files.shape)
    if not checked or (images is None and not stream):
        decodable, images = _decode(files, keep=not stream, num_workers=workers, progress=progress)
        plan = dict(plan, files=[file for file, ok in zip(plan['files'], decodable) if ok],
                    labels=None if plan['labels'] is None else [label for label, ok in zip(plan['labels'], decodable)
                                                                if ok],
                    skipped=plan['skipped'] + [file for file, ok in zip(plan['files'], decodable) if not ok])
        if plan['files']:
            cache.write(plan, images)
    if not plan['files']:
        raise DatasetError(f'none of the {len(plan["skipped"])} image files in {path!r} can be read '
                           f'({", ".join(plan["skipped"][:3])}{", ..." if len(plan["skipped"]) > 3 else ""})')
    if plan['skipped']:
        skipped = plan['skipped']
        warnings.warn(f'skipped {len(skipped)} unreadable image file{"s" if len(skipped) > 1 else ""} in {path!r}: '
                      f'{", ".join(skipped[:5])}{", ..." if len(skipped) > 5 else ""}', stacklevel=2)
    if stream:
        images = FolderImages(path, plan['files'], plan['shape'], plan['image_size'])  # the files left after skipping
        if progress:
            print(f'streaming {path} from disk: its {len(images)} decoded images take {_bytes(images.shape.numel())}, '
                  f'more than the {_bytes(limit)} they may use in memory (--data-memory)', flush=True)
    labels = None if plan['labels'] is None else torch.tensor(plan['labels'], dtype=torch.int64)
    classes = None if plan['classes'] is None else tuple(plan['classes'])
    return ImageData(images, labels, classes, path, source=cache.fingerprint)
