#!/usr/bin/python3
"""PyTorch/torchaudio peer of `mgcd --input FILE --fast`: the same model on the same file.

    /usr/bin/python3 bench/torch_stream.py MODEL.safetensors AUDIO [--json]

Loads the model's PyTorch twin (torch_twin.load_mgc_model) and, timed, the
audio (torchaudio.load, resampled to the model's rate if needed, channel
mean), then classifies it two ways, on one thread (intra- and inter-op),
inside torch.inference_mode():

  stream  as a live service must: the log-mel (MelSpectrogram + AmplitudeToDB
          with the model's front-end parameters) of each hop's new frames
          only, per-band standardisation (the model's norm_mean/norm_std),
          then the window (130 frames every 65) through the model at batch 1.
          Per-window compute = that mel + forward, timed per window.
  batch   the offline best case: the whole log-mel at once, every window in
          one batch.

Both average the window probabilities into the file's genre. Reports x real
time by wall time and by process CPU time (time.process_time), and the peak
RSS of this process (ru_maxrss) after stream (what a live service needs)
and after batch. Model loading and imports are not timed (as
bench_daemon times mgcd from its hello, after the model is loaded).

Uses Debian's python3-torch / python3-torchaudio, hence /usr/bin/python3.
Without them it prints a "skipped" line (and JSON) and exits 0.
"""

