#!/usr/bin/python3
"""bench/report.py RESULTS.jsonl - the table `make bench` prints.

Reads the lines bench/run.sh recorded (one measurement each) and prints,
per size, the median over rounds of unroll's and each baseline's time per
training step, the ratios against the targets of issue 5, peak RSS against
the target's limit, each preset against its custom form, sampling speed,
graph build time, the rewrites' effect and `unroll train` as a user runs
it. Prints figures and marks (ok / MISS), never a verdict that fails a
build.
"""

import json
import sys

SIZES = {  # V, H, T, B
    "S1": (65, 100, 25, 1),
    "S1f64": (65, 100, 25, 1),
    "S2": (65, 256, 64, 32),
    "S3": (128, 1024, 32, 64),
    "S4": (65, 128, 1000, 1),
    "L2": (65, 256, 64, 32),
}
LSTM_SIZES = {"L2"}
# against nn.RNN (nn.LSTM for the LSTM sizes), and against the eager cell loop
TARGET_RNN = {"S1": 10, "S2": 2, "S3": 1.2, "S4": 10, "L2": 1}
TARGET_CELL = {"L2": 5}
CELLS = ("elman", "jordan", "lstm", "gru")
CUSTOM_TOLERANCE = 0.05


def limit_mib(own):
    """Issue 5: peak RSS at most 1.5 x the step's own tensors + 16 MiB."""
    return 1.5 * own + 16


def mark(ok):
    return "ok" if ok else "MISS"


