"""``bearer-gan export``: every pair round-trips through TorchScript and ONNX, the files say what they take and
draw, a user's mistake is one line and exit code 2 with nothing written, and a file that disagrees with PyTorch
fails loudly and is removed.

The files are read back here as a user would, with ``torch.jit.load`` or onnxruntime alone, at a batch size
neither the export nor its own check used. ONNX tests need the ``onnx`` extra: they skip without it, except
under ``CI=true``, where a missing extra fails them (:func:`require_onnx_extra`, ``conftest.require_module``).
"""
import importlib.util
import json
import sys
import warnings
import zipfile
from pathlib import Path

import pytest
import torch

from bearer_gan import read_export_metadata
from bearer_gan.cli.main import main
from bearer_gan.models import MODELS, apply_spectral_norm, build_from_spec, model_spec
import bearer_gan.report.export as export_module
from bearer_gan.report.export import (CHECK_BATCH, METADATA_KEY, ONNX_EXTRA, TRACE_BATCH, ExportCheckError,
                                      ExportError, export_generator, export_metadata, export_run, inference_copy)
from conftest import load_script, require_module

# (pair, image shape, classes, spectral norm): every pair of the package, each image size dcgan's plan covers
# by a different route, conditional and spectral-norm runs.
CASES = [
    ('tutorial', (1, 28, 28), None, False),
    ('mlp256', (1, 28, 28), None, False),
    ('dcgan', (1, 28, 28), None, False),
    ('dcgan', (3, 32, 32), None, False),
    ('dcgan', (3, 64, 64), None, False),
    ('resnet', (3, 32, 32), None, False),
    ('tutorial', (1, 28, 28), 10, True),
    ('mlp256', (3, 32, 32), 10, True),
    ('dcgan', (1, 28, 28), 10, True),
    ('resnet', (3, 32, 32), 10, True),
]
FORMATS = {'torchscript': '.pt', 'onnx': '.onnx'}
READ_BATCH = 3  # neither TRACE_BATCH nor CHECK_BATCH: the batch axis must be free


def require_onnx_extra():
    """Skip the calling test when a package of the ``onnx`` extra is missing; under ``CI=true`` fail it instead,
    so that CI cannot pass by skipping every ONNX test."""
    require_module(*ONNX_EXTRA, extra='onnx')


def needs(format):
    if format == 'onnx':
        require_onnx_extra()


def make_run(folder, name='dcgan', image_shape=(1, 28, 28), num_classes=None, spectral_norm=False, seed=0):
    """A run folder holding a randomly initialised generator.pt, saved as SaveModels saves it. Batch-norm
    statistics are made non-trivial, so that a file traced in train mode would differ."""
    torch.manual_seed(seed)
    spec = model_spec(name, None, image_shape, num_classes, spectral_norm)
    generator = build_from_spec(spec)[0]
    for module in generator.modules():
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
            module.running_mean.normal_(0, 0.1)
            module.running_var.uniform_(0.5, 1.5)
    folder.mkdir(parents=True, exist_ok=True)
    torch.save({**spec, 'state_dict': generator.state_dict()}, folder / 'generator.pt')
    return folder, generator.eval(), spec


def inputs_for(spec, batch, seed=7):
    z = torch.randn(batch, spec['latent_dim'], generator=torch.Generator().manual_seed(seed))
    return (z,) if spec['num_classes'] is None else (z, torch.arange(batch) % spec['num_classes'])


def run_file(path, format, inputs):
    """The images an exported file draws, read without bearer_gan."""
    if format == 'torchscript':
        with warnings.catch_warnings():
            warnings.simplefilter('ignore', FutureWarning)  # torch.jit is deprecated in torch 2.14, still loads
            return torch.jit.load(str(path))(*inputs)
    import onnxruntime
    session = onnxruntime.InferenceSession(str(path), providers=['CPUExecutionProvider'])
    feeds = {entry.name: tensor.numpy() for entry, tensor in zip(session.get_inputs(), inputs)}
    return torch.from_numpy(session.run(['images'], feeds)[0])


def exit_code(argv):
    with pytest.raises(SystemExit) as stopped:
        main(argv)
    return stopped.value.code


def files_in(folder):
    return sorted(path.name for path in folder.iterdir())


# --- round trips ------------------------------------------------------------------------------------------------

