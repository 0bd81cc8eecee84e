"""The compute ceiling of a step: its FLOPs, its matrix products replayed alone, and the rate of one large product."""
import time

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import FlopCounterMode

import bearer_gan

from .machine import synchronize
from .setups import Setup, make_models, plain_step, seeded_image_batches

__all__ = ['MatrixProducts', 'trace_step', 'replay_seconds', 'matmul_flops_per_second']


class MatrixProducts(TorchDispatchMode):
    """Records every matrix product and convolution (forward and backward) that runs inside it.

    Each call is kept as ``(op, arguments)`` with tensors replaced by their shape, strides and
    dtype, so that :func:`replay_seconds` can run the same products, at the same shapes and memory
    layouts (transposed operands included), without anything else around them.
    """

    OPS = {torch.ops.aten.mm.default, torch.ops.aten.addmm.default, torch.ops.aten.bmm.default,
           torch.ops.aten.baddbmm.default, torch.ops.aten.convolution.default,
           torch.ops.aten.convolution_backward.default}

    def __init__(self):
        super().__init__()
        self.calls = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func in self.OPS:
            spec = lambda a: ('tensor', tuple(a.shape), a.stride(), a.dtype) if isinstance(a, torch.Tensor) else a  # noqa: E731
            self.calls.append((func, [spec(a) for a in args], {k: spec(v) for k, v in kwargs.items()}))
        return func(*args, **kwargs)


def trace_step(variant, setup: Setup):
    """``(FLOPs, matrix products)`` of one training step: of the plain loop (c), or of one ``run_gan`` step of bearer_gan (d).

    FLOPs are counted by :class:`~torch.utils.flop_counter.FlopCounterMode` (matmuls and
    convolutions, forward and backward); the products are recorded by :class:`MatrixProducts`.
    """
    _, _, unit_images, unit_labels = setup.data
    batch_size, device, latent_dim = setup.batch_size, setup.device, setup.latent_dim
    generator, discriminator, g_opt, d_opt = make_models(setup.model, latent_dim, device, seed=0,
                                                         image_shape=setup.image_shape)
    counter, products = FlopCounterMode(display=False), MatrixProducts()
    if variant == 'c':
        ones = torch.ones(batch_size, 1, device=device)
        zeros = torch.zeros(batch_size, 1, device=device)
        real = unit_images[:batch_size]
        with counter, products:
            plain_step(generator, discriminator, g_opt, d_opt, real, latent_dim, ones, zeros)
    else:
        trial = bearer_gan.gan_trial(generator, discriminator, g_opt, d_opt, latent_dim, device=device, verbose=0,
                                     precision=setup.precision)
        batches = seeded_image_batches(unit_images, unit_labels, batch_size, seed=0)
        with counter, products:
            bearer_gan.run_gan(trial, batches, 1)
    return counter.get_total_flops(), products.calls


def replay_seconds(calls, device, rounds=5, min_seconds=0.3):
    """Seconds the recorded products take run back to back, alone (best of ``rounds``): one step's matmul time."""
    def build(a):
        if isinstance(a, tuple) and a and a[0] == 'tensor':
            _, shape, stride, dtype = a
            return torch.empty_strided(shape, stride, dtype=dtype, device=device).normal_()
        return a
    runs = [(func, [build(a) for a in args], {k: build(v) for k, v in kwargs.items()}) for func, args, kwargs in calls]

    def run(times):
        synchronize(device)
        start = time.perf_counter()
        for _ in range(times):
            for func, args, kwargs in runs:
                func(*args, **kwargs)
        synchronize(device)
        return time.perf_counter() - start
    once = max(run(1), run(1), 1e-6)
    repeats = max(1, int(min_seconds / once))
    return min(run(repeats) for _ in range(rounds)) / repeats


def matmul_flops_per_second(device, size=2048, rounds=3, min_seconds=0.5, dtype=torch.float32):
    """Best-of-``rounds`` ``size x size @ size x size`` throughput in ``dtype``, in FLOP/s."""
    a = torch.randn(size, size, device=device, dtype=dtype)
    b = torch.randn(size, size, device=device, dtype=dtype)
    torch.mm(a, b)  # warm-up (thread pool, BLAS dispatch)
    synchronize(device)
    start = time.perf_counter()
    torch.mm(a, b)
    synchronize(device)
    once = max(time.perf_counter() - start, 1e-6)
    repeats = max(1, int(min_seconds / once))
    best = 0.0
    for _ in range(rounds):
        synchronize(device)
        start = time.perf_counter()
        for _ in range(repeats):
            torch.mm(a, b)
        synchronize(device)
        best = max(best, 2 * size ** 3 * repeats / (time.perf_counter() - start))
    return best

