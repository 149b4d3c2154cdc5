"""Reference side of the PyTorch parity test (tests/test_torch_parity.c).

Usage: torch_parity.py DIR
DIR holds model.safetensors (an mgc model), x.npy (a batch of inputs),
labels.npy (int labels as float32) and opts.json (class_weights, smoothing,
lr, weight_decay, clip). Writes into DIR what the same architecture with the
same weights gives in PyTorch:
  probs.npy                 eval-mode probabilities
  logits.npy                training-mode logits (dropout disabled)
  loss.npy                  the cross-entropy of that batch
  grads.safetensors         dL/dparam for every trainable tensor
  dx.npy                    dL/dx
  state.safetensors         every tensor after one Adam step (running
                            statistics updated by the training forward)
"""
import json
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "bench"))
import torch_twin  # noqa: E402


def main(d):
    torch.manual_seed(0)
    torch.set_num_threads(1)
    model, meta = torch_twin.load_mgc_model(os.path.join(d, "model.safetensors"),
                                            no_dropout=True)
    opts = json.load(open(os.path.join(d, "opts.json")))
    x = torch.from_numpy(np.load(os.path.join(d, "x.npy")).astype(np.float32))
    y = torch.from_numpy(np.load(os.path.join(d, "labels.npy")).astype(np.int64))
    model.eval()
    with torch.no_grad():
        np.save(os.path.join(d, "probs.npy"), model.predict(x).numpy())
    model.train()
    x.requires_grad_(True)
    logits = model(x)
    w = opts.get("class_weights")
    loss = torch.nn.functional.cross_entropy(
        logits, y, weight=torch.tensor(w, dtype=torch.float32) if w else None,
        label_smoothing=opts.get("smoothing", 0.0))
    loss.backward()
    np.save(os.path.join(d, "logits.npy"), logits.detach().numpy())
    np.save(os.path.join(d, "loss.npy"), np.array([loss.item()], dtype=np.float32))
    np.save(os.path.join(d, "dx.npy"), x.grad.numpy())
    grads = {k: p.grad.numpy() for k, p in model.named_parameters()}
    torch_twin.write_safetensors(os.path.join(d, "grads.safetensors"), grads)
    if opts.get("clip"):
        torch.nn.utils.clip_grad_norm_(model.parameters(), opts["clip"])
    opt = torch.optim.Adam(model.parameters(), lr=opts.get("lr", 1e-3),
                           weight_decay=opts.get("weight_decay", 0.0))
    opt.step()
    state = {k: v.numpy() for k, v in model.state_dict().items()
             if not k.endswith("num_batches_tracked")}
    torch_twin.write_safetensors(os.path.join(d, "state.safetensors"), state)


if __name__ == "__main__":
    main(sys.argv[1])
