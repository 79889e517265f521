#!/usr/bin/python3
"""bidir_torch_ref.py - PyTorch's bidirectional nn.RNN and nn.LSTM over
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

nn.LSTM the same with its gate blocks i, f, g, o of weight_ih / weight_hh /
bias_ih as unroll's Ui Uf Ug Uo / Wi ... / bi ... (parameter order per
layer and direction: Ui Wi bi Uf Wf bf Ug Wg bg Uo Wo bo).

Writes, for Elman at L = 1 2 3 and LSTM at L = 1 2, the loss and every
parameter's gradient: "loss CELL L X", "grad CELL L NAME g0 g1 ...".
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


GATES = "ifgo"  # PyTorch's row blocks of weight_ih / weight_hh, unroll's Ui Uf Ug Uo


def run(cell, L):
    kind = torch.nn.RNN if cell == "elman" else torch.nn.LSTM
    extra = {"nonlinearity": "tanh"} if cell == "elman" else {}
    rnn = kind(NIN, H, num_layers=L, bias=True, batch_first=True, bidirectional=True,
               **extra).double()
    fc = torch.nn.Linear(2 * H, K).double()
    names = []  # (unroll name, torch tensor, row block or None)
    i = 0
    with torch.no_grad():
        for l in range(L):
            for d, suffix in ((0, ""), (1, "_reverse")):
                pre = (f"l{l}." if L > 1 else "") + ("bw." if d else "fw.")
                wih = getattr(rnn, f"weight_ih_l{l}{suffix}")
                whh = getattr(rnn, f"weight_hh_l{l}{suffix}")
                bih = getattr(rnn, f"bias_ih_l{l}{suffix}")
                getattr(rnn, f"bias_hh_l{l}{suffix}").zero_()
                gates = [""] if cell == "elman" else list(GATES)
                for k, gate in enumerate(gates):
                    rows = slice(k * H, (k + 1) * H)
                    for unr, p in (("U", wih), ("W", whh), ("b", bih)):
                        block = p[rows]
                        block.copy_(weight(i, tuple(block.shape)))
                        names.append((pre + unr + gate, p, rows))
                        i += 1
        fc.weight.copy_(weight(i, (K, 2 * H)))
        fc.bias.copy_(weight(i + 1, (K,)))
    names += [("V", fc.weight, None), ("c", fc.bias, None)]
    x = torch.zeros(len(LENS), 4, NIN, dtype=torch.float64)
    for b, ids in enumerate(IDS):
        for t in range(LENS[b]):
            x[b, t, ids[t]] = 1
    packed = torch.nn.utils.rnn.pack_padded_sequence(
        x, torch.tensor(LENS), batch_first=True, enforce_sorted=False)
    _, hn = rnn(packed)
    if cell == "lstm":
        hn = hn[0]
    z = torch.cat([hn[-2], hn[-1]], dim=1)
    loss = torch.nn.functional.cross_entropy(fc(z), torch.tensor(LABELS), reduction="sum")
    loss.backward()
    print(f"loss {cell} {L} {loss.item():.17g}")
    for name, p, rows in names:
        g = p.grad if rows is None else p.grad[rows]
        vals = " ".join(f"{v:.17g}" for v in g.reshape(-1).tolist())
        print(f"grad {cell} {L} {name} {vals}")


print("# made by tools/bidir_torch_ref.py with torch", torch.__version__)
for L in (1, 2, 3):
    run("elman", L)
for L in (1, 2):
    run("lstm", L)
