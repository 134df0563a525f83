"""A run folder's outputs besides checkpoints: the resolved config, metrics.csv (one row per
epoch) and curves.png (loss and accuracy by epoch)."""
import csv
import os

import yaml


def write_config(run_dir, cfg):
    """config.yaml: the config as resolved (defaults filled in, --set applied)."""
    path = os.path.join(run_dir, "config.yaml")
    clean = {k: v for k, v in cfg.items() if not k.startswith("_")}
    with open(path, "w", encoding="utf-8") as f:
        yaml.safe_dump(clean, f, sort_keys=False)


def write_metrics(run_dir, history):
    """metrics.csv from the history (rewritten whole, atomically): a column for every key
    any row has, so a key that first appears in a later row still gets its header."""
    path = os.path.join(run_dir, "metrics.csv")
    if not history:
        if os.path.exists(path):          # rows of a timeline a resume went back before
            os.remove(path)
        return
    keys = list(dict.fromkeys(k for row in history for k in row))
    with open(path + ".tmp", "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=keys)
        w.writeheader()
        w.writerows(history)
    os.replace(path + ".tmp", path)


def plot_curves(run_dir, history, title):
    """curves.png: train/val loss and accuracy by epoch; its path (None without history)."""
    if not history:
        return None
    # matplotlib takes a good part of a second to import: only a finished run draws curves
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # (imported here for the same reason, once Agg is chosen)
    epochs = [r["epoch"] for r in history]
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, ylabel in zip(axes, ("loss", "accuracy")):
        for key in (f"train_{ylabel}", f"val_{ylabel}"):
            if key in history[0]:
                ax.plot(epochs, [r.get(key, float("nan")) for r in history], "o-", label=key)
        ax.set_xlabel("epoch")
        ax.set_ylabel(ylabel)
        if ax.lines:
            ax.legend()
    fig.suptitle(title)
    fig.tight_layout()
    path = os.path.join(run_dir, "curves.png")
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
