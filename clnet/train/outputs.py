"""A run folder's outputs besides checkpoints: the resolved config and metrics.csv (one row per
epoch); runlog.py writes the rest (steps.csv, tensorboard/, summary.json, curves.png)."""
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
