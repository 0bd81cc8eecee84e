"""Image files: which files of a folder are images, in which order, and how one is decoded.

A folder is torchvision's :class:`~torchvision.datasets.ImageFolder` layout (one sub-folder per
class: the sorted sub-folder names are the classes, as torchvision numbers them) or a flat folder
of images (no labels). Every file PIL can decode counts as an image (:data:`IMAGE_EXTENSIONS`).

Every image of a folder goes through :func:`decode_image`, whether it is decoded once into
memory (:func:`~bearer_gan.data.folders.load_folder`) or by
:class:`~torch.utils.data.DataLoader` workers while training
(:mod:`~bearer_gan.data.streaming`), through :class:`FolderImages`: both give the very same
bytes, so a run may switch between them without changing a batch.
"""
import math
import os
import warnings
from dataclasses import dataclass
from typing import Optional, Sequence, Tuple, Union

import torch
from PIL import Image, ImageFile
from torch.utils.data import Dataset
from torchvision.datasets.folder import find_classes, has_file_allowed_extension, make_dataset
from torchvision.transforms.v2.functional import pil_to_tensor

from .base import DatasetError, fit_images
from .datasets import DATASETS

__all__ = ['IMAGE_EXTENSIONS', 'GREY_MODES', 'FolderListing', 'list_folder', 'decode_image', 'FolderImages']


def _readable_extensions() -> Tuple[str, ...]:
    """The file extensions of every format PIL can decode into pixels (not its stubs, video or PostScript)."""
    Image.init()
    formats = {name for name, (factory, _) in Image.OPEN.items()
               if not (isinstance(factory, type) and issubclass(factory, ImageFile.StubImageFile))}
    formats -= {'MPEG', 'EPS'}  # video, and PostScript, which needs Ghostscript
    return tuple(sorted(ext for ext, name in Image.registered_extensions().items() if name in formats))


#: File name endings taken as images (lower case): every format PIL decodes, a superset of torchvision's.
IMAGE_EXTENSIONS = _readable_extensions()

#: PIL modes of images stored with one channel.
GREY_MODES = ('1', 'L', 'LA', 'La', 'I', 'I;16', 'I;16L', 'I;16B', 'I;16N', 'F')


@dataclass(frozen=True)
class FolderListing:
    """The image files of a folder, in torchvision's order, with what identifies their contents.

    Attributes:
        root: the folder.
        files: paths relative to ``root``, sorted as :func:`torchvision.datasets.folder.make_dataset` sorts them.
        labels: the class index of each file, or None for a flat folder.
        classes: the class names (sub-folder names, sorted), or None for a flat folder.
        stamps: ``(size in bytes, modification time in ns)`` of each file.
    """
    root: str
    files: Tuple[str, ...]
    labels: Optional[Tuple[int, ...]]
    classes: Optional[Tuple[str, ...]]
    stamps: Tuple[Tuple[int, int], ...]


def list_folder(path: str) -> FolderListing:
    """The images of a folder: in its class sub-folders (torchvision's ``ImageFolder`` layout) when it has
    sub-folders holding images, else the images directly in it (a flat folder, no labels).

    Sub-folders without an image are not classes, so the classes are exactly torchvision's for
    any folder ``ImageFolder`` accepts.

    Raises:
        DatasetError: for a missing path, a file, or a folder without image files.
    """
    if not os.path.exists(path):
        raise DatasetError(f'{path!r} is neither a data set ({", ".join(DATASETS)}) nor an existing folder of images')
    if not os.path.isdir(path):
        raise DatasetError(f'{path!r} is a file, not a folder of images')
    try:
        names, _ = find_classes(path)
    except FileNotFoundError:  # no sub-folder at all
        names = []
    samples = make_dataset(path, {name: index for index, name in enumerate(names)}, IMAGE_EXTENSIONS,
                           allow_empty=True) if names else []
    if samples:
        used = sorted({label for _, label in samples})  # sub-folders without images are no classes
        renumber = {label: index for index, label in enumerate(used)}
        classes = tuple(names[label] for label in used)
        files = [os.path.relpath(file, path) for file, _ in samples]
        labels = tuple(renumber[label] for _, label in samples)
        top_level = [entry.name for entry in os.scandir(path)
                     if entry.is_file() and has_file_allowed_extension(entry.name, IMAGE_EXTENSIONS)]
        if top_level:
            warnings.warn(f'{path!r} has class sub-folders, so its {len(top_level)} image files outside them '
                          f'(such as {top_level[0]!r}) are not used', stacklevel=3)
    else:
        classes, labels = None, None
        files = sorted(entry.name for entry in os.scandir(path)
                       if entry.is_file() and has_file_allowed_extension(entry.name, IMAGE_EXTENSIONS))
    if not files:
        raise DatasetError(f'{path!r} holds no image files (looked for {", ".join(IMAGE_EXTENSIONS[:12])}, ... '
                           'in it or in one sub-folder per class)')
    stamps = []
    for file in files:
        stat = os.stat(os.path.join(path, file))
        stamps.append((stat.st_size, stat.st_mtime_ns))
    return FolderListing(path, tuple(files), labels, classes, tuple(stamps))