import argparse
import json
import os
import resource
import statistics
import sys
import time


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("model", help="mgc model file (safetensors)")
    ap.add_argument("audio", help="audio file (the WAV bench_daemon classified)")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()

    try:
        import numpy as np
        import torch
        import torchaudio
        import yaml
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        import torch_twin
    except Exception as e:  # ImportError, or a broken install failing at import
        print(f"torch_stream skipped: python3-torch/torchaudio not usable ({type(e).__name__}: {e})")
        if a.json:
            print(json.dumps({"impl": "torch", "skipped": True}))
        return 0

    for f, what in ((torch.set_num_threads, "set_num_threads"),
                    (torch.set_num_interop_threads, "set_num_interop_threads")):
        try:
            f(1)
        except RuntimeError as e:
            print(f"warning: torch.{what}(1): {e}", file=sys.stderr)

    model, meta = torch_twin.load_mgc_model(a.model)
    model.eval()
    classes = json.loads(meta["classes"])
    fe = json.loads(meta["frontend"])
    sr, n_fft, hop = int(fe["sample_rate"]), int(fe["n_fft"]), int(fe["hop_length"])
    L, H = int(fe["segment_frames"]), int(fe["segment_hop"])
    center = bool(fe.get("center", True))
    fmax = float(fe.get("fmax", 0.0)) or sr / 2.0
    in_shape = [int(v) for v in yaml.safe_load(meta["architecture"])["input"]]
    mean = torch.tensor(json.loads(meta["norm_mean"]), dtype=torch.float32) if "norm_mean" in meta else None
    std = torch.tensor(json.loads(meta["norm_std"]), dtype=torch.float32) if "norm_std" in meta else None

    def mel_db(center_):
        mel = torchaudio.transforms.MelSpectrogram(
            sample_rate=sr, n_fft=n_fft, hop_length=hop, n_mels=int(fe["n_mels"]),
            f_min=float(fe["fmin"]), f_max=fmax, power=float(fe.get("power", 2.0)), center=center_,
            pad_mode=fe.get("pad_mode", "reflect"), norm=fe.get("mel_norm", "slaney"),
            mel_scale=fe.get("mel_scale", "slaney"))
        to_db = torchaudio.transforms.AmplitudeToDB(stype="power", top_db=None)
        return lambda y: to_db(mel(y))

    def standardize(m):  # m: [n_mels, frames]
        return (m - mean[:, None]) / std[:, None] if mean is not None else m

    def as_input(w):  # w: [n_mels, L] -> [1, *in_shape] (a map [1, n_mels, L] or a sequence [L, n_mels])
        if len(in_shape) == 3:
            return w[None, None]
        return w.t()[None] if in_shape[0] == L else w[None]

    whole, piece = mel_db(center), mel_db(False)

    def load():
        y, file_sr = torchaudio.load(a.audio)
        y = y.mean(dim=0)
        if file_sr != sr:
            y = torchaudio.functional.resample(y, file_sr, sr)
        return y

    def clock():
        return time.perf_counter(), time.process_time()

    rows = {}
    with torch.inference_mode():
        # Warm-up outside the timing (first-call allocations, oneDNN kernels).
        wy = torch.zeros(L * hop + n_fft)
        model.predict(as_input(standardize(whole(wy)[:, :L])))

        # ---- stream: per hop, mel of the new frames + forward at batch 1 ----
        w0, c0 = clock()
        y = load()
        n = y.numel()
        n_frames = 1 + n // hop if center else 1 + (n - n_fft) // hop
        n_win = 1 + (n_frames - L) // H if n_frames >= L else 0
        yp = torch.nn.functional.pad(y[None, None], (n_fft // 2, n_fft // 2), mode="reflect")[0, 0] \
            if center else y
        buf = None
        probs_sum = torch.zeros(len(classes))
        per_window = []
        done = 0  # frames computed so far
        for w in range(n_win):
            t = time.perf_counter()
            upto = w * H + L  # frames [done, upto) are new
            new = standardize(piece(yp[done * hop:(upto - 1) * hop + n_fft]))
            done = upto
            buf = new if buf is None else torch.cat([buf[:, new.shape[1]:], new], dim=1) \
                if new.shape[1] < L else new
            p = model.predict(as_input(buf[:, -L:]))[0]
            per_window.append(time.perf_counter() - t)
            probs_sum += p
        w1, c1 = clock()
        rows["stream"] = (w1 - w0, c1 - c0, n_win, probs_sum)
        maxrss_stream_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
        audio_s = n / sr

        # ---- batch: whole mel, all windows at once ----
        w0, c0 = clock()
        y = load()
        m = standardize(whole(y))
        x = torch.stack([m[:, i * H:i * H + L] for i in range(n_win)])
        x = x[:, None] if len(in_shape) == 3 else (x.transpose(1, 2) if in_shape[0] == L else x)
        p = model.predict(x)
        probs_batch = p.sum(dim=0)
        w1, c1 = clock()
        rows["batch"] = (w1 - w0, c1 - c0, n_win, probs_batch)
        # Same features either way: the mean window probabilities agree to float round-off.
        stream_vs_batch = float((rows["stream"][3] - probs_batch).abs().max()) / max(n_win, 1)

    maxrss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    per_window.sort()
    pw_med = statistics.median(per_window) if per_window else float("nan")
    pw_p95 = per_window[min(len(per_window) - 1, int(0.95 * len(per_window) + 0.999) - 1)] \
        if per_window else float("nan")
    rec = {"impl": "torch", "torch": torch.__version__, "torchaudio": torchaudio.__version__,
           "threads": torch.get_num_threads(), "audio_s": audio_s, "windows": n_win,
           "maxrss_mb": maxrss_mb, "maxrss_stream_mb": maxrss_stream_mb, "window_ms_median": pw_med * 1e3, "window_ms_p95": pw_p95 * 1e3,
           "window_ms_max": per_window[-1] * 1e3 if per_window else float("nan"),
           "stream_vs_batch_max_prob_diff": stream_vs_batch}
    print(f"torch {torch.__version__}, torchaudio {torchaudio.__version__}, {torch.get_num_threads()} thread; "
          f"{audio_s:.1f} s of audio, {n_win} windows; peak RSS {maxrss_stream_mb:.1f} MB after stream, "
          f"{maxrss_mb:.1f} MB after batch")
    for name, (wall, cpu, nw, ps) in rows.items():
        genre = classes[int(torch.argmax(ps))] if nw else "-"
        rec[f"{name}_wall_s"] = wall
        rec[f"{name}_cpu_s"] = cpu
        rec[f"{name}_x_wall"] = audio_s / wall
        rec[f"{name}_x_cpu"] = audio_s / cpu if cpu > 0 else float("nan")
        rec[f"{name}_cpu_ms_per_window"] = 1e3 * cpu / nw if nw else float("nan")
        rec[f"{name}_genre"] = genre
        print(f"  {name:6s}  wall {wall:7.3f} s  {audio_s / wall:7.1f}x real time   cpu {cpu:7.3f} s"
              f"  {rec[f'{name}_x_cpu']:7.1f}x   {rec[f'{name}_cpu_ms_per_window']:6.2f} ms CPU/window"
              f"  genre {genre}")
    print(f"  per-window compute (stream: mel of the hop + forward, batch 1): median {pw_med * 1e3:.2f} ms,"
          f" p95 {pw_p95 * 1e3:.2f} ms, max {rec['window_ms_max']:.2f} ms")
    if a.json:
        print(json.dumps(rec))
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
