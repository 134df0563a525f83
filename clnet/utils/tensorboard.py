"""``torch.utils.tensorboard`` for clnet: ``SummaryWriter`` with PyTorch's API.

Event files are written by tensorboardX's ``FileWriter`` and its summary builders (the same
protocol buffers TensorBoard reads); this module gives them PyTorch's signatures, argument
names and folder layout (``add_scalars`` writes ``<log_dir>/<main_tag>_<tag>``, ``add_hparams``
``<log_dir>/<run_name>``), and accepts clnet tensors wherever PyTorch accepts torch tensors, as
well as numpy arrays and Python numbers. A tensor is read from its device once, when it is
logged.

``add_graph`` traces the model with ``clnet.onnx.export`` and logs the ONNX graph (it needs the
``onnx`` package: ``pip install 'clnet[onnx]'``).
"""
import contextlib
import io
import itertools
import os
import socket
import struct
import sys
import tempfile
import threading
import time
from datetime import datetime

import numpy as np



@contextlib.contextmanager
def _without_loading_torch():
    """tensorboardX's package imports torch when it is installed, only to recognise torch
    tensors (which clnet never hands it): 2-3 s at the start of every ``clnet train`` here. A
    None entry in sys.modules makes that ``import torch`` fail fast, which tensorboardX
    handles; a torch (or a torch alias) already imported is left as it is."""
    if "torch" in sys.modules:
        yield
        return
    sys.modules["torch"] = None  # type: ignore[assignment]
    try:
        yield
    finally:
        if sys.modules.get("torch", 0) is None:
            del sys.modules["torch"]


try:
    with _without_loading_torch():
        import tensorboardX  # noqa: F401  (its __init__ is where torch would be imported)
    from google.protobuf.struct_pb2 import ListValue
    from tensorboardX import summary as _summary
    from tensorboardX.proto.api_pb2 import DataType
    from tensorboardX.proto.event_pb2 import Event, SessionLog
    from tensorboardX.proto.plugin_hparams_pb2 import HParamsPluginData
    from tensorboardX.proto.summary_pb2 import Summary, SummaryMetadata
    from tensorboardX.proto.tensor_pb2 import TensorProto
    from tensorboardX.proto.tensor_shape_pb2 import TensorShapeProto
    from tensorboardX.record_writer import masked_crc32c
except ImportError as e:  # pragma: no cover - exercised by the packaging checks
    raise ImportError("clnet.utils.tensorboard needs tensorboardX (pip install tensorboardX, "
                      "a dependency of clnet)") from e

from ..tensor import Tensor

__all__ = ["SummaryWriter"]


def _np(x):
    """``x`` as a numpy array: a clnet tensor is read from its device (detached)."""
    if isinstance(x, Tensor):
        return x.detach().numpy()
    if isinstance(x, (list, tuple)) and x and isinstance(x[0], Tensor):
        return np.stack([_np(t) for t in x])
    return np.asarray(x)


def _scalar_value(value, what="scalar_value"):
    if isinstance(value, (int, float, np.number)) and not isinstance(value, bool):
        return float(value)        # the common case, per step: no array made
    arr = _np(value)
    if arr.size != 1:
        raise ValueError(f"{what}: expected a single number, got an array of shape "
                         f"{tuple(arr.shape)}")
    return float(arr.reshape(()))


def _scalar_summary(tag, value, new_style=False, double_precision=False):
    """PyTorch's ``summary.scalar``: ``simple_value``, or a tensor with the scalars plugin."""
    v = _scalar_value(value)
    if not new_style:
        return Summary(value=[Summary.Value(tag=tag, simple_value=v)])
    proto = (TensorProto(double_val=[v], dtype="DT_DOUBLE") if double_precision
             else TensorProto(float_val=[v], dtype="DT_FLOAT"))
    smd = SummaryMetadata(plugin_data=SummaryMetadata.PluginData(plugin_name="scalars"))
    return Summary(value=[Summary.Value(tag=tag, tensor=proto, metadata=smd)])


