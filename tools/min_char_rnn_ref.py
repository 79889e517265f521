#!/usr/bin/python3
"""min_char_rnn_ref.py - an independent numpy reference of Karpathy's
min-char-rnn training loop, used once to produce the golden fixture in
tests/golden/min_char_rnn/. The tests compare unroll against the files this
writes; they never run Python.

The model and loop, in float64 (names as in unroll's DESIGN: W recurrent,
U input; Karpathy's Wxh = U, Whh = W, bh = b, Why = V, by = c):

    h_t = tanh(U x_t + W h_{t-1} + b)     x_t one-hot over the vocabulary
    o_t = V h_t + c
    loss of a chunk = sum_t -log softmax(o_t)[target_t]

    vocabulary: sorted distinct code points of the whole text (no split)
    init: rs = numpy.random.RandomState(seed); U = rs.randn(H, V) * 0.01,
          then W = rs.randn(H, H) * 0.01, then V = rs.randn(V, H) * 0.01
          (in that order); b, c zero
    chunks (B = 1): before step n, if n == 0 or p + T + 1 >= len(text):
          p = 0 and the carried hidden state is zeroed;
          inputs = ids[p : p+T], targets = ids[p+1 : p+T+1]; after it, p += T
    update: every gradient clipped elementwise to [-5, 5], then Adagrad
          mem += g * g;  param -= lr * g / sqrt(mem + 1e-8)   (mem starts 0)
    loss recorded for step n: the chunk loss computed before step n's update

Outputs (all float64, C order, numpy .npy format 1.0):
    U.npy [H, V]  W.npy [H, H]  b.npy [H]  V.npy [V, H]  c.npy [V]   initial
    U_stepK.npy ... c_stepK.npy                after K = --snapshot steps
    U_final.npy ... c_final.npy                                after N steps
    losses.npy [N]
    losses_spread.npy [N]  per step, the largest relative loss difference
               between the reference and the same mathematics rounded
               differently (measure_spread): the tolerance a comparison
               with another float64 implementation can hope for
    meta.json  hyperparameters, vocabulary (code points), text size,
               reset steps, final-parameter spread

--check runs a central-difference gradient check of the backward pass
(including a non-zero carried hidden state) and writes nothing.
"""

import argparse
import json
import os
import sys

import numpy as np

PARAM_NAMES = ("U", "W", "b", "V", "c")


def read_text(path):
    with open(path, "rb") as f:
        raw = f.read()
    # strict: the C loader rejects invalid UTF-8 too
    return raw.decode("utf-8", errors="strict")


def init_params(H, vocab_size, seed):
    rs = np.random.RandomState(seed)
    U = rs.randn(H, vocab_size) * 0.01
    W = rs.randn(H, H) * 0.01
    V = rs.randn(vocab_size, H) * 0.01
    b = np.zeros(H)
    c = np.zeros(vocab_size)
    return {"U": U, "W": W, "b": b, "V": V, "c": c}


def _matvec(A, x, variant):
    # variant 2: einsum reduces in a different order than BLAS
    return np.einsum("ij,j->i", A, x) if variant == 2 else A @ x


def loss_and_grads(P, inputs, targets, h0, variant=0):
    """Forward over one chunk from hidden state h0, then backpropagation
    through time. Returns (loss, grads dict, last hidden state).

    variant != 0 computes the same mathematics with rounding in different
    places (see measure_spread); 0 is the reference."""
    U, W, b, V, c = (P[k] for k in PARAM_NAMES)
    T = len(inputs)
    hs = [None] * T
    probs = [None] * T
    loss = 0.0
    h = h0
    for t in range(T):
        # U @ onehot(x) is column x of U
        h = np.tanh(U[:, inputs[t]] + _matvec(W, h, variant) + b)
        o = _matvec(V, h, variant) + c
        if variant == 1:
            # Karpathy's literal form, no max shift
            e = np.exp(o)
            probs[t] = e / np.sum(e)
            loss += -np.log(probs[t][targets[t]])
        else:
            m = np.max(o)
            lse = m + np.log(np.sum(np.exp(o - m)))
            loss += lse - o[targets[t]]
            probs[t] = np.exp(o - lse)
        hs[t] = h

    g = {k: np.zeros_like(P[k]) for k in PARAM_NAMES}
    terms = {k: [] for k in PARAM_NAMES}  # variant 3 only
    dh_from_next = np.zeros_like(h0)
    for t in reversed(range(T)):
        do = probs[t].copy()
        do[targets[t]] -= 1.0  # softmax + cross-entropy: p - onehot(y)
        dh = _matvec(V.T, do, variant) + dh_from_next
        da = (1.0 - hs[t] * hs[t]) * dh
        h_prev = hs[t - 1] if t > 0 else h0
        dU = np.zeros_like(U)
        dU[:, inputs[t]] = da
        step = {"U": dU, "W": np.outer(da, h_prev), "b": da,
                "V": np.outer(do, hs[t]), "c": do}
        for k in PARAM_NAMES:
            if variant == 3:
                terms[k].append(step[k])
            else:
                g[k] += step[k]
        dh_from_next = _matvec(W.T, da, variant)
    if variant == 3:
        # forward time order, pairwise summation
        for k in PARAM_NAMES:
            g[k] = np.sum(np.stack(terms[k][::-1]), axis=0)
    return loss, g, hs[T - 1]


