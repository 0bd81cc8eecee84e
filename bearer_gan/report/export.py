"""A run's generator as one file that runs without bearer_gan: TorchScript or ONNX.

``generator.pt`` holds a state dict and a model spec, so only bearer_gan can rebuild the network
(:func:`~bearer_gan.callbacks.load_generator`). An app, a C++ program or an inference server needs
the network itself. :func:`export_run` writes the run's generator (the moving average when the run
kept one: that is what ``generator.pt`` holds) in one of :data:`EXPORT_FORMATS`:

* ``torchscript`` (``.pt`` or ``.ts``): traced with :func:`torch.jit.trace`; loads with
  :func:`torch.jit.load` in Python or ``torch::jit::load`` in C++. PyTorch 2.14 marks
  ``torch.jit`` deprecated (a ``FutureWarning``, silenced here) but still loads and runs it.
* ``onnx`` (``.onnx``): written by :func:`torch.onnx.export` with ``dynamo=True``, the
  ``torch.export``-based exporter PyTorch maintains (the TorchScript-based ``dynamo=False`` one
  warns that it will be removed); it needs ``onnxscript``. Checked with onnxruntime. These three
  packages are the ``onnx`` extra (``pip install "bearer_gan[onnx]"``) and are imported only in
  the functions that need them, so the core imports without them.

The file takes ``z``, float32 ``(N, latent_dim)`` standard normal noise, and for a
class-conditional run ``labels``, int64 ``(N,)`` in ``[0, num_classes)``, in that order, and
returns ``images``, float32 ``(N, C, H, W)`` in ``[-1, 1]``. ``N`` is free: the network is traced
at :data:`TRACE_BATCH` and checked at :data:`CHECK_BATCH`. The file records these names, shapes
and ranges as JSON (:func:`export_metadata`) under :data:`METADATA_KEY`: a TorchScript extra file,
an ONNX ``metadata_props`` entry; :func:`read_export_metadata` reads it back.

Each file is written to a temporary path beside ``out``, loaded back with its own runtime and
compared with PyTorch on fixed noise; only when every image is within :data:`CHECK_TOLERANCE` is it
moved to ``out``. Otherwise nothing is left at ``out`` (:class:`ExportCheckError`).
"""
import contextlib
import copy
import importlib
import json
import os
import tempfile
import warnings
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import nn
from torch.nn.utils import parametrize

from ..callbacks.saving import load_generator
from ..files import atomic_path
from ..models import read_model_spec

__all__ = ['EXPORT_FORMATS', 'METADATA_KEY', 'CHECK_TOLERANCE', 'TRACE_BATCH', 'CHECK_BATCH', 'ONNX_EXTRA',
           'ExportError', 'ExportCheckError', 'ExportedGenerator', 'export_run', 'export_generator',
           'export_metadata', 'inference_copy', 'read_export_metadata', 'describe_export']

#: ``format -> file extensions it may be written to``; the extension must match the format.
EXPORT_FORMATS: Mapping[str, Tuple[str, ...]] = MappingProxyType({'torchscript': ('.pt', '.ts'), 'onnx': ('.onnx',)})
#: Where a file keeps its metadata: the name of the TorchScript extra file and the ONNX ``metadata_props`` key.
METADATA_KEY = 'bearer_gan.json'
#: Largest absolute difference allowed between the file's images and PyTorch's, in ``[-1, 1]`` units.
CHECK_TOLERANCE = 1e-4
#: Batch size the network is traced (exported) at; 2, since ``torch.export`` specialises a batch of 1.
TRACE_BATCH = 2
#: Batch size of the check, different from :data:`TRACE_BATCH` so that a batch size baked into the file fails it.
CHECK_BATCH = 5
#: The packages of the ``onnx`` extra: the file format, the runtime that checks it, and what torch's exporter needs.
ONNX_EXTRA = ('onnx', 'onnxruntime', 'onnxscript')


class ExportError(ValueError):
    """A request that cannot be exported as asked (a wrong extension, an unwritable folder, a missing extra);
    the one-line message says what to change. Nothing is written."""


class ExportCheckError(RuntimeError):
    """The written file does not reproduce PyTorch's images (or its metadata); it has been removed."""


@dataclass(frozen=True)
class ExportedGenerator:
    """What :func:`export_generator` wrote.

    Attributes:
        path: the file.
        metadata: what it records under :data:`METADATA_KEY` (:func:`export_metadata`).
        max_difference: largest absolute difference between its images and PyTorch's at the check.
    """
    path: str
    metadata: Dict[str, Any]
    max_difference: float