def test_the_cases_cover_every_pair_of_the_package():
    own = {name for name, entry in MODELS.items()
           if getattr(getattr(entry.generator, 'func', entry.generator), '__module__', '').startswith('bearer_gan.')}
    assert own <= {case[0] for case in CASES}


@pytest.mark.parametrize('format', FORMATS)
@pytest.mark.parametrize('name, image_shape, num_classes, spectral_norm', CASES,
                         ids=[f"{c[0]}-{c[1][1]}{'-cond' if c[2] else ''}{'-sn' if c[3] else ''}" for c in CASES])
def test_every_pair_round_trips(tmp_path, format, name, image_shape, num_classes, spectral_norm):
    needs(format)
    run, generator, spec = make_run(tmp_path / 'run', name, image_shape, num_classes, spectral_norm)
    out = tmp_path / f'generator{FORMATS[format]}'
    exported = export_run(str(run), str(out), format)
    assert exported.max_difference <= 1e-4 and exported.path == str(out)
    assert files_in(tmp_path) == sorted(['run', out.name])  # no temporary file left beside it
    inputs = inputs_for(spec, READ_BATCH)
    with torch.no_grad():
        expected = generator(*inputs)
    images = run_file(out, format, inputs)
    assert images.shape == (READ_BATCH, *image_shape)
    torch.testing.assert_close(images, expected, atol=1e-4, rtol=0)
    assert read_export_metadata(str(out)) == exported.metadata == export_metadata(spec, format)


@pytest.mark.parametrize('format', FORMATS)
def test_a_spectral_norm_generator_is_exported_with_plain_weights(tmp_path, format):
    needs(format)
    spec = model_spec('dcgan', image_shape=(1, 28, 28))
    generator = apply_spectral_norm(build_from_spec(spec)[0]).eval()
    before = {key: value.clone() for key, value in generator.state_dict().items()}
    out = tmp_path / f'g{FORMATS[format]}'
    export_generator(generator, spec, str(out), format)
    inputs = inputs_for(spec, READ_BATCH)
    with torch.no_grad():
        torch.testing.assert_close(run_file(out, format, inputs), generator(*inputs), atol=1e-4, rtol=0)
    assert all(torch.equal(before[key], value) for key, value in generator.state_dict().items())  # left as it was
    assert not any('parametrizations' in key for key in inference_copy(generator).state_dict())
    if format == 'torchscript':
        with warnings.catch_warnings():
            warnings.simplefilter('ignore', FutureWarning)
            assert not any('parametrizations' in key for key in torch.jit.load(str(out)).state_dict())


# --- metadata ---------------------------------------------------------------------------------------------------

def test_metadata_names_shapes_and_ranges():
    spec = model_spec('dcgan', image_shape=(3, 32, 32), num_classes=10)
    metadata = export_metadata(spec, 'onnx')
    assert metadata['model'] == spec and metadata['format'] == 'onnx'
    assert metadata['inputs'] == [
        {'name': 'z', 'dtype': 'float32', 'shape': ['batch', 64], 'distribution': 'standard normal'},
        {'name': 'labels', 'dtype': 'int64', 'shape': ['batch'], 'range': [0, 9]}]
    assert metadata['outputs'] == [{'name': 'images', 'dtype': 'float32', 'shape': ['batch', 3, 32, 32],
                                    'range': [-1, 1]}]
    assert [entry['name'] for entry in export_metadata(model_spec('mlp256'), 'onnx')['inputs']] == ['z']


def test_the_metadata_is_readable_without_bearer_gan(tmp_path):
    run = make_run(tmp_path / 'run', 'tutorial', num_classes=3)[0]
    main(['export', '--run', str(run), '--format', 'torchscript', '--out', str(tmp_path / 'g.ts')])
    with zipfile.ZipFile(tmp_path / 'g.ts') as archive:  # a TorchScript file is a zip; the extra file is in it
        name, = [name for name in archive.namelist() if name.endswith(f'/extra/{METADATA_KEY}')]
        recorded = json.loads(archive.read(name))
    assert recorded['inputs'][1]['range'] == [0, 2] and recorded['outputs'][0]['range'] == [-1, 1]


