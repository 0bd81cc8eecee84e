"""Requeue-safe reruns and --resume: the same command resumes, --steps extends a run, older runs still resume,
a run records what it trained on, runs that stop early still report, and only user mistakes are one-line errors."""
import csv
import json

import pytest
import torch
import torchbearer
from torchvision.datasets import MNIST

import bearer_gan
from bearer_gan import recipe
from bearer_gan.cli import train as cli_train
from bearer_gan.cli.main import main as bearer_gan_main
from bearer_gan.cli.train import main as train_main
from bearer_gan.config import CONFIG_FORMAT, RunConfig
from conftest import batches, make_trial, tiny_cifar

FLAGS = ['--dataset', 'mnist-5k', '--batch-size', '16', '--sample-interval', '4', '--checkpoint-interval', '3',
         '--device', 'cpu', '--no-eval']


def rows(out):
    with open(out / 'history.csv') as handle:
        return list(csv.reader(handle))


def weights(out):
    return torch.load(out / 'generator.pt', weights_only=True)['state_dict']


def assert_same_weights(first, second):
    assert first.keys() == second.keys()
    for name in first:
        assert torch.equal(first[name], second[name]), name


def stop_at(out, step, monkeypatch):
    """Train ``out`` with FLAGS and --steps 10, stopping after ``step`` as Ctrl-C would (exit code 130)."""
    class Interrupt(torchbearer.callbacks.Callback):
        def on_step_training(self, state):  # what SIGINT does: ask the guard, which stops after the next step
            if state[bearer_gan.keys.STEP] == step - 1:
                next(callback for callback in state[torchbearer.CALLBACK_LIST]
                     if isinstance(callback, bearer_gan.TrainingGuard)).stop_requested.set()
    real = recipe.make_callbacks
    monkeypatch.setattr(recipe, 'make_callbacks', lambda *args, **kwargs: [Interrupt()] + real(*args, **kwargs))
    with pytest.raises(SystemExit) as stopped:
        train_main([*FLAGS, '--steps', '10', '--out', str(out)])
    monkeypatch.undo()
    assert stopped.value.code == 130


@pytest.fixture(scope='module')
def reference(tmp_path_factory):
    out = tmp_path_factory.mktemp('reference')
    train_main([*FLAGS, '--steps', '10', '--quiet', '--out', str(out)])
    return out


def test_rerunning_the_same_command_resumes_and_says_so_in_one_line(tmp_path, reference, monkeypatch, capsys):
    out = tmp_path / 'run'
    stop_at(out, 5, monkeypatch)
    assert torch.load(out / 'checkpoint.pt', weights_only=True)['step'] == 5
    capsys.readouterr()
    train_main([*FLAGS, '--steps', '10', '--out', str(out)])  # a requeued job: the same command again
    lines = capsys.readouterr().out.splitlines()
    assert [line for line in lines if 'resuming' in line] == [
        f'resuming {out} at step 5 of 10 from {out}/checkpoint.pt: it holds this run (the same command); '
        '--overwrite starts it over']
    assert rows(out) == rows(reference)
    assert_same_weights(weights(out), weights(reference))

    train_main([*FLAGS, '--steps', '10', '--out', str(out)])  # once more: finished, nothing deleted or retrained
    assert 'already trained all 10 steps' in capsys.readouterr().out
    assert rows(out) == rows(reference) and torch.load(out / 'checkpoint.pt', weights_only=True)['step'] == 10

    train_main([*FLAGS, '--steps', '10', '--overwrite', '--quiet', '--out', str(out)])  # the only way to start over
    assert 'resuming' not in capsys.readouterr().out and rows(out) == rows(reference)


def test_resume_extends_a_finished_run_with_steps_and_takes_only_its_flags(tmp_path, capsys):
    out, straight = tmp_path / 'run', tmp_path / 'straight'
    train_main([*FLAGS, '--steps', '6', '--quiet', '--out', str(out)])
    train_main(['--resume', str(out), '--steps', '9', '--sample-interval', '2', '--log-interval', '1',
                '--device', 'cpu', '--no-eval', '--quiet'])
    config = json.loads((out / 'config.json').read_text())
    assert (config['steps'], config['sample_interval'], config['log_interval']) == (9, 2, 1)
    assert len(rows(out)) == 1 + 9
    assert sorted(path.name for path in (out / 'samples').iterdir()) == [
        f'step_{step:06d}.png' for step in (0, 4, 6, 8, 9)]  # every 4 steps, then every 2
    train_main([*FLAGS, '--steps', '9', '--quiet', '--out', str(straight)])
    assert rows(out) == rows(straight)
    assert_same_weights(weights(out), weights(straight))

    for argv, message in ((['--resume', str(out), '--lr', '0.1'], 'got --lr'),
                          (['--resume', str(out), '--batch-size', '8', '--seed', '3'], 'got --batch-size, --seed'),
                          (['--resume', str(out), '--steps', '5'], 'is at step 9, past --steps 5'),
                          ([*FLAGS, '--steps', '7', '--out', str(out)], '--steps 7 (the run: 9)')):
        with pytest.raises(SystemExit) as exit_info:
            train_main(argv)
        err = capsys.readouterr().err
        assert exit_info.value.code == 2 and message in err and len(err.strip().splitlines()) == 1, err
    assert len(rows(out)) == 1 + 9