def _refuse_early(out: str, format: str, run_dir: Optional[str] = None):
    """Refuse ``out`` before anything is built: a wrong extension, a folder, the run's own ``generator.pt``,
    a folder that does not exist or cannot be written (it is not created: a mistyped path should not
    leave folders behind), or ONNX without the ``onnx`` extra."""
    if os.path.isdir(out):
        raise ExportError(f'{out!r} is a folder; name the file to write, e.g. {os.path.join(out, "generator.onnx")}')
    if format not in EXPORT_FORMATS:
        raise ExportError(f"unknown format {format!r}; choose one of: {', '.join(EXPORT_FORMATS)}")
    if os.path.splitext(out)[1].lower() not in EXPORT_FORMATS[format]:
        raise ExportError(f"format {format} writes a file ending in {' or '.join(EXPORT_FORMATS[format])}, got {out!r}")
    if run_dir is not None and os.path.realpath(out) == os.path.realpath(os.path.join(run_dir, 'generator.pt')):
        raise ExportError(f"{out!r} is the run's own generator.pt, which the export reads; name another file")
    folder = os.path.dirname(os.path.abspath(out))
    if not os.path.isdir(folder):
        raise ExportError(f'cannot write {out!r}: the folder {folder!r} does not exist')
    try:
        handle, probe = tempfile.mkstemp(prefix='.export-probe.', dir=folder)
    except OSError as error:
        raise ExportError(f'cannot write to {folder!r}: {error.strerror or error}')
    os.close(handle)
    os.remove(probe)
    if format == 'onnx':
        _require_onnx()


def _require_onnx():
    missing = []
    for name in ONNX_EXTRA:
        try:
            importlib.import_module(name)
        except ImportError:
            missing.append(name)
    if missing:
        raise ExportError(f"ONNX export needs the onnx extra (missing: {', '.join(missing)}); "
                          f'install it with: pip install "bearer_gan[onnx]"')


def export_metadata(spec: Mapping[str, Any], format: str) -> Dict[str, Any]:
    """What an exported file records about itself, as plain JSON values.

    Returns:
        ``{'format', 'model': the model spec, 'inputs': [...], 'outputs': [...], 'torch': version}``; each
        input and output is ``{'name', 'dtype', 'shape', ...}`` with ``'batch'`` for the free first axis:
        ``z`` ``['batch', latent_dim]`` (standard normal), ``labels`` ``['batch']`` with ``range`` ``[0,
        num_classes - 1]`` (conditional runs only), ``images`` ``['batch', C, H, W]`` with ``range`` ``[-1, 1]``.
    """
    spec = read_model_spec(spec)
    inputs = [{'name': 'z', 'dtype': 'float32', 'shape': ['batch', spec['latent_dim']],
               'distribution': 'standard normal'}]
    if spec['num_classes'] is not None:
        inputs.append({'name': 'labels', 'dtype': 'int64', 'shape': ['batch'], 'range': [0, spec['num_classes'] - 1]})
    outputs = [{'name': 'images', 'dtype': 'float32', 'shape': ['batch', *spec['image_shape']], 'range': [-1, 1]}]
    return {'format': format, 'model': spec, 'inputs': inputs, 'outputs': outputs, 'torch': torch.__version__}


def inference_copy(generator: nn.Module) -> nn.Module:
    """A CPU copy of ``generator`` in eval mode, without gradients, with every parametrization (spectral norm,
    weight norm, ...) folded into a plain weight; ``generator`` is left as it is.

    Folding leaves each weight as the network uses it at inference, under its plain name: the file then
    holds no ``original`` weight and power-iteration vectors, recomputes no normalisation on every call,
    and needs no exporter to understand parametrizations. It happens in eval mode, where spectral norm
    runs no power iteration, so the folded weights are exactly those the network used. The copy is on the
    CPU because a trace records the device of its tensors, and a file that runs anywhere must not ask for
    a GPU.

    A deep copy of a parametrized layer shares its class (``ParametrizedLinear``, made by
    :mod:`torch.nn.utils.parametrize`) with the original, and removing a parametrization deletes the
    weight's property from that class, which would break the original too; so each copied layer is
    first given a class of its own.
    """
    network = copy.deepcopy(generator).cpu().eval()
    for module in list(network.modules()):
        if parametrize.is_parametrized(module):
            shared = type(module)
            module.__class__ = type(shared.__name__, shared.__bases__, {
                key: value for key, value in vars(shared).items() if key not in ('__dict__', '__weakref__')})
            for name in list(module.parametrizations):
                parametrize.remove_parametrizations(module, name, leave_parametrized=True)
    return network.requires_grad_(False)


