#!/usr/bin/python3
"""Golden values for mgc's front-end tests.

librosa itself is not packaged for Debian, so this script re-implements, in
float64 NumPy, exactly the definitions mgc claims to follow (librosa 0.10 with
pad_mode='reflect', the librosa <= 0.9 default that torchaudio also uses):

  stft      : centred frames, numpy 'reflect' padding of n_fft/2, periodic Hann,
              np.fft.rfft, power |X|^2                        (librosa.stft)
  mel       : librosa.filters.mel(htk=False, norm='slaney'), float32 weights
  logmel    : 10*log10(max(S, 1e-10)), ref 1.0, no top_db     (power_to_db)
  mfcc      : DCT-II, norm='ortho', of the dB mel bands, first 20 (feature.mfcc)
  chroma    : librosa.filters.chroma (ctroct 5, octwidth 2, base_c, L2 column
              norm) on the power spectrogram, frames scaled to max 1; tuning
              from estimate_tuning (piptrack + pitch_tuning)     (chroma_stft)

It then checks its own mel spectrogram against torchaudio's MelSpectrogram
(norm='slaney', mel_scale='slaney', float64): an independent implementation of
the same filterbank and STFT. The script refuses to write fixtures if the two
disagree, so a mistake here cannot silently become a "golden" value.

Inputs: tests/fixtures/blues.00000_10s-14s.wav (4 s of real GTZAN music) and a
synthetic signal made here (tone, chirp, seeded noise, digital silence).
Outputs (tests/fixtures/golden/): <name>.{logmel,melpower,mfcc,chroma,
chroma_t0}.npy (and synth.input.npy), shapes [features, frames] as librosa returns, and golden.json
with the estimated tunings.

Run: /usr/bin/python3 tests/golden/make_golden.py   (from the repository root)
"""
import json
import os
import sys
import wave

import numpy as np

SR, N_FFT, HOP, N_MELS, N_MFCC, N_CHROMA = 22050, 2048, 512, 128, 20, 12
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIX = os.path.join(ROOT, "tests", "fixtures")
OUT = os.path.join(FIX, "golden")


def load_wav(path):
    with wave.open(path, "rb") as w:
        assert w.getsampwidth() == 2 and w.getnchannels() == 1 and w.getframerate() == SR
        raw = w.readframes(w.getnframes())
    return (np.frombuffer(raw, dtype="<i2").astype(np.float32) / 32768.0)


def synth():
    """2 s: 440 Hz tone, linear chirp 100 Hz -> 8 kHz, seeded noise, silence."""
    t = np.arange(int(0.6 * SR)) / SR
    tone = 0.5 * np.sin(2 * np.pi * 440.0 * t)
    t = np.arange(int(0.7 * SR)) / SR
    f0, f1, dur = 100.0, 8000.0, 0.7
    chirp = 0.3 * np.sin(2 * np.pi * (f0 * t + (f1 - f0) * t * t / (2 * dur)))
    noise = 0.1 * np.random.default_rng(1234).standard_normal(int(0.4 * SR))
    silence = np.zeros(int(0.3 * SR))
    return np.concatenate([tone, chirp, noise, silence]).astype(np.float32)


def power_spectrogram(y):
    yp = np.pad(y.astype(np.float64), N_FFT // 2, mode="reflect")
    n_frames = 1 + len(y) // HOP
    win = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(N_FFT) / N_FFT)  # periodic Hann
    frames = np.stack([yp[t * HOP: t * HOP + N_FFT] for t in range(n_frames)], axis=1)
    X = np.fft.rfft(frames * win[:, None], axis=0)
    return (X.real ** 2 + X.imag ** 2)  # [1025, T]


def hz_to_mel(f):
    f = np.asanyarray(f, dtype=np.float64)
    f_sp = 200.0 / 3
    mels = f / f_sp
    min_log_hz, min_log_mel, logstep = 1000.0, 1000.0 / f_sp, np.log(6.4) / 27.0
    return np.where(f >= min_log_hz, min_log_mel + np.log(np.maximum(f, 1e-300) / min_log_hz) / logstep, mels)