def median(xs):
    s = sorted(xs)
    n = len(s)
    if n == 0:
        return None
    return s[n // 2] if n % 2 else 0.5 * (s[n // 2 - 1] + s[n // 2])


def gemm_flops(V, H, T, B):
    """The step's matrix-product FLOPs: per step W h and V h forward; V^T,
    the two weight gradients and (but at t = 0) W^T backward."""
    return T * (6 * B * H * H + 6 * B * H * V) - 2 * B * H * H


def main():
    rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]

    def pick(kind, size, impl, threads=None):
        return [r for r in rows if r["kind"] == kind and r["size"] == size and r["impl"] == impl
                and (threads is None or r["threads"] == threads)]

    def med(kind, size, impl, key, threads=None):
        return median([r[key] for r in pick(kind, size, impl, threads) if key in r])

    peak = pick("peak", "all", "openblas")
    # another process on the second core lowers a round's peak: the best
    # round is the machine's
    p = dict(peak[0]) if peak else {}
    if peak:
        p["sgemm1"] = max(r["sgemm1"] for r in peak)
        p["sgemm2"] = max(r["sgemm2"] for r in peak)
    rounds = max([r["round"] for r in rows] or [0])
    print("unroll benchmark (bench/run.sh), medians over %d interleaved rounds" % rounds)
    if p:
        print("machine: sgemm 2048^3 %.1f GFLOP/s on 1 thread, %.1f on 2, best of the rounds "
              "(OpenBLAS %s kernels, pool of %d threads)" % (p["sgemm1"], p["sgemm2"], p["core"],
                                                            p["pool"]))
    print("threads: unroll runs products under 2 MFLOP on 1 thread, over 16 MFLOP on OpenBLAS's "
          "pool, and in between whichever its first calls timed faster; PyTorch is measured with "
          "1 and with 2 threads (torch.set_num_threads; OMP_WAIT_POLICY=PASSIVE for 2) and its "
          "best is used")
    print()
    print("training step: forward over T steps, full BPTT, SGD update; ms per step; "
          "L2 is an LSTM (model.cell: lstm) against nn.LSTM")
    hdr = ("size", "unroll", "tok/s", "nn.RNN", "thr", "ratio", "target", "cell loop", "ratio",
           "target", "numpy", "ratio")
    print("%-6s %9s %9s %9s %3s %7s %9s %9s %7s %9s %8s %7s" % hdr)
    for size, (V, H, T, B) in SIZES.items():
        u = med("step", size, "unroll", "ms")
        if u is None:
            continue
        tok = med("step", size, "unroll", "tokens_per_s")
        best_rnn, best_thr, best_cell = None, 0, None
        for th in (1, 2):
            m = med("step", size, "rnn", "ms", th)
            if m is not None and (best_rnn is None or m < best_rnn):
                best_rnn, best_thr = m, th
            c = med("step", size, "cell", "ms", th)
            if c is not None and (best_cell is None or c < best_cell):
                best_cell = c
        npy = med("step", size, "numpy", "ms")

        def ratio(x):
            return "%6.2fx" % (x / u) if x is not None else "      -"

        def target(x, tgt, what=""):
            if not tgt:
                return ""
            return ">=%gx%s %s" % (tgt, what, mark(x / u >= tgt) if x is not None else "")
        tr = target(best_rnn, TARGET_RNN.get(size))
        tc = target(best_cell, TARGET_CELL.get(size))
        tn = ""
        if size == "S1f64":
            tn = ">=15x %s" % mark(npy / u >= 15) if npy is not None else ">=15x"
        print("%-6s %9.3f %9.0f %9s %3s %7s %9s %9s %7s %9s %8s %7s %s" % (
            size, u, tok,
            "%.3f" % best_rnn if best_rnn else "-", best_thr or "-", ratio(best_rnn), tr,
            "%.3f" % best_cell if best_cell else "-", ratio(best_cell), tc,
            "%.3f" % npy if npy else "-", ratio(npy), tn))
        if size == "S3":
            f = gemm_flops(V, H, T, B)
            g = f / (u * 1e-3) / 1e9
            line = "       S3: %.2f GFLOP of products per step: %.1f GFLOP/s" % (f / 1e9, g)
            if p:
                line += " = %.0f%% of the 2-thread sgemm peak (target >= 75%%)" % (
                    100 * g / p["sgemm2"])
            print(line)
    print("       L2: nn.LSTM + Linear, and a cell loop with the four gates from one [B, 4H] "
          "product; unroll's YAML LSTM has four H-row gate matrices: the same 4H gates")

    print()
    print("memory of the step measurements (bench/bench.c: no store, no checkpoints), MiB")
    memory_header()
    for size in SIZES:
        rs = pick("step", size, "unroll")
        if rs:
            memory_row(size, rs[0], med("step", size, "unroll", "rss_mib"))
    memory_note()

    print()
    print("each preset against its custom form (configs/*_custom.yaml), V=65 H=128 T=32 B=32 "
          "float32, SGD; ms per step (target: custom within %d%% of the preset)"
          % (100 * CUSTOM_TOLERANCE))
    print("%-7s %9s %9s %7s %9s %14s %s" % ("cell", "preset", "custom", "ratio", "target",
                                            "nodes/instrs", "same loss"))
    for cell in CELLS:
        a = med("custom", cell, "preset", "ms")
        b = med("custom", cell, "custom", "ms")
        if a is None or b is None:
            continue
        ra = pick("custom", cell, "preset")[0]
        rb = pick("custom", cell, "custom")[0]
        same = (ra["nodes"], ra["instrs"]) == (rb["nodes"], rb["instrs"])
        print("%-7s %9.3f %9.3f %6.3fx %9s %14s %s" % (
            cell, a, b, b / a, "<=%.2fx %s" % (1 + CUSTOM_TOLERANCE,
                                                mark(b / a <= 1 + CUSTOM_TOLERANCE)),
            "%d/%d%s" % (rb["nodes"], rb["instrs"], "" if same else " (preset %d/%d)" % (
                ra["nodes"], ra["instrs"])),
            "yes" if ra["loss"] == rb["loss"] else "NO: %.9g vs %.9g" % (ra["loss"], rb["loss"])))
    print("       ratio = custom / preset time, medians over the rounds (each a median over "
          "the steps); the rounds alternate which runs first")
    print()
    print("sampling 2,000 characters, S1 model, batch 1: characters/s")
    su = med("sample", "S1", "unroll", "chars_per_s")
    if su:
        line = "unroll %.0f" % su
        for impl, name in (("rnn", "nn.RNN"), ("cell", "cell loop"), ("numpy", "numpy")):
            x = med("sample", "S1", impl, "chars_per_s")
            if x:
                line += "   %s %.0f (%.1fx)" % (name, x, su / x)
        print(line + "   target >= 20x nn.RNN")

    print()
    print("the plan's rewrites (train.fuse), ms per step")
    for size in ("S1", "S2"):
        vals = []
        for fuse in ("none", "exact", "all"):
            m = med("fuse", "%s:%s" % (size, fuse), "unroll", "ms")
            vals.append("%s %.3f" % (fuse, m) if m is not None else "%s -" % fuse)
        print("%-4s %s" % (size, "   ".join(vals)))

    print()
    print("graph build + build_grad + plan (H=100, V=65, B=1)")
    for T in (1000, 10000, 100000):
        rs = pick("build", "T=%d" % T, "unroll")
        if rs:
            r = rs[0]
            print("T=%-7d %7.3f s  %8d nodes  %7d instructions  %6.2f us per step  arena %.1f MiB"
                  % (T, r["build_s"], r["nodes"], r["instrs"], r["us_per_step"], r["arena_mib"]))

    print()
    print("`unroll train` as a user runs it (loss of every step stored, checkpoints, progress "
          "lines), ms per step")
    for name, base, impl in (("S1", "S1", "rnn"), ("S1f64_minchar", "S1f64", "numpy"),
                             ("S2", "S2", "rnn"), ("S3", "S3", "rnn"), ("S4", "S4", "rnn"),
                             ("L2", "L2", "rnn"), ("min_char_rnn", "min_char_rnn", "numpy")):
        rs = pick("train", name, "unroll")
        if not rs:
            continue
        ms = 1000.0 / rs[0]["steps_per_s"]
        ref = None
        if impl == "rnn":
            ref = min([m for m in (med("step", base, "rnn", "ms", th) for th in (1, 2)) if m]
                      or [None]) if pick("step", base, "rnn") else None
        else:
            ref = med("step", base, "numpy", "ms")
        what = {"rnn": "nn.LSTM" if base in LSTM_SIZES else "nn.RNN",
                "numpy": "numpy min-char-rnn"}[impl]
        print("%-14s %8.3f ms   %s" % (
            name, ms, "%.2fx %s (%.3f ms)" % (ref / ms, what, ref) if ref else ""))
    print("  S1f64_minchar: min-char-rnn's loop at S1 size (Adagrad 0.1, clip 5, float64); "
          "min_char_rnn: configs/min_char_rnn.yaml as shipped (demo text); L2: the LSTM")

    print()
    print("each preset against its custom form in `unroll train` (Adam, clip 5, the same --set "
          "over both), ms per step")
    for cell in CELLS:
        a, b = pick("train", cell + ":preset", "unroll"), pick("train", cell + ":custom", "unroll")
        if not a or not b:
            continue
        ta, tb = 1000.0 / a[0]["steps_per_s"], 1000.0 / b[0]["steps_per_s"]
        print("%-7s preset %8.3f   custom %8.3f   ratio %6.3fx (one run each)   last loss %s" % (
            cell, ta, tb, tb / ta, "the same" if a[0]["last"] == b[0]["last"]
            else "DIFFERS: %s vs %s" % (a[0]["last"], b[0]["last"])))

    print()
    print("memory of `unroll train` (the runs above), MiB")
    memory_header()
    for name in ("S1", "S1f64_minchar", "S2", "S3", "S4", "L2", "min_char_rnn") + tuple(
            c + ":" + f for c in CELLS for f in ("preset", "custom")):
        rs = pick("train", name, "unroll")
        if rs:
            memory_row(name, rs[0], rs[0]["rss_kib"] / 1024.0)
    memory_note()


def memory_header():
    print("%-14s %8s %8s %8s %8s %8s %8s %8s   %s" % (
        "", "params", "grads", "optim", "stored", "own", "arena", "peak RSS", "limit"))


def memory_row(name, r, rss):
    own = r.get("own_mib")
    if own is None:
        print("%-14s %71s   (own tensors unknown)" % (name, "%8.1f" % rss))
        return
    lim = limit_mib(own)
    print("%-14s %8.2f %8.2f %8.2f %8.2f %8.2f %8.2f %8.1f   %.1f %s" % (
        name, r["param_mib"], r["param_mib"], r["optim_mib"], r["stored_mib"], own,
        r["arena_mib"], rss, lim, mark(rss <= lim)))


def memory_note():
    print("  own = parameters + gradients + optimiser state + stored activations (every forward "
          "value a gradient node reads); limit = 1.5 x own + 16 MiB (issue 5); arena = the "
          "plan's buffers (gradients, activations, temporaries, W^T copies), for comparison")

if __name__ == "__main__":
    main()
