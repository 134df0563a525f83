"""The checkpoint file format's constants, shared by the writer and the reader."""
import re

import numpy as np

from .. import dtypes

FORMAT_VERSION = "2"
READ_VERSIONS = ("1", "2")          # "1": before the checksum
MAX_HEADER = 100 * 1024 * 1024      # the limit the safetensors package enforces too
MAX_DEPTH = 100                     # containers below the root: save writes, load reads
MAX_DIMS = 64 if int(np.__version__.split(".")[0]) >= 2 else 32      # numpy's limit
MAX_NBYTES = 2 ** 62                # numpy's bound on the extent of a shape, even an empty one
CHUNK = 16 * 1024 * 1024            # reads and checksums go this many bytes at a time
CRC_KEY = "crc32"
CRC_ZERO = b"00000000"
CRC_DIGITS = re.compile(r"[0-9a-f]{8}")
DTYPE_CODES = {"float32": "F32", "float64": "F64", "int32": "I32", "int64": "I64", "bool": "BOOL"}
CODE_DTYPES = {code: getattr(dtypes, {"bool": "bool_"}.get(name, name))
               for name, code in DTYPE_CODES.items()}
NAMED_DTYPES = {d.name: d for d in dtypes.ALL}
