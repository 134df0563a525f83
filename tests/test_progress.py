"""clnet.train.progress: plain lines when the output is not a terminal, tqdm bars when it is,
nothing with quiet; the compile notice of a slow first step; validation/test bars."""
import io
import time

import pytest

from clnet.train.progress import COMPILE_NOTICE, Progress


class Terminal(io.StringIO):
    def isatty(self):
        return True


@pytest.fixture(autouse=True)
def first_step_done():
    # the compile notice belongs to the first step of a process; each test says which it wants
    saved = Progress._first_step_seen
    Progress._first_step_seen = True
    yield
    Progress._first_step_seen = saved


def wait_for(cond, seconds=10.0):
    # the notice comes from a timer thread: poll rather than guess how long a loaded machine takes
    end = time.monotonic() + seconds
    while not cond() and time.monotonic() < end:
        time.sleep(0.02)
    return cond()


def run_epoch(p, steps=5, loss_every=2, epoch=1, epochs=2):
    p.start_epoch(epoch, epochs, steps)
    for i in range(1, steps + 1):
        if i % loss_every == 0:
            p.set_loss(1.0 / i, 0.01)
        p.step(i)
    p.epoch_line({"epoch": epoch, "step": steps, "time_s": 1.5, "lr": 0.01,
                  "train_loss": 0.25, "val_accuracy": 0.875})


def test_not_a_terminal_gives_plain_lines():
    out = io.StringIO()
    run_epoch(Progress(out, interval=0.0))
    text = out.getvalue()
    assert "\r" not in text and "\x1b" not in text
    lines = text.splitlines()
    assert len(lines) == 6                      # one per step (interval 0) and the epoch's
    assert lines[0].startswith("epoch 1/2 step 1/5 [00:00<") and "steps/s]" in lines[0]
    assert "loss" not in lines[0]               # no loss read yet
    assert lines[1].endswith("loss 0.5000 lr 0.01")       # the loss read at step 2
    assert lines[2].endswith("loss 0.5000 lr 0.01")       # still the last one read
    assert lines[4].startswith("epoch 1/2 step 5/5 [00:00<00:00,")
    assert lines[5] == ("epoch 1/2 | 1.5 s, 3.3 steps/s | train_loss 0.2500 | "
                        "val_accuracy 0.8750")


def test_plain_lines_are_spaced_by_the_interval_but_the_epoch_end_always_shows():
    out = io.StringIO()
    p = Progress(out, interval=3600.0)
    p.start_epoch(1, 1, 50)
    for i in range(1, 51):
        p.step(i)
    lines = out.getvalue().splitlines()
    assert len(lines) == 1 and lines[0].startswith("epoch 1/1 step 50/50")


def test_eta_from_the_steps_of_this_epoch(monkeypatch):
    clock = [100.0]
    monkeypatch.setattr(time, "perf_counter", lambda: clock[0])
    out = io.StringIO()
    p = Progress(out, interval=0.0)
    p.start_epoch(2, 3, 40, done=10)            # a resumed epoch: 10 steps already done
    clock[0] += 20.0
    p.step(20)                                  # 10 steps in 20 s: 20 left take 40 s
    assert out.getvalue().strip() == "epoch 2/3 step 20/40 [00:20<00:40, 2.00 s/step]"


def test_a_long_epoch_is_in_minutes():
    out = io.StringIO()
    p = Progress(out)
    p.start_epoch(1, 1, 10)
    p.epoch_line({"epoch": 1, "step": 10, "time_s": 3725.0})
    assert out.getvalue() == "epoch 1/1 | 1:02:05\n"      # no steps taken here: no rate


def test_quiet_prints_nothing_even_on_a_terminal():
    out = Terminal()
    Progress._first_step_seen = False
    p = Progress(out, quiet=True, compile_notice_after=0.0)
    run_epoch(p)
    p.message("hello")
    assert list(p.track(range(3), "val")) == [0, 1, 2]
    time.sleep(0.05)
    assert out.getvalue() == ""


def test_terminal_gets_a_bar_with_rate_elapsed_eta_and_loss():
    out = Terminal()
    p = Progress(out)
    p.start_epoch(1, 2, 5)
    for i in range(1, 6):
        time.sleep(0.11)                        # past tqdm's redraw interval
        p.set_loss(0.5, 0.01)
        p.step(i)
    assert p._bar.n == 5
    p.epoch_line({"epoch": 1, "step": 5, "time_s": 0.6, "lr": 0.01, "train_loss": 0.5})
    text = out.getvalue()
    assert "\r" in text and "epoch 1/2" in text and "5/5" in text
    assert "step/s" in text and "loss 0.5000 lr 0.01" in text
    assert "00:00<00:00" in text                # tqdm's elapsed<remaining
    assert text.rstrip().splitlines()[-1].endswith("epoch 1/2 | 0.6 s, 8.3 steps/s | "
                                                   "train_loss 0.5000")


