"""State keys: the contract between bearer_gan's closures, criteria, metrics and callbacks.

torchbearer passes one ``state`` dict through every part of a :class:`torchbearer.Trial`. A GAN
needs more in it than a classifier does, so every extra entry gets a key here, made with
:func:`torchbearer.state_key` (keys are unique strings and can be used as metrics). The
generator is the trial's own model (:data:`torchbearer.MODEL`) and the real images arrive in
:data:`torchbearer.X`, shape ``(B, 1, 28, 28)`` in ``[-1, 1]``.
"""
import torchbearer

__all__ = [
    'DISCRIMINATOR', 'GENERATOR_OPTIMIZER', 'DISCRIMINATOR_OPTIMIZER',
    'GENERATOR_CRITERION', 'DISCRIMINATOR_CRITERION', 'LATENT_DIM', 'REAL_LABEL',
    'NOISE', 'FIXED_NOISE', 'FAKE_IMAGES', 'DISCRIMINATOR_INPUT', 'DISCRIMINATOR_LOGITS',
    'GENERATOR_LOSS', 'DISCRIMINATOR_LOSS', 'D_REAL', 'D_FAKE', 'EMA_GENERATOR', 'STEP', 'NON_FINITE',
    'TRAINING_GENERATOR', 'TRAINING_DISCRIMINATOR', 'BATCH_DRAW', 'END_OF_STEP', 'STOP_REQUESTED', 'STOP_AGREED',
    'NUM_CLASSES', 'FAKE_LABEL_PROBABILITIES', 'WASSERSTEIN_ESTIMATE', 'PENALTIES', 'DUE_PENALTIES',
    'PENALTY_INPUT', 'GRADIENT_PENALTY', 'R1_PENALTY', 'AUGMENT', 'AUGMENT_PROBABILITY',
]

