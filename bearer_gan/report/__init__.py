"""After training: what a user does with a finished run.

* :mod:`~bearer_gan.report.page`: ``report.html``, a run at a glance (written during training too);
* :mod:`~bearer_gan.report.compare`: one page comparing several runs;
* :mod:`~bearer_gan.report.facts`, :mod:`~bearer_gan.report.charts`, :mod:`~bearer_gan.report.html`: what a run
  folder says, the embedded charts, and the HTML pieces both pages are made of;
* :mod:`~bearer_gan.report.export`: the generator as a TorchScript or ONNX file that runs without bearer_gan.
"""
from .export import (CHECK_BATCH, CHECK_TOLERANCE, EXPORT_FORMATS, METADATA_KEY, ONNX_EXTRA, TRACE_BATCH,
                     ExportCheckError, ExportError, ExportedGenerator, describe_export, export_generator,
                     export_metadata, export_run, inference_copy, read_export_metadata)
from .compare import compare_runs
from .page import REPORT, ReportPage, write_report

__all__ = ['CHECK_BATCH', 'CHECK_TOLERANCE', 'EXPORT_FORMATS', 'METADATA_KEY', 'ONNX_EXTRA', 'TRACE_BATCH',
           'ExportCheckError', 'ExportError', 'ExportedGenerator', 'describe_export', 'export_generator',
           'export_metadata', 'export_run', 'inference_copy', 'read_export_metadata',
           'REPORT', 'ReportPage', 'write_report', 'compare_runs']