def test_compile_notice_when_the_first_step_is_slow():
    out = io.StringIO()
    built = [4]
    Progress._first_step_seen = False
    p = Progress(out, interval=3600.0, compile_notice_after=0.05, programs=lambda: built[0])
    p.start_epoch(1, 1, 3)
    assert wait_for(lambda: COMPILE_NOTICE in out.getvalue())   # the first step compiling
    built[0] = 11
    p.step(1)
    lines = out.getvalue().splitlines()
    assert lines[0] == COMPILE_NOTICE
    assert lines[1].startswith("first step took 0.") and lines[1].endswith(
        "(7 kernel programs compiled)")
    # once per process: the next epoch's first step says nothing
    p.start_epoch(2, 2, 3)
    time.sleep(0.1)
    p.step(1)
    assert len(out.getvalue().splitlines()) == 2


def test_no_compile_notice_when_the_first_step_is_quick():
    out = io.StringIO()
    Progress._first_step_seen = False
    p = Progress(out, interval=3600.0, compile_notice_after=5.0)
    p.start_epoch(1, 1, 3)
    p.step(1)
    time.sleep(0.05)
    assert out.getvalue() == "" and Progress._first_step_seen


def test_compile_notice_on_a_terminal_shows_on_the_bar():
    out = Terminal()
    Progress._first_step_seen = False
    p = Progress(out, compile_notice_after=0.05)
    p.start_epoch(1, 1, 3)
    assert wait_for(lambda: COMPILE_NOTICE in out.getvalue())
    assert "(compiling OpenCL kernels)" in out.getvalue()
    p.step(1)
    assert "first step took" in out.getvalue()
    p.close()


def test_track_plain_and_terminal():
    out = io.StringIO()
    p = Progress(out, interval=0.0)
    assert list(p.track(iter(range(4)), "test", total=4)) == [0, 1, 2, 3]
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("test batch 1/4 [00:00<") and lines[-1].startswith(
        "test batch 4/4")
    p.start_epoch(3, 5, 2)
    out.seek(0)
    out.truncate()
    assert list(p.track([7, 8], "val")) == [7, 8]
    assert out.getvalue().splitlines()[0].startswith("epoch 3/5 val batch 1/2")
    p.epoch_line({"epoch": 3, "step": 2})
    out.seek(0)
    out.truncate()
    assert list(p.track([1], "test")) == [1]          # after the epochs: the test set's own
    assert out.getvalue().startswith("test batch 1/1")
    term = Terminal()
    q = Progress(term)
    seen = []
    for i in q.track(range(3), "val"):
        time.sleep(0.11)                        # past tqdm's redraw interval
        seen.append(i)
    assert seen == [0, 1, 2]
    text = term.getvalue()
    assert "val:" in text and "2/3" in text and "batch/s" in text
    assert text.endswith("\r")                  # the bar is erased when it ends


def test_message_after_a_bar_starts_on_its_own_line():
    out = Terminal()
    p = Progress(out)
    p.start_epoch(1, 1, 10)
    p.step(3)
    p.message("\ninterrupted: checkpoint written")
    # tqdm erased the bar and returned to the line's start: the message has the line
    assert out.getvalue().endswith("\rinterrupted: checkpoint written\n")
    assert p._bar is None


def test_a_terminal_without_a_size_still_gets_a_bar():
    # a pseudo-terminal that reports 0x0 (script, some CI runners): tqdm would hide the bar
    import os
    from clnet.train.progress import _bar_size
    master, slave = os.openpty()
    try:
        with os.fdopen(slave, "w", closefd=False) as f:
            if os.get_terminal_size(f.fileno()).columns == 0:
                assert _bar_size(f) == {"ncols": 80, "nrows": 24}
            os.set_blocking(master, False)
            p = Progress(f)
            assert p.tty
            p.start_epoch(1, 1, 3)
            p.step(1)
            p.close()
            f.flush()
            drawn = os.read(master, 65536).decode()
        assert "epoch 1/1" in drawn and "0/3" in drawn
    finally:
        os.close(master)
        os.close(slave)
    assert _bar_size(io.StringIO()) == {"ncols": 80, "nrows": 24}
