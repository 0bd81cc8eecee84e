"""What a run keeps as it goes: the history CSV (appended, never rewritten), the moving average, checkpoints
whose size does not grow with the run, checkpoint formats, and a crash in the middle of writing one."""
import csv
import os

import pytest
import torch
import torchbearer

import bearer_gan
from bearer_gan import checkpoint as checkpoint_module
from bearer_gan import keys
from conftest import batches, make_trial


def history_state(step, values):
    g_loss, d_loss, d_x, d_g_z = values
    return {keys.STEP: step, keys.GENERATOR_LOSS: torch.tensor(float(g_loss), requires_grad=True) * 1,
            keys.DISCRIMINATOR_LOSS: torch.tensor(float(d_loss)), keys.D_REAL: torch.tensor(d_x),
            keys.D_FAKE: torch.tensor(d_g_z)}


def record(history, steps):
    for step in steps:
        history.on_step_training(history_state(step, (step, -step, step / 100, 1 - step / 100)))


def test_history_appends_to_its_csv_and_a_resumed_one_drops_the_rows_after_its_checkpoint(tmp_path):
    """torchbearer-style: the hooks on a plain state. The file is appended to in place (same inode,
    earlier bytes untouched); a checkpoint keeps its length only, and resuming cuts it back to that."""
    path = tmp_path / 'history.csv'
    history = bearer_gan.LossHistory(str(path), write_interval=2)
    history.on_start({})
    record(history, [1, 2])
    inode, first = os.stat(path).st_ino, path.read_bytes()
    record(history, [3, 4, 5])  # 3 and 4 written, 5 pending
    assert os.stat(path).st_ino == inode and path.read_bytes().startswith(first)
    saved = history.state_dict()  # writes step 5 first: the checkpoint's rows are on disk
    assert saved == {'rows_written': 5, 'bytes': os.path.getsize(path)}
    record(history, [6, 7])  # a run killed after its checkpoint had written these
    history.write_csv()

    resumed = bearer_gan.LossHistory(str(path), write_interval=2).load_state_dict(saved)
    resumed.on_start({})
    record(resumed, [6, 7, 8])
    resumed.on_end({})
    header, rows = bearer_gan.read_history(str(path))
    assert header == ('step', 'g_loss', 'd_loss', 'd_x', 'd_g_z')
    assert [row[0] for row in rows] == list(range(1, 9))
    assert rows[4] == [5, 5.0, -5.0, pytest.approx(0.05), pytest.approx(0.95)]


def test_history_records_the_quantities_it_is_given(tmp_path):
    path = tmp_path / 'history.csv'
    history = bearer_gan.LossHistory(str(path), quantities=[keys.D_REAL, keys.GENERATOR_LOSS])
    history.on_start({})
    record(history, [1, 2])
    history.write_csv()
    header, rows = bearer_gan.read_history(str(path))
    assert header == ('step', 'd_x', 'g_loss')
    torch.testing.assert_close(torch.tensor(rows), torch.tensor([[1, 0.01, 1.0], [2, 0.02, 2.0]]))


def test_ema_follows_its_formula_with_batch_norm_buffers_and_resumes_exactly():
    torch.manual_seed(0)
    generator, _ = bearer_gan.build_models('tutorial')
    state = {torchbearer.MODEL: generator}
    ema = bearer_gan.GeneratorEMA(0.9)
    ema.on_start(state)
    expected = None
    for n in range(6):
        with torch.no_grad():
            for parameter in generator.parameters():
                parameter.add_(torch.randn_like(parameter))
            generator(torch.randn(8, 100))  # batch norm's running statistics and step counter move too
        if n == 3:  # checkpoint and resume half-way: a new callback, restored from the state
            ema = bearer_gan.GeneratorEMA(0.9).load_state_dict(ema.state_dict())
            ema.on_start(state)
        ema.on_step_training(state)
        current = {name: tensor.detach().clone() for name, tensor in generator.state_dict().items()}
        if expected is None:
            expected = current
        else:
            decay = min(0.9, (1 + n) / (10 + n))
            expected = {name: value + (1 - decay) * (current[name] - value) if value.is_floating_point()
                        else current[name] for name, value in expected.items()}
    averaged = ema.averaged.module.state_dict()
    assert averaged.keys() == expected.keys()
    for name in expected:
        torch.testing.assert_close(averaged[name], expected[name], msg=name)
    assert int(ema.state_dict()['averaged']['n_averaged']) == 6


def checkpointed_trial(run_dir, sample_interval=1000):
    sampler = bearer_gan.FixedNoiseSampler(str(run_dir / 'samples'), sample_interval, num_images=4)
    return make_trial(callbacks=[bearer_gan.GeneratorEMA(0.9), sampler,
                                 bearer_gan.LossHistory(str(run_dir / 'history.csv')),
                                 bearer_gan.GANCheckpoint(str(run_dir), 1000)])[0]


