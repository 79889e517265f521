#!/usr/bin/python3
"""bench/ref.py - the baselines `make bench` measures unroll against.

One process measures one thing and prints one line of JSON, so that peak
RSS belongs to that measurement alone:

    ref.py step   --impl rnn|cell|numpy [--cell elman|lstm|gru] --V 65 --H 100
                  --T 25 --B 1 --dtype float32|float64 --threads N [--reps R]
    ref.py sample --impl rnn|cell|numpy --V 65 --H 100 --length 2000

A training step is the same work unroll does in bench/bench.c: one-hot
character inputs over T steps, a cell, logits o = V h + c every step,
softmax cross-entropy summed over the B x T tokens, full backpropagation
through time, and a plain SGD update. The cell is Elman's h = tanh(W h +
U x + b), or (--cell lstm) the LSTM of unroll's `model.cell: lstm`: four
gates i, f, g, o of H units each (4H rows of W and U), c = f c + i g,
h = o tanh(c).

    rnn    torch.nn.RNN (tanh), torch.nn.LSTM or torch.nn.GRU (--cell
           gru: PyTorch's formula, as bench/gru_torch.yaml), + torch.nn.Linear, one-hot
           inputs as the dense [T, B, V] tensor they expect,
           torch.optim.SGD. nn.LSTM adds two bias vectors (b_ih + b_hh)
           where unroll has one per gate: 4H additions more per step
    cell   the same cell written out step by step in eager PyTorch; U x_t
           is a column lookup (U.t()[x_t]), as unroll does it; the LSTM's
           four gates come from one [B, 4H] product of the stacked weights
           (the way such a loop is usually written), then chunk(4)
    numpy  Karpathy's min-char-rnn lossFun (float64, B = 1) with its
           Adagrad update and [-5, 5] clipping, as the original runs

Warm-up steps are excluded; the figure is the median over --reps steps.
"core" in the output is the OpenBLAS core the process ran: the environment's
OPENBLAS_CORETYPE decides it, or OpenBLAS's guess from the CPU's model.
The random token ids are drawn once, outside the timed loop.
"""

import argparse
import json
import os
import resource
import sys
import time


