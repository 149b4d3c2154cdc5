"""PyTorch side of bench/nn: the twin of an mgc architecture on random
inputs; same modes and JSON lines as bench/bench_nn.c.

  torch_nn.py ARCH.yaml [--threads N] [--batch 32] [--reps R] [--mode M]
"""
import argparse
import json
import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_twin  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("arch")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--mode", default="all")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(42)
    model = torch_twin.build(open(a.arch).read())
    shape = tuple(model_input(a.arch))
    classes = model(torch.zeros((2,) + shape)).shape[-1]
    x = torch.randn((a.batch,) + shape)
    y = torch.randint(0, classes, (a.batch,))
    allm = a.mode == "all"
    if allm or a.mode == "latency":
        model.eval()
        t = []
        with torch.inference_mode():
            for _ in range(5):
                model.predict(x[:1])
            for _ in range(a.reps):
                t0 = time.perf_counter()
                model.predict(x[:1])
                t.append(time.perf_counter() - t0)
        out("latency", a.threads, 1, t)
    if allm or a.mode == "throughput":
        model.eval()
        n = max(3, a.reps // 4)
        t = []
        with torch.inference_mode():
            model.predict(x)
            for _ in range(n):
                t0 = time.perf_counter()
                model.predict(x)
                t.append(time.perf_counter() - t0)
        out("throughput", a.threads, a.batch, t)
    if allm or a.mode == "train":
        model.train()
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        n = max(3, a.reps // 4)
        t = []
        for r in range(-1, n):
            t0 = time.perf_counter()
            opt.zero_grad(set_to_none=True)
            loss = torch.nn.functional.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            if r >= 0:
                t.append(time.perf_counter() - t0)
        out("train", a.threads, a.batch, t)


def model_input(path):
    import yaml
    return yaml.safe_load(open(path))["input"]


def out(mode, threads, batch, t):
    t = sorted(t)
    m = t[len(t) // 2] if len(t) % 2 else 0.5 * (t[len(t) // 2 - 1] + t[len(t) // 2])
    rec = {"mode": mode, "threads": threads, "batch": batch, "ms": round(1e3 * m, 4)}
    if mode != "latency":
        rec["windows_per_s"] = round(batch / m, 2)
    print(json.dumps(rec), flush=True)


if __name__ == "__main__":
    main()