def _inputs(metadata: Mapping[str, Any], batch: int, seed: int) -> Tuple[torch.Tensor, ...]:
    """Fixed inputs of ``batch`` rows: standard normal ``z`` and labels cycling through the classes."""
    noise = torch.Generator().manual_seed(seed)
    inputs = []
    for entry in metadata['inputs']:
        if entry['name'] == 'z':
            inputs.append(torch.randn(batch, entry['shape'][1], generator=noise))
        else:
            inputs.append(torch.arange(batch, dtype=torch.int64) % (entry['range'][1] + 1))
    return tuple(inputs)


@contextlib.contextmanager
def _quiet():
    """Silence the warnings of a working export: torch.jit's deprecation and the ONNX exporter's note that
    ``z`` and ``labels`` share one batch axis."""
    with warnings.catch_warnings():
        warnings.filterwarnings('ignore', message=r'`torch\.jit\.\w+` is deprecated', category=FutureWarning)
        warnings.filterwarnings('ignore', message='# The axis name', category=UserWarning)
        yield


def _write_torchscript(network: nn.Module, example: Tuple[torch.Tensor, ...], metadata: Dict[str, Any], path: str):
    with _quiet(), torch.no_grad():
        traced = torch.jit.trace(network, example)
        torch.jit.save(traced, path, _extra_files={METADATA_KEY: json.dumps(metadata, sort_keys=True)})


def _run_torchscript(path: str, inputs: Sequence[torch.Tensor]) -> Tuple[np.ndarray, str]:
    """The images the file at ``path`` draws from ``inputs``, and its metadata text, loaded as a user would."""
    extra = {METADATA_KEY: ''}
    with _quiet(), torch.no_grad():
        module = torch.jit.load(path, map_location='cpu', _extra_files=extra)
        images = module(*inputs)
    return images.numpy(), extra[METADATA_KEY]


def _write_onnx(network: nn.Module, example: Tuple[torch.Tensor, ...], metadata: Dict[str, Any], path: str):
    names = [entry['name'] for entry in metadata['inputs']]
    batch = torch.export.Dim('batch')  # one axis shared by z and labels
    with _quiet():
        program = torch.onnx.export(network, example, dynamo=True, verbose=False, input_names=names,
                                    output_names=[metadata['outputs'][0]['name']],
                                    dynamic_shapes=tuple({0: batch} for _ in names))
    program.model.metadata_props[METADATA_KEY] = json.dumps(metadata, sort_keys=True)
    program.save(path)


def _run_onnx(path: str, inputs: Sequence[torch.Tensor]) -> Tuple[np.ndarray, str]:
    """As :func:`_run_torchscript`, with onnxruntime on the CPU."""
    import onnxruntime
    session = onnxruntime.InferenceSession(path, providers=['CPUExecutionProvider'])
    feeds = {entry.name: tensor.numpy() for entry, tensor in zip(session.get_inputs(), inputs)}
    images = session.run(None, feeds)[0]
    return images, session.get_modelmeta().custom_metadata_map.get(METADATA_KEY, '')


def _check(path: str, format: str, inputs: Tuple[torch.Tensor, ...], expected: np.ndarray,
           metadata: Dict[str, Any]) -> float:
    """Run the file at ``path`` on ``inputs``; its images must match ``expected`` and its metadata ``metadata``.

    Returns:
        the largest absolute difference.

    Raises:
        ExportCheckError: when the file does not run, draws other shapes or images, or lost its metadata.
    """
    run = _run_torchscript if format == 'torchscript' else _run_onnx
    try:
        images, recorded = run(path, inputs)
    except Exception as error:  # whatever the runtime raises, the file is unusable: say which and why
        raise ExportCheckError(f'the {format} file does not run at batch size {len(expected)}: '
                               f'{type(error).__name__}: {error}') from error
    if images.shape != expected.shape:
        raise ExportCheckError(f'the {format} file drew images of shape {tuple(images.shape)} where PyTorch drew '
                               f'{tuple(expected.shape)}; its batch size may not be free')
    difference = float(np.abs(images.astype(np.float64) - expected).max())
    if not difference <= CHECK_TOLERANCE:  # NaN fails too
        raise ExportCheckError(f'the {format} file draws images up to {difference:.3g} away from PyTorch\'s '
                               f'(at most {CHECK_TOLERANCE:g} allowed); nothing was written')
    if not recorded or json.loads(recorded) != metadata:
        raise ExportCheckError(f'the {format} file does not hold its metadata under {METADATA_KEY!r}')
    return difference


