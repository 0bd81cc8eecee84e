"""DistributedDataParallel under torchrun: 2 gloo processes on the CPU train the one-process run.

Unit tests check the rank slices of batches and noise, the batch-size rule and, in this process
with a process group of one, that the distributed code path is bit-for-bit the plain one. The
rest start ``python -m torch.distributed.run --standalone --nproc_per_node 2`` in a new session,
each with a timeout; a finally kills torchrun and every worker by PID, so nothing is left running.
"""
import csv
import importlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torchbearer
from torch import nn

import bearer_gan
from bearer_gan import distributed
from bearer_gan.distributed import ddp
from bearer_gan.cli.main import main as bearer_gan_main
from bearer_gan.cli.train import main as train_main
from bearer_gan.tb_internals import WithoutState
from conftest import make_trial, needs, require

ROOT = Path(__file__).resolve().parents[1]
TIMEOUT = 300  # seconds for one torchrun; a deadlock fails the test instead of hanging it

pytestmark = needs(require, dist.is_available() and sys.platform.startswith('linux'),
                   'needs torch.distributed (gloo) and /proc to find the workers')

# every write a worker makes under AUDIT_WATCH, by rank: Python's audit hooks see open, mkdir, rename, remove
SITECUSTOMIZE = '''
import os, sys
_rank, _watch = os.environ.get('RANK'), os.environ.get('AUDIT_WATCH')
if _rank is not None and _watch:
    _log = os.open(os.path.join(os.environ['AUDIT_LOG_DIR'], 'rank%s.log' % _rank), os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    _writes = os.O_WRONLY | os.O_RDWR | os.O_CREAT

    def _hook(event, args):
        if event == 'open':
            path, mode, flags = args
            writing = any(c in mode for c in 'wax+') if isinstance(mode, str) else bool((flags or 0) & _writes)
        elif event in ('os.mkdir', 'os.rename', 'os.remove', 'os.rmdir'):
            path, writing = args[0], True
        else:
            return
        if writing and isinstance(path, (str, bytes)) and os.path.abspath(os.fsdecode(path)).startswith(_watch):
            os.write(_log, ('%s %s\\n' % (event, os.fsdecode(path))).encode())

    sys.addaudithook(_hook)
'''

# ``bearer-gan train`` under torchrun, with rank 1's generator loss NaN in step 3 (only there: the other rank's stays
# finite). argv[1] is a folder for each rank's rank<R>.json: the step its NonFiniteLossError named and its exit code.
NAN_ON_RANK_1 = '''
import dataclasses, json, os, sys
import bearer_gan.cli.train as cli_train
from bearer_gan import losses
from bearer_gan.safety import NonFiniteLossError

rank, found = os.environ['RANK'], {'step': None}
if rank == '1':
    bce, calls = losses.LOSSES['bce'], []

    def nan_in_step_3(fake_logits):
        calls.append(len(calls) + 1)
        return bce.generator(fake_logits) * (float('nan') if len(calls) == 3 else 1.0)
    losses._REGISTRY['bce'] = dataclasses.replace(bce, generator=nan_in_step_3)
train = cli_train.train


def recording(*args, **kwargs):
    try:
        return train(*args, **kwargs)
    except NonFiniteLossError as error:
        found['step'] = error.step
        raise


cli_train.train = recording
try:
    cli_train.main(sys.argv[2:], prog='bearer-gan train')
    found['code'] = 0
except SystemExit as exit:
    found['code'] = exit.code
with open(os.path.join(sys.argv[1], 'rank%s.json' % rank), 'w') as handle:
    json.dump(found, handle)
sys.exit(found['code'])
'''

COMMON = ['--model', 'mlp256', '--dataset', 'mnist-5k', '--steps', '20', '--seed', '3',
          '--sample-interval', '10', '--checkpoint-interval', '8', '--no-eval']


# ---------------------------------------------------------------- helpers