def make_older(out):
    """Turn a finished run into one made before config and checkpoint formats existed (format 1)."""
    config = json.loads((out / 'config.json').read_text())
    for key in ('config_format', 'compile', 'log_interval', 'tensorboard', 'data', 'no_sync_bn'):
        config.pop(key)
    config['latent_dim'] = None
    (out / 'config.json').write_text(json.dumps(config))
    checkpoint = torch.load(out / 'checkpoint.pt', weights_only=True)
    _, history = bearer_gan.read_history(str(out / 'history.csv'))
    checkpoint['format'] = 1
    checkpoint['callbacks'] = [(name, {'rows': history} if name == 'LossHistory' else state)
                               for name, state in checkpoint['callbacks']]
    torch.save(checkpoint, out / 'checkpoint.pt')


def test_a_run_made_by_an_older_version_resumes_with_the_defaults_it_had(tmp_path, capsys):
    out, straight = tmp_path / 'run', tmp_path / 'straight'
    train_main([*FLAGS, '--steps', '6', '--quiet', '--out', str(out)])
    make_older(out)
    train_main(['--resume', str(out), '--steps', '9', '--quiet'])
    err = capsys.readouterr().err
    assert 'made by an older version of bearer_gan (checkpoint format 1)' in err
    assert 'did not record its data' in err
    config = json.loads((out / 'config.json').read_text())
    assert config['config_format'] == CONFIG_FORMAT and config['compile'] is False and config['latent_dim'] == 100
    assert config['no_sync_bn'] is False
    assert config['data']['dataset'] == 'mnist-5k' and config['data']['images'] == 5000
    train_main([*FLAGS, '--steps', '9', '--quiet', '--out', str(straight)])
    assert rows(out) == rows(straight)
    assert_same_weights(weights(out), weights(straight))


def test_config_records_the_data_actually_used_and_a_resume_on_other_data_is_refused(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(MNIST, 'mirrors', [f'file://{tmp_path}/no-such-mirror/'])  # offline, without the network
    out = tmp_path / 'run'
    train_main(['--dataset', 'mnist', '--data-dir', str(tmp_path / 'data'), *FLAGS[2:], '--steps', '2', '--quiet',
                '--out', str(out)])
    config = json.loads((out / 'config.json').read_text())
    assert config['dataset'] == 'mnist-5k' and config['latent_dim'] == 100
    assert config['data']['requested'] == 'mnist' and config['data']['images'] == 5000
    assert len(config['data']['sha256']) == 64
    train_main(['--dataset', 'mnist', '--data-dir', str(tmp_path / 'data'), *FLAGS[2:], '--steps', '2', '--quiet',
                '--out', str(out)])  # the same command, offline again: the same run, finished
    assert 'holds a different run' not in capsys.readouterr().err

    tiny_cifar(tmp_path / 'cifar', per_batch=8)
    colour = tmp_path / 'colour'
    cifar = ['--dataset', 'cifar10', '--data-dir', str(tmp_path / 'cifar'), '--model', 'dcgan', '--batch-size', '8',
             '--device', 'cpu', '--no-eval', '--quiet', '--out', str(colour)]
    train_main([*cifar, '--steps', '2'])
    tiny_cifar(tmp_path / 'other', per_batch=8)
    batch = tmp_path / 'other' / 'cifar-10-batches-py' / 'data_batch_3'
    (tmp_path / 'cifar' / 'cifar-10-batches-py' / 'data_batch_1').write_bytes(batch.read_bytes())  # files replaced
    before = (colour / 'checkpoint.pt').read_bytes()
    with pytest.raises(SystemExit) as exit_info:
        train_main(['--resume', str(colour), '--steps', '4'])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and len(err.strip().splitlines()) == 1
    assert 'cannot resume' in err and 'on different data' in err and 'differ' in err
    assert (colour / 'checkpoint.pt').read_bytes() == before


def test_a_run_stopped_early_by_a_callback_still_has_its_history_and_report(tmp_path, digits, capsys):
    stopper = torchbearer.callbacks.EarlyStopping(monitor='running_d_loss', patience=0, min_delta=10, mode='min',
                                                  step_on_batch=True)
    trial, _, _ = make_trial(callbacks=[stopper])
    history = bearer_gan.run_gan(trial, batches(digits), 50)
    assert len(history) == 1 and history[-1]['step'] < 50 and 'running_d_loss' in history[-1]
    config = RunConfig(steps=50, device='cpu', out=str(tmp_path))
    cli_train.report(config, history, 1.0, evaluate=False, quiet=True)
    assert capsys.readouterr().out.startswith(f"stopped at step {history[-1]['step']} of 50 in 1 s on cpu: running")
    cli_train.report(config, [], 1.0, evaluate=False, quiet=True)  # nothing recorded at all: still a summary
    assert capsys.readouterr().out == 'trained to step 50 in 1 s on cpu\n'


def test_a_bug_is_a_traceback_not_a_usage_error(tmp_path, monkeypatch):
    """Only validation errors become one line and exit code 2; a ValueError from a bug propagates."""
    def broken(*args, **kwargs):
        raise ValueError('a bug, not a user mistake')
    monkeypatch.setattr(recipe, 'make_data', broken)
    with pytest.raises(ValueError, match='a bug'):
        train_main([*FLAGS, '--steps', '2', '--out', str(tmp_path / 'run')])
    monkeypatch.undo()

    out = tmp_path / 'trained'
    train_main([*FLAGS, '--steps', '2', '--quiet', '--out', str(out)])
    monkeypatch.setattr(bearer_gan.callbacks.saving, 'build_from_spec', lambda spec: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        bearer_gan_main(['sample', '--run', str(out), '--out', str(tmp_path / 'x.npy')])
