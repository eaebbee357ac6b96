"""The format table lives on the ground floor, :mod:`edgekit.formats` (the runtime choice reads it too);
this name stays importable."""

from edgekit.formats import (FORMATS, TFLITE_PRECISIONS, ExportFormat, TflitePrecision,  # noqa: F401
                             check_format, format_help, format_of, precision_help, runtime_for)
