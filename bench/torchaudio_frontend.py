#!/usr/bin/python3
"""torchaudio peer of bench_frontend: the same log-mel on the same samples.

    /usr/bin/python3 bench/torchaudio_frontend.py RAW [--repeat N] [--json]
                                                  [--compare MGC_LOGMEL.npy]

RAW is the float32 little-endian file written by `bench_frontend --write-raw`
(the exact 661500 samples mgc timed), so both sides see identical input.
Times MelSpectrogram + AmplitudeToDB with mgc's default front-end parameters
on one thread (intra- and inter-op), inside torch.inference_mode(), after one
warm-up. --compare loads mgc's [n_mels, frames] dB matrix
(`bench_frontend --dump-logmel`) and reports max |dB difference|.

Uses Debian's python3-torch / python3-torchaudio, hence /usr/bin/python3.
Without them it prints a "skipped" line (and JSON) and exits 0.
"""

import argparse
import json
import os
import statistics
import sys
import time

SR = 22050
CLIP_S = 30


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("raw", help="float32 LE samples from bench_frontend --write-raw")
    ap.add_argument("--repeat", type=int, default=20)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--compare", metavar="NPY", help="mgc log-mel [n_mels, frames] .npy")
    a = ap.parse_args()
    if a.repeat < 1:
        ap.error("--repeat must be >= 1")

    try:
        import numpy as np
        import torch
        import torchaudio
    except Exception as e:  # ImportError, or a broken install failing at import
        print(f"torchaudio skipped: python3-torchaudio not installed ({type(e).__name__}: {e})")
        if a.json:
            print(json.dumps({"impl": "torchaudio", "skipped": True}))
        return 0

    # One thread, like bench_frontend. set_num_interop_threads raises if
    # called after inter-op work has started; nothing has run yet, but guard.
    try:
        torch.set_num_threads(1)
    except RuntimeError as e:
        print(f"warning: torch.set_num_threads(1): {e}", file=sys.stderr)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError as e:
        print(f"warning: torch.set_num_interop_threads(1): {e}", file=sys.stderr)

    y_np = np.fromfile(a.raw, dtype="<f4")
    if y_np.size != SR * CLIP_S:
        print(f"torchaudio_frontend: {a.raw}: {y_np.size} samples, expected {SR * CLIP_S}",
              file=sys.stderr)
        return 1
    y = torch.from_numpy(y_np.astype(np.float32))

    mel = torchaudio.transforms.MelSpectrogram(
        sample_rate=SR, n_fft=2048, hop_length=512, n_mels=128, f_min=0.0, f_max=SR / 2.0,
        power=2.0, center=True, pad_mode="reflect", norm="slaney", mel_scale="slaney")
    # window_fn defaults to torch.hann_window (periodic), win_length to n_fft.
    # AmplitudeToDB(power): 10*log10(clamp(S, 1e-10)) - 10*log10(max(1e-10, ref=1)).
    to_db = torchaudio.transforms.AmplitudeToDB(stype="power", top_db=None)

    with torch.inference_mode():
        out = to_db(mel(y))  # warm-up (and the result for --compare)
        times = []
        for _ in range(a.repeat):
            t0 = time.perf_counter()
            r = to_db(mel(y))
            t1 = time.perf_counter()
            times.append(t1 - t0)
            del r

    med = statistics.median(times)
    mn = min(times)
    xrt = CLIP_S / med
    n_frames = out.shape[-1]
    print(f"torchaudio  median {med * 1e3:8.3f} ms  min {mn * 1e3:8.3f} ms  {xrt:7.1f}x real time"
          f"  ({n_frames} frames, {a.repeat} reps, torch {torch.__version__}, "
          f"torchaudio {torchaudio.__version__}, {torch.get_num_threads()} thread)")
    rec = {"impl": "torchaudio", "path": "whole", "median_s": med, "min_s": mn, "xrt": xrt,
           "frames": int(n_frames), "repeat": a.repeat, "clip_s": CLIP_S}

    if a.compare:
        m = np.load(a.compare)
        t = out.numpy()
        if m.shape != t.shape:
            print(f"compare: shape mismatch: mgc {m.shape} vs torchaudio {t.shape}", file=sys.stderr)
            rec["max_abs_db_diff"] = None
        else:
            d = np.abs(m.astype(np.float64) - t.astype(np.float64))
            rec["max_abs_db_diff"] = float(d.max())
            rec["mean_abs_db_diff"] = float(d.mean())
            print(f"compare: max |dB diff| mgc vs torchaudio = {d.max():.3g} dB "
                  f"(mean {d.mean():.3g} dB, shape {t.shape})")
    if a.json:
        print(json.dumps(rec))
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
