"""Started by tests/test_distributed.py under torchrun (2 CPU processes): the checks that need a trial built
in code rather than by the command line. Rank 0 writes what it found as JSON to the path in argv[1].

* Plain SGD trains under DDP as it does in one process. Adam would hide gradients that the ranks
  summed instead of averaging (it ignores a constant scale); SGD's step is proportional to the
  gradient, so a sum over the 2 ranks would be a step of twice the learning rate.
* Lazy R1 (``r1_gamma``, ``r1_interval``: the penalty's rows go through the discriminator's DDP
  wrapper, and its ``torch.autograd.grad`` term joins the one backward every other step) trains
  under DDP as it does in one process.
* So does a class-conditional WGAN-GP run: labels and interpolation weights are drawn per image,
  for the global batch (:data:`bearer_gan.keys.BATCH_DRAW`), as the noise is.
* :func:`bearer_gan.distributed.check_replicas` notices a replica that differs.
* A criterion marked :data:`bearer_gan.distributed.UNSUPPORTED_ATTRIBUTE` is refused.
* :func:`bearer_gan.distributed.check_same` notices ranks that loaded different data.
* :func:`bearer_gan.distributed.one_rank_first` lets rank 0 load first, and releases the others
  when rank 0's load fails.
* :func:`bearer_gan.distributed.process_group` joins the group around all of it, and leaves it.
"""
import json
import sys
import time

import torch
import torch.distributed as dist

import bearer_gan
from bearer_gan import distributed

STEPS, GLOBAL_BATCH = 8, 64
SGD_LR = 0.01


def lazy_penalty(state):
    return bearer_gan.discriminator_loss(state)


lazy_penalty.ddp_unsupported = 'its penalty runs its own backward every 16 steps'


R1 = dict(r1_gamma=10.0, r1_interval=2)
CONDITIONAL_WGAN_GP = dict(loss='wgan-gp', num_classes=10)


def train(images, labels, parallel: bool, sgd_lr: float = None, **options):
    """``STEPS`` steps of ``mlp256`` at the global batch ``GLOBAL_BATCH``, with Adam, or plain SGD at ``sgd_lr``;
    ``options`` go to :func:`bearer_gan.gan_trial`."""
    torch.manual_seed(0)
    generator, discriminator = bearer_gan.build_models('mlp256', num_classes=options.get('num_classes'))
    optimizer = bearer_gan.gan_adam if sgd_lr is None else lambda parameters: torch.optim.SGD(parameters, lr=sgd_lr)
    trial = bearer_gan.gan_trial(
        generator, discriminator, optimizer(generator.parameters()), optimizer(discriminator.parameters()),
        latent_dim=64, device='cpu', verbose=0, **options)
    rank, world_size = (distributed.rank(), distributed.world_size()) if parallel else (0, 1)
    if parallel:
        assert distributed.data_parallel(trial)
    bearer_gan.run_gan(trial, bearer_gan.image_batches(images, labels, GLOBAL_BATCH, rank=rank, world_size=world_size),
                       STEPS)
    return generator, discriminator


def max_difference(first, second):
    return max((a - b).abs().max().item() for network_a, network_b in zip(first, second)
               for a, b in zip(network_a.parameters(), network_b.parameters()))


def main(result_path):
    with distributed.process_group('cpu'):  # joins torchrun's group, and leaves it however the checks end
        checks(result_path)


def checks(result_path):
    images, labels = bearer_gan.load_mnist('mnist-5k')[:2]
    chosen = torch.randperm(len(images), generator=torch.Generator().manual_seed(0))[:512]  # the set is sorted by class
    images, labels = images[chosen], labels[chosen]
    results = {}
    sgd = train(images, None, parallel=True, sgd_lr=SGD_LR)
    distributed.check_replicas(*sgd)
    conditional = train(images, labels, parallel=True, **CONDITIONAL_WGAN_GP)
    distributed.check_replicas(*conditional)
    parallel = train(images, None, parallel=True, **R1)
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
        one_process = train(images, None, parallel=False, **R1)
        without_penalty = train(images, None, parallel=False)
        results['ddp_vs_one_process'] = max_difference(parallel, one_process)
        sgd_one_process = train(images, None, parallel=False, sgd_lr=SGD_LR)
        results['sgd_ddp_vs_one_process'] = max_difference(sgd, sgd_one_process)
        # what gradients summed over the 2 ranks would have trained: SGD at twice the rate
        results['sgd_summed_effect'] = max_difference(sgd_one_process,
                                                      train(images, None, parallel=False, sgd_lr=2 * SGD_LR))
        results['penalty_effect'] = max_difference(one_process, without_penalty)
        results['conditional_wgan_gp_ddp_vs_one_process'] = max_difference(
            conditional, train(images, labels, parallel=False, **CONDITIONAL_WGAN_GP))
        with open(result_path, 'w') as handle:
            json.dump(results, handle)


if __name__ == '__main__':
    main(sys.argv[1])
