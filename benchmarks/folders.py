"""How fast a folder of images loads, and how much memory a CIFAR-sized set takes while training.

Two measurements, printed (``python benchmarks/folders.py --help``):

* **Folder loading**, in images per second: :func:`bearer_gan.load_folder`'s first decode (a
  fresh ``--data-dir``) and its cached start, against one epoch of torchvision's
  :class:`~torchvision.datasets.ImageFolder` through a :class:`~torch.utils.data.DataLoader`
  with as many workers and the same transforms (``PILToTensor``, ``Resize`` of the shorter side,
  antialiased, ``CenterCrop``), in wall-clock time and in CPU time (this process and its
  workers: the fairer number on a busy machine). The folder is made here (``--images`` RGB JPEGs of ``--size``
  pixels, in ten class folders) unless ``--folder`` names one. Files are read from the
  operating system's cache in every case (they were just written, or read by the run before).
* **Peak memory** of loading a CIFAR-sized set (``--memory-images`` x 3 x 32 x 32 ``uint8``) and
  training a few steps of a small MLP pair on it, each case in a fresh process: the set by name
  (``cifar10``, from batch files in CIFAR-10's format), as a folder of PNGs decoded for the
  first time, from the folder's cache, and streamed. The peak resident memory (``VmHWM``) of a
  process training the same way on 256 images is subtracted, which removes the interpreter,
  the libraries and the models; what remains is divided by the size of the ``uint8`` array.
  The target is at most 1.5.

``--out FILE`` also writes the printed report, with the command and the load average at the
start and at the end, to ``FILE``.
"""
import argparse
import json
import os
import pickle
import platform
import shlex
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch
from PIL import Image

import bearer_gan
from gan_bench.machine import load_average, machine_name
from gan_bench.provenance import commit

MEMORY_CASES = ('baseline', 'cifar10', 'folder-first', 'folder-cached', 'folder-streamed')


# --- folder loading -----------------------------------------------------------------------------------------------

def write_folder(root: str, count: int, size: int, extension: str = 'jpg', seed: int = 0):
    """``count`` RGB images of ``size`` px in ten class folders: smooth colour fields with noise, like photos."""
    rng = np.random.default_rng(seed)
    grid = np.linspace(0, 1, size, dtype=np.float32)
    for index in range(count):
        folder = os.path.join(root, f'class{index % 10}')
        os.makedirs(folder, exist_ok=True)
        colours = rng.uniform(0, 255, (2, 2, 3)).astype(np.float32)
        field = (colours[0, 0] * (1 - grid)[:, None, None] * (1 - grid)[None, :, None]
                 + colours[0, 1] * (1 - grid)[:, None, None] * grid[None, :, None]
                 + colours[1, 0] * grid[:, None, None] * (1 - grid)[None, :, None]
                 + colours[1, 1] * grid[:, None, None] * grid[None, :, None])
        pixels = np.clip(field + rng.normal(0, 12, field.shape), 0, 255).astype(np.uint8)
        Image.fromarray(pixels).save(os.path.join(folder, f'{index:06d}.{extension}'), quality=90)


def cpu_seconds() -> float:
    """CPU time of this process and of its finished children (the loaders' worker processes)."""
    import resource
    return sum(usage.ru_utime + usage.ru_stime for usage in (resource.getrusage(resource.RUSAGE_SELF),
                                                            resource.getrusage(resource.RUSAGE_CHILDREN)))


def torchvision_epoch(root: str, image_size, workers: int) -> int:
    """One epoch of ``ImageFolder`` through a ``DataLoader``: the images it yielded."""
    from torch.utils.data import DataLoader
    from torchvision import transforms
    from torchvision.datasets import ImageFolder
    steps = [transforms.PILToTensor()]
    if image_size is not None:
        steps += [transforms.Resize(image_size, antialias=True), transforms.CenterCrop(image_size)]
    loader = DataLoader(ImageFolder(root, transform=transforms.Compose(steps)), batch_size=64, num_workers=workers)
    return sum(len(images) for images, _ in loader)


