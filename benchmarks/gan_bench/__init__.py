"""The parts of ``benchmarks/throughput.py`` (and of ``benchmarks/fashion_budget.py``), one idea per module.

* :mod:`.setups`: the data loaders, models, closures and metrics each variant trains with.
* :mod:`.variants`: the five variants (a)-(e), timed step by step, and their interleaved repetitions.
* :mod:`.machine`: the machine's name and load, device synchronisation, peak memory.
* :mod:`.ceiling`: the FLOPs of one step, its matrix products replayed alone, a large product's rate.
* :mod:`.profiling`: variant (d) under :mod:`torch.profiler`.
* :mod:`.tables`: the report's tables: every variant's steps/s and memory, the ratios, the scaling tables.
* :mod:`.budget`: ``fashion_budget.py``'s clocks (a training budget, CPU seconds per step) and scores.
"""
