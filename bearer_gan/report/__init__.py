"""After training: what a user does with a finished run.

* :mod:`~bearer_gan.report.export`: the generator as a TorchScript or ONNX file that runs without bearer_gan.
"""
from .export import (CHECK_BATCH, CHECK_TOLERANCE, EXPORT_FORMATS, METADATA_KEY, ONNX_EXTRA, TRACE_BATCH,
                     ExportCheckError, ExportError, ExportedGenerator, describe_export, export_generator,
                     export_metadata, export_run, inference_copy, read_export_metadata)

__all__ = ['CHECK_BATCH', 'CHECK_TOLERANCE', 'EXPORT_FORMATS', 'METADATA_KEY', 'ONNX_EXTRA', 'TRACE_BATCH',
           'ExportCheckError', 'ExportError', 'ExportedGenerator', 'describe_export', 'export_generator',
           'export_metadata', 'export_run', 'inference_copy', 'read_export_metadata']