def loading(args, emit=print):
    with tempfile.TemporaryDirectory() as scratch:
        root = args.folder
        if root is None:
            root = os.path.join(scratch, 'images')
            began = time.perf_counter()
            write_folder(root, args.images, args.size)
            emit(f'wrote {args.images} RGB {args.size} x {args.size} JPEGs in {time.perf_counter() - began:.1f} s')
        rows = []
        began, cpu = time.perf_counter(), cpu_seconds()
        count = torchvision_epoch(root, args.image_size, args.workers)
        rows.append(('ImageFolder + DataLoader, one epoch', count, time.perf_counter() - began, cpu_seconds() - cpu))
        for what, channels, cache in (('load_folder, first decode', None, 'data'),
                                      ('load_folder, cached start', None, 'data'),
                                      ('load_folder, first decode, channels=3', 3, 'data3'),
                                      ('load_folder, cached start, channels=3', 3, 'data3')):
            began, cpu = time.perf_counter(), cpu_seconds()  # channels=3: no pass over the headers
            data = bearer_gan.load_folder(root, os.path.join(scratch, cache), image_size=args.image_size,
                                          channels=channels, num_workers=args.workers, progress=False,
                                          memory_limit=2 ** 40)
            rows.append((what, len(data), time.perf_counter() - began, cpu_seconds() - cpu))
        emit('')
        emit(f'folder loading: {root}, image size {args.image_size or "as stored"}, {args.workers} workers, '
              f'{torch.get_num_threads()} torch threads')
        emit(f'  {"":<40} {"images":>7} {"wall s":>8} {"images/s":>9} {"CPU s":>7} {"images/CPU s":>13}')
        for what, count, seconds, cpu in rows:
            emit(f'  {what:<40} {count:>7} {seconds:8.2f} {count / seconds:9.0f} {cpu:7.2f} {count / cpu:13.0f}')


# --- peak memory --------------------------------------------------------------------------------------------------

def peak_rss() -> int:
    """Bytes: the highest resident memory of this process so far (Linux's ``VmHWM``)."""
    with open('/proc/self/status') as handle:
        for line in handle:
            if line.startswith('VmHWM:'):
                return int(line.split()[1]) * 1024
    raise RuntimeError('no VmHWM in /proc/self/status (Linux only)')


def small_pair(image_shape):
    """An MLP generator / discriminator pair for ``image_shape``, small, so that the data dominates memory."""
    size = int(np.prod(image_shape))
    generator = torch.nn.Sequential(torch.nn.Linear(32, 128), torch.nn.ReLU(), torch.nn.Linear(128, size),
                                    torch.nn.Tanh(), torch.nn.Unflatten(1, image_shape))
    discriminator = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(size, 128), torch.nn.LeakyReLU(0.2),
                                        torch.nn.Linear(128, 1))
    return generator, discriminator


def train_steps(data, steps: int = 20, batch_size: int = 64):
    torch.manual_seed(0)
    generator, discriminator = small_pair(data.image_shape)
    trial = bearer_gan.gan_trial(generator, discriminator, torch.optim.Adam(generator.parameters()),
                                 torch.optim.Adam(discriminator.parameters()), latent_dim=32, device='cpu', verbose=0)
    bearer_gan.run_gan(trial, bearer_gan.dataset_batches(data, batch_size, 'cpu', num_workers=1), steps)


def memory_case(case: str, scratch: str):
    """Run in a fresh process: load one way, train a few steps, print the peak resident memory as JSON."""
    began = time.perf_counter()
    if case == 'baseline':
        images = torch.randint(0, 256, (256, 3, 32, 32), dtype=torch.uint8)
        data = bearer_gan.ImageData(images, torch.zeros(256, dtype=torch.int64), None, 'random')
    elif case == 'cifar10':
        data = bearer_gan.load_dataset('cifar10', scratch)
    else:
        limit = 0 if case == 'folder-streamed' else 2 ** 40
        data = bearer_gan.load_folder(os.path.join(scratch, 'folder'), os.path.join(scratch, 'data'),
                                      memory_limit=limit, progress=False)
    loaded = time.perf_counter() - began
    after_load = peak_rss()
    train_steps(data)
    print(json.dumps(dict(case=case, images=len(data), load_seconds=loaded, peak_after_load=after_load,
                          peak=peak_rss())))


