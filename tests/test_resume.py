"""Requeue-safe reruns and --resume: the same command resumes, --steps extends a run, older runs still resume,
a run records what it trained on, runs that stop early (a second Ctrl-C, a NaN) keep what they promise and still
report, and only user mistakes are one-line errors."""
import csv
import json
import os
import signal
import time

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

    # --overwrite, the only way to start over: the finished run's outputs are removed and it trains from step 0.
    # Marks that only a run left alone would keep: a frame of no run, a row past the end, zeroed weights.
    (out / 'samples' / 'step_000099.png').write_bytes(b'a frame of no run')
    with open(out / 'history.csv', 'a') as handle:
        handle.write('99,0,0,0,0\n')
    saved = torch.load(out / 'generator.pt', weights_only=True)
    torch.save(dict(saved, state_dict={name: torch.zeros_like(value) for name, value in saved['state_dict'].items()}),
               out / 'generator.pt')
    train_main([*FLAGS, '--steps', '10', '--overwrite', '--out', str(out)])  # not --quiet: a resume would say so
    printed = capsys.readouterr().out
    assert 'resuming' not in printed and 'already trained' not in printed and 'trained to step 10' in printed
    assert not (out / 'samples' / 'step_000099.png').exists()
    assert rows(out) == rows(reference) and rows(out)[1][0] == '1'  # a new history, from step 1
    assert_same_weights(weights(out), weights(reference))
    assert torch.load(out / 'checkpoint.pt', weights_only=True)['step'] == 10


def test_overwrite_replaces_a_different_run_and_without_it_the_run_is_refused_and_untouched(tmp_path, capsys):
    out, straight = tmp_path / 'run', tmp_path / 'straight'
    train_main([*FLAGS, '--steps', '10', '--quiet', '--out', str(out)])  # frames 0, 4, 8, 10; checkpoint at 9, 10
    (out / 'notes.txt').write_text('mine')  # not a run output: --overwrite leaves it
    other = [*FLAGS, '--steps', '3', '--seed', '7']
    before = {path.relative_to(out): path.read_bytes() for path in out.rglob('*') if path.is_file()}
    with pytest.raises(SystemExit) as exit_info:
        train_main([*other, '--out', str(out)])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and len(err.strip().splitlines()) == 1, err
    assert 'holds a different run' in err and '--seed' in err and 'pass --overwrite' in err
    assert {path.relative_to(out): path.read_bytes() for path in out.rglob('*') if path.is_file()} == before

    train_main([*other, '--overwrite', '--quiet', '--out', str(out)])
    train_main([*other, '--quiet', '--out', str(straight)])
    assert json.loads((out / 'config.json').read_text())['seed'] == 7
    assert sorted(path.name for path in (out / 'samples').iterdir()) == ['step_000000.png', 'step_000003.png']
    assert {path.name for path in out.iterdir()} == {path.name for path in straight.iterdir()} | {'notes.txt'}
    assert [torch.load(out / name, weights_only=True)['step'] for name in ('checkpoint.prev.pt', 'checkpoint.pt')] == [
        torch.load(straight / name, weights_only=True)['step'] for name in ('checkpoint.prev.pt', 'checkpoint.pt')]
    assert rows(out) == rows(straight) and len(rows(out)) == 1 + 3
    assert_same_weights(weights(out), weights(straight))
    assert (out / 'notes.txt').read_text() == 'mine'


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


def test_a_second_ctrl_c_stops_mid_step_writes_the_outputs_but_no_checkpoint(tmp_path, reference, monkeypatch,
                                                                             capsys):
    """The first SIGINT asks for a stop at the step's end; a second one interrupts at once, here in step 5 after the
    generator's update and before the discriminator's, so that half-done step is never checkpointed."""
    class PressCtrlCTwice(torchbearer.callbacks.Callback):
        def on_start(self, state):
            guard = next(callback for callback in state[torchbearer.CALLBACK_LIST]
                         if isinstance(callback, bearer_gan.TrainingGuard))

            def press_twice(optimizer, args, kwargs):
                if state[bearer_gan.keys.STEP] == 4:  # in step 5 (STEP counts completed steps)
                    os.kill(os.getpid(), signal.SIGINT)
                    assert guard.stop_requested.wait(5)  # the first: a request
                    os.kill(os.getpid(), signal.SIGINT)
                    time.sleep(5)  # the second raises KeyboardInterrupt here, long before the sleep ends
            state[bearer_gan.keys.GENERATOR_OPTIMIZER].register_step_post_hook(press_twice)
    out = tmp_path / 'run'
    real = recipe.make_callbacks
    monkeypatch.setattr(recipe, 'make_callbacks', lambda *args, **kwargs: [PressCtrlCTwice()] + real(*args, **kwargs))
    handlers = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    began = time.monotonic()
    with pytest.raises(SystemExit) as stopped:
        train_main([*FLAGS, '--steps', '10', '--quiet', '--out', str(out)])
    monkeypatch.undo()
    assert time.monotonic() - began < 60 and stopped.value.code == 130
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == handlers
    assert 'continue with' in capsys.readouterr().err
    assert torch.load(out / 'checkpoint.pt', weights_only=True)['step'] == 3  # the periodic one, not step 4 or 5
    assert rows(out) == rows(reference)[:1 + 4]  # the outputs are written: history to the last whole step,
    for name in ('progress.gif', 'losses.png', 'generator.pt', 'discriminator.pt'):  # the GIF and the networks
        assert (out / name).exists(), name

    train_main([*FLAGS, '--steps', '10', '--out', str(out)])  # the same command continues from step 3
    assert f'resuming {out} at step 3 of 10' in capsys.readouterr().out
    assert rows(out) == rows(reference)
    assert_same_weights(weights(out), weights(reference))


def test_a_nan_stop_from_the_command_line_keeps_the_periodic_checkpoint_before_it(tmp_path, capsys):
    out = tmp_path / 'run'
    with pytest.raises(SystemExit) as stopped:  # an Adam step of 1e20 makes step 2's losses NaN
        train_main(['--dataset', 'mnist-5k', '--batch-size', '16', '--checkpoint-interval', '1', '--lr', '1e20',
                    '--steps', '10', '--device', 'cpu', '--no-eval', '--quiet', '--out', str(out)])
    err = capsys.readouterr().err
    assert stopped.value.code == 1 and len(err.strip().splitlines()) == 1, err
    assert 'g_loss became nan at step 2; training stopped there' in err and 'Try a lower --lr' in err
    assert f'the last good checkpoint is {out / "checkpoint.pt"}' in err and 'Traceback' not in err
    checkpoint, path = bearer_gan.load_checkpoint(str(out))
    assert path == str(out / 'checkpoint.pt') and checkpoint['step'] == 1  # step 2 was not checkpointed
    assert all(torch.isfinite(value).all() for network in ('generator', 'discriminator')
               for value in checkpoint[network].values())
    assert len(rows(out)) == 1 + 2 and (out / 'progress.gif').exists()  # the history to the bad step, the GIF
    assert not (out / 'generator.pt').exists()  # no NaN weights saved as the result


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
