"""Read TensorBoard event files back (for the tests): TFRecord framing checked with its masked
CRC32C, each record parsed as tensorboardX's ``Event`` protocol buffer."""
import glob
import os
import struct

from tensorboardX.crc32c import crc32c
from tensorboardX.proto.event_pb2 import Event


def _masked(data):
    crc = crc32c(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def read_events(path):
    """The Events of one file, in order; a bad length or CRC raises ValueError."""
    events = []
    with open(path, "rb") as f:
        data = f.read()
    pos = 0
    while pos < len(data):
        header = data[pos:pos + 8]
        (length,) = struct.unpack("<Q", header)
        (len_crc,) = struct.unpack("<I", data[pos + 8:pos + 12])
        if _masked(header) != len_crc:
            raise ValueError(f"{path}: bad length CRC at byte {pos}")
        body = data[pos + 12:pos + 12 + length]
        (body_crc,) = struct.unpack("<I", data[pos + 12 + length:pos + 16 + length])
        if _masked(body) != body_crc:
            raise ValueError(f"{path}: bad data CRC at byte {pos}")
        events.append(Event.FromString(body))
        pos += 16 + length
    return events


def event_files(log_dir):
    """A folder's event files in the order they were started (their first event's time)."""
    paths = glob.glob(os.path.join(log_dir, "events.out.tfevents.*"))
    return sorted(paths, key=lambda p: (read_events(p)[0].wall_time, p))


def scalars(log_dir, purge=True):
    """{tag: [(step, value), ...]} of a folder's event files (not its subfolders), read in the
    order they were written; with ``purge``, a SessionLog START at step P drops the values
    logged before it at steps >= P, as TensorBoard does."""
    out = {}
    for path in event_files(log_dir):
        for ev in read_events(path):
            if purge and ev.HasField("session_log") and ev.session_log.status == 1:
                for tag in out:
                    out[tag] = [(s, v) for s, v in out[tag] if s < ev.step]
            if not ev.HasField("summary"):
                continue
            for val in ev.summary.value:
                if val.HasField("simple_value"):
                    v = val.simple_value
                elif val.HasField("tensor") and (val.tensor.float_val or val.tensor.double_val):
                    v = (list(val.tensor.float_val) or list(val.tensor.double_val))[0]
                else:
                    continue
                out.setdefault(val.tag, []).append((ev.step, v))
    return out


def summaries(log_dir):
    """[(step, Summary.Value)] of every summary value in a folder's event files."""
    return [(ev.step, val) for path in event_files(log_dir) for ev in read_events(path)
            if ev.HasField("summary") for val in ev.summary.value]
