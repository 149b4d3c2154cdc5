#!/usr/bin/python3
"""PyTorch side of tests/test_pretrained_{frontend,parity}.c.

The pretrained taggers' own model classes (FCN, CRNN and their Conv_2d
block, as in minzwon/sota-music-tagging-models training/model.py and
modules.py, MIT), rebuilt here so that a .pth loads with strict=True,
front end (torchaudio MelSpectrogram + AmplitudeToDB) included:

  pretrained_ref.py fb OUT.npy PTH...
      the stored filterbank spec.mel_scale.fb [257, 96]; refuses PTHs whose
      filterbanks differ (the README says they are one and the same)
  pretrained_ref.py logmel PTH SAMPLES.npy OUT.npy
      the stored spec module + AmplitudeToDB on 16 kHz samples [L]: [96, T]
  pretrained_ref.py probs fcn|crnn PTH SAMPLES.npy OUT.npy
      eval-mode tag probabilities for a batch of excerpts [B, L]: [B, 50]

Runs on one thread so that the numbers do not depend on the machine's load.
"""
import sys

import numpy as np
import torch
import torch.nn as nn
import torchaudio


class Conv_2d(nn.Module):
    def __init__(self, input_channels, output_channels, shape=3, stride=1, pooling=2):
        super().__init__()
        self.conv = nn.Conv2d(input_channels, output_channels, shape, stride=stride,
                              padding=shape // 2)
        self.bn = nn.BatchNorm2d(output_channels)
        self.relu = nn.ReLU()
        self.mp = nn.MaxPool2d(pooling)

    def forward(self, x):
        return self.mp(self.relu(self.bn(self.conv(x))))


class Frontend(nn.Module):
    """The spectrogram part both models share (their attribute names)."""

    def __init__(self):
        super().__init__()
        self.spec = torchaudio.transforms.MelSpectrogram(sample_rate=16000, n_fft=512,
                                                         f_min=0.0, f_max=8000.0, n_mels=96)
        self.to_db = torchaudio.transforms.AmplitudeToDB()
        self.spec_bn = nn.BatchNorm2d(1)

    def logmel(self, x):
        return self.to_db(self.spec(x))


class FCN(Frontend):
    def __init__(self, n_class=50):
        super().__init__()
        self.layer1 = Conv_2d(1, 64, pooling=(2, 4))
        self.layer2 = Conv_2d(64, 128, pooling=(2, 4))
        self.layer3 = Conv_2d(128, 128, pooling=(2, 4))
        self.layer4 = Conv_2d(128, 128, pooling=(3, 5))
        self.layer5 = Conv_2d(128, 64, pooling=(4, 4))
        self.dense = nn.Linear(64, n_class)
        self.dropout = nn.Dropout(0.5)

    def forward(self, x):
        return self.net(self.logmel(x).unsqueeze(1))

    def net(self, x):
        """The network on dB mel [B, 1, 96, T] (what an mgc model takes)."""
        x = self.spec_bn(x)
        for layer in (self.layer1, self.layer2, self.layer3, self.layer4, self.layer5):
            x = layer(x)
        x = x.view(x.size(0), -1)
        return torch.sigmoid(self.dense(self.dropout(x)))


class CRNN(Frontend):
    def __init__(self, n_class=50):
        super().__init__()
        self.layer1 = Conv_2d(1, 64, pooling=(2, 2))
        self.layer2 = Conv_2d(64, 128, pooling=(3, 3))
        self.layer3 = Conv_2d(128, 128, pooling=(4, 4))
        self.layer4 = Conv_2d(128, 128, pooling=(4, 4))
        self.layer5 = nn.GRU(128, 32, 2, batch_first=True)
        self.dropout = nn.Dropout(0.5)
        self.dense = nn.Linear(32, n_class)

    def forward(self, x):
        return self.net(self.logmel(x).unsqueeze(1))

    def net(self, x):
        """The network on dB mel [B, 1, 96, T] (what an mgc model takes)."""
        x = self.spec_bn(x)
        for layer in (self.layer1, self.layer2, self.layer3, self.layer4):
            x = layer(x)
        x = x.squeeze(2).permute(0, 2, 1)
        x, _ = self.layer5(x)
        x = x[:, -1, :]
        return torch.sigmoid(self.dense(self.dropout(x)))


def load(cls, pth):
    model = cls()
    model.load_state_dict(torch.load(pth, map_location="cpu"), strict=True)
    return model.eval()


def save(path, a):
    np.save(path, np.ascontiguousarray(a, dtype="<f4"))


def main(argv):
    torch.set_num_threads(1)
    cmd = argv[1] if len(argv) > 1 else ""
    with torch.no_grad():
        if cmd == "fb" and len(argv) >= 4:
            fbs = [torch.load(p, map_location="cpu")["spec.mel_scale.fb"].numpy() for p in argv[3:]]
            for p, fb in zip(argv[4:], fbs[1:]):
                if not np.array_equal(fb, fbs[0]):
                    sys.exit(f"pretrained_ref.py: {p}: filterbank differs from {argv[3]}")
            save(argv[2], fbs[0])
        elif cmd == "logmel" and len(argv) == 5:
            model = load(FCN, argv[2])
            x = torch.from_numpy(np.load(argv[3]).astype(np.float32))
            save(argv[4], model.logmel(x).numpy())
        elif cmd == "probs" and len(argv) == 6:
            model = load({"fcn": FCN, "crnn": CRNN}[argv[2]], argv[3])
            x = torch.from_numpy(np.load(argv[4]).astype(np.float32))
            save(argv[5], model(x).numpy())
        else:
            sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
