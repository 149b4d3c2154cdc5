"""The PyTorch twin of mgc-train's cross-validation protocol.

Trains the twin of the recipe's architecture (torch_twin.py) with the same
protocol as `mgc-train --folds K`, on the same test folds (read from the
--cv-json that mgc-train wrote), with the same features (mgc-features, so
both sides see identical log-mel frames, audio variants included):

  - standardisation statistics from the clean training tracks;
  - 130-frame windows, hop 65, random offsets of up to offset_max frames;
  - SpecAugment masks, gain, noise and mixup as the recipe says;
  - balanced class weights, label smoothing, Adam with L2 decay, clipping;
  - reduce-on-plateau, early stopping on validation loss, best epoch kept;
  - a stratified share of the training tracks for validation;
  - track decision = mean of window probabilities.

  torch_train.py --recipe conf/train/crnn.yaml --data ROOT --cv-json cv5.json \
      --features BIN/mgc-features [--cache DIR] [--threads N] [--out results.json]

Reference only (bench/, Debian's python3-torch); mgc never runs Python.
"""
import argparse
import hashlib
import json
import os
import subprocess
import sys
import time

import numpy as np
import torch
import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_twin  # noqa: E402


def features(bin_, cache, path, variant):
    key = hashlib.sha1(("%s|%s|%d" % (os.path.realpath(path), variant or "",
                                      os.path.getmtime(path))).encode()).hexdigest()[:16]
    out = os.path.join(cache, key + ".npy")
    if not os.path.exists(out):
        cmd = [bin_, path, "--kind", "logmel", "--out", out, "--quiet"]
        if variant:
            cmd += ["--variant", variant]
        subprocess.run(cmd, check=True)
    return np.load(out).T.astype(np.float32)  # frame-major [T, F]


def windows(n_frames, win, hop):
    return 1 if n_frames < win else 1 + (n_frames - win) // hop


def cut(feat, start, win, fill):
    w = feat[start:start + win]
    if w.shape[0] < win:
        w = np.concatenate([w, np.repeat(fill[None, :], win - w.shape[0], 0)])
    return w


def augment(w, a, rng, fill):
    w = w.copy()
    t, f = w.shape
    if a.get("reverse_prob", 0) and rng.random() < a["reverse_prob"]:
        w = w[::-1].copy()
    if a.get("gain_db", 0):
        w += rng.uniform(-a["gain_db"], a["gain_db"])
    if a.get("noise_std", 0):
        w += rng.normal(0, a["noise_std"], w.shape).astype(np.float32)
    for _ in range(a.get("freq_masks", 0)):
        width = rng.integers(0, min(a.get("freq_mask_max", 0), f) + 1)
        s = rng.integers(0, f - width + 1)
        w[:, s:s + width] = fill[s:s + width]
    for _ in range(a.get("time_masks", 0)):
        width = rng.integers(0, min(a.get("time_mask_max", 0), t) + 1)
        s = rng.integers(0, t - width + 1)
        w[s:s + width, :] = fill
    return w


def to_input(batch, mean, std):
    x = (np.stack(batch) - mean) / std           # [B, T, F]
    return torch.from_numpy(np.ascontiguousarray(x.transpose(0, 2, 1)[:, None]))  # [B,1,F,T]


def stratified_holdout(labels, frac, rng):
    """Fold 0 of round(1/frac) stratified folds, dealt round robin class after
    class as mgc_dataset_folds does (its own random order, same sizes)."""
    k = max(2, int(round(1 / frac)))
    val, deal = [], 0
    for c in sorted(set(labels)):
        idx = [i for i, l in enumerate(labels) if l == c]
        rng.shuffle(idx)
        for i in idx:
            if deal % k == 0:
                val.append(i)
            deal += 1
    return sorted(set(range(len(labels))) - set(val)), sorted(val)


def evaluate(model, tracks, mean, std, win, hop, classes):
    model.eval()
    right, loss_sum, n_win, right_win = 0, 0.0, 0, 0
    with torch.no_grad():
        for feat, label in tracks:
            nw = windows(len(feat), win, hop)
            x = to_input([cut(feat, k * hop, win, mean) for k in range(nw)], mean, std)
            logits = model(x)
            loss_sum += torch.nn.functional.cross_entropy(
                logits, torch.full((nw,), label), reduction="sum").item()
            p = torch.softmax(logits, -1)
            right_win += int((p.argmax(-1) == label).sum())
            n_win += nw
            right += int(p.mean(0).argmax()) == label
    return loss_sum / n_win, right_win / n_win, right / len(tracks)


