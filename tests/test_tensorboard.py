"""clnet.utils.tensorboard.SummaryWriter: PyTorch's API, checked by reading the event files back
(TFRecord framing with CRCs, tensorboardX's Event protos) for tags, steps and values."""
import os

import numpy as np
import pytest

import clnet
from clnet.utils.tensorboard import SummaryWriter
from tb_events import read_events, scalars, summaries, event_files


def test_import_paths():
    import clnet as torch
    from clnet.utils.tensorboard import SummaryWriter as A
    assert torch.utils.tensorboard.SummaryWriter is A


def test_scalars_from_clnet_numpy_and_python(tmp_path):
    with SummaryWriter(str(tmp_path)) as w:
        w.add_scalar("a", clnet.tensor(1.5), 0)
        w.add_scalar("a", np.float32(2.5), 1)
        w.add_scalar("a", 3, clnet.tensor(2))
        w.add_scalar("b", clnet.tensor([0.25]), global_step=7, walltime=123.0)
    got = scalars(str(tmp_path))
    assert got == {"a": [(0, 1.5), (1, 2.5), (2, 3.0)], "b": [(7, 0.25)]}
    wall = [ev.wall_time for ev in read_events(event_files(str(tmp_path))[0])
            if ev.HasField("summary") and ev.summary.value[0].tag == "b"]
    assert wall == [123.0]
    with pytest.raises(ValueError, match=r"expected a single number.*\(2,\)"):
        SummaryWriter(str(tmp_path / "x")).add_scalar("c", clnet.tensor([1.0, 2.0]))


def test_new_style_scalar_is_a_tensor_with_the_scalars_plugin(tmp_path):
    with SummaryWriter(str(tmp_path)) as w:
        w.add_scalar("s", clnet.tensor(0.5), 3, new_style=True)
        w.add_scalar("d", 0.1, 4, new_style=True, double_precision=True)
    vals = {v.tag: (s, v) for s, v in summaries(str(tmp_path))}
    step, v = vals["s"]
    assert step == 3 and v.metadata.plugin_data.plugin_name == "scalars"
    assert list(v.tensor.float_val) == [0.5] and v.tensor.dtype == 1      # DT_FLOAT
    assert list(vals["d"][1].tensor.double_val) == [0.1]


def test_default_log_dir_and_comment(tmp_path, monkeypatch):
    import socket
    monkeypatch.chdir(tmp_path)
    w = SummaryWriter(comment="_lr0.1")
    w.close()
    (run,) = os.listdir(tmp_path / "runs")
    assert run.endswith(socket.gethostname() + "_lr0.1") and w.get_logdir() == \
        os.path.join("runs", run)


def test_add_scalars_uses_pytorchs_folders(tmp_path):
    with SummaryWriter(str(tmp_path)) as w:
        for i in range(3):
            w.add_scalars("run/14h", {"xsinx": i * 1.0, "tanx": clnet.tensor(float(-i))}, i)
    assert scalars(str(tmp_path / "run_14h_xsinx")) == {"run/14h": [(0, 0.0), (1, 1.0),
                                                                    (2, 2.0)]}
    assert scalars(str(tmp_path / "run_14h_tanx"))["run/14h"] == [(0, 0.0), (1, -1.0),
                                                                  (2, -2.0)]


def test_histogram_matches_numpy(tmp_path):
    x = clnet.randn(1000)
    with SummaryWriter(str(tmp_path)) as w:
        w.add_histogram("h", x, 5)
        w.add_histogram("h10", x, 6, bins=10)
    vals = {v.tag: (s, v) for s, v in summaries(str(tmp_path))}
    ref = x.numpy().astype(np.float64)
    step, h = vals["h"]
    assert step == 5 and h.histo.num == 1000
    assert h.histo.min == pytest.approx(ref.min()) and h.histo.max == pytest.approx(ref.max())
    assert h.histo.sum == pytest.approx(ref.sum(), rel=1e-6, abs=1e-6)
    assert h.histo.sum_squares == pytest.approx((ref ** 2).sum(), rel=1e-6)
    assert sum(h.histo.bucket) == 1000
    counts, edges = np.histogram(ref, bins=10)
    h10 = vals["h10"][1].histo
    # PyTorch's layout: an empty bucket below the first edge, then numpy's counts per right edge
    assert [int(c) for c in h10.bucket] == [0] + counts.tolist()
    assert list(h10.bucket_limit) == pytest.approx(edges.tolist())


