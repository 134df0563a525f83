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
DTYPE_CODES = {"float32": "F32", "float64": "F64", "int32": "I32", "int64": "I64", "bool": "BOOL",
               "float16": "F16", "bfloat16": "BF16"}
CODE_DTYPES = {code: getattr(dtypes, {"bool": "bool_"}.get(name, name))
               for name, code in DTYPE_CODES.items()}
NAMED_DTYPES = {d.name: d for d in dtypes.ALL}
# every safetensors dtype code clnet reads: (the element's little-endian file type, the clnet
# dtype it loads as). F16 and BF16 keep their dtype (bfloat16's file type is its uint16 bits);
# codes clnet has no dtype of widen to the nearest one that holds every value, as torch files'
# storages do (torch_names.DtypeSpec): 8- and 16-bit integers to int32, U32 to int64.
READ_CODES = {code: (np.dtype(dt.np).newbyteorder("<"), dt) for code, dt in CODE_DTYPES.items()}
READ_CODES.update({
    "I8": (np.dtype("i1"), dtypes.int32), "U8": (np.dtype("u1"), dtypes.int32),
    "I16": (np.dtype("<i2"), dtypes.int32), "U16": (np.dtype("<u2"), dtypes.int32),
    "U32": (np.dtype("<u4"), dtypes.int64)})


def host_array(code, data, count, offset):
    """The ``count`` elements of dtype ``code`` at ``offset`` of ``data`` as a host array of the
    values of the clnet dtype READ_CODES gives it (for BF16: float32, exactly its values)."""
    file_np, dt = READ_CODES[code]
    raw = np.frombuffer(data, file_np, count, offset)
    if code == "BF16":          # bfloat16 is the top half of a float32: exact
        return (raw.astype(np.uint32) << 16).view(np.float32)
    return raw.astype(dt.np, copy=False)