def train_fold(r, arch_text, classes, train, valid, seed):
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    a = r.get("augment", {})
    win, hop = r.get("window", 130), r.get("window_hop", 65)
    clean = np.concatenate([f for f, _, v in train if not v])
    mean, std = clean.mean(0), np.maximum(clean.std(0), 1e-5)
    model = torch_twin.build(arch_text, len(classes))
    o = r.get("optimizer", {})
    opt = torch.optim.Adam(model.parameters(), lr=o.get("lr", 1e-3),
                           weight_decay=o.get("weight_decay", 0))
    s = r.get("schedule", {})
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(
        opt, factor=s.get("factor", 0.1), patience=s.get("patience", 3),
        min_lr=s.get("min_lr", 0))
    counts = np.zeros(len(classes))
    for f, l, _ in train:
        counts[l] += windows(len(f), win, hop)
    weight = torch.tensor(counts.sum() / (len(classes) * np.maximum(counts, 1)),
                          dtype=torch.float32) if r.get("class_weights") == "balanced" else None
    best, best_state, bad = float("inf"), None, 0
    for epoch in range(r.get("epochs", 60)):
        model.train()
        refs = []
        for i, (f, l, _) in enumerate(train):
            for k in range(windows(len(f), win, hop)):
                start = k * hop
                om = a.get("offset_max", 0)
                if om:
                    lo, hi = max(0, start - om), min(max(len(f) - win, 0), start + om)
                    start = int(rng.integers(lo, hi + 1)) if hi >= lo else start
                refs.append((i, start))
        rng.shuffle(refs)
        bs = r.get("batch_size", 32)
        for b0 in range(0, len(refs), bs):
            chunk = refs[b0:b0 + bs]
            if len(chunk) < 2:
                break
            x = to_input([augment(cut(train[i][0], st, win, mean), a, rng, mean)
                          for i, st in chunk], mean, std)
            y = torch.tensor([train[i][1] for i, _ in chunk])
            target = torch.nn.functional.one_hot(y, len(classes)).float()
            if a.get("mixup_alpha", 0):
                lam = rng.beta(a["mixup_alpha"], a["mixup_alpha"], len(chunk))
                lam = torch.tensor(np.maximum(lam, 1 - lam), dtype=torch.float32)
                perm = torch.from_numpy(rng.permutation(len(chunk)))
                x = lam[:, None, None, None] * x + (1 - lam[:, None, None, None]) * x[perm]
                target = lam[:, None] * target + (1 - lam[:, None]) * target[perm]
            loss = torch.nn.functional.cross_entropy(
                model(x), target, weight=weight,
                label_smoothing=r.get("label_smoothing", 0.0))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if o.get("clip_norm"):
                torch.nn.utils.clip_grad_norm_(model.parameters(), o["clip_norm"])
            opt.step()
        vl, va, vt = evaluate(model, [(f, l) for f, l, _ in valid], mean, std, win, hop, classes)
        sched.step(vl)
        if vl < best - 1e-4:
            best, bad = vl, 0
            best_state = {k: v.clone() for k, v in model.state_dict().items()}
        else:
            bad += 1
        print("  epoch %d val loss %.4f acc %.1f%% tracks %.1f%%" % (epoch + 1, vl, 100 * va,
                                                                   100 * vt), flush=True)
        if r.get("early_stopping", 0) and bad >= r["early_stopping"]:
            break
    model.load_state_dict(best_state)
    return model, mean, std


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--recipe", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--cv-json", required=True)
    ap.add_argument("--features", required=True)
    ap.add_argument("--cache", default="/tmp/mgc-torch-features")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out")
    ap.add_argument("--epochs", type=int, help="override the recipe (smoke tests only)")
    ap.add_argument("--max-folds", type=int, help="stop after this many folds (smoke tests)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    os.makedirs(args.cache, exist_ok=True)
    r = yaml.safe_load(open(args.recipe))
    if args.epochs:
        r["epochs"] = args.epochs
    arch_path = os.path.join(os.path.dirname(args.recipe), r["architecture"])
    arch_text = open(arch_path).read()
    cv = json.load(open(args.cv_json))
    classes = sorted(d for d in os.listdir(args.data) if not d.startswith("."))
    variants = r.get("augment", {}).get("audio", [])
    t0 = time.time()
    results = []
    for fold in cv["results"][:args.max_folds]:
        test = [t["name"] for t in fold["metrics"]["tracks"]]
        all_tracks = sorted("%s/%s" % (c, f) for c in classes
                            for f in os.listdir(os.path.join(args.data, c)))
        rest = [t for t in all_tracks if t not in set(test)]
        labels = [classes.index(t.split("/")[0]) for t in rest]
        rng = np.random.default_rng(fold["fold"])
        tr, va = stratified_holdout(labels, r.get("validation", 0.2), rng)
        load = lambda name, v=None: features(args.features, args.cache,
                                             os.path.join(args.data, name), v)
        train = []
        for i in tr:
            train.append((load(rest[i]), labels[i], None))
            for v in variants:
                train.append((load(rest[i], v), labels[i], v))
        valid = [(load(rest[i]), labels[i], None) for i in va]
        print("fold %d: train %d, validate %d, test %d tracks" % (fold["fold"], len(tr), len(va),
                                                                  len(test)), flush=True)
        model, mean, std = train_fold(r, arch_text, classes, train, valid,
                                      r.get("seed", 1) + fold["fold"])
        tests = [(load(t), classes.index(t.split("/")[0])) for t in test]
        _, wa, ta = evaluate(model, tests, mean, std, r.get("window", 130),
                             r.get("window_hop", 65), classes)
        print("fold %d: track accuracy %.1f%%, window accuracy %.1f%%" % (fold["fold"], 100 * ta,
                                                                        100 * wa), flush=True)
        results.append({"fold": fold["fold"], "track_acc": ta, "window_acc": wa})
    acc = np.array([x["track_acc"] for x in results])
    wacc = np.array([x["window_acc"] for x in results])
    summary = {"folds": len(results), "track_acc_mean": float(acc.mean()),
               "track_acc_std": float(acc.std(ddof=1)) if len(acc) > 1 else None,
               "window_acc_mean": float(wacc.mean()), "seconds": time.time() - t0,
               "torch": torch.__version__, "results": results}
    print("PyTorch twin, %d-fold: track accuracy %.1f%% +- %.1f, window %.1f%%, %.0f s" % (
        len(results), 100 * acc.mean(), 100 * (summary["track_acc_std"] or 0),
        100 * wacc.mean(), summary["seconds"]))
    if args.out:
        json.dump(summary, open(args.out, "w"), indent=1)


if __name__ == "__main__":
    main()