def test_image_and_images_from_clnet(tmp_path):
    img = clnet.rand(3, 8, 5)
    with SummaryWriter(str(tmp_path)) as w:
        w.add_image("img", img, 1)
        w.add_image("hwc", img.permute(1, 2, 0), 1, dataformats="HWC")
        w.add_images("batch", clnet.rand(4, 1, 6, 6), 2)
    vals = {v.tag: (s, v) for s, v in summaries(str(tmp_path))}
    from PIL import Image
    import io
    for tag in ("img", "hwc"):
        im = vals[tag][1].image
        assert (im.height, im.width) == (8, 5)
        pixels = np.asarray(Image.open(io.BytesIO(im.encoded_image_string_png if hasattr(
            im, "encoded_image_string_png") else im.encoded_image_string)))
        ref = (img.numpy().transpose(1, 2, 0) * 255).clip(0, 255).astype(np.uint8)
        assert np.abs(pixels.astype(int) - ref.astype(int)).max() <= 1
    assert vals["batch"][0] == 2 and vals["batch"][1].image.height > 0


def test_text_tensor_hparams(tmp_path):
    with SummaryWriter(str(tmp_path)) as w:
        w.add_text("note", "hello **world**", 4)
        w.add_tensor("t", clnet.tensor([[1, 2], [3, 4]], dtype=clnet.int32), 5)
        w.add_hparams({"lr": 0.1, "bs": clnet.tensor(16), "opt": "adam"},
                      {"hp/acc": clnet.tensor(0.9)}, hparam_domain_discrete={"opt": ["adam",
                                                                                     "sgd"]},
                      run_name="trial1", global_step=2)
    vals = {v.tag: (s, v) for s, v in summaries(str(tmp_path))}
    # PyTorch's text summary: tag/text_summary with the text plugin
    step, note = vals["note/text_summary"]
    assert step == 4 and note.metadata.plugin_data.plugin_name == "text"
    assert note.tensor.string_val[0] == b"hello **world**"
    t = vals["t"][1].tensor
    assert list(t.int_val) == [1, 2, 3, 4] and [d.size for d in t.tensor_shape.dim] == [2, 2]
    hp = str(tmp_path / "trial1")
    assert scalars(hp) == {"hp/acc": [(2, pytest.approx(0.9))]}
    from tensorboardX.proto.plugin_hparams_pb2 import HParamsPluginData
    exp = {v.tag: v for _, v in summaries(hp)}["_hparams_/experiment"]
    data = HParamsPluginData.FromString(exp.metadata.plugin_data.content)
    infos = {i.name: i for i in data.experiment.hparam_infos}
    assert [x.string_value for x in infos["opt"].domain_discrete.values] == ["adam", "sgd"]
    start = {v.tag: v for _, v in summaries(hp)}["_hparams_/session_start_info"]
    ssi = HParamsPluginData.FromString(start.metadata.plugin_data.content).session_start_info
    assert ssi.hparams["bs"].number_value == 16 and ssi.hparams["opt"].string_value == "adam"
    with pytest.raises(TypeError, match="dictionary"):
        SummaryWriter(str(tmp_path)).add_hparams([("lr", 1)], {})
    with pytest.raises(ValueError, match="not in hparam_dict"):
        SummaryWriter(str(tmp_path)).add_hparams({"lr": 1.0}, {}, {"bs": [1, 2]})


def test_purge_step_hides_later_events(tmp_path):
    with SummaryWriter(str(tmp_path)) as w:
        for i in range(10):
            w.add_scalar("loss", float(i), i)
    with SummaryWriter(str(tmp_path), purge_step=6) as w:
        for i in range(6, 8):
            w.add_scalar("loss", 100.0 + i, i)
    got = scalars(str(tmp_path))["loss"]
    assert got == [(i, float(i)) for i in range(6)] + [(6, 106.0), (7, 107.0)]
    assert len(scalars(str(tmp_path), purge=False)["loss"]) == 12


