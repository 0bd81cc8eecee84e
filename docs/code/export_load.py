"""Drawing images from an exported generator without bearer_gan: only torch, or only onnxruntime and NumPy.

docs/export.rst shows these two functions, and tests/test_export.py runs them on exported files.
"""
import json

import numpy as np


def torchscript_images(path, n=16, label=0):
    import torch
    extra = {'bearer_gan.json': ''}  # filled in by torch.jit.load
    generator = torch.jit.load(path, map_location='cpu', _extra_files=extra)
    metadata = json.loads(extra['bearer_gan.json'])
    z = torch.randn(n, metadata['inputs'][0]['shape'][1])  # (n, latent_dim), standard normal
    inputs = [z] if len(metadata['inputs']) == 1 else [z, torch.full((n,), label)]  # labels: int64 (n,)
    with torch.no_grad():
        return generator(*inputs)  # (n, C, H, W) float32 in [-1, 1]


def onnx_images(path, n=16, label=0):
    import onnxruntime
    session = onnxruntime.InferenceSession(path, providers=['CPUExecutionProvider'])
    metadata = json.loads(session.get_modelmeta().custom_metadata_map['bearer_gan.json'])
    feeds = {'z': np.random.randn(n, metadata['inputs'][0]['shape'][1]).astype(np.float32)}
    if len(metadata['inputs']) == 2:  # a class-conditional run
        feeds['labels'] = np.full(n, label, dtype=np.int64)
    images, = session.run(['images'], feeds)
    return images  # (n, C, H, W) float32 in [-1, 1]