def write_cifar_batches(scratch: str, count: int, seed: int = 0):
    """``count`` random images in CIFAR-10's five pickled batch files, as its tarball unpacks them."""
    folder = os.path.join(scratch, 'cifar-10-batches-py')
    os.makedirs(folder)
    rng = np.random.default_rng(seed)
    for number, part in enumerate(np.array_split(np.arange(count), 5), 1):
        batch = {'data': rng.integers(0, 256, (len(part), 3072), dtype=np.uint8),
                 'labels': [int(label) for label in rng.integers(0, 10, len(part))]}
        with open(os.path.join(folder, f'data_batch_{number}'), 'wb') as handle:
            pickle.dump(batch, handle)


def write_png_folder(root: str, count: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    for index in range(count):
        folder = os.path.join(root, f'class{index % 10}')
        os.makedirs(folder, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(os.path.join(folder, f'{index}.png'))


def memory(args, emit=print):
    array_bytes = args.memory_images * 3 * 32 * 32
    with tempfile.TemporaryDirectory() as scratch:
        began = time.perf_counter()
        write_cifar_batches(scratch, args.memory_images)
        write_png_folder(os.path.join(scratch, 'folder'), args.memory_images)
        emit('')
        emit(f'wrote {args.memory_images} images as CIFAR-10 batches and as PNGs in '
              f'{time.perf_counter() - began:.0f} s')
        results = {}
        for case in MEMORY_CASES:
            output = subprocess.run([sys.executable, __file__, '--memory-case', case, '--scratch', scratch],
                                    check=True, capture_output=True, text=True, timeout=1800).stdout
            results[case] = json.loads(output.strip().splitlines()[-1])
    baseline = results['baseline']['peak']
    emit(f'peak memory, {args.memory_images} x 3 x 32 x 32 uint8 = {array_bytes / 2 ** 20:.1f} MiB, 20 training steps '
          f'of a small MLP pair; baseline (256 images): {baseline / 2 ** 20:.0f} MiB')
    for case in MEMORY_CASES[1:]:
        result = results[case]
        ratio = (result['peak'] - baseline) / array_bytes
        emit(f'  {case:<16} load {result["load_seconds"]:6.1f} s   peak {result["peak"] / 2 ** 20:7.0f} MiB   '
              f'over baseline {(result["peak"] - baseline) / 2 ** 20:6.0f} MiB = {ratio:4.2f} x the array '
              f'({"within" if ratio <= 1.5 else "over"} the 1.5 x target)')


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--folder', help='a folder of images to load (default: one written here)')
    parser.add_argument('--images', type=int, default=5000, help='images in the folder written here')
    parser.add_argument('--size', type=int, default=64, help='side of the images written here')
    parser.add_argument('--image-size', type=int, default=32, help='size to load them at (0: as stored)')
    parser.add_argument('--workers', type=int, default=2, help='decoding processes, for both loaders')
    parser.add_argument('--memory-images', type=int, default=50000, help='images of the CIFAR-sized set')
    parser.add_argument('--skip', choices=('loading', 'memory'), action='append', default=[])
    parser.add_argument('--out', default=None, help='also write the printed report to this text file')
    parser.add_argument('--memory-case', choices=MEMORY_CASES, help=argparse.SUPPRESS)
    parser.add_argument('--scratch', help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.memory_case:
        return memory_case(args.memory_case, args.scratch)
    args.image_size = args.image_size or None
    report = []

    def emit(line=''):
        print(line, flush=True)
        report.append(line)

    emit('command: ' + shlex.join([sys.executable] + sys.argv))
    emit(f'commit: {commit()}')
    emit(f'machine: {machine_name("cpu")}; torch {torch.__version__}, python {platform.python_version()}')
    emit(f'load average at start: {load_average()} (other work on the machine slows the wall-clock rates; '
         'the CPU-time rates are the fairer comparison on a busy machine)')
    if 'loading' not in args.skip:
        loading(args, emit)
    if 'memory' not in args.skip:
        memory(args, emit)
    emit('')
    emit(f'load average at end: {load_average()}')
    if args.out:
        with open(args.out, 'w') as out:
            out.write('\n'.join(report) + '\n')


if __name__ == '__main__':
    main()