def test_the_onnx_metadata_and_names_are_in_the_graph(tmp_path):
    require_onnx_extra()
    import onnx
    run = make_run(tmp_path / 'run', 'mlp256', num_classes=4)[0]
    main(['export', '--run', str(run), '--format', 'onnx', '--out', str(tmp_path / 'g.onnx')])
    model = onnx.load(str(tmp_path / 'g.onnx'))
    props = {entry.key: entry.value for entry in model.metadata_props}
    assert json.loads(props[METADATA_KEY])['outputs'][0]['shape'] == ['batch', 1, 28, 28]
    assert [entry.name for entry in model.graph.input] == ['z', 'labels']
    assert [entry.name for entry in model.graph.output] == ['images']
    assert model.graph.input[0].type.tensor_type.shape.dim[0].dim_param  # a named, free batch axis


def test_the_cli_prints_inputs_outputs_and_ranges(tmp_path, capsys):
    run = make_run(tmp_path / 'run', 'dcgan', num_classes=10)[0]
    main(['export', '--run', str(run), '--format', 'torchscript', '--out', str(tmp_path / 'g.pt')])
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith(f"wrote {tmp_path / 'g.pt'}: torchscript export of dcgan (1x28x28)")
    assert any('z' in line and '(batch, 64)' in line for line in lines)
    assert any('labels' in line and 'classes 0 to 9' in line for line in lines)
    assert any('images' in line and '(batch, 1, 28, 28) in [-1, 1]' in line for line in lines)


@pytest.mark.parametrize('format', FORMATS)
@pytest.mark.parametrize('num_classes', [None, 3])
def test_the_docs_draw_images_from_an_exported_file(tmp_path, format, num_classes):
    needs(format)
    docs = load_script(Path(__file__).resolve().parents[1] / 'docs' / 'code' / 'export_load.py', 'docs_export_load')
    run = make_run(tmp_path / 'run', 'mlp256', num_classes=num_classes)[0]
    out = tmp_path / f'g{FORMATS[format]}'
    export_run(str(run), str(out), format)
    draw = docs.torchscript_images if format == 'torchscript' else docs.onnx_images
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', FutureWarning)
        images = torch.as_tensor(draw(str(out), n=4, label=2))
    assert images.shape == (4, 1, 28, 28) and images.dtype == torch.float32 and images.abs().max() <= 1


# --- a user's mistake: one line, exit code 2, nothing written ----------------------------------------------------

@pytest.mark.parametrize('case', ['no generator', 'corrupt generator', 'unknown format', 'onnx as .pt',
                                  'torchscript as .onnx', 'no such folder', 'folder is a file', 'out is a folder',
                                  "the run's generator.pt", 'missing onnx extra'])
def test_a_mistake_is_one_line_and_exit_2_with_nothing_written(tmp_path, capsys, monkeypatch, case):
    run = make_run(tmp_path / 'run')[0]
    (tmp_path / 'a_file').write_text('')
    generator_bytes = (run / 'generator.pt').read_bytes()
    format, out = 'torchscript', tmp_path / 'g.pt'
    if case == 'no generator':
        run = tmp_path / 'empty'
        run.mkdir()
    elif case == 'corrupt generator':
        (run / 'generator.pt').write_bytes(b'not a generator')
    elif case == 'unknown format':
        format = 'tflite'
    elif case == 'onnx as .pt':
        format = 'onnx'
    elif case == 'torchscript as .onnx':
        out = tmp_path / 'g.onnx'
    elif case == 'no such folder':
        out = tmp_path / 'missing' / 'g.pt'
    elif case == 'folder is a file':
        out = tmp_path / 'a_file' / 'g.pt'
    elif case == 'out is a folder':
        out = tmp_path / 'run'
    elif case == "the run's generator.pt":
        out = run / 'generator.pt'
    elif case == 'missing onnx extra':
        format, out = 'onnx', tmp_path / 'g.onnx'
        monkeypatch.setitem(sys.modules, 'onnxruntime', None)  # import onnxruntime raises ImportError
    before = {path: path.stat().st_mtime_ns if path.is_file() else None for path in tmp_path.rglob('*')}
    assert exit_code(['export', '--run', str(run), '--format', format, '--out', str(out)]) == 2
    error = capsys.readouterr().err
    assert error.startswith('bearer-gan export: error: ') and error.count('\n') == 1, error
    after = {path: path.stat().st_mtime_ns if path.is_file() else None for path in tmp_path.rglob('*')}
    assert after == before  # no file written or changed
    if case != 'corrupt generator':
        assert (tmp_path / 'run' / 'generator.pt').read_bytes() == generator_bytes
    if case == 'missing onnx extra':
        assert 'pip install "bearer_gan[onnx]"' in error