# numpy dtype -> (TensorProto dtype, field holding the values), as PyTorch's tensor_proto
_TENSOR_FIELDS = {
    np.dtype(np.float16): ("DT_HALF", "half_val"),
    np.dtype(np.float32): ("DT_FLOAT", "float_val"),
    np.dtype(np.float64): ("DT_DOUBLE", "double_val"),
    np.dtype(np.int8): ("DT_INT8", "int_val"),
    np.dtype(np.uint8): ("DT_UINT8", "int_val"),
    np.dtype(np.int16): ("DT_INT16", "int_val"),
    np.dtype(np.int32): ("DT_INT32", "int_val"),
    np.dtype(np.int64): ("DT_INT64", "int64_val"),
    np.dtype(np.bool_): ("DT_BOOL", "bool_val"),
}


def _tensor_summary(tag, tensor):
    arr = _np(tensor)
    if arr.dtype not in _TENSOR_FIELDS:
        raise TypeError(f"add_tensor: tensor dtype {arr.dtype} has no TensorBoard tensor type "
                        f"(supported: {', '.join(str(d) for d in _TENSOR_FIELDS)})")
    dtype, field = _TENSOR_FIELDS[arr.dtype]
    flat = arr.reshape(-1)
    values = flat.view(np.uint16).tolist() if field == "half_val" else flat.tolist()
    proto = TensorProto(dtype=dtype, tensor_shape=TensorShapeProto(
        dim=[TensorShapeProto.Dim(size=int(s)) for s in arr.shape]), **{field: values})
    smd = SummaryMetadata(plugin_data=SummaryMetadata.PluginData(plugin_name="tensor"))
    return Summary(value=[Summary.Value(tag=tag, tensor=proto, metadata=smd)])


def _hparams(hparam_dict, metric_dict, hparam_domain_discrete):
    """tensorboardX's hparams summaries, plus PyTorch's ``hparam_domain_discrete``."""
    hparam_dict = {k: (v.item() if hasattr(v, "item") and not isinstance(v, (str, bool))
                       else v) for k, v in hparam_dict.items()}
    for k, v in hparam_dict.items():
        if v is not None and not isinstance(v, (bool, str, int, float)) and not callable(v):
            raise ValueError(f"add_hparams: value of hyperparameter {k!r} is a "
                             f"{type(v).__name__}; expected bool, str, int, float or None")
    domains = hparam_domain_discrete or {}
    for k, values in domains.items():
        if k not in hparam_dict:
            raise ValueError(f"add_hparams: hparam_domain_discrete names {k!r}, which is not "
                             "in hparam_dict")
        if not isinstance(values, list) or not all(isinstance(x, type(hparam_dict[k]))
                                                   for x in values):
            raise TypeError(f"add_hparams: hparam_domain_discrete[{k!r}] must be a list of "
                            f"{type(hparam_dict[k]).__name__} values like hparam_dict[{k!r}]")
    metrics = {k: _scalar_value(v, f"metric_dict[{k!r}]") for k, v in metric_dict.items()}
    exp, ssi, sei = _summary.hparams(hparam_dict, metrics)
    if domains:
        value = exp.value[0]
        data = HParamsPluginData.FromString(value.metadata.plugin_data.content)
        for info in data.experiment.hparam_infos:
            if info.name in domains:
                lv = ListValue()
                for x in domains[info.name]:
                    if isinstance(x, bool):
                        lv.values.add().bool_value = x
                    elif isinstance(x, str):
                        lv.values.add().string_value = x
                    else:
                        lv.values.add().number_value = float(x)
                info.domain_discrete.CopyFrom(lv)
                if info.type == DataType.Value("DATA_TYPE_UNSET"):
                    info.type = DataType.Value("DATA_TYPE_STRING")
        value.metadata.plugin_data.content = data.SerializeToString()
    return exp, ssi, sei, metrics


_file_ids = itertools.count()