def test_a_checkpoint_does_not_grow_with_the_run(tmp_path, digits):
    sizes = {}
    for steps in (8, 80):
        run_dir = tmp_path / str(steps)
        run_dir.mkdir()
        bearer_gan.run_gan(checkpointed_trial(run_dir), batches(digits), steps)
        sizes[steps] = os.path.getsize(run_dir / 'checkpoint.pt')
        with open(run_dir / 'history.csv') as handle:
            assert len(list(csv.reader(handle))) == steps + 1
    assert abs(sizes[80] - sizes[8]) < 200, sizes  # 72 more rows of history would be kilobytes


def test_a_checkpoint_of_an_older_format_is_migrated_and_one_of_a_newer_format_refused(tmp_path, digits):
    run_dir = tmp_path / 'run'
    run_dir.mkdir()
    bearer_gan.run_gan(checkpointed_trial(run_dir), batches(digits), 6)
    current = torch.load(run_dir / 'checkpoint.pt', weights_only=True)
    _, rows = bearer_gan.read_history(str(run_dir / 'history.csv'))
    # format 1: the history's rows were in the checkpoint, and the CSV was rewritten from them
    old = dict(current, format=1, callbacks=[(name, {'rows': rows} if name == 'LossHistory' else state)
                                             for name, state in current['callbacks']])
    torch.save(old, run_dir / 'checkpoint.pt')
    (run_dir / 'history.csv').write_text('step,g_loss\n')  # whatever the file holds, the rows come from the checkpoint
    messages = []
    loaded, _ = bearer_gan.load_checkpoint(str(run_dir), warn=messages.append)
    assert loaded['format'] == checkpoint_module.FORMAT
    assert len(messages) == 1 and 'made by an older version' in messages[0] and 'migrated' in messages[0]
    trial = checkpointed_trial(run_dir)
    bearer_gan.restore_checkpoint(trial, loaded)
    bearer_gan.run_gan(trial, bearer_gan.image_batches(*digits, 32, seed=0, start_step=6), 8)
    _, resumed_rows = bearer_gan.read_history(str(run_dir / 'history.csv'))
    assert resumed_rows[:6] == rows and [row[0] for row in resumed_rows] == list(range(1, 9))

    torch.save(dict(current, format=checkpoint_module.FORMAT + 1), run_dir / 'checkpoint.pt')
    os.remove(run_dir / 'checkpoint.prev.pt')
    with pytest.raises(bearer_gan.CheckpointError, match='made by a newer version') as error:
        bearer_gan.load_checkpoint(str(run_dir))
    assert 'corrupt' not in str(error.value).split('does not exist')[0]


@pytest.mark.parametrize('crash', ['mid-write', 'after-rotation'])
def test_a_crash_while_writing_a_checkpoint_leaves_a_complete_one(tmp_path, digits, monkeypatch, crash):
    """Inject the crash: torch.save dies half-way through the file, or the process dies right after the
    previous checkpoint was moved aside. Either way a complete checkpoint of the last good step loads."""
    trial = checkpointed_trial(tmp_path)
    bearer_gan.run_gan(trial, batches(digits), 4)
    good = (tmp_path / 'checkpoint.pt').read_bytes()
    real_save, real_replace = torch.save, os.replace

    def dies_mid_write(obj, path):
        real_save(obj, path)
        with open(path, 'r+b') as handle:
            handle.truncate(os.path.getsize(path) // 2)
        raise KeyboardInterrupt('killed while writing')

    def dies_after_rotation(source, target):
        real_replace(source, target)
        if str(target).endswith('checkpoint.prev.pt'):
            raise KeyboardInterrupt('killed between the two renames')

    if crash == 'mid-write':
        monkeypatch.setattr(checkpoint_module.torch, 'save', dies_mid_write)
    else:
        monkeypatch.setattr(checkpoint_module.os, 'replace', dies_after_rotation)
    saver = next(callback for callback in trial.state[torchbearer.CALLBACK_LIST]
                 if isinstance(callback, bearer_gan.GANCheckpoint))
    state = dict(trial.state)
    state[torchbearer.SELF] = trial
    with pytest.raises(KeyboardInterrupt):
        saver.save(state)
    monkeypatch.undo()
    if crash == 'mid-write':
        assert (tmp_path / 'checkpoint.pt').read_bytes() == good  # untouched
    else:
        assert not (tmp_path / 'checkpoint.pt').exists() and (tmp_path / 'checkpoint.prev.pt').read_bytes() == good
    loaded, _ = bearer_gan.load_checkpoint(str(tmp_path), warn=lambda message: None)
    assert loaded['step'] == 4
    assert not [name for name in os.listdir(tmp_path) if name.startswith('.')]  # the temporary file is gone
