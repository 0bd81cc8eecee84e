"""Where variant (d)'s step time goes: :mod:`torch.profiler`'s operators by self time."""
import torch
import torchbearer as tb

from .setups import Setup, make_models
from .variants import train_bearer_gan

__all__ = ['StepProfiler', 'PRODUCT_OPS', 'profile_report']


class StepProfiler(tb.callbacks.Callback):
    """Runs :mod:`torch.profiler` from the end of training step ``warmup`` to the end of step ``warmup + steps``."""

    def __init__(self, warmup, steps, device):
        super().__init__()
        activities = [torch.profiler.ProfilerActivity.CPU]
        if torch.device(device).type == 'cuda':
            activities.append(torch.profiler.ProfilerActivity.CUDA)
        self.profiler = torch.profiler.profile(activities=activities)
        self.warmup, self.last, self.count = warmup, warmup + steps, 0

    def on_step_training(self, state):
        self.count += 1
        if self.count == self.warmup:
            self.profiler.__enter__()
        elif self.count == self.last:
            self.profiler.__exit__(None, None, None)


PRODUCT_OPS = ('aten::mm', 'aten::addmm', 'aten::bmm', 'aten::baddbmm', 'aten::convolution', 'aten::_convolution',
               'aten::mkldnn_convolution', 'aten::convolution_backward')


def profile_report(setup: Setup, warmup, steps):
    """Where (d)'s time goes: torch.profiler's operators by self time over ``steps`` steps, and a summary."""
    device = setup.device
    generator, discriminator, _, _ = make_models(setup.model, setup.latent_dim, device, seed=0,
                                                 image_shape=setup.image_shape)
    profiler = StepProfiler(max(warmup, 1), steps, device)
    train_bearer_gan(generator, discriminator, setup, max(warmup, 1) + steps, 0, profiler)
    events = profiler.profiler.key_averages()
    cuda = torch.device(device).type == 'cuda'
    sort_by = 'self_device_time_total' if cuda else 'self_cpu_time_total'
    self_time = (lambda e: e.self_device_time_total) if cuda else (lambda e: e.self_cpu_time_total)
    total = sum(self_time(e) for e in events)
    products = sum(self_time(e) for e in events if e.key in PRODUCT_OPS)
    optimizer = sum(self_time(e) for e in events if 'adam' in e.key.lower() or e.key.startswith('aten::_foreach'))
    lines = [f'(d) under torch.profiler, {steps} steps after {max(warmup, 1)} warm-up steps; '
             f'{"device" if cuda else "CPU"} self time per step: {total / steps / 1e3:.2f} ms = '
             f'{products / steps / 1e3:.2f} ms matrix products ({100 * products / total:.0f}%) + '
             f'{optimizer / steps / 1e3:.2f} ms Adam ({100 * optimizer / total:.0f}%, kernels and Python) + '
             f'{(total - products - optimizer) / steps / 1e3:.2f} ms the rest (the profiler adds a little to every '
             'operator)']
    return lines + events.table(sort_by=sort_by, row_limit=25, max_name_column_width=60).splitlines()