def chunk_loss(P, inputs, targets, h0):
    return loss_and_grads(P, inputs, targets, h0)[0]


def train(ids, P, H, T, steps, lr, variant=0, snapshot_at=0):
    """Runs the loop in place on P. Returns (losses, reset steps, copy of
    the parameters after snapshot_at steps or None)."""
    snap = None
    mem = {k: np.zeros_like(P[k]) for k in PARAM_NAMES}
    losses = np.zeros(steps)
    h = np.zeros(H)
    p = 0
    resets = []
    for n in range(steps):
        if n == 0 or p + T + 1 >= len(ids):
            h = np.zeros(H)
            p = 0
            resets.append(n)
        inputs = ids[p : p + T]
        targets = ids[p + 1 : p + T + 1]
        loss, g, h = loss_and_grads(P, inputs, targets, h, variant)
        losses[n] = loss
        for k in PARAM_NAMES:
            gk = np.clip(g[k], -5.0, 5.0)
            mem[k] += gk * gk
            P[k] -= lr * gk / np.sqrt(mem[k] + 1e-8)
        p += T
        if n + 1 == snapshot_at:
            snap = {k: P[k].copy() for k in PARAM_NAMES}
    return losses, resets, snap


def measure_spread(ids, H, vocab_size, T, steps, lr, seed, ref_losses,
                   ref_params, snapshot_at, ref_snap):
    """How far rounding alone moves the trajectory: rerun with each
    variant (same mathematics, rounding elsewhere) and take, per step, the
    largest relative loss difference from the reference. Adagrad divides by
    sqrt(mem + 1e-8), so a parameter whose gradients are still ~1e-4 moves
    by up to lr / 1e-4 = 1000 times its gradient error each step: rounding
    differences grow roughly tenfold per step early in training."""
    spread = np.zeros(steps)
    pspread = {k: 0.0 for k in PARAM_NAMES}
    sspread = {k: 0.0 for k in PARAM_NAMES}
    for variant in (1, 2, 3):
        P = init_params(H, vocab_size, seed)
        losses, _, snap = train(ids, P, H, T, steps, lr, variant, snapshot_at)
        spread = np.maximum(spread, np.abs(losses - ref_losses) /
                            np.abs(ref_losses))
        for k in PARAM_NAMES:
            pspread[k] = max(pspread[k],
                             float(np.max(np.abs(P[k] - ref_params[k]))))
            if snap is not None:
                sspread[k] = max(sspread[k],
                                 float(np.max(np.abs(snap[k] - ref_snap[k]))))
    return spread, pspread, sspread