def export_generator(generator: nn.Module, spec: Mapping[str, Any], out: str, format: str) -> ExportedGenerator:
    """Write ``generator`` (of model spec ``spec``) to ``out`` as ``format``, then check the file.

    Args:
        generator: maps ``z`` ``(N, latent_dim)`` (and int64 labels ``(N,)`` when ``spec`` has classes) to
            images ``(N, C, H, W)`` in ``[-1, 1]``; exported from a folded copy (:func:`inference_copy`).
        spec: its model spec (:func:`~bearer_gan.models.model_spec`).
        out: the file to write; its extension must be one of ``EXPORT_FORMATS[format]`` and its folder exist.
        format: a key of :data:`EXPORT_FORMATS`.

    Raises:
        ExportError: for a bad ``out`` or ``format`` or a missing ``onnx`` extra; nothing is written.
        ExportCheckError: when the written file does not match PyTorch; nothing is left at ``out``.
    """
    _refuse_early(out, format)
    metadata = export_metadata(spec, format)
    network = inference_copy(generator)
    inputs = _inputs(metadata, CHECK_BATCH, seed=1)
    with torch.no_grad():
        expected = network(*inputs).numpy().astype(np.float64)
    if expected.shape[1:] != tuple(metadata['outputs'][0]['shape'][1:]) or not np.all(np.abs(expected) <= 1):
        raise ExportCheckError(f'the generator does not draw images {metadata["outputs"][0]["shape"]} in [-1, 1] '
                               f'(got shape {expected.shape}); it does not fit its model spec')
    write = _write_torchscript if format == 'torchscript' else _write_onnx
    with atomic_path(out) as temporary:  # moved to out only when the check passes
        write(network, _inputs(metadata, TRACE_BATCH, seed=0), metadata, temporary)
        difference = _check(temporary, format, inputs, expected, metadata)
    return ExportedGenerator(out, metadata, difference)


def export_run(run_dir: str, out: str, format: str) -> ExportedGenerator:
    """Export the generator :class:`~bearer_gan.callbacks.SaveModels` wrote into ``run_dir`` (see
    :func:`export_generator`). ``out`` is checked before the generator is loaded.

    Raises:
        FileNotFoundError: when ``run_dir`` holds no ``generator.pt``.
        GeneratorFileError: when it cannot be loaded (:func:`~bearer_gan.callbacks.load_generator`).
        ExportError, ExportCheckError: as :func:`export_generator`; ``out`` must not be the run's ``generator.pt``.
    """
    _refuse_early(out, format, run_dir)
    generator, spec = load_generator(run_dir, 'cpu')
    return export_generator(generator, spec, out, format)


def read_export_metadata(path: str) -> Dict[str, Any]:
    """The metadata an exported file records (:func:`export_metadata`), read by its extension.

    Raises:
        ExportError: for an extension of no format, or a file without bearer_gan metadata.
    """
    extension = os.path.splitext(path)[1].lower()
    if extension not in EXPORT_FORMATS['torchscript'] + EXPORT_FORMATS['onnx']:
        raise ExportError(f'{path!r} is neither a TorchScript (.pt, .ts) nor an ONNX (.onnx) file')
    try:
        if extension in EXPORT_FORMATS['torchscript']:
            extra = {METADATA_KEY: ''}
            with _quiet():
                torch.jit.load(path, map_location='cpu', _extra_files=extra)
            text = extra[METADATA_KEY]
        else:
            _require_onnx()
            import onnx
            text = {entry.key: entry.value for entry in onnx.load(path, load_external_data=False).metadata_props
                    }.get(METADATA_KEY, '')
    except ExportError:
        raise
    except Exception as error:  # not a TorchScript or ONNX file: whatever the loader raises says only that
        raise ExportError(f'cannot read {path!r}: {type(error).__name__}: {error}') from error
    if not text:
        raise ExportError(f'{path!r} holds no {METADATA_KEY!r}: it was not written by bearer_gan export')
    return json.loads(text)


def describe_export(exported: ExportedGenerator) -> List[str]:
    """A few lines for a terminal: what was written and checked, then each input and output with its range."""
    metadata, spec = exported.metadata, exported.metadata['model']
    shape = 'x'.join(map(str, spec['image_shape']))
    lines = [f"wrote {exported.path}: {metadata['format']} export of {spec['model']} ({shape}), "
             f'checked against PyTorch at batch size {CHECK_BATCH}: max abs difference {exported.max_difference:.2g}']
    for kind, entries in (('input', metadata['inputs']), ('output', metadata['outputs'])):
        for entry in entries:
            if 'range' in entry:
                low, high = entry['range']
                what = f'classes {low} to {high}' if entry['dtype'] == 'int64' else f'in [{low}, {high}]'
            else:
                what = entry['distribution'] + ' noise'
            axes = '(' + ', '.join(map(str, entry['shape'])) + (',)' if len(entry['shape']) == 1 else ')')
            lines.append(f"  {kind:<6} {entry['name']:<6} {entry['dtype']} {axes} {what}")
    lines.append(f"  metadata: JSON under {METADATA_KEY!r} "
                 f"({'an extra file' if metadata['format'] == 'torchscript' else 'metadata_props'})")
    return lines
