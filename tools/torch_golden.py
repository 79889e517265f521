#!/usr/bin/python3
"""torch_golden.py - PyTorch 1.13 state_dicts, losses and gradients for the
PyTorch interop test (tests/test_torch.c), run once to make
tests/golden/torch/; the test never runs Python.

Each case is a folder CASE/ holding
    config.yaml      the unroll config of the same model (float64, npy data)
    data/            inputs.npy int32 [N, T] ids, targets.npy int32 [N, T]
                     (every step, -1 past a sequence's end) or [N] (one
                     label per sequence), lengths.npy int32 [N]
    state/NAME.npy   the model's state_dict under PyTorch's names
    grad/NAME.npy    d loss / d NAME, PyTorch's gradient of each tensor
    loss.npy         the loss, float64 []
for these models, float64, PyTorch's default initialisation from a fixed
seed (so bias_hh is not zero and import must add it to bias_ih):
    rnn2      nn.RNN, 2 layers, tanh, every step; its state_dict is the bare
              module's (weight_ih_l0, ...) beside fc.weight, fc.bias
    rnn_bi    nn.RNN, bidirectional, relu, one label per sequence
    lstm2_bi  nn.LSTM, 2 layers, bidirectional, one label per sequence
    gru2      nn.GRU, 2 layers, every step
The inputs are one-hot over V ids, read over pack_padded_sequence (each
sequence its own length, from a zero state); the head is fc = nn.Linear on
the top layer's output at every step ([forward_t, backward_t]), or, for a
label per sequence, on [h_n forward, h_n backward] (the forward direction
at the sequence's last step, the backward at its first). The loss is
cross_entropy(reduction="sum"), as unroll's (a sum over steps and rows).

usage: /usr/bin/python3 tools/torch_golden.py tests/golden/torch
"""
import os
import sys

import numpy as np
import torch

V, K, H, N, T = 5, 4, 3, 3, 5
LENS = [5, 3, 4]

CASES = {
    # name: (module, layers, bidirectional, nonlinearity, per sequence, prefix)
    "rnn2": (torch.nn.RNN, 2, False, "tanh", False, ""),
    "rnn_bi": (torch.nn.RNN, 1, True, "relu", True, "rnn."),
    "lstm2_bi": (torch.nn.LSTM, 2, True, None, True, "rnn."),
    "gru2": (torch.nn.GRU, 2, False, None, False, "rnn."),
}
CELLS = {torch.nn.RNN: "elman", torch.nn.LSTM: "lstm", torch.nn.GRU: "gru"}


def data(seed, per_seq):
    g = np.random.RandomState(seed)
    ids = g.randint(0, V, size=(N, T)).astype(np.int32)
    ids[0, 0] = V - 1  # every id and class occurs: unroll sizes them by the largest
    tg = np.full((N, T), -1, dtype=np.int32)
    for b, n in enumerate(LENS):
        ids[b, n:] = 0
        tg[b, :n] = g.randint(0, K, size=n)
    tg[0, 0] = K - 1
    if per_seq:
        tg = np.array([K - 1, 0, 2], dtype=np.int32)
    return ids, tg


def run(name, module, layers, bidir, act, per_seq, prefix, out):
    torch.manual_seed(11 + len(name))
    extra = {"nonlinearity": act} if act else {}
    rnn = module(V, H, num_layers=layers, batch_first=True, bidirectional=bidir, **extra).double()
    ndir = 2 if bidir else 1
    fc = torch.nn.Linear(ndir * H, K).double()
    ids, tg = data(len(name), per_seq)
    x = torch.zeros(N, T, V, dtype=torch.float64)
    for b in range(N):
        for t in range(LENS[b]):
            x[b, t, ids[b, t]] = 1
    packed = torch.nn.utils.rnn.pack_padded_sequence(
        x, torch.tensor(LENS), batch_first=True, enforce_sorted=False)
    outp, hn = rnn(packed)
    if module is torch.nn.LSTM:
        hn = hn[0]
    if per_seq:
        z = torch.cat([hn[-2], hn[-1]], dim=1) if bidir else hn[-1]
        loss = torch.nn.functional.cross_entropy(fc(z), torch.tensor(tg, dtype=torch.long),
                                                 reduction="sum")
    else:
        y, _ = torch.nn.utils.rnn.pad_packed_sequence(outp, batch_first=True, total_length=T)
        logits = fc(y).reshape(N * T, K)
        loss = torch.nn.functional.cross_entropy(
            logits, torch.tensor(tg.reshape(-1), dtype=torch.long), ignore_index=-1,
            reduction="sum")
    loss.backward()

    d = os.path.join(out, name)
    for sub in ("data", "state", "grad"):
        os.makedirs(os.path.join(d, sub), exist_ok=True)
    np.save(os.path.join(d, "data", "inputs.npy"), ids)
    np.save(os.path.join(d, "data", "targets.npy"), tg)
    np.save(os.path.join(d, "data", "lengths.npy"), np.array(LENS, dtype=np.int32))
    tensors = [(prefix + k, p) for k, p in rnn.named_parameters()]
    tensors += [("fc." + k, p) for k, p in fc.named_parameters()]
    for k, p in tensors:
        np.save(os.path.join(d, "state", k + ".npy"), p.detach().numpy())
        np.save(os.path.join(d, "grad", k + ".npy"), p.grad.numpy())
    np.save(os.path.join(d, "loss.npy"), np.array(loss.item(), dtype=np.float64))
    cfg = ["# made by tools/torch_golden.py: the unroll form of PyTorch's model",
           "data: {kind: npy, path: tests/golden/torch/%s/data}" % name,
           "model:",
           "  cell: %s" % CELLS[module]]
    if module is torch.nn.GRU:
        cfg.append("  gru: torch")
    if act:
        cfg.append("  activation: %s" % act)
    cfg += ["  hidden: %d" % H,
            "  layers: %d" % layers,
            "  bidirectional: %s" % ("true" if bidir else "false"),
            "  outputs: %s" % ("last_step" if per_seq else "every_step"),
            "train: {dtype: float64, batch: %d}" % N]
    with open(os.path.join(d, "config.yaml"), "w") as f:
        f.write("\n".join(cfg) + "\n")
    print("%s: loss %.17g, %d tensors" % (name, loss.item(), len(tensors)))


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "tests/golden/torch"
    for name, c in CASES.items():
        run(name, *c, out)


if __name__ == "__main__":
    main()