def mel_to_hz(m):
    m = np.asanyarray(m, dtype=np.float64)
    f_sp = 200.0 / 3
    min_log_hz, min_log_mel, logstep = 1000.0, 1000.0 / f_sp, np.log(6.4) / 27.0
    return np.where(m >= min_log_mel, min_log_hz * np.exp(logstep * (m - min_log_mel)), f_sp * m)


def mel_filters():
    weights = np.zeros((N_MELS, 1 + N_FFT // 2), dtype=np.float32)
    fftfreqs = np.fft.rfftfreq(n=N_FFT, d=1.0 / SR)
    mel_f = mel_to_hz(np.linspace(hz_to_mel(0.0), hz_to_mel(SR / 2.0), N_MELS + 2))
    fdiff = np.diff(mel_f)
    ramps = np.subtract.outer(mel_f, fftfreqs)
    for i in range(N_MELS):
        lower = -ramps[i] / fdiff[i]
        upper = ramps[i + 2] / fdiff[i + 1]
        weights[i] = np.maximum(0, np.minimum(lower, upper))
    enorm = 2.0 / (mel_f[2: N_MELS + 2] - mel_f[:N_MELS])
    weights *= enorm[:, np.newaxis]
    return weights


def power_to_db(S):
    return 10.0 * np.log10(np.maximum(1e-10, S)) - 10.0 * np.log10(1.0)


def dct_ortho_matrix(n_out, n_in):
    k = np.arange(n_out)[:, None]
    n = np.arange(n_in)[None, :]
    D = np.cos(np.pi * k * (2 * n + 1) / (2 * n_in)) * np.sqrt(2.0 / n_in)
    D[0] *= np.sqrt(0.5)
    return D


def chroma_filters(tuning):
    frequencies = np.linspace(0, SR, N_FFT, endpoint=False)[1:]
    a440 = 440.0 * 2.0 ** (tuning / N_CHROMA)
    frqbins = N_CHROMA * np.log2(frequencies / (a440 / 16))
    frqbins = np.concatenate(([frqbins[0] - 1.5 * N_CHROMA], frqbins))
    binwidthbins = np.concatenate((np.maximum(frqbins[1:] - frqbins[:-1], 1.0), [1]))
    D = np.subtract.outer(frqbins, np.arange(0, N_CHROMA, dtype="d")).T
    n_chroma2 = np.round(float(N_CHROMA) / 2)
    D = np.remainder(D + n_chroma2 + 10 * N_CHROMA, N_CHROMA) - n_chroma2
    wts = np.exp(-0.5 * (2 * D / np.tile(binwidthbins, (N_CHROMA, 1))) ** 2)
    wts = wts / np.maximum(np.sqrt(np.sum(wts ** 2, axis=0, keepdims=True)), np.finfo(float).tiny)
    wts *= np.tile(np.exp(-0.5 * (((frqbins / N_CHROMA - 5.0) / 2.0) ** 2)), (N_CHROMA, 1))
    wts = np.roll(wts, -3 * (N_CHROMA // 12), axis=0)
    return np.ascontiguousarray(wts[:, : int(1 + N_FFT / 2)], dtype=np.float32)


def localmax(x):
    xp = np.pad(x, [(1, 1), (0, 0)], mode="edge")
    return (x > xp[:-2]) & (x >= xp[2:])


def estimate_tuning(S):
    """librosa.estimate_tuning(S=S, sr, n_fft, bins_per_octave=12, resolution=0.01)."""
    S = S.astype(np.float32)
    fft_freqs = np.fft.rfftfreq(n=N_FFT, d=1.0 / SR)
    avg = 0.5 * (S[2:] - S[:-2])
    shift = 2 * S[1:-1] - S[2:] - S[:-2]
    shift = avg / (shift + (np.abs(shift) < np.finfo(np.float32).tiny))
    avg = np.pad(avg, [(1, 1), (0, 0)])
    shift = np.pad(shift, [(1, 1), (0, 0)])
    dskew = 0.5 * avg * shift
    pitches = np.zeros_like(S)
    mags = np.zeros_like(S)
    freq_mask = ((150.0 <= fft_freqs) & (fft_freqs < 4000.0))[:, None]
    ref_value = 0.1 * np.max(S, axis=0, keepdims=True)
    idx = np.nonzero(freq_mask & localmax(S * (S > ref_value)))
    pitches[idx] = (idx[0] + shift[idx]) * float(SR) / N_FFT
    mags[idx] = S[idx] + dskew[idx]
    mask = pitches > 0
    threshold = np.median(mags[mask]) if mask.any() else 0.0
    freqs = pitches[(mags >= threshold) & mask]
    freqs = freqs[freqs > 0]
    if freqs.size == 0:
        return 0.0
    residual = np.mod(N_CHROMA * np.log2(freqs / (440.0 / 16)), 1.0)
    residual[residual >= 0.5] -= 1.0
    bins = np.linspace(-0.5, 0.5, int(np.ceil(1.0 / 0.01)) + 1)
    counts, edges = np.histogram(residual, bins)
    return float(edges[np.argmax(counts)])


def chroma(S, tuning):
    raw = chroma_filters(tuning).astype(np.float64) @ S
    norm = np.max(np.abs(raw), axis=0, keepdims=True)
    norm[norm < np.finfo(np.float32).tiny] = 1.0
    return raw / norm


def torchaudio_check(y, melpower):
    try:
        import torch
        import torchaudio
    except ImportError:
        print("torchaudio absent: reference not cross-checked")
        return
    t = torchaudio.transforms.MelSpectrogram(
        sample_rate=SR, n_fft=N_FFT, hop_length=HOP, n_mels=N_MELS, f_min=0.0, f_max=SR / 2,
        power=2.0, center=True, pad_mode="reflect", norm="slaney", mel_scale="slaney").double()
    ref = t(torch.from_numpy(y.astype(np.float64))).numpy()
    mask = melpower > 1e-6
    diff = np.abs(power_to_db(ref) - power_to_db(melpower))[mask].max()
    print(f"  torchaudio cross-check: max |dB diff| = {diff:.2e} where power > 1e-6")
    # torchaudio builds its filterbank from float32 frequencies (~1e-3 dB of
    # rounding); a wrong filter shape or padding differs by 0.1 dB or more.
    if diff > 5e-3:
        sys.exit("reference disagrees with torchaudio: not writing fixtures")


def main():
    os.makedirs(OUT, exist_ok=True)
    inputs = {"blues": load_wav(os.path.join(FIX, "blues.00000_10s-14s.wav")), "synth": synth()}
    meta = {}
    fb = mel_filters().astype(np.float64)
    D = dct_ortho_matrix(N_MFCC, N_MELS)
    for name, y in inputs.items():
        S = power_spectrogram(y)
        melpower = fb @ S
        logmel = power_to_db(melpower)
        mfcc = D @ logmel
        tuning = estimate_tuning(S)
        print(f"{name}: {len(y)} samples, {S.shape[1]} frames, tuning {tuning:+.2f}")
        torchaudio_check(y, melpower)
        arrays = {"logmel": logmel, "melpower": melpower, "mfcc": mfcc,
                  "chroma": chroma(S, tuning), "chroma_t0": chroma(S, 0.0)}
        if name == "synth":  # the real clip is read from its WAV fixture by the C test
            arrays["input"] = y
        for key, a in arrays.items():
            np.save(os.path.join(OUT, f"{name}.{key}.npy"), np.ascontiguousarray(a, dtype=np.float32))
        meta[name] = {"tuning": tuning, "frames": int(S.shape[1]), "samples": int(len(y))}
    with open(os.path.join(OUT, "golden.json"), "w") as f:
        json.dump(meta, f, indent=1, sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    main()
