"""Started by tests/test_distributed.py under torchrun (2 CPU processes): the checks that need a trial built
in code rather than by the command line. Rank 0 writes what it found as JSON to the path in argv[1].

* A discriminator loss with an R1 gradient penalty (``torch.autograd.grad`` through the plain
  discriminator, a term of the one backward) trains under DDP as it does in one process.
* :func:`bearer_gan.distributed.check_replicas` notices a replica that differs.
* A criterion marked :data:`bearer_gan.distributed.UNSUPPORTED_ATTRIBUTE` is refused.
* :func:`bearer_gan.distributed.check_same` notices ranks that loaded different data.
* :func:`bearer_gan.distributed.one_rank_first` lets rank 0 load first, and releases the others
  when rank 0's load fails.
"""
import json
import sys
import time

import torch
import torch.distributed as dist
import torchbearer

import bearer_gan
from bearer_gan import distributed, keys

STEPS, GLOBAL_BATCH = 8, 64


def r1_discriminator_loss(state):
    """The usual loss plus an R1 penalty on this rank's real images, computed by the plain discriminator."""
    real = state[torchbearer.X].detach().requires_grad_(True)
    gradient, = torch.autograd.grad(state[keys.DISCRIMINATOR](real).sum(), real, create_graph=True)
    return bearer_gan.discriminator_loss(state) + 5.0 * gradient.pow(2).flatten(1).sum(1).mean()


def lazy_penalty(state):
    return bearer_gan.discriminator_loss(state)


lazy_penalty.ddp_unsupported = 'its penalty runs its own backward every 16 steps'


def train(images, criterion, parallel: bool):
    torch.manual_seed(0)
    generator, discriminator = bearer_gan.build_models('mlp256')
    trial = bearer_gan.gan_trial(
        generator, discriminator, bearer_gan.gan_adam(generator.parameters()),
        bearer_gan.gan_adam(discriminator.parameters()), latent_dim=64, discriminator_criterion=criterion,
        device='cpu', verbose=0)
    rank, world_size = (distributed.rank(), distributed.world_size()) if parallel else (0, 1)
    if parallel:
        assert distributed.data_parallel(trial)
    bearer_gan.run_gan(trial, bearer_gan.image_batches(images, None, GLOBAL_BATCH, rank=rank, world_size=world_size),
                       STEPS)
    return generator, discriminator


def max_difference(first, second):
    return max((a - b).abs().max().item() for network_a, network_b in zip(first, second)
               for a, b in zip(network_a.parameters(), network_b.parameters()))


def main(result_path):
    distributed.start('cpu')
    images = bearer_gan.load_mnist('mnist-5k')[0][:512]
    results = {}
    parallel = train(images, r1_discriminator_loss, parallel=True)
    distributed.check_replicas(*parallel)

    with torch.no_grad():  # rank 1's replica drifts (rank 0's stays as trained): the check must say which
        if distributed.rank() == 1:
            next(parallel[1].parameters()).add_(1e-3)
    try:
        distributed.check_replicas(*parallel)
    except distributed.DistributedError as error:
        results['replica_error'] = str(error)

    generator, discriminator = bearer_gan.build_models('mlp256')
    trial = bearer_gan.gan_trial(generator, discriminator, bearer_gan.gan_adam(generator.parameters()),
                                 bearer_gan.gan_adam(discriminator.parameters()), latent_dim=64,
                                 discriminator_criterion=lazy_penalty, device='cpu', verbose=0)
    try:
        distributed.data_parallel(trial)
    except distributed.UnsupportedUnderDDP as error:
        results['refusal'] = str(error)

    try:
        distributed.check_same('data', f'mnist ({60000 - 55000 * distributed.rank()} images)')
    except distributed.UnsupportedUnderDDP as error:
        results['different_data'] = str(error)

    def load():  # rank 0 takes its time, as when it downloads
        began = time.monotonic()
        if distributed.rank() == 0:
            time.sleep(0.5)
        return began, time.monotonic()

    def failing_load():
        if distributed.rank() == 0:
            raise OSError('no network')
        return 'loaded'

    times = [None] * distributed.world_size()
    dist.all_gather_object(times, distributed.one_rank_first(load))  # monotonic clocks of one machine
    results['others_load_after_rank_0'] = all(began >= times[0][1] for began, _ in times[1:])
    try:
        outcome = distributed.one_rank_first(failing_load)
    except (OSError, distributed.RankFailure) as error:
        outcome = f'{type(error).__name__}: {error}'
    outcomes = [None] * distributed.world_size()
    dist.all_gather_object(outcomes, outcome)
    results['failed_first_load'] = outcomes

    if distributed.rank() == 0:
        one_process = train(images, r1_discriminator_loss, parallel=False)
        without_penalty = train(images, bearer_gan.discriminator_loss, parallel=False)
        results['ddp_vs_one_process'] = max_difference(parallel, one_process)
        results['penalty_effect'] = max_difference(one_process, without_penalty)
        with open(result_path, 'w') as handle:
            json.dump(results, handle)
    distributed.stop()


if __name__ == '__main__':
    main(sys.argv[1])