def children(pid: int):
    """The PIDs of ``pid``'s children, from /proc (torchrun starts each worker in a session of its own)."""
    found = []
    for entry in os.listdir('/proc'):
        if entry.isdigit():
            try:
                stat = Path(f'/proc/{entry}/stat').read_text()
            except OSError:
                continue
            if int(stat.rsplit(')', 1)[1].split()[1]) == pid:
                found.append(int(entry))
    return found


def environment(pid: int) -> dict:
    try:
        variables = Path(f'/proc/{pid}/environ').read_bytes().split(b'\0')
    except OSError:
        return {}
    return dict(item.decode(errors='replace').split('=', 1) for item in variables if b'=' in item)


def rank_of(pid: int):
    return int(environment(pid).get('RANK', -1))


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie waiting for its reaper does not)."""
    try:
        return Path(f'/proc/{pid}/stat').read_text().rsplit(')', 1)[1].split()[0] != 'Z'
    except (OSError, IndexError):
        return False


class Torchrun:
    """``python -m torch.distributed.run --standalone --nproc_per_node 2 -m bearer_gan train ARGS`` in a new session."""

    def __init__(self, args, tmp_path: Path, audit: Path = None, module=('-m', 'bearer_gan', 'train')):
        site = tmp_path / 'site'
        site.mkdir(exist_ok=True)
        (site / 'sitecustomize.py').write_text(SITECUSTOMIZE)
        self.token = uuid.uuid4().hex  # marks our workers, so that a reused PID is never killed
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(site), str(ROOT)]), OMP_NUM_THREADS='1',
                   TEST_DISTRIBUTED_TOKEN=self.token)
        if audit is not None:
            (tmp_path / 'audit').mkdir(exist_ok=True)
            env.update(AUDIT_WATCH=str(audit.resolve()), AUDIT_LOG_DIR=str(tmp_path / 'audit'))
        command = [sys.executable, '-m', 'torch.distributed.run', '--standalone', '--nproc_per_node', '2',
                   *module, *map(str, args)]
        self.workers = set()
        self.process = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT, text=True, start_new_session=True)

    def find_workers(self):
        self.workers.update(children(self.process.pid))
        return self.workers

    def ours(self, pid: int) -> bool:
        return environment(pid).get('TEST_DISTRIBUTED_TOKEN') == self.token

    def wait(self, timeout=TIMEOUT):
        try:
            output, _ = self.process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            pytest.fail(f'torchrun did not finish within {timeout} s')
        return self.process.returncode, output

    def kill(self):
        """SIGKILL torchrun's process group and every worker it started."""
        if self.process.poll() is None:
            self.find_workers()
            os.killpg(self.process.pid, signal.SIGKILL)
        for pid in self.workers:
            if self.ours(pid):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        self.process.communicate()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.kill()
        deadline = time.monotonic() + 10
        while any(alive(pid) and self.ours(pid) for pid in self.workers) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not any(alive(pid) and self.ours(pid) for pid in self.workers), 'a worker outlived the test'


def torchrun(args, tmp_path, **options):
    with Torchrun(args, tmp_path, **options) as run:
        return run.wait()


def wait_for(path: Path, run: Torchrun, timeout=TIMEOUT):
    deadline = time.monotonic() + timeout
    while not path.exists():
        run.find_workers()
        if run.process.poll() is not None or time.monotonic() > deadline:
            pytest.fail(f'{path} never appeared: {run.process.communicate()[0][-3000:]}')
        time.sleep(0.05)
    run.find_workers()


def checkpoint(run_dir: Path, name='checkpoint.pt'):
    return torch.load(run_dir / name, weights_only=True)


def history(run_dir: Path):
    with open(run_dir / 'history.csv') as handle:
        return np.array([[float(value) for value in row] for row in list(csv.reader(handle))[1:]])


def key_paths(value, prefix=()):
    """Every dict key in a nested checkpoint, as a path."""
    if isinstance(value, dict):
        return {path for key, item in value.items() for path in {prefix + (key,)} | key_paths(item, prefix + (key,))}
    if isinstance(value, (list, tuple)):
        return {path for index, item in enumerate(value) for path in key_paths(item, prefix + (index,))}
    return set()


