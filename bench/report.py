#!/usr/bin/python3
"""bench/report.py RESULTS.jsonl - the table `make bench` prints.

Reads the lines bench/run.sh recorded (one measurement each) and prints,
per size, the median over rounds of unroll's and each baseline's time per
training step, the ratios against the targets of issue 5, peak RSS against
the target's limit, sampling speed, graph build time, the rewrites' effect
and `unroll train` as a user runs it. Prints figures, never a verdict that
fails a build.
"""

import json
import sys

SIZES = {  # V, H, T, B
    "S1": (65, 100, 25, 1),
    "S1f64": (65, 100, 25, 1),
    "S2": (65, 256, 64, 32),
    "S3": (128, 1024, 32, 64),
    "S4": (65, 128, 1000, 1),
}
TARGET_RNN = {"S1": 10, "S2": 2, "S3": 1.2, "S4": 10}


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
    print("training step: forward over T steps, full BPTT, SGD update; ms per step")
    hdr = ("size", "unroll", "tok/s", "RSS MiB", "limit", "nn.RNN", "thr", "ratio", "target",
           "cell loop", "ratio", "numpy", "ratio")
    print("%-6s %9s %9s %8s %7s %9s %3s %7s %6s %9s %7s %8s %7s" % hdr)
    for size, (V, H, T, B) in SIZES.items():
        u = med("step", size, "unroll", "ms")
        if u is None:
            continue
        tok = med("step", size, "unroll", "tokens_per_s")
        rss = med("step", size, "unroll", "rss_mib")
        own = med("step", size, "unroll", "own_mib")
        limit = 1.5 * own + 16
        best_rnn, best_thr, best_cell = None, 0, None
        for th in (1, 2):
            m = med("step", size, "rnn", "ms", th)
            if m is not None and (best_rnn is None or m < best_rnn):
                best_rnn, best_thr = m, th
            c = med("step", size, "cell", "ms", th)
            if c is not None and (best_cell is None or c < best_cell):
                best_cell = c
        npy = med("step", size, "numpy", "ms")
        tgt = TARGET_RNN.get(size)

        def ratio(x):
            return "%6.2fx" % (x / u) if x is not None else "      -"
        print("%-6s %9.3f %9.0f %8.1f %7.1f %9s %3s %7s %6s %9s %7s %8s %7s" % (
            size, u, tok, rss, limit,
            "%.3f" % best_rnn if best_rnn else "-", best_thr or "-", ratio(best_rnn),
            (">=%gx" % tgt) if tgt else (">=15x np" if size == "S1f64" else ""),
            "%.3f" % best_cell if best_cell else "-", ratio(best_cell),
            "%.3f" % npy if npy else "-", ratio(npy)))
        if size == "S3":
            f = gemm_flops(V, H, T, B)
            g = f / (u * 1e-3) / 1e9
            line = "       S3: %.2f GFLOP of products per step: %.1f GFLOP/s" % (f / 1e9, g)
            if p:
                line += " = %.0f%% of the 2-thread sgemm peak (target >= 75%%)" % (
                    100 * g / p["sgemm2"])
            print(line)
    print("       RSS: peak resident memory of the process; limit = 1.5 x the step's own tensors "
          "(parameters, gradients, h_t and logits per step) + 16 MiB")

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
                             ("min_char_rnn", "min_char_rnn", "numpy")):
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
        what = {"rnn": "nn.RNN", "numpy": "numpy min-char-rnn"}[impl]
        print("%-14s %8.3f ms  RSS %6.1f MiB   %s" % (
            name, ms, rs[0]["rss_kib"] / 1024.0,
            "%.1fx %s (%.3f ms)" % (ref / ms, what, ref) if ref else ""))
    print("  S1f64_minchar: min-char-rnn's loop at S1 size (Adagrad 0.1, clip 5, float64); "
          "min_char_rnn: configs/min_char_rnn.yaml as shipped (demo text, V=112)")


if __name__ == "__main__":
    main()