class FileWriter:
    """One event file in ``log_dir``: records go to the file as they are added and reach the
    disk every ``max_queue`` events, every ``flush_secs`` seconds (a daemon thread) and on
    ``flush()``/``close()``. tensorboardX's own writer is not used for this: its ``flush()``
    returns before its queue is written, and it names files by the second alone, so two
    writers started in the same second in one folder (a resume) write the same file; here the
    name has the pid and a counter too, as TensorBoard's writer does."""

    def __init__(self, log_dir, max_queue=10, flush_secs=120, filename_suffix=""):
        self.log_dir = log_dir
        os.makedirs(log_dir, exist_ok=True)
        name = (f"events.out.tfevents.{int(time.time()):010d}.{socket.gethostname()}."
                f"{os.getpid()}.{next(_file_ids)}{filename_suffix}")
        self.path = os.path.join(log_dir, name)
        self._file = open(self.path, "wb")
        self._lock = threading.Lock()
        self._pending = 0
        self._max_queue = max(int(max_queue), 1)
        self._closed = False
        self._stop = threading.Event()
        self.add_event(Event(wall_time=time.time(), file_version="brain.Event:2"))
        self.flush()
        if flush_secs and flush_secs > 0:
            t = threading.Thread(target=self._flush_every, args=(flush_secs,), daemon=True,
                                 name=f"tensorboard-flush-{name}")
            t.start()

    def _flush_every(self, seconds):
        while not self._stop.wait(seconds):
            self.flush()

    def get_logdir(self):
        return self.log_dir

    def add_event(self, event, step=None, walltime=None):
        if walltime is not None or not event.wall_time:
            event.wall_time = time.time() if walltime is None else float(walltime)
        if step is not None:
            event.step = int(step)
        data = event.SerializeToString()
        with self._lock:
            if self._closed:
                raise ValueError(f"the event file {self.path} is closed")
            # a TFRecord: length, its masked CRC32C, the Event, its masked CRC32C
            header = struct.pack("<Q", len(data))
            self._file.write(header + struct.pack("<I", masked_crc32c(header)) + data
                             + struct.pack("<I", masked_crc32c(data)))
            self._pending += 1
            if self._pending >= self._max_queue:
                self._flush_locked()

    def add_summary(self, summary, global_step=None, walltime=None):
        self.add_event(Event(summary=summary), global_step, walltime)

    def add_onnx_graph(self, graph, walltime=None):
        self.add_event(Event(graph_def=graph.SerializeToString()), None, walltime)

    def _flush_locked(self):
        # to the OS, not fsync'd (as TensorBoard's writer): tensorboardX's fsync per flush
        # cost ~3 ms, a training step's worth, every few steps
        self._pending = 0
        self._file.flush()

    def flush(self):
        with self._lock:
            if not self._closed:
                self._flush_locked()

    def close(self):
        self._stop.set()
        with self._lock:
            if not self._closed:
                self._flush_locked()
                self._file.close()
                self._closed = True