def grad_check(ids, H, T, seed, lr):
    """Central differences against the analytic gradient, on a chunk that
    starts from a non-zero hidden state after a few training steps (so W
    and the carried state both matter)."""
    vocab_size = int(max(ids)) + 1
    P = init_params(H, vocab_size, seed)
    train(ids, P, H, T, 5, lr)
    rs = np.random.RandomState(seed + 1)
    h0 = np.tanh(rs.randn(H))
    inputs, targets = ids[T : 2 * T], ids[T + 1 : 2 * T + 1]
    _, g, _ = loss_and_grads(P, inputs, targets, h0)
    eps = 1e-5
    worst = 0.0
    ok = True
    for k in PARAM_NAMES:
        flat = P[k].reshape(-1)
        gflat = g[k].reshape(-1)
        picks = rs.choice(flat.size, size=min(flat.size, 60), replace=False)
        if k == "U":
            # only the columns of this chunk's inputs have a gradient
            rows = rs.randint(H, size=40)
            cols = rs.choice(inputs, size=40)
            picks = np.concatenate([picks, rows * vocab_size + cols])
        max_abs = max_rel = 0.0
        for i in picks:
            old = flat[i]
            flat[i] = old + eps
            lp = chunk_loss(P, inputs, targets, h0)
            flat[i] = old - eps
            lm = chunk_loss(P, inputs, targets, h0)
            flat[i] = old
            num = (lp - lm) / (2 * eps)
            ana = gflat[i]
            err = abs(num - ana)
            max_abs = max(max_abs, err)
            if abs(num) > 1e-3:
                max_rel = max(max_rel, err / abs(num))
        print(f"gradcheck {k}: {len(picks)} entries, max abs err {max_abs:.3e},"
              f" max rel err (|g|>1e-3) {max_rel:.3e}")
        worst = max(worst, max_rel)
        if max_abs > 1e-7 or max_rel > 1e-5:
            ok = False
    print("gradcheck", "PASSED" if ok else "FAILED", f"(worst rel {worst:.3e})")
    return ok


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("text")
    ap.add_argument("--out", default=".")
    ap.add_argument("--hidden", type=int, default=100)
    ap.add_argument("--seq-len", type=int, default=25)
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--lr", type=float, default=0.1)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--snapshot", type=int, default=5,
                    help="also write the parameters after this many steps "
                    "as U_stepK.npy ... (0: none)")
    ap.add_argument("--check", action="store_true",
                    help="gradient-check the backward pass; write nothing")
    a = ap.parse_args()

    text = read_text(a.text)
    chars = sorted(set(text))  # str ordering is code point ordering
    index = {ch: i for i, ch in enumerate(chars)}
    ids = [index[ch] for ch in text]
    H, T = a.hidden, a.seq_len
    if len(ids) < T + 2:
        sys.exit(f"{a.text}: text of {len(ids)} code points is too short")

    if a.check:
        sys.exit(0 if grad_check(ids, H, T, a.seed, a.lr) else 1)

    P = init_params(H, len(chars), a.seed)
    os.makedirs(a.out, exist_ok=True)
    for k in PARAM_NAMES:
        np.save(os.path.join(a.out, f"{k}.npy"), np.ascontiguousarray(P[k]))
    losses, resets, snap = train(ids, P, H, T, a.steps, a.lr,
                                 snapshot_at=a.snapshot)
    np.save(os.path.join(a.out, "losses.npy"), losses)
    if snap is not None:
        for k in PARAM_NAMES:
            np.save(os.path.join(a.out, f"{k}_step{a.snapshot}.npy"), snap[k])
    spread, pspread, sspread = measure_spread(ids, H, len(chars), T, a.steps,
                                              a.lr, a.seed, losses, P,
                                              a.snapshot, snap)
    np.save(os.path.join(a.out, "losses_spread.npy"), spread)
    for k in PARAM_NAMES:
        np.save(os.path.join(a.out, f"{k}_final.npy"),
                np.ascontiguousarray(P[k]))
    meta = {
        "text": os.path.basename(a.text),
        "code_points": len(ids),
        "vocab_size": len(chars),
        "vocab_code_points": [ord(ch) for ch in chars],
        "hidden": H,
        "seq_len": T,
        "steps": a.steps,
        "lr": a.lr,
        "adagrad_eps": 1e-8,
        "clip_value": 5.0,
        "seed": a.seed,
        "init": "RandomState(seed): U, W, V = randn * 0.01 in that order",
        "reset_steps": resets,
        "snapshot_step": a.snapshot,
        "snapshot_param_spread_max_abs": sspread,
        "final_param_spread_max_abs": pspread,
        "numpy": np.__version__,
    }
    with open(os.path.join(a.out, "meta.json"), "w") as f:
        json.dump(meta, f, indent=1)
        f.write("\n")
    print("losses[0:3] =", [repr(float(x)) for x in losses[:3]])
    print("losses[-1] =", repr(float(losses[-1])), " resets at", resets)
    print("losses_spread:", " ".join(f"{x:.1e}" for x in spread[:20]), "...")


if __name__ == "__main__":
    main()
