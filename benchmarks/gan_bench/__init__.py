"""The parts of ``benchmarks/throughput.py``, one idea per module.

* :mod:`.setups`: the data loaders, models, closures and metrics each variant trains with.
* :mod:`.variants`: the five variants (a)-(e), timed step by step, and their interleaved repetitions.
* :mod:`.machine`: the machine's name and load, device synchronisation, peak memory.
* :mod:`.ceiling`: the FLOPs of one step, its matrix products replayed alone, a large product's rate.
* :mod:`.profiling`: variant (d) under :mod:`torch.profiler`.
"""