def decode_image(path: str, image_size: Optional[int], channels: int) -> torch.Tensor:
    """One image file as ``uint8`` ``(channels, H, W)``: the one decode path of folders, in memory or streamed.

    Args:
        path: any file PIL reads.
        image_size: resize the shorter side to this (antialiased) and centre-crop square; None keeps the size.
        channels: 1 (PIL's ``L``) or 3 (``RGB``; alpha is dropped).

    Raises:
        whatever PIL raises for a file it cannot read (``OSError`` mostly, but also ``SyntaxError``,
        ``ValueError``, ...).
    """
    mode = 'L' if channels == 1 else 'RGB'
    with warnings.catch_warnings():  # PIL warns per file (palette transparency, huge images): not the user's concern
        warnings.simplefilter('ignore')
        with Image.open(path) as image:
            if image_size is not None and min(image.size) > image_size:
                scale = image_size / min(image.size)  # JPEG: decode at 1/2, 1/4 or 1/8 scale when that is still larger
                image.draft(mode, (math.ceil(image.size[0] * scale), math.ceil(image.size[1] * scale)))
            pixels = pil_to_tensor(image.convert(mode))
    return fit_images(pixels.unsqueeze(0), image_size)[0]


class FolderImages(Dataset):
    """The images of a folder decoded on demand: indexes like a ``uint8`` tensor ``(N, C, H, W)``.

    ``images[i]`` is one image ``(C, H, W)``; a slice, a list or a tensor of indices gives them
    stacked. As a map-style :class:`~torch.utils.data.Dataset` it lets
    :class:`~torch.utils.data.DataLoader` workers decode while training
    (:func:`~bearer_gan.data.streaming.streamed_batches`), through :func:`decode_image`, so every
    image is byte for byte the one an in-memory load holds.

    Args:
        root: the folder.
        files: image paths relative to ``root``, in data set order.
        image_shape: ``(C, H, W)`` every image decodes to.
        image_size: as for :func:`decode_image` (None when the files already have the shape).
    """
    dtype = torch.uint8

    def __init__(self, root: str, files: Sequence[str], image_shape: Sequence[int], image_size: Optional[int]):
        self.root, self.files, self.image_size = root, list(files), image_size
        self.image_shape = tuple(int(size) for size in image_shape)

    @property
    def shape(self) -> torch.Size:
        """``(N, C, H, W)``, as the decoded tensor would have."""
        return torch.Size((len(self.files),) + self.image_shape)

    def __len__(self) -> int:
        return len(self.files)

    def read(self, index: int) -> torch.Tensor:
        """Image ``index``, ``uint8`` ``(C, H, W)``.

        Raises:
            DatasetError: when the file can no longer be read or has changed shape.
        """
        path = os.path.join(self.root, self.files[index])
        try:
            image = decode_image(path, self.image_size, self.image_shape[0])
        except Exception as error:  # PIL raises many types for damaged files
            raise DatasetError(f'cannot read {path} ({type(error).__name__}: {error})') from error
        if tuple(image.shape) != self.image_shape:
            raise DatasetError(f'{path} decodes to {tuple(image.shape)}, not {self.image_shape}: it changed since '
                               'the folder was read')
        return image

    def __getitem__(self, index: Union[int, slice, Sequence[int], torch.Tensor]) -> torch.Tensor:
        if isinstance(index, slice):
            index = range(len(self))[index]
        elif isinstance(index, torch.Tensor) and index.dim() == 0:
            index = int(index)
        if isinstance(index, int):
            return self.read(index if index >= 0 else index + len(self))
        images = [self.read(int(i)) for i in index]
        return torch.stack(images) if images else torch.empty((0,) + self.image_shape, dtype=torch.uint8)
