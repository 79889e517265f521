#!/usr/bin/python3
"""bidir_torch_ref.py - PyTorch's bidirectional nn.RNN over
pack_padded_sequence, run once to make tests/golden/bidir_torch.txt. The
test (tests/test_bidir.c) builds the same model in unroll and compares;
it never runs Python.

The model, float64, two sequences of lengths 4 and 2 (batch_first):
    nn.RNN(input 5 one-hot, hidden 3, num_layers L, tanh, bidirectional)
    z = [h_n forward; h_n backward] of the top layer
    logits = fc(z), loss = cross_entropy(logits, labels, reduction="sum")
unroll's names: weight_ih_l{k}[_reverse] = l{k}.fw.U / l{k}.bw.U,
weight_hh = W, bias_ih = b, bias_hh = 0 (unroll's Elman has one bias),
fc.weight = V, fc.bias = c. Element k (row-major) of unroll's i-th
parameter, in its order (per layer: fw U W b, bw U W b; then V, c), is
0.5 sin(1.3 k + 0.7 i + 0.1), as weight() in the test.

Writes, per L in 1 2 3, the loss and every parameter's gradient.
usage: python3 tools/bidir_torch_ref.py > tests/golden/bidir_torch.txt
"""
import math

import torch

H, NIN, K = 3, 5, 3
LENS = [4, 2]
IDS = [[1, 4, 0, 2], [3, 1, 0, 0]]
LABELS = [2, 0]


def weight(i, shape):
    n = math.prod(shape)
    v = [0.5 * math.sin(1.3 * k + 0.7 * i + 0.1) for k in range(n)]
    return torch.tensor(v, dtype=torch.float64).reshape(shape)


def run(L):
    rnn = torch.nn.RNN(NIN, H, num_layers=L, nonlinearity="tanh", bias=True,
                       batch_first=True, bidirectional=True).double()
    fc = torch.nn.Linear(2 * H, K).double()
    names = []
    i = 0
    with torch.no_grad():
        for l in range(L):
            for d, suffix in ((0, ""), (1, "_reverse")):
                pre = (f"l{l}." if L > 1 else "") + ("bw." if d else "fw.")
                for unr, tor in (("U", "weight_ih"), ("W", "weight_hh"), ("b", "bias_ih")):
                    p = getattr(rnn, f"{tor}_l{l}{suffix}")
                    p.copy_(weight(i, tuple(p.shape)))
                    names.append((pre + unr, p))
                    i += 1
                getattr(rnn, f"bias_hh_l{l}{suffix}").zero_()
        fc.weight.copy_(weight(i, (K, 2 * H)))
        fc.bias.copy_(weight(i + 1, (K,)))
    names += [("V", fc.weight), ("c", fc.bias)]
    x = torch.zeros(len(LENS), 4, NIN, dtype=torch.float64)
    for b, ids in enumerate(IDS):
        for t in range(LENS[b]):
            x[b, t, ids[t]] = 1
    packed = torch.nn.utils.rnn.pack_padded_sequence(
        x, torch.tensor(LENS), batch_first=True, enforce_sorted=False)
    _, hn = rnn(packed)
    z = torch.cat([hn[-2], hn[-1]], dim=1)
    loss = torch.nn.functional.cross_entropy(fc(z), torch.tensor(LABELS), reduction="sum")
    loss.backward()
    print(f"layers {L} loss {loss.item():.17g}")
    for name, p in names:
        vals = " ".join(f"{v:.17g}" for v in p.grad.reshape(-1).tolist())
        print(f"grad {L} {name} {vals}")


print("# made by tools/bidir_torch_ref.py with torch", torch.__version__)
for L in (1, 2, 3):
    run(L)