def test_close_then_write_reopens_and_flush(tmp_path):
    w = SummaryWriter(str(tmp_path), max_queue=1000, flush_secs=1000)
    w.add_scalar("a", 1.0, 0)
    w.flush()
    assert scalars(str(tmp_path)) == {"a": [(0, 1.0)]}
    w.close()
    w.close()                       # twice is fine, as in PyTorch
    w.add_scalar("a", 2.0, 1)       # a write after close opens a new file
    w.close()
    assert scalars(str(tmp_path)) == {"a": [(0, 1.0), (1, 2.0)]}


def test_pr_curve_embedding_mesh_custom_scalars(tmp_path):
    labels = clnet.tensor([0, 1, 1, 0, 1])
    preds = clnet.tensor([0.1, 0.9, 0.6, 0.4, 0.3])
    with SummaryWriter(str(tmp_path)) as w:
        w.add_pr_curve("pr", labels, preds, 1)
        w.add_embedding(clnet.randn(5, 3), metadata=list("abcde"), global_step=1, tag="emb")
        w.add_mesh("mesh", clnet.rand(1, 4, 3), faces=clnet.tensor([[[0, 1, 2], [1, 2, 3]]]),
                   global_step=1)
        w.add_custom_scalars_multilinechart(["a", "b"], title="both")
    tags = {v.tag for _, v in summaries(str(tmp_path))}
    assert "pr" in tags and any(t.startswith("mesh") for t in tags)
    emb = tmp_path / "00001" / "emb"
    assert len((emb / "tensors.tsv").read_text().splitlines()) == 5
    assert (emb / "metadata.tsv").read_text().split() == list("abcde")
    assert "emb:00001" in (tmp_path / "projector_config.pbtxt").read_text()


def test_add_graph_through_onnx(tmp_path):
    pytest.importorskip("onnx")
    model = clnet.nn.Sequential(clnet.nn.Linear(4, 3), clnet.nn.ReLU(), clnet.nn.Linear(3, 2))
    with SummaryWriter(str(tmp_path)) as w:
        w.add_graph(model, clnet.randn(2, 4))
        with pytest.raises(ValueError, match="input_to_model is required"):
            w.add_graph(model)
    graphs = [ev for p in event_files(str(tmp_path)) for ev in read_events(p)
              if ev.HasField("graph_def")]
    from tensorboardX.proto.graph_pb2 import GraphDef
    g = GraphDef.FromString(graphs[0].graph_def)
    ops = [n.op for n in g.node]
    assert ops.count("Gemm") + ops.count("MatMul") >= 2 and "Relu" in ops


def test_add_graph_without_onnx_says_how_to_install(tmp_path, monkeypatch):
    import sys
    monkeypatch.setitem(sys.modules, "onnx", None)
    with SummaryWriter(str(tmp_path)) as w:
        with pytest.raises(ImportError, match=r"clnet\[onnx\]"):
            w.add_graph(clnet.nn.Linear(2, 2), clnet.randn(1, 2))


def test__add_scalar_values_reads_back_as_separate_scalars(tmp_path):
    with SummaryWriter(str(tmp_path)) as w:
        w._add_scalar_values({"a": 1.0, "b": clnet.tensor(2.0)}, 3)
        w.add_scalar("a", 4.0, 4)
    assert scalars(str(tmp_path)) == {"a": [(3, 1.0), (4, 4.0)], "b": [(3, 2.0)]}


def test_importing_the_writer_does_not_load_torch(tmp_path):
    # tensorboardX imports torch when it is installed (2-3 s at every clnet train start here);
    # the writer keeps it out, and torch still imports normally afterwards
    import subprocess
    import sys
    code = ("import sys\n"
            "from clnet.utils.tensorboard import SummaryWriter\n"
            "assert 'torch' not in sys.modules, 'torch was loaded'\n"
            f"w = SummaryWriter({str(tmp_path)!r}); w.add_scalar('a', 1.0, 0); w.close()\n"
            "import torch\n"
            "assert hasattr(torch, 'tensor')\n")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=300)