def assert_networks(first: dict, second: dict, **tolerance):
    for network in ('generator', 'discriminator'):
        assert first[network].keys() == second[network].keys()
        for name in first[network]:
            torch.testing.assert_close(first[network][name], second[network][name], **tolerance)


def copy_stopped_at_previous_checkpoint(run_dir: Path, copy: Path) -> int:
    """A copy of the run, as if it had been killed right after writing its previous checkpoint; returns its step.

    ``--resume`` trains into the ``out`` of the run's ``config.json``, so the copy's names the copy.
    """
    shutil.copytree(run_dir, copy)
    config = json.loads((copy / 'config.json').read_text())
    (copy / 'config.json').write_text(json.dumps(dict(config, out=str(copy)), indent=2, sort_keys=True))
    os.replace(copy / 'checkpoint.prev.pt', copy / 'checkpoint.pt')
    return checkpoint(copy)['step']


# ---------------------------------------------------------------- unit tests

IN_MEMORY = bearer_gan.image_batches


def streamed(images, labels, batch_size, **options):  # decoded in this process: no worker processes
    return bearer_gan.streamed_batches(images, labels, batch_size, num_workers=0, **options)


@pytest.mark.parametrize('make_batches', [IN_MEMORY, streamed], ids=['in_memory', 'streamed'])
@pytest.mark.parametrize('world_size, start_step', [(2, 0), (2, 7), (4, 0), (4, 11)])
def test_rank_batches_concatenate_to_the_one_process_batches(world_size, start_step, make_batches):
    images = torch.arange(50, dtype=torch.uint8).view(50, 1, 1, 1).expand(50, 1, 2, 2).contiguous()
    labels = torch.arange(50)

    def steps(loader, count=14):  # 50 // 8 = 6 batches a pass: crosses two pass boundaries
        iterator = iter(loader)
        return [next(iterator) for _ in range(count)]

    one = steps(make_batches(images, labels, 8, seed=5, start_step=start_step))
    ranks = [steps(make_batches(images, labels, 8, seed=5, start_step=start_step, rank=rank,
                                world_size=world_size)) for rank in range(world_size)]
    for step, (one_images, one_labels) in enumerate(one):
        assert all(len(rank_steps[step][1]) == 8 // world_size for rank_steps in ranks)
        torch.testing.assert_close(torch.cat([rank_steps[step][0] for rank_steps in ranks]), one_images)
        torch.testing.assert_close(torch.cat([rank_steps[step][1] for rank_steps in ranks]), one_labels)


def test_rank_slices_must_divide_the_global_batch():
    with pytest.raises(ValueError, match='must divide into 3 equal slices'):
        bearer_gan.ShuffledBatchSampler(100, 32, rank=0, world_size=3)
    with pytest.raises(ValueError):
        bearer_gan.ShuffledBatchSampler(100, 32, rank=2, world_size=2)


@pytest.mark.parametrize('world_size', [2, 4])
@pytest.mark.parametrize('sample, shape', [(torch.randn, (5,)), (torch.rand, (1, 1, 1))])  # noise; mixing weights
def test_rank_draws_concatenate_to_the_one_process_draws_and_keep_one_random_state(world_size, sample, shape):
    torch.manual_seed(11)
    torch.randn(3)  # somewhere in a run, as after a resume
    resumed = torch.get_rng_state()
    one = [sample(16, *shape) for _ in range(3)]
    one_state = torch.get_rng_state()
    rows = 16 // world_size
    for rank in range(world_size):
        torch.set_rng_state(resumed)
        draw = distributed.global_draws(rank, world_size)
        for step in range(3):
            torch.testing.assert_close(draw(sample, rows, *shape, device='cpu', dtype=torch.float32),
                                       one[step][rank * rows:(rank + 1) * rows])
        assert torch.equal(torch.get_rng_state(), one_state)


def test_the_global_batch_must_divide_by_the_processes(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv('WORLD_SIZE', '2')
    monkeypatch.setenv('RANK', '0')
    with pytest.raises(SystemExit) as exit_info:
        train_main(COMMON + ['--batch-size', '33', '--out', str(tmp_path / 'run')])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and len(err.strip().splitlines()) == 1, err
    assert 'must divide by the 2 processes (e.g. 32 or 34)' in err
    assert not dist.is_initialized() and not (tmp_path / 'run').exists()


@pytest.fixture
def group_of_one():
    """A gloo process group of one process, here: the distributed code path at world size 1."""
    dist.init_process_group('gloo', store=dist.HashStore(), rank=0, world_size=1)
    try:
        yield
    finally:
        dist.destroy_process_group()


def test_the_distributed_code_at_world_size_one_is_bit_for_bit_the_plain_run(digits, tmp_path, group_of_one):
    results = []
    for parallel in (False, True):
        recorder = bearer_gan.LossHistory(str(tmp_path / f'history{parallel}.csv'))
        trial, generator, discriminator = make_trial('mlp256', callbacks=[recorder])
        assert distributed.data_parallel(trial) if parallel else True
        images, labels = digits
        bearer_gan.run_gan(trial, bearer_gan.image_batches(images, labels, 32, seed=1), 12)
        distributed.check_replicas(generator, discriminator)
        recorder.write_csv()
        rows = bearer_gan.read_history(recorder.csv_path)[1]
        results.append((generator.state_dict(), discriminator.state_dict(), rows, torch.get_rng_state(),
                        trial.state[bearer_gan.keys.TRAINING_GENERATOR]))
    plain, parallel = results
    assert isinstance(parallel[4], WithoutState) and plain[4] is not parallel[4]  # DDP was in the loop
    for network in (0, 1):
        assert all(torch.equal(plain[network][name], parallel[network][name]) for name in plain[network])
    assert plain[2] == parallel[2] and len(plain[2]) == 12
    assert torch.equal(plain[3], parallel[3])


def test_a_criterion_that_cannot_train_under_ddp_is_refused_in_one_line(group_of_one):
    def penalised(state):
        return bearer_gan.discriminator_loss(state)
    penalised.ddp_unsupported = 'its penalty runs its own backward'
    trial, _, _ = make_trial('mlp256', discriminator_criterion=penalised)
    with pytest.raises(distributed.UnsupportedUnderDDP) as error:
        distributed.data_parallel(trial)
    assert str(error.value) == ('the discriminator criterion penalised cannot train under DistributedDataParallel: '
                                'its penalty runs its own backward; train it on one process')


def test_the_roll_call_names_the_ranks_that_did_not_answer():
    store = dist.HashStore()
    store.set('roll/2', 'alive')
    began = time.monotonic()
    assert distributed.lost_ranks(store, 0, 4, wait=0.3, prefix='roll') == [1, 3]
    assert 0.3 <= time.monotonic() - began < 5
    for rank in (1, 3):
        store.set(f'roll/{rank}', 'alive')
    assert distributed.lost_ranks(store, 0, 4, wait=30, prefix='roll') == []  # all there: no wait


def test_main_process_only_runs_on_rank_zero_and_returns_none_elsewhere(monkeypatch):
    calls = []

    @distributed.main_process_only
    def write(text):
        """Writes ``text``."""
        calls.append(text)
        return len(text)

    assert write.__name__ == 'write' and write.__doc__ == 'Writes ``text``.'
    monkeypatch.delenv('RANK', raising=False)
    assert write('one process') == 11  # without torchrun: rank 0
    monkeypatch.setenv('RANK', '1')  # asked at each call, not when decorated
    assert write('rank 1') is None
    monkeypatch.setenv('RANK', '0')
    assert write('rank 0') == 6
    assert calls == ['one process', 'rank 0']


def test_process_group_with_one_process_joins_nothing(monkeypatch):
    monkeypatch.delenv('WORLD_SIZE', raising=False)
    with distributed.process_group('cpu') as device:
        assert device == 'cpu' and not distributed.active()
    assert not dist.is_initialized()


@pytest.mark.parametrize('error, leaves', [(None, True), (KeyboardInterrupt(), True), (ValueError('bad'), True),
                                           (distributed.RankFailure('rank 1 stopped responding'), False)])
def test_process_group_leaves_the_group_unless_a_rank_is_lost(monkeypatch, error, leaves):
    joined, left = [], []
    monkeypatch.setattr(distributed.group, 'start', lambda device: joined.append(device) or 'cuda:1')
    monkeypatch.setattr(distributed.group, 'stop', lambda: left.append(True))
    try:
        with distributed.process_group('cuda') as device:
            assert device == 'cuda:1'
            if error is not None:
                raise error
    except BaseException as raised:
        assert raised is error
    assert joined == ['cuda'] and left == ([True] if leaves else [])


def test_the_package_keeps_every_name_of_the_old_module_and_each_module_says_why():
    old = {'COLLECTIVE_TIMEOUT', 'TIMEOUT_VARIABLE', 'DATA_TIMEOUT', 'ROLL_CALL_SECONDS', 'UNSUPPORTED_ATTRIBUTE',
           'DistributedError', 'UnsupportedUnderDDP', 'RankFailure', 'collective_timeout', 'launched_world_size',
           'active', 'rank', 'world_size', 'is_main_process', 'check_global_batch', 'start', 'stop', 'barrier',
           'one_rank_first', 'check_same', 'global_draws', 'data_parallel', 'synchronise_step', 'fingerprint',
           'check_replicas', 'lost_ranks', 'guarded'}
    assert old | {'main_process_only', 'process_group', 'sum_across_ranks', 'from_main_process'} == set(distributed.__all__)
    assert all(hasattr(distributed, name) for name in distributed.__all__)
    for path in (ROOT / 'bearer_gan' / 'distributed').glob('*.py'):
        module = importlib.import_module(f'bearer_gan.distributed.{path.stem}'.removesuffix('.__init__'))
        assert module.__doc__ and module.__all__ and len(path.read_text().splitlines()) <= 350, path.name
        assert all(hasattr(module, name) for name in module.__all__), path.name


def test_sigterm_under_ddp_takes_the_one_process_path_and_its_handler_stays_after_a_stop(group_of_one):
    """``guarded`` installs safety's own handler (a stop request), keeps it after an error, restores it after a
    normal end; with one process it installs nothing."""
    trial, _, _ = make_trial('mlp256')
    guard = bearer_gan.TrainingGuard.of(trial)
    before = signal.getsignal(signal.SIGTERM)
    with distributed.guarded(trial):
        handler = signal.getsignal(signal.SIGTERM)
        assert handler is not before and handler.__qualname__ == 'stop_requests.<locals>.request_stop'
        os.kill(os.getpid(), signal.SIGTERM)
        assert guard.stop_requested.wait(5)
    assert signal.getsignal(signal.SIGTERM) is before
    guard.stop_requested.clear()
    try:
        with pytest.raises(KeyboardInterrupt):
            with distributed.guarded(trial):
                raise KeyboardInterrupt('stopped after step 3')
        kept = signal.getsignal(signal.SIGTERM)
        assert kept is not before and kept.__qualname__ == 'stop_requests.<locals>.request_stop'
        os.kill(os.getpid(), signal.SIGTERM)  # a late SIGTERM: a stop request, not the end of the process
        assert guard.stop_requested.wait(5)
    finally:
        signal.signal(signal.SIGTERM, before)


def test_guarded_with_one_process_changes_nothing():
    trial, _, _ = make_trial('mlp256')
    before = signal.getsignal(signal.SIGTERM)
    with distributed.guarded(trial):
        assert signal.getsignal(signal.SIGTERM) is before


def test_fingerprints_tell_replicas_apart():
    first, second = torch.nn.Linear(3, 2), torch.nn.Linear(3, 2)
    second.load_state_dict(first.state_dict())
    assert distributed.fingerprint([first]) == distributed.fingerprint([second])
    with torch.no_grad():
        second.bias[1] = torch.nextafter(second.bias[1], torch.tensor(2.0))  # one bit of one weight
    assert distributed.fingerprint([first]) != distributed.fingerprint([second])


@pytest.fixture
def two_processes_without_a_group(monkeypatch):
    """data_parallel as on rank 0 of 2 processes, with no process group: its DDP wrappers are left out."""
    for name, value in (('active', True), ('world_size', 2), ('rank', 0), ('is_main_process', True)):
        monkeypatch.setattr(ddp, name, lambda value=value: value)
    monkeypatch.setattr(ddp, 'DistributedDataParallel', lambda network, device_ids: network)


@pytest.mark.parametrize('device, sync_batch_norm, converted, warned', [
    ('cuda:0', True, True, False), ('cuda:0', False, False, False), ('cpu', True, False, True)])
def test_batch_norm_becomes_sync_batch_norm_on_cuda_unless_no_sync_bn_and_on_cpu_warns(
        two_processes_without_a_group, device, sync_batch_norm, converted, warned):
    trial, generator, discriminator = make_trial('dcgan')  # batch norm in the generator
    trial.state[torchbearer.DEVICE] = device  # the networks stay on the CPU: only the decision is tested
    weights = {name: parameter for name, parameter in generator.named_parameters()}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        assert distributed.data_parallel(trial, sync_batch_norm=sync_batch_norm)
    layers = [module for module in generator.modules() if isinstance(module, nn.modules.batchnorm._BatchNorm)]
    assert layers and all(isinstance(layer, nn.SyncBatchNorm) == converted for layer in layers)
    assert not any(isinstance(layer, nn.SyncBatchNorm) for layer in discriminator.modules())  # it has none to convert
    assert dict(generator.named_parameters()) == weights  # the very tensors the optimizer holds, in their new layers
    assert {id(p) for group in trial.state[bearer_gan.keys.GENERATOR_OPTIMIZER].param_groups for p in group['params']} \
        == {id(parameter) for parameter in generator.parameters()}
    assert [str(warning.message).split(':')[0] for warning in caught] == (
        ['SyncBatchNorm is unsupported on CPU'] if warned else [])


def test_no_sync_bn_reaches_data_parallel_and_is_recorded(monkeypatch, tmp_path):
    asked = []
    monkeypatch.setattr(distributed, 'data_parallel', lambda trial, sync_batch_norm=True: asked.append(sync_batch_norm))
    for flags in ([], ['--no-sync-bn']):
        out = tmp_path / str(len(flags))
        train_main(COMMON[:4] + ['--steps', '1', '--batch-size', '8', '--no-eval', '--quiet', *flags, '--out', str(out)])
        assert json.loads((out / 'config.json').read_text())['no_sync_bn'] is bool(flags)
    assert asked == [True, False]


# ---------------------------------------------------------------- two processes under torchrun

@pytest.fixture(scope='module')
def two_ranks(tmp_path_factory):
    """The same run twice: 1 process at batch 64 (here) and 2 ranks at 32 each (torchrun), with every write audited."""
    tmp = tmp_path_factory.mktemp('ddp')
    one = tmp / 'one'
    train_main(COMMON + ['--batch-size', '64', '--out', str(one)])
    two = tmp / 'two'
    returncode, output = torchrun(COMMON + ['--batch-size', '64', '--out', two], tmp, audit=two)
    assert returncode == 0, output[-4000:]
    return one, two, tmp, output


def test_two_ranks_train_the_one_process_run(two_ranks):
    one, two, _, _ = two_ranks
    first, second = checkpoint(one), checkpoint(two)
    assert first['step'] == second['step'] == 20
    assert_networks(first, second, rtol=0, atol=1e-5)
    assert torch.equal(first['rng']['torch'], second['rng']['torch'])  # every rank drew the global noise
    assert history(one).shape == history(two).shape == (20, 6)  # 5 losses and outputs, and ADA's p
    np.testing.assert_allclose(history(two), history(one), rtol=0, atol=1e-5)  # losses: sums in another order
    for name in ('generator.pt', 'discriminator.pt'):  # the sampled (moving-average) generator too
        for key, value in torch.load(one / name, weights_only=True)['state_dict'].items():
            torch.testing.assert_close(torch.load(two / name, weights_only=True)['state_dict'][key], value,
                                       rtol=0, atol=1e-5)


def test_only_rank_zero_writes_files(two_ranks):
    _, two, tmp, output = two_ranks
    rank0 = (tmp / 'audit' / 'rank0.log').read_text()
    assert 'checkpoint.pt' in rank0 and 'history.csv' in rank0 and 'step_000020.png' in rank0  # the audit works
    assert not (tmp / 'audit' / 'rank1.log').exists() or (tmp / 'audit' / 'rank1.log').read_text() == ''
    assert output.count('trained to step 20') == 1  # and only rank 0 reports


def test_saved_files_have_no_module_keys_and_sample_loads_them(two_ranks, tmp_path):
    one, two, _, _ = two_ranks
    assert key_paths(checkpoint(two)) == key_paths(checkpoint(one))  # DDP added no key anywhere
    for name in ('generator.pt', 'discriminator.pt'):
        state_dict = torch.load(two / name, weights_only=True)['state_dict']
        assert state_dict and not [key for key in state_dict if key.startswith('module.')]
    assert not [key for network in ('generator', 'discriminator') for key in checkpoint(two)[network]
                if key.startswith('module.')]
    bearer_gan_main(['sample', '--run', str(two), '--n', '8', '--out', str(tmp_path / 'x.npy')])
    assert np.load(tmp_path / 'x.npy').shape == (8, 28, 28)


def test_a_ddp_resume_is_bit_identical_to_the_uninterrupted_ddp_run(two_ranks):
    _, two, tmp, _ = two_ranks
    resumed = tmp / 'resumed'
    assert copy_stopped_at_previous_checkpoint(two, resumed) == 16
    returncode, output = torchrun(['--resume', resumed], tmp)
    assert returncode == 0, output[-4000:]
    first, second = checkpoint(two), checkpoint(resumed)
    assert_networks(first, second, rtol=0, atol=0)
    for optimizer in ('generator_optimizer', 'discriminator_optimizer'):
        for index, values in first[optimizer]['state'].items():
            assert all(torch.equal(values[name], second[optimizer]['state'][index][name]) for name in values)
    assert torch.equal(first['rng']['torch'], second['rng']['torch'])
    np.testing.assert_array_equal(history(resumed), history(two))


def test_a_ddp_run_resumed_on_one_process_continues_the_same_run(two_ranks):
    one, two, tmp, _ = two_ranks
    resumed = tmp / 'resumed-on-one'
    assert copy_stopped_at_previous_checkpoint(two, resumed) == 16
    train_main(['--resume', str(resumed)])
    assert checkpoint(resumed)['step'] == 20
    assert_networks(checkpoint(resumed), checkpoint(two), rtol=0, atol=1e-5)
    assert_networks(checkpoint(resumed), checkpoint(one), rtol=0, atol=1e-5)
    np.testing.assert_allclose(history(resumed), history(two), rtol=0, atol=1e-5)


def test_sigterm_to_torchrun_stops_every_rank_at_one_step_with_outputs_and_a_checkpoint(tmp_path):
    """With dcgan, whose generator has batch norm: on CPU each rank keeps its own statistics, and says so once."""
    out = tmp_path / 'run'
    with Torchrun(['--model', 'dcgan', '--dataset', 'mnist-5k', '--steps', '100000', '--batch-size', '32',
                   '--sample-interval', '5', '--checkpoint-interval', '1000', '--no-eval', '--out', out],
                  tmp_path) as run:
        wait_for(out / 'samples' / 'step_000005.png', run)  # training is under way
        began = time.monotonic()
        run.process.send_signal(signal.SIGTERM)
        returncode, output = run.wait()
    assert time.monotonic() - began < 60
    assert returncode != 0  # torchrun re-raises the signal; each rank exits with 130 as one process does
    step = checkpoint(out)['step']
    assert step >= 5
    assert f'rank 1: stopped after step {step}' in output  # rank 1 stopped where rank 0 checkpointed
    assert f'--resume {out}' in output
    assert history(out).shape == (step, 6)
    for name in ('progress.gif', 'losses.png', 'generator.pt', 'discriminator.pt', 'real.png'):
        assert (out / name).exists(), name
    assert output.count('SyncBatchNorm is unsupported on CPU') == 1
    assert bearer_gan.load_generator(str(out))[1]['model'] == 'dcgan'


def test_a_nan_on_one_rank_stops_every_rank_at_the_same_step_with_exit_code_1(tmp_path):
    script, found, out = tmp_path / 'nan_on_rank_1.py', tmp_path / 'found', tmp_path / 'run'
    script.write_text(NAN_ON_RANK_1)
    found.mkdir()
    returncode, output = torchrun(['--model', 'mlp256', '--dataset', 'mnist-5k', '--steps', '20', '--batch-size', '32',
                                   '--sample-interval', '10', '--checkpoint-interval', '2', '--no-eval', '--out', out],
                                  tmp_path, module=(str(script), str(found)))
    assert returncode != 0
    ranks = [json.loads((found / f'rank{rank}.json').read_text()) for rank in (0, 1)]
    assert ranks == [{'step': 3, 'code': 1}, {'step': 3, 'code': 1}], output[-4000:]  # rank 0's loss was finite
    assert output.count('g_loss became nan at step 3; training stopped there') == 1  # rank 0 says it, once
    assert f'the last good checkpoint is {out / "checkpoint.pt"}' in output and 'stopped responding' not in output
    assert checkpoint(out)['step'] == 2 and history(out).shape == (3, 6)
    assert not (out / 'generator.pt').exists()


def test_a_killed_rank_fails_the_run_quickly_and_is_named(tmp_path):
    out = tmp_path / 'run'
    with Torchrun(['--model', 'mlp256', '--dataset', 'mnist-5k', '--steps', '100000', '--batch-size', '32',
                   '--sample-interval', '50', '--checkpoint-interval', '100000', '--no-eval', '--out', out],
                  tmp_path) as run:
        wait_for(out / 'samples' / 'step_000050.png', run)
        victim = next(pid for pid in run.find_workers() if rank_of(pid) == 1)
        began = time.monotonic()
        os.kill(victim, signal.SIGKILL)
        returncode, output = run.wait(timeout=120)
        assert time.monotonic() - began < 60
    assert returncode != 0
    assert 'error: rank 1 stopped responding after step' in output, output[-4000:]


def test_lazy_r1_and_conditional_wgan_gp_train_as_in_one_process_and_data_replicas_and_criteria_are_checked(tmp_path):
    result = tmp_path / 'result.json'
    returncode, output = torchrun([result], tmp_path, module=(str(ROOT / 'tests' / 'distributed_worker.py'),))
    assert returncode == 0, output[-4000:]
    found = json.loads(result.read_text())
    assert found['sgd_ddp_vs_one_process'] < 1e-5  # plain SGD: the ranks average their gradients, not sum them
    assert found['sgd_summed_effect'] > 1e-3  # what a sum would have trained is far outside that
    assert found['ddp_vs_one_process'] < 1e-5  # lazy R1
    assert found['conditional_wgan_gp_ddp_vs_one_process'] < 1e-5
    assert found['penalty_effect'] > 1e-4  # the penalty changed training: the comparison above means something
    assert found['replica_error'] == 'ranks [1] hold different weights from rank 0 after training'
    assert found['others_load_after_rank_0'] is True
    assert found['failed_first_load'] == ['OSError: no network', 'RankFailure: rank 0 could not load the data']
    assert found['different_data'] == ('the ranks have different data: rank 0 mnist (60000 images), '
                                       'rank 1 mnist (5000 images)')
    assert found['refusal'].startswith('the discriminator criterion lazy_penalty cannot train under '
                                       'DistributedDataParallel: its penalty runs its own backward every 16 steps')