def peak_rss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def median(xs):
    s = sorted(xs)
    n = len(s)
    return s[n // 2] if n % 2 else 0.5 * (s[n // 2 - 1] + s[n // 2])


def timed_steps(step, warmup, reps):
    for _ in range(warmup):
        step()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    return median(times)


def torch_step(a):
    import torch
    import torch.nn.functional as F

    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    dt = torch.float32 if a.dtype == "float32" else torch.float64
    V, H, T, B = a.V, a.H, a.T, a.B
    g = torch.Generator().manual_seed(1)
    xs = torch.randint(0, V, (T, B), generator=g)
    ys = torch.randint(0, V, (T, B), generator=g)
    lr = 1e-3
    lstm = a.cell == "lstm"
    if a.impl == "rnn":
        if lstm:
            rnn = torch.nn.LSTM(V, H).to(dt)
            h0 = (torch.zeros(1, B, H, dtype=dt), torch.zeros(1, B, H, dtype=dt))
        elif a.cell == "gru":
            rnn = torch.nn.GRU(V, H).to(dt)
            h0 = torch.zeros(1, B, H, dtype=dt)
        else:
            rnn = torch.nn.RNN(V, H, nonlinearity="tanh").to(dt)
            h0 = torch.zeros(1, B, H, dtype=dt)
        lin = torch.nn.Linear(H, V).to(dt)
        params = list(rnn.parameters()) + list(lin.parameters())
        opt = torch.optim.SGD(params, lr=lr)

        def step():
            x = F.one_hot(xs, V).to(dt)              # [T, B, V]
            out, _ = rnn(x, h0)                      # [T, B, H]
            logits = lin(out)                        # [T, B, V]
            loss = F.cross_entropy(logits.view(T * B, V), ys.view(T * B), reduction="sum")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    else:
        def p(*shape):
            return (torch.randn(*shape, dtype=dt) * 0.01).requires_grad_()

        G = 4 * H if lstm else H                     # gate rows
        U, W, b, Vw, c = p(G, V), p(G, H), p(G), p(V, H), p(V)
        opt = torch.optim.SGD([U, W, b, Vw, c], lr=lr)
        h0 = torch.zeros(B, H, dtype=dt)

        def lstm_step():
            h, cs = h0, h0
            loss = 0
            Ut = U.t()
            for t in range(T):
                gates = h @ W.t() + Ut[xs[t]] + b    # [B, 4H]
                i, f, g, o = gates.chunk(4, 1)
                cs = torch.sigmoid(f) * cs + torch.sigmoid(i) * torch.tanh(g)
                h = torch.sigmoid(o) * torch.tanh(cs)
                loss = loss + F.cross_entropy(h @ Vw.t() + c, ys[t], reduction="sum")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

        def step():
            h = h0
            loss = 0
            Ut = U.t()
            for t in range(T):
                h = torch.tanh(h @ W.t() + Ut[xs[t]] + b)
                o = h @ Vw.t() + c
                loss = loss + F.cross_entropy(o, ys[t], reduction="sum")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

    return timed_steps(lstm_step if lstm and a.impl == "cell" else step, a.warmup, a.reps)


def blas_core():
    """The OpenBLAS core this process runs (OPENBLAS_CORETYPE or
    OpenBLAS's own guess): threadpoolctl's report where it is installed,
    else openblas_get_corename() of the OpenBLAS mapped into the process."""
    try:
        from threadpoolctl import threadpool_info
        for lib in threadpool_info():
            if lib.get("internal_api") == "openblas":
                return lib.get("architecture") or "?"
    except Exception:
        pass
    try:
        import ctypes
        with open("/proc/self/maps") as f:
            paths = {line.split()[-1] for line in f if "openblas" in line and "/" in line}
        for path in sorted(paths):
            lib = ctypes.CDLL(path)
            lib.openblas_get_corename.restype = ctypes.c_char_p
            return lib.openblas_get_corename().decode()
    except Exception:
        pass
    return "?"


def numpy_step(a):
    """Karpathy's min-char-rnn lossFun and update loop (B = 1, float64)."""
    import numpy as np

    V, H, T = a.V, a.H, a.T
    rs = np.random.RandomState(1)
    Wxh = rs.randn(H, V) * 0.01
    Whh = rs.randn(H, H) * 0.01
    Why = rs.randn(V, H) * 0.01
    bh = np.zeros((H, 1))
    by = np.zeros((V, 1))
    mem = [np.zeros_like(p) for p in (Wxh, Whh, Why, bh, by)]
    inputs = list(rs.randint(0, V, T))
    targets = list(rs.randint(0, V, T))
    state = {"h": np.zeros((H, 1))}

    def loss_fun(inputs, targets, hprev):
        xs, hs, ys, ps = {}, {}, {}, {}
        hs[-1] = np.copy(hprev)
        loss = 0
        for t in range(len(inputs)):
            xs[t] = np.zeros((V, 1))
            xs[t][inputs[t]] = 1
            hs[t] = np.tanh(np.dot(Wxh, xs[t]) + np.dot(Whh, hs[t - 1]) + bh)
            ys[t] = np.dot(Why, hs[t]) + by
            ps[t] = np.exp(ys[t]) / np.sum(np.exp(ys[t]))
            loss += -np.log(ps[t][targets[t], 0])
        dWxh, dWhh, dWhy = np.zeros_like(Wxh), np.zeros_like(Whh), np.zeros_like(Why)
        dbh, dby = np.zeros_like(bh), np.zeros_like(by)
        dhnext = np.zeros_like(hs[0])
        for t in reversed(range(len(inputs))):
            dy = np.copy(ps[t])
            dy[targets[t]] -= 1
            dWhy += np.dot(dy, hs[t].T)
            dby += dy
            dh = np.dot(Why.T, dy) + dhnext
            dhraw = (1 - hs[t] * hs[t]) * dh
            dbh += dhraw
            dWxh += np.dot(dhraw, xs[t].T)
            dWhh += np.dot(dhraw, hs[t - 1].T)
            dhnext = np.dot(Whh.T, dhraw)
        for d in (dWxh, dWhh, dWhy, dbh, dby):
            np.clip(d, -5, 5, out=d)
        return loss, dWxh, dWhh, dWhy, dbh, dby, hs[len(inputs) - 1]

    def step():
        loss, dWxh, dWhh, dWhy, dbh, dby, state["h"] = loss_fun(inputs, targets, state["h"])
        for param, dparam, m in zip((Wxh, Whh, Why, bh, by), (dWxh, dWhh, dWhy, dbh, dby), mem):
            m += dparam * dparam
            param += -0.1 * dparam / np.sqrt(m + 1e-8)

    return timed_steps(step, a.warmup, a.reps)


def sample(a):
    """Characters per second generating a.length characters, batch 1."""
    V, H, n = a.V, a.H, a.length
    if a.impl == "numpy":
        import numpy as np

        rs = np.random.RandomState(1)
        Wxh, Whh, Why = rs.randn(H, V) * 0.01, rs.randn(H, H) * 0.01, rs.randn(V, H) * 0.01
        bh, by = np.zeros((H, 1)), np.zeros((V, 1))

        def gen():
            h = np.zeros((H, 1))
            x = np.zeros((V, 1))
            x[0] = 1
            for _ in range(n):
                h = np.tanh(np.dot(Wxh, x) + np.dot(Whh, h) + bh)
                y = np.dot(Why, h) + by
                p = np.exp(y) / np.sum(np.exp(y))
                ix = rs.choice(range(V), p=p.ravel())
                x = np.zeros((V, 1))
                x[ix] = 1
    else:
        import torch
        import torch.nn.functional as F

        torch.set_num_threads(a.threads)
        torch.manual_seed(0)
        if a.impl == "rnn":
            rnn = torch.nn.RNN(V, H, nonlinearity="tanh")
            lin = torch.nn.Linear(H, V)

            def gen():
                with torch.no_grad():
                    h = torch.zeros(1, 1, H)
                    ix = 0
                    for _ in range(n):
                        x = F.one_hot(torch.tensor([[ix]]), V).float()
                        out, h = rnn(x, h)
                        p = F.softmax(lin(out[0]), dim=-1)
                        ix = int(torch.multinomial(p, 1))
        else:
            U, W, b = torch.randn(H, V) * 0.01, torch.randn(H, H) * 0.01, torch.zeros(H)
            Vw, c = torch.randn(V, H) * 0.01, torch.zeros(V)
            Ut = U.t().contiguous()

            def gen():
                with torch.no_grad():
                    h = torch.zeros(1, H)
                    ix = 0
                    for _ in range(n):
                        h = torch.tanh(h @ W.t() + Ut[ix] + b)
                        p = F.softmax(h @ Vw.t() + c, dim=-1)
                        ix = int(torch.multinomial(p, 1))

    gen()  # warm-up
    times = []
    for _ in range(a.reps):
        t0 = time.perf_counter()
        gen()
        times.append(time.perf_counter() - t0)
    return n / median(times)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("what", choices=["step", "sample"])
    ap.add_argument("--impl", choices=["rnn", "cell", "numpy"], required=True)
    ap.add_argument("--cell", choices=["elman", "lstm", "gru"], default="elman")
    ap.add_argument("--V", type=int, default=65)
    ap.add_argument("--H", type=int, default=100)
    ap.add_argument("--T", type=int, default=25)
    ap.add_argument("--B", type=int, default=1)
    ap.add_argument("--dtype", default="float32")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--length", type=int, default=2000)
    a = ap.parse_args()
    if a.what == "step" and a.cell == "gru" and a.impl != "rnn":
        ap.error("--cell gru: nn.GRU only (--impl rnn)")
    if a.what == "step":
        sec = numpy_step(a) if a.impl == "numpy" else torch_step(a)
        out = {"ms": sec * 1e3, "tokens_per_s": a.T * a.B / sec}
    else:
        out = {"chars_per_s": sample(a)}
    out["rss_mib"] = peak_rss_mib()
    out["core"] = blas_core()
    print(json.dumps(out))


if __name__ == "__main__":
    sys.exit(main())