class SummaryWriter:
    """Writes TensorBoard event files: PyTorch's ``torch.utils.tensorboard.SummaryWriter``.

    ``log_dir`` defaults to ``runs/<Mon DD_HH-MM-SS>_<hostname><comment>``; ``purge_step``
    hides from TensorBoard the events at or past that step that an earlier writer logged into
    the same ``log_dir`` (a crashed run restarting at that step); ``max_queue`` and
    ``flush_secs`` bound how long events wait before reaching the disk."""

    def __init__(self, log_dir=None, comment="", purge_step=None, max_queue=10, flush_secs=120,
                 filename_suffix=""):
        if not log_dir:
            stamp = datetime.now().strftime("%b%d_%H-%M-%S")
            log_dir = os.path.join("runs", stamp + "_" + socket.gethostname() + comment)
        self.log_dir = os.fspath(log_dir)
        self.purge_step = purge_step
        self.max_queue = max_queue
        self.flush_secs = flush_secs
        self.filename_suffix = filename_suffix
        self.file_writer = self.all_writers = None
        self._get_file_writer()
        # PyTorch's default histogram bins (tensorflow's): +-1e-12 * 1.1^k up to 1e20, and 0
        v, buckets = 1e-12, []
        while v < 1e20:
            buckets.append(v)
            v *= 1.1
        self.default_bins = [-b for b in buckets[::-1]] + [0] + buckets

    def _get_file_writer(self):
        """The writer of ``log_dir``, (re)created after ``close()``, as in PyTorch."""
        if self.all_writers is None or self.file_writer is None:
            self.file_writer = FileWriter(self.log_dir, self.max_queue, self.flush_secs,
                                          self.filename_suffix)
            self.all_writers = {self.file_writer.get_logdir(): self.file_writer}
            if self.purge_step is not None:
                step = int(self.purge_step)
                self.file_writer.add_event(Event(step=step, file_version="brain.Event:2"))
                self.file_writer.add_event(Event(step=step, session_log=SessionLog(
                    status=SessionLog.START)))
                self.purge_step = None
        return self.file_writer

    def get_logdir(self):
        return self.log_dir

    def _add(self, summary, global_step=None, walltime=None):
        step = None if global_step is None else int(_scalar_value(global_step, "global_step"))
        self._get_file_writer().add_summary(summary, step, walltime)

    # ------------------------------------------------------------------ scalars and tensors
    def add_scalar(self, tag, scalar_value, global_step=None, walltime=None, new_style=False,
                   double_precision=False):
        """``scalar_value``: a number, a one-element clnet tensor or numpy array."""
        self._add(_scalar_summary(tag, scalar_value, new_style, double_precision),
                  global_step, walltime)

    def _add_scalar_values(self, tag_scalar_dict, global_step=None, walltime=None):
        """Not PyTorch API (runlog.py uses it): several scalars, each under its own tag in this
        run (unlike add_scalars), in one event. TensorBoard shows the same as one add_scalar
        per tag, for one record's framing and checksums instead of one per tag."""
        values = [Summary.Value(tag=tag, simple_value=_scalar_value(v, f"value of {tag!r}"))
                  for tag, v in tag_scalar_dict.items()]
        self._add(Summary(value=values), global_step, walltime)

    def add_scalars(self, main_tag, tag_scalar_dict, global_step=None, walltime=None):
        """Each ``tag`` goes to its own run folder ``<log_dir>/<main_tag>_<tag>`` (PyTorch's
        layout), under the tag ``main_tag``, so TensorBoard draws them in one chart."""
        walltime = time.time() if walltime is None else walltime
        logdir = self._get_file_writer().get_logdir()
        step = None if global_step is None else int(_scalar_value(global_step, "global_step"))
        for tag, value in tag_scalar_dict.items():
            fw_tag = logdir + "/" + main_tag.replace("/", "_") + "_" + tag
            fw = self.all_writers.get(fw_tag)
            if fw is None:
                fw = FileWriter(fw_tag, self.max_queue, self.flush_secs, self.filename_suffix)
                self.all_writers[fw_tag] = fw
            fw.add_summary(_scalar_summary(main_tag, value), step, walltime)

    def add_tensor(self, tag, tensor, global_step=None, walltime=None):
        self._add(_tensor_summary(tag, tensor), global_step, walltime)

    def add_histogram(self, tag, values, global_step=None, bins="tensorflow", walltime=None,
                      max_bins=None):
        """``bins``: "tensorflow" (PyTorch's default buckets), a numpy bin rule ("auto",
        "fd", ...), or an explicit sequence of edges."""
        if isinstance(bins, str) and bins == "tensorflow":
            bins = self.default_bins
        arr = _np(values).astype(np.float64).reshape(-1)
        if arr.size == 0:
            raise ValueError(f"add_histogram({tag!r}): values is empty")
        self._add(_summary.histogram(tag, arr, bins, max_bins=max_bins), global_step, walltime)

    def add_histogram_raw(self, tag, min, max, num, sum, sum_squares, bucket_limits,
                          bucket_counts, global_step=None, walltime=None):
        if len(bucket_limits) != len(bucket_counts):
            raise ValueError(f"add_histogram_raw({tag!r}): len(bucket_limits) "
                             f"{len(bucket_limits)} != len(bucket_counts) {len(bucket_counts)}")
        self._add(_summary.histogram_raw(tag, min, max, num, sum, sum_squares,
                                         list(_np(bucket_limits).reshape(-1)),
                                         list(_np(bucket_counts).reshape(-1))),
                  global_step, walltime)

    # ------------------------------------------------------------------ media
    def add_image(self, tag, img_tensor, global_step=None, walltime=None, dataformats="CHW"):
        """Float images in [0, 1] or uint8 images in [0, 255]; ``dataformats`` as PyTorch
        ("CHW", "HWC", "HW", ...)."""
        self._add(_summary.image(tag, _np(img_tensor), dataformats=dataformats),
                  global_step, walltime)

    def add_images(self, tag, img_tensor, global_step=None, walltime=None, dataformats="NCHW"):
        self._add(_summary.image(tag, _np(img_tensor), dataformats=dataformats),
                  global_step, walltime)

    def add_image_with_boxes(self, tag, img_tensor, box_tensor, global_step=None,
                             walltime=None, rescale=1, dataformats="CHW", labels=None):
        if labels is not None:
            labels = [labels] if isinstance(labels, str) else list(labels)
            if len(labels) != _np(box_tensor).shape[0]:
                raise ValueError(f"add_image_with_boxes({tag!r}): {len(labels)} labels for "
                                 f"{_np(box_tensor).shape[0]} boxes")
        self._add(_summary.image_boxes(tag, _np(img_tensor), _np(box_tensor), rescale=rescale,
                                       dataformats=dataformats, labels=labels),
                  global_step, walltime)

    def add_figure(self, tag, figure, global_step=None, close=True, walltime=None):
        """A matplotlib figure (or a list of them, logged as a batch of images)."""
        from tensorboardX.utils import figure_to_image  # only figures need it (matplotlib)
        if isinstance(figure, list):
            self.add_images(tag, figure_to_image(figure, close), global_step, walltime,
                            dataformats="NCHW")
        else:
            self.add_image(tag, figure_to_image(figure, close), global_step, walltime,
                           dataformats="CHW")

    def add_video(self, tag, vid_tensor, global_step=None, fps=4, walltime=None):
        """``vid_tensor``: (N, T, C, H, W); needs moviepy, as PyTorch's."""
        self._add(_summary.video(tag, _np(vid_tensor), fps), global_step, walltime)

    def add_audio(self, tag, snd_tensor, global_step=None, sample_rate=44100, walltime=None):
        self._add(_summary.audio(tag, _np(snd_tensor), sample_rate=sample_rate),
                  global_step, walltime)

    def add_text(self, tag, text_string, global_step=None, walltime=None):
        self._add(_summary.text(tag, text_string), global_step, walltime)

    def add_mesh(self, tag, vertices, colors=None, faces=None, config_dict=None,
                 global_step=None, walltime=None):
        colors = None if colors is None else _np(colors)
        faces = None if faces is None else _np(faces)
        self._add(_summary.mesh(tag, _np(vertices), colors, faces, config_dict),
                  global_step, walltime)

    # ------------------------------------------------------------------ curves and layouts
    def add_pr_curve(self, tag, labels, predictions, global_step=None, num_thresholds=127,
                     weights=None, walltime=None):
        labels, predictions = _np(labels), _np(predictions)
        weights = None if weights is None else _np(weights)
        self._add(_summary.pr_curve(tag, labels, predictions, num_thresholds, weights),
                  global_step, walltime)

    def add_pr_curve_raw(self, tag, true_positive_counts, false_positive_counts,
                         true_negative_counts, false_negative_counts, precision, recall,
                         global_step=None, num_thresholds=127, weights=None, walltime=None):
        self._add(_summary.pr_curve_raw(
            tag, _np(true_positive_counts), _np(false_positive_counts),
            _np(true_negative_counts), _np(false_negative_counts), _np(precision), _np(recall),
            num_thresholds, weights), global_step, walltime)

    def add_custom_scalars_multilinechart(self, tags, category="default", title="untitled"):
        self.add_custom_scalars({category: {title: ["Multiline", tags]}})

    def add_custom_scalars_marginchart(self, tags, category="default", title="untitled"):
        if len(tags) != 3:
            raise ValueError(f"add_custom_scalars_marginchart: expected 3 tags (value, lower, "
                             f"upper), got {len(tags)}")
        self.add_custom_scalars({category: {title: ["Margin", tags]}})

    def add_custom_scalars(self, layout):
        self._get_file_writer().add_summary(_summary.custom_scalars(layout))

    # ------------------------------------------------------------------ graphs, embeddings
    def add_onnx_graph(self, prototxt):
        """The graph of an ONNX file (the path ``prototxt``, as PyTorch names it)."""
        from tensorboardX.onnx_graph import load_onnx_graph  # it imports onnx, an optional package
        with contextlib.redirect_stdout(io.StringIO()):   # it prints every input's name
            graph = load_onnx_graph(os.fspath(prototxt))
        self._get_file_writer().add_onnx_graph(graph)

    def add_graph(self, model, input_to_model=None, verbose=False, use_strict_trace=True):
        """The graph of ``model`` run on ``input_to_model`` (a tensor or a tuple of them),
        traced by ``clnet.onnx.export``; ``use_strict_trace`` is accepted for PyTorch's
        signature (the ONNX tracer has one mode). Needs the ``onnx`` package."""
        try:
            import onnx  # noqa: F401
        except ImportError:
            raise ImportError("SummaryWriter.add_graph traces the model to ONNX and needs the "
                              "onnx package: pip install 'clnet[onnx]'") from None
        if input_to_model is None:
            raise ValueError("add_graph: input_to_model is required (clnet traces the model "
                             "on it to find the graph)")
        from .. import onnx as clnet_onnx  # needs the optional onnx package (checked above)
        args = input_to_model if isinstance(input_to_model, tuple) else (input_to_model,)
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "graph.onnx")
            clnet_onnx.export(model, args, path, verbose=verbose)
            self.add_onnx_graph(path)

    @staticmethod
    def _encode(rawstr):
        # PyTorch's: an embedding's tag as a folder name
        out = rawstr.replace("%", f"%{ord('%'):02x}")
        out = out.replace("/", f"%{ord('/'):02x}")
        return out.replace("\\", f"%{ord(chr(92)):02x}")

    def add_embedding(self, mat, metadata=None, label_img=None, global_step=None, tag="default",
                      metadata_header=None):
        """The projector's files under ``<log_dir>/<step:05d>/<tag>`` (tensors.tsv,
        metadata.tsv, sprite.png) and ``projector_config.pbtxt``."""
        # loaded only for the projector (it writes sprite images)
        from tensorboardX.embedding import append_pbtxt, make_mat, make_sprite, make_tsv
        mat = _np(mat)
        if mat.ndim != 2:
            raise ValueError(f"add_embedding: mat should be 2-D (points, features), got shape "
                             f"{tuple(mat.shape)}")
        step = 0 if global_step is None else int(global_step)
        subdir = f"{str(step).zfill(5)}/{self._encode(tag)}"
        logdir = self._get_file_writer().get_logdir()
        save_path = os.path.join(logdir, subdir)
        os.makedirs(save_path, exist_ok=True)
        if metadata is not None:
            if len(metadata) != mat.shape[0]:
                raise ValueError(f"add_embedding: {len(metadata)} metadata rows for "
                                 f"{mat.shape[0]} points")
            make_tsv(metadata, save_path, metadata_header=metadata_header)
        if label_img is not None:
            label_img = _np(label_img)
            if label_img.shape[0] != mat.shape[0]:
                raise ValueError(f"add_embedding: {label_img.shape[0]} label images for "
                                 f"{mat.shape[0]} points")
            make_sprite(label_img, save_path)
        make_mat(mat, save_path)
        append_pbtxt(metadata, label_img, logdir, subdir, step, tag)

    # ------------------------------------------------------------------ hyperparameters
    def add_hparams(self, hparam_dict, metric_dict, hparam_domain_discrete=None, run_name=None,
                    global_step=None):
        """The hyperparameters and metrics of one trial, in the run ``<log_dir>/<run_name>``
        (default: the time, as PyTorch)."""
        if type(hparam_dict) is not dict or type(metric_dict) is not dict:
            raise TypeError("hparam_dict and metric_dict should be dictionary.")
        exp, ssi, sei, metrics = _hparams(hparam_dict, metric_dict, hparam_domain_discrete)
        if not run_name:
            run_name = str(time.time())
        logdir = os.path.join(self._get_file_writer().get_logdir(), run_name)
        with SummaryWriter(log_dir=logdir) as w:
            for s in (exp, ssi, sei):
                w.file_writer.add_summary(s, global_step)
            for k, v in metrics.items():
                w.add_scalar(k, v, global_step)

    # ------------------------------------------------------------------ lifetime
    def flush(self):
        if self.all_writers is None:
            return
        for w in self.all_writers.values():
            w.flush()

    def close(self):
        if self.all_writers is None:
            return
        for w in self.all_writers.values():
            w.close()
        self.file_writer = self.all_writers = None

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc_val, exc_tb):
        self.close()