#: The discriminator :class:`torch.nn.Module`; it maps images to one logit each, ``(N, 1)``.
DISCRIMINATOR = torchbearer.state_key('discriminator')
#: The generator's optimizer. The trial's own optimizer is ``None``, so torchbearer only runs the closure.
GENERATOR_OPTIMIZER = torchbearer.state_key('generator_optimizer')
#: The discriminator's optimizer.
DISCRIMINATOR_OPTIMIZER = torchbearer.state_key('discriminator_optimizer')
#: Generator criterion, a function of state returning a scalar loss (see :mod:`bearer_gan.losses`).
GENERATOR_CRITERION = torchbearer.state_key('generator_criterion')
#: Discriminator criterion, a function of state returning a scalar loss.
DISCRIMINATOR_CRITERION = torchbearer.state_key('discriminator_criterion')
#: Size of the generator's latent vector ``z``.
LATENT_DIM = torchbearer.state_key('latent_dim')
#: Target for real images in the ``bce`` discriminator loss: 1.0, or e.g. 0.9 for one-sided label smoothing.
#: Only the ``bce`` loss has one (:class:`~bearer_gan.losses.GANLoss` ``takes_real_label``).
REAL_LABEL = torchbearer.state_key('real_label')
#: Number of classes of a class-conditional run (labels in ``[0, NUM_CLASSES)``); None for an unconditional one.
NUM_CLASSES = torchbearer.state_key('num_classes')
#: How a conditional run draws its generated images' labels: a ``(NUM_CLASSES,)`` float tensor of class
#: probabilities on the batch's device, or None / absent for uniformly. A federated owner that holds only a few
#: classes sets its shard's class frequencies: drawn uniformly, its discriminator would see fakes of classes it
#: has no real images of, learn that those labels mean "fake", and pull the shared networks toward its own classes.
FAKE_LABEL_PROBABILITIES = torchbearer.state_key('fake_label_probabilities')
#: The generator's input of the current step: ``z``, ``(B, latent_dim)`` drawn from N(0, 1), or in a
#: conditional run the tuple ``(z, labels)`` with ``labels`` ``(B,)`` drawn uniformly from the classes (or from
#: :data:`FAKE_LABEL_PROBABILITIES` where state holds them);
#: torchbearer's ``base_closure`` unpacks a tuple into ``G(z, labels)``.
NOISE = torchbearer.state_key('noise')
#: The generator input every sample grid is rendered from, fixed for the whole run: ``z`` or
#: ``(z, labels)`` with one class per grid row.
FIXED_NOISE = torchbearer.state_key('fixed_noise')
#: Generator output of the current step, ``(B, 1, 28, 28)`` in ``[-1, 1]``.
FAKE_IMAGES = torchbearer.state_key('fake_images')
#: Real images followed by (detached) fakes, ``(2B, C, H, W)``: one discriminator forward for both. A
#: penalty that needs inputs of its own (the gradient penalty's interpolates) appends them: ``(3B, C, H, W)``.
#: In a conditional run it is the tuple ``(images, labels)``, unpacked into ``D(images, labels)``.
DISCRIMINATOR_INPUT = torchbearer.state_key('discriminator_input')
#: Discriminator logits for :data:`DISCRIMINATOR_INPUT`, ``(2B, 1)`` (or more rows): real first, then fake,
#: then any penalty's rows (:func:`~bearer_gan.losses.real_and_fake_logits` splits them).
DISCRIMINATOR_LOGITS = torchbearer.state_key('discriminator_logits')
#: Generator loss of the current step (scalar tensor).
GENERATOR_LOSS = torchbearer.state_key('g_loss')
#: Discriminator loss of the current step (scalar tensor), penalties included.
DISCRIMINATOR_LOSS = torchbearer.state_key('d_loss')
#: D(x): the discriminator's mean output on the real batch (detached): a probability in [0, 1] for
#: the ``bce`` loss, the mean raw output for the others (:attr:`~bearer_gan.losses.GANLoss.outputs`).
D_REAL = torchbearer.state_key('d_x')
#: D(G(z)): the discriminator's mean output on the generated batch (detached), as :data:`D_REAL`.
D_FAKE = torchbearer.state_key('d_g_z')
#: The Wasserstein estimate ``mean D(x) - mean D(G(z))`` of a Wasserstein loss (detached).
WASSERSTEIN_ESTIMATE = torchbearer.state_key('wasserstein')
#: The penalties of the trial (:class:`~bearer_gan.penalties.Penalty`), a list, empty for none.
PENALTIES = torchbearer.state_key('penalties')
#: The penalties due at the current discriminator update, each with the rows of
#: :data:`DISCRIMINATOR_INPUT` it differentiates: a list of ``(penalty, slice)``; empty on other updates.
DUE_PENALTIES = torchbearer.state_key('due_penalties')
#: The discriminator's input images with ``requires_grad`` set, on updates where a penalty is due (its
#: gradients are taken with respect to them); None on every other update, where the input needs no gradient.
PENALTY_INPUT = torchbearer.state_key('penalty_input')
#: The gradient penalty ``mean((|grad D(x_hat)|_2 - 1)^2)`` of the last update that computed it, unweighted (detached).
GRADIENT_PENALTY = torchbearer.state_key('gradient_penalty')
#: R1, ``mean(|grad D(x)|_2^2)`` on real images, of the last update that computed it, unweighted (detached).
R1_PENALTY = torchbearer.state_key('r1_penalty')
#: Optional exponential moving average of the generator's weights (a
#: :class:`torch.optim.swa_utils.AveragedModel`); when present, samples are drawn from it.
EMA_GENERATOR = torchbearer.state_key('ema_generator')
#: Updates completed in the whole run, across epochs and resumes; the main closure counts them.
STEP = torchbearer.state_key('step')
#: Set when a loss stops being finite: ``(step, loss name, value)``; training then stops cleanly.
NON_FINITE = torchbearer.state_key('non_finite')
#: What the generator step calls to generate: the generator itself (:data:`torchbearer.MODEL`), or under
#: DistributedDataParallel a wrapper that calls the DDP module without torchbearer's ``state`` keyword.
#: :data:`torchbearer.MODEL` stays the plain generator, for the moving average, sampling, saving and checkpoints.
TRAINING_GENERATOR = torchbearer.state_key('training_generator')
#: What the discriminator step calls on :data:`DISCRIMINATOR_INPUT`: the discriminator, or its DDP wrapper.
#: The generator step always scores through the plain, frozen :data:`DISCRIMINATOR`.
TRAINING_DISCRIMINATOR = torchbearer.state_key('training_discriminator')
#: Under DDP, how to draw random numbers per image (the noise, a conditional run's labels, a penalty's interpolation
#: weights): ``draw(sample, rows, *shape, device=, dtype=)`` calls ``sample`` (``torch.randn``, ``torch.rand``, a
#: ``torch.randint`` of the classes) for the whole global batch and returns this process's ``rows``
#: (:func:`bearer_gan.distributed.global_draws`), so every process's random state stays the one-process run's.
#: Absent with one process, where ``sample(rows, *shape, ...)`` is called directly.
BATCH_DRAW = torchbearer.state_key('batch_draw')
#: Optional function of state run at the end of every step, after the updates and before the metrics and
#: callbacks read the step's values: under DDP, the one all-reduce of losses, D outputs and stop flag.
END_OF_STEP = torchbearer.state_key('end_of_step')
#: The run's stop request, a :class:`threading.Event` set on SIGINT / SIGTERM
#: (:attr:`bearer_gan.safety.TrainingGuard.stop_requested`).
STOP_REQUESTED = torchbearer.state_key('stop_requested')
#: Whether the ranks agreed, in this step's all-reduce, to stop after it (any rank asked); only under DDP.
STOP_AGREED = torchbearer.state_key('stop_agreed')
#: How the discriminator's inputs are augmented, real and fake, in both networks' steps: a
#: :class:`bearer_gan.augment.Policy` (called as ``policy(images, draw)``), or absent / None for none.
AUGMENT = torchbearer.state_key('augment')
#: ADA's augmentation probability ``p``, a float tensor set at every step by
#: :class:`bearer_gan.callbacks.AdaptiveAugment` (a column of ``history.csv``).
AUGMENT_PROBABILITY = torchbearer.state_key('augment_p')