def test_reading_metadata_of_a_file_bearer_gan_did_not_export(tmp_path):
    run = make_run(tmp_path / 'run')[0]
    for path, reason in ((run / 'generator.pt', 'cannot read'), (tmp_path / 'notes.txt', 'neither')):
        path.touch()
        with pytest.raises(ExportError, match=reason):
            read_export_metadata(str(path))
    plain = tmp_path / 'plain.ts'
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', FutureWarning)
        torch.jit.save(torch.jit.trace(torch.nn.Linear(2, 2), torch.zeros(1, 2)), str(plain))
    with pytest.raises(ExportError, match='holds no'):
        read_export_metadata(str(plain))


def test_the_library_refuses_before_building(tmp_path):
    spec = model_spec('tutorial')
    generator = build_from_spec(spec)[0]
    with pytest.raises(ExportError, match='ending in .onnx'):
        export_generator(generator, spec, str(tmp_path / 'g.ts'), 'onnx')
    with pytest.raises(ExportError, match='unknown format'):
        export_generator(generator, spec, str(tmp_path / 'g.ts'), 'keras')
    assert files_in(tmp_path) == []


# --- a file that disagrees with PyTorch fails loudly and is removed ----------------------------------------------

def perturbed(run):
    def wrong(path, inputs):
        images, metadata = run(path, inputs)
        return images + 1e-3, metadata
    return wrong


@pytest.mark.parametrize('format', FORMATS)
def test_a_file_that_disagrees_is_removed_and_fails(tmp_path, monkeypatch, format):
    needs(format)
    name = '_run_torchscript' if format == 'torchscript' else '_run_onnx'
    monkeypatch.setattr(export_module, name, perturbed(getattr(export_module, name)))
    run = make_run(tmp_path / 'run', 'mlp256')[0]
    with pytest.raises(ExportCheckError, match=r'up to 0\.001 away'):
        export_run(str(run), str(tmp_path / f'g{FORMATS[format]}'), format)
    assert files_in(tmp_path) == ['run']


def test_the_cli_fails_a_disagreeing_file_with_one_line_and_exit_1(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(export_module, '_run_torchscript', perturbed(export_module._run_torchscript))
    run = make_run(tmp_path / 'run', 'tutorial')[0]
    old = tmp_path / 'g.pt'
    old.write_bytes(b'an earlier export')
    assert exit_code(['export', '--run', str(run), '--format', 'torchscript', '--out', str(old)]) == 1
    error = capsys.readouterr().err
    assert error.startswith('bearer-gan export: error: the torchscript file draws images') and error.count('\n') == 1
    assert old.read_bytes() == b'an earlier export' and files_in(tmp_path) == ['g.pt', 'run']


def test_a_file_without_its_metadata_fails(tmp_path, monkeypatch):
    run_torchscript = export_module._run_torchscript
    monkeypatch.setattr(export_module, '_run_torchscript', lambda path, inputs: (run_torchscript(path, inputs)[0], ''))
    with pytest.raises(ExportCheckError, match='metadata'):
        export_run(str(make_run(tmp_path / 'run', 'mlp256')[0]), str(tmp_path / 'g.ts'), 'torchscript')
    assert files_in(tmp_path) == ['run']


def test_a_batch_size_baked_into_the_file_fails(tmp_path):
    """A generator whose graph keeps the batch size it was traced at (a constant reshape) cannot pass."""
    class Baked(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.linear = torch.nn.Linear(64, 28 * 28)

        def forward(self, z):
            return torch.tanh(self.linear(z)).reshape(TRACE_BATCH if torch.jit.is_tracing() else len(z), 1, 28, 28)

    assert CHECK_BATCH != TRACE_BATCH
    with pytest.raises(ExportCheckError, match='does not run at batch size 5'):
        export_generator(Baked(), model_spec('mlp256'), str(tmp_path / 'g.pt'), 'torchscript')
    assert files_in(tmp_path) == []


# --- the test helper itself --------------------------------------------------------------------------------------

@pytest.mark.parametrize('ci, outcome', [('true', pytest.fail.Exception), ('', pytest.skip.Exception)])
def test_a_missing_extra_skips_outside_ci_and_fails_in_ci(monkeypatch, ci, outcome):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, 'find_spec', lambda name, *rest: None if name == 'onnxruntime' else real(name))
    monkeypatch.setenv('CI', ci)
    with pytest.raises(outcome, match='onnxruntime'):
        require_onnx_extra()
