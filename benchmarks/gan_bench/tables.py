"""The tables of ``benchmarks/throughput.py``: the main one of every variant run, its ratios, and the scaling ones."""
import statistics

import bearer_gan

from .variants import VARIANT_NAMES, measure

__all__ = ['SCALING_BATCH_SIZES', 'SCALING_MODELS', 'mib', 'ratio_line', 'main_table', 'scaling_tables']

SCALING_BATCH_SIZES = (32, 64, 128, 256, 512, 1024)
SCALING_MODELS = ('tutorial', 'mlp256')


def mib(value):
    return '-' if value is None else f'{value / 2 ** 20:.0f}'


def ratio_line(medians, ceiling, flops_d, matmul):
    """The ratios of the measured variants' median steps/s, and (d)'s share of the ceiling."""
    parts = [f'{top}/{bottom} = {medians[top] / medians[bottom]:.2f}{unit}'
             for top, bottom, unit in (('d', 'a', 'x'), ('d', 'c', 'x'), ('e', 'd', ''))
             if top in medians and bottom in medians]
    if 'd' in medians:
        parts.append(f'd = {100 * medians["d"] / ceiling:.1f}% of the ceiling ({ceiling:.1f} steps/s; '
                     f'{100 * medians["d"] * flops_d / matmul:.1f}% counting (d)\'s own FLOPs)')
    return '   '.join(parts)


def main_table(rates, memory, batch_size, ceiling, steps_of):
    lines = [f'{"variant":<38} {"steps":>6} {"steps/s":>9} {"min-max":>15} {"images/s":>10} {"peak MiB":>9} '
             f'{"+MiB":>6} {"% ceiling":>9}']
    medians = {}
    for variant, variant_rates in rates.items():
        medians[variant] = median = statistics.median(variant_rates)
        peak, rise = memory.get(variant, (None, None))
        lines.append(f'({variant}) {VARIANT_NAMES[variant]:<34} {steps_of[variant]:6d} {median:9.1f} '
                     f'{min(variant_rates):7.1f}-{max(variant_rates):<7.1f} {median * batch_size:10.0f} '
                     f'{mib(peak):>9} {mib(rise):>6} {100 * median / ceiling:8.1f}%')
    return lines, medians


def scaling_tables(setup, warmup, steps, reps, progress):
    lines = []
    for model in SCALING_MODELS:
        latent_dim = bearer_gan.DEFAULT_LATENT_DIM[model]
        lines += ['', f'scaling, model {model} (latent {latent_dim}): median of {reps} interleaved repetitions',
                  f'{"batch":>6} {"steps":>6} {"(c) steps/s":>12} {"(c) images/s":>13} {"(d) steps/s":>12} '
                  f'{"(d) images/s":>13} {"d/c":>6}']
        for batch_size in SCALING_BATCH_SIZES:
            cell_steps = max(warmup, 10, round(steps * 128 / batch_size))
            cell = setup._replace(model=model, latent_dim=latent_dim, batch_size=batch_size)
            rates = measure(('c', 'd'), cell, warmup, cell_steps, reps)
            c, d = (statistics.median(rates[v]) for v in ('c', 'd'))
            line = (f'{batch_size:6d} {cell_steps:6d} {c:12.1f} {c * batch_size:13.0f} {d:12.1f} '
                    f'{d * batch_size:13.0f} {d / c:6.2f}')
            progress(line)
            lines.append(line)
    return lines
