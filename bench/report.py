#!/usr/bin/python3
"""bench/report.py RESULTS.jsonl - the tables `make bench` prints.

Reads the lines bench/run.sh recorded (one measurement each) and prints,
per size, the median over rounds of unroll's and each baseline's time per
training step: oneDNN's RNN primitive (the layer alone), PyTorch with
OpenBLAS as Debian ships it and with the core the CPU supports, the
ratios against the targets of issue 10, each step's FLOPs and the
fraction of the machine's FMA peak it reaches; then PyTorch's cell loop
and numpy, peak RSS against the memory limit, each preset against its
custom form, sampling speed, graph build time, the rewrites' effect and
`unroll train` as a user runs it. Prints figures and marks (ok / MISS),
never a verdict that fails a build.
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
    "G2": (65, 256, 64, 32),
}
LSTM_SIZES = {"L2"}
# H x H recurrent products per step of each size's cell: Elman 1, LSTM 4
# gates, GRU 3 (PyTorch's formula and unroll's alike)
GATES = {"L2": 4, "G2": 3}
# issue 10: unroll's whole step against oneDNN's layer alone
TARGET_DNNL = {"S1": 3, "S2": 1.5, "S3": 1.5, "S4": 3, "L2": 1.5, "G2": 1.5}
# against nn.RNN / nn.LSTM with OpenBLAS on the core the CPU supports
TARGET_RNN = {"S1": 10, "S2": 2, "S3": 1.2, "S4": 10, "L2": 1}
TARGET_CELL = {"L2": 5}
S3_PEAK_TARGET = 0.60
CELLS = ("elman", "jordan", "lstm", "gru")
CUSTOM_TOLERANCE = 0.05


def step_flops(size):
    """FLOPs of the products unroll's whole training step needs (2 M N K
    each), nothing else: per time step the G recurrent products W h
    [B,H]x[H,H], the output projection V h [B,H]x[H,V]; backward the
    output's gradients dV and dh (two more [B,H,V] products), the G weight
    gradients dW, and but at t = 0 the G products W^T da carrying the
    gradient back. The input is one-hot: U x is a column gather, dU a
    scatter, no product."""
    V, H, T, B = SIZES[size]
    G = GATES.get(size, 1)
    return T * (6 * G * B * H * H + 6 * B * H * V) - 2 * G * B * H * H


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


def main():
    rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]

    def pick(kind, size, impl, threads=None):
        return [r for r in rows if r["kind"] == kind and r["size"] == size and r["impl"] == impl
                and (threads is None or r["threads"] == threads)]

    def med(kind, size, impl, key, threads=None):
        return median([r[key] for r in pick(kind, size, impl, threads) if key in r])

    def best(kind, size, impl, key="ms"):
        """the faster thread setting: (median ms, threads, core) or Nones"""
        out = (None, None, None)
        for th in sorted({r["threads"] for r in pick(kind, size, impl)}):
            m = med(kind, size, impl, key, th)
            if m is not None and (out[0] is None or m < out[0]):
                cores = [r.get("core") for r in pick(kind, size, impl, th) if r.get("core")]
                out = (m, th, cores[0] if cores else "?")
        return out

    def best_peak(impl):
        # another process on the second core lowers a round's peak: the
        # best round is the machine's
        rs = pick("peak", "all", impl)
        if not rs:
            return {}
        p = dict(rs[0])
        p["sgemm1"] = max(r["sgemm1"] for r in rs)
        p["sgemm2"] = max(r["sgemm2"] for r in rs)
        return p

    p, pc = best_peak("openblas"), best_peak("openblas_core")
    fma = {}
    for r in pick("fma", "all", "unroll"):
        for k, v in r.items():
            if isinstance(v, float):
                fma[k] = max(v, fma.get(k, 0.0))
            elif k not in fma:
                fma[k] = v
    rounds = max([r["round"] for r in rows if r["kind"] != "info"] or [0])
    print("unroll benchmark (bench/run.sh), medians over %d interleaved rounds" % rounds)
    if fma.get("f32_all"):
        print("machine: FMA peak (bench/fmapeak.c, %s, best round) float32 %.1f GFLOP/s on 1 "
              "core, %.1f on all %d; float64 %.1f / %.1f" % (
                  fma.get("isa"), fma["f32_1"], fma["f32_all"], fma.get("cores", 0),
                  fma["f64_1"], fma["f64_all"]))
    for q, what in ((p, "as shipped"), (pc, "forced")):
        if q:
            print("machine: sgemm 2048^3 with OpenBLAS's %s core (%s): %.1f GFLOP/s on 1 thread, "
                  "%.1f on 2" % (q["core"], what, q["sgemm1"], q["sgemm2"]))
    uinfo = pick("info", "unroll", "unroll")
    if uinfo:
        print("unroll: kernels %s; cores %s" % (uinfo[0].get("kernels"), uinfo[0].get("cores")))
    info = pick("info", "onednn", "onednn")
    if info:
        print("oneDNN %s, ISA %s, OMP_NUM_THREADS %s" % (
            info[0].get("version"), info[0].get("isa"), info[0].get("omp_num_threads")))
    print("PyTorch: with 1 and with all cores (torch.set_num_threads; OMP_WAIT_POLICY=PASSIVE "
          "above 1), the faster kept; 'core' is the OpenBLAS core it ran")
    print()
    print("training step (issue 10): forward over T, full BPTT, SGD update; ms per step. "
          "step: the library's step (bench/bench.c); train: `unroll train` per step (the "
          "difference of two runs, start-up cancels), which the ratios use where measured. "
          "oneDNN: the recurrent layer alone (forward training + backward, no output "
          "projection); x = baseline / unroll; targets on the last column of each pair")
    hdr = ("size", "step", "train", "oneDNN", "x", "target", "torch", "thr", "core", "x",
           "torch", "thr", "core", "x", "target", "GFLOP", "GFLOP/s", "peak")
    fmt = ("%-6s %9s %9s %9s %7s %10s %9s %3s %-10s %7s %9s %3s %-10s %7s %10s %6s %7s "
           "%5s")
    print(fmt % hdr)
    for size in SIZES:
        st = med("step", size, "unroll", "ms")
        if st is None:
            continue
        tr = med("train_step", size, "unroll", "ms")
        u = tr if tr and tr > 0 else st
        d = med("onednn", size, "onednn", "ms")
        t0, th0, c0 = best("step", size, "rnn")
        t1, th1, c1 = best("step", size, "rnn_core")

        def ratio(x):
            return "%6.2fx" % (x / u) if x is not None else "-"

        def target(x, tgt):
            if not tgt:
                return ""
            return ">=%gx %s" % (tgt, mark(x / u >= tgt) if x is not None else "")
        f = step_flops(size)
        g = f / (st * 1e-3) / 1e9
        pk = fma.get("f64_all" if size.endswith("f64") else "f32_all")
        print(fmt % (
            size, "%.3f" % st, "%.3f" % tr if tr else "-", "%.3f" % d if d else "-", ratio(d),
            target(d, TARGET_DNNL.get(size)),
            "%.3f" % t0 if t0 else "-", th0 or "-", c0 or "-", ratio(t0),
            "%.3f" % t1 if t1 else "-", th1 or "-", c1 or "-", ratio(t1),
            target(t1, TARGET_RNN.get(size)), "%.4f" % (f / 1e9), "%.1f" % g,
            "%.0f%%" % (100 * g / pk) if pk else "-"))
        if size == "S3" and pk:
            print("       S3: %.1f%% of the all-core float32 FMA peak (target >= %.0f%%): %s" % (
                100 * g / pk, 100 * S3_PEAK_TARGET, mark(g / pk >= S3_PEAK_TARGET)))
    print("  PyTorch: nn.RNN (nn.LSTM at L2, nn.GRU at G2) + Linear; first pair: OpenBLAS as "
          "Debian ships it, second: OPENBLAS_CORETYPE set to the CPU's strongest core")
    print("  G2: unroll runs bench/gru_torch.yaml (the GRU preset, model.gru: torch) against "
          "oneDNN's lbr_gru and nn.GRU")
    print("  GFLOP: the products unroll's whole step needs (report.py step_flops; one-hot "
          "inputs are gathers, not products); GFLOP/s over the step column; peak: of the "
          "all-core FMA peak, float64 for S1f64")
    dn = [r for r in rows if r["kind"] == "onednn"]
    for size in SIZES:
        rs = [r for r in dn if r["size"] == size]
        if rs:
            r = rs[0]
            m = med("onednn", size, "onednn", "ms")
            one = med("onednn", size, "onednn1", "ms")
            print("  oneDNN %-3s %-8s %.4f GFLOP (layer), %.1f GFLOP/s, forward %.3f ms%s; "
                  "implementation: forward %s, backward %s" % (
                      size, r.get("cell"), r["layer_flops"] / 1e9,
                      r["layer_flops"] / (m * 1e-3) / 1e9,
                      med("onednn", size, "onednn", "fwd_ms"),
                      "; on 1 thread %.3f ms%s" % (one, " (faster: a loaded machine?)"
                                                   if one < m else "") if one else "",
                      r.get("impl_fwd"),
                      r.get("impl_bwd")))
        errs = [r["error"] for r in dn if r["size"] == size and "error" in r]
        if errs:
            print("  oneDNN %s failed: %s" % (size, errs[0]))

    print()
    print("against PyTorch's cell loop and numpy, ms per step (OpenBLAS as shipped)")
    hdr = ("size", "unroll", "cell loop", "ratio", "target", "numpy", "ratio", "target")
    print("%-6s %9s %9s %7s %9s %8s %7s %s" % hdr)
    for size in SIZES:
        u = med("step", size, "unroll", "ms")
        if u is None:
            continue
        c = best("step", size, "cell")[0]
        npy = med("step", size, "numpy", "ms")
        if c is None and npy is None:
            continue
        tc = TARGET_CELL.get(size)
        tcs = ">=%gx %s" % (tc, mark(c / u >= tc) if c else "") if tc else ""
        tn, un = "", u
        if size == "S1f64":
            # numpy updates with Adagrad and clipping: so does this step
            un = med("step_minchar", size, "unroll", "ms") or u
            tn = ">=15x %s" % mark(npy / un >= 15) if npy is not None else ">=15x"
        print("%-6s %9.3f %9s %7s %9s %8s %7s %s" % (
            size, u, "%.3f" % c if c else "-", "%6.2fx" % (c / u) if c else "-", tcs,
            "%.3f" % npy if npy else "-", "%6.2fx" % (npy / un) if npy else "-", tn))
        pk = fma.get("f32_all")
        if tc and c and pk and c / u < tc:
            # the step the target asks for, at the arithmetic it must do
            need = step_flops(size) / (c / tc * 1e-3) / 1e9
            if need > pk:
                print("       %s: %gx the cell loop asks a step of %.3f ms, %.0f GFLOP/s: above "
                      "this machine's FMA peak (%.0f), so no code reaches it here" % (
                          size, tc, c / tc, need, pk))
    um = med("step_minchar", "S1f64", "unroll", "ms")
    if um is not None:
        print("       S1f64 against numpy: unroll's step with min-char-rnn's update as numpy "
              "runs it (Adagrad 0.1, clip 5): %.3f ms" % um)
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

    if not any(r["kind"] in ("custom", "sample", "fuse", "build", "train") for r in rows):
        return  # a quick run (BENCH_QUICK=1): the step tables only
    print()
    print("each preset against its custom form (configs/*_custom.yaml), V=65 H=128 T=32 B=32 "
          "float32, SGD; ms per step (target: custom within %d%% of the preset)"
          % (100 * CUSTOM_TOLERANCE))
    print("%-7s %9s %9s %7s %9s %14s %s" % ("cell", "preset", "custom", "ratio", "target",
                                            "nodes/instrs", "same plan, loss"))
    for cell in CELLS:
        a = med("custom", cell, "pair", "ms_a")
        b = med("custom", cell, "pair", "ms_b")
        ratio = med("custom", cell, "pair", "ratio")
        if a is None or b is None:
            continue
        r = pick("custom", cell, "pair")[0]
        same = (r["nodes_a"], r["instrs_a"]) == (r["nodes_b"], r["instrs_b"])
        print("%-7s %9.3f %9.3f %6.3fx %9s %14s %s, %s" % (
            cell, a, b, ratio, "<=%.2fx %s" % (1 + CUSTOM_TOLERANCE,
                                                mark(ratio <= 1 + CUSTOM_TOLERANCE)),
            "%d/%d%s" % (r["nodes_b"], r["instrs_b"], "" if same else " (preset %d/%d)" % (
                r["nodes_a"], r["instrs_a"])),
            "yes" if r["same_plan"] else "NO",
            "yes" if r["loss_a"] == r["loss_b"] else "NO: %.9g vs %.9g" % (
                r["loss_a"], r["loss_b"])))
    print("       both nets in one process, their steps interleaved (bench pair); ratio = "
          "custom / preset step, the median over the rounds of each round's median over the "
          "step pairs; same plan: plan_digest (graph, program, buffers, "
          "row runs) is equal")
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
                             ("L2", "L2", "rnn"), ("G2", "G2", "rnn"),
                             ("min_char_rnn", "min_char_rnn", "numpy")):
        rs = pick("train", name, "unroll")
        if not rs:
            continue
        ms = 1000.0 / rs[0]["steps_per_s"]
        ref, d = None, None
        if impl == "rnn":
            # PyTorch on the core the CPU supports where measured
            ref = best("step", base, "rnn_core")[0] or best("step", base, "rnn")[0]
            d = med("onednn", base, "onednn", "ms")
        else:
            ref = med("step", base, "numpy", "ms")
        what = {"rnn": "nn.LSTM" if base in LSTM_SIZES else "nn.GRU" if base == "G2" else "nn.RNN",
                "numpy": "numpy min-char-rnn"}[impl]
        print("%-14s %8.3f ms   %s%s" % (
            name, ms, "%.2fx %s (%.3f ms)" % (ref / ms, what, ref) if ref else "",
            "   %.2fx oneDNN (%.3f ms)" % (d / ms, d) if d else ""))
    print("  S1f64_minchar: min-char-rnn's loop at S1 size (Adagrad 0.1, clip 5, float64); "
          "min_char_rnn: configs/min_char_rnn.yaml as shipped (demo text); L2: the LSTM; "
          "G2: the GRU in PyTorch's formula")

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
    for name in ("S1", "S1f64_minchar", "S2", "S3", "S4", "L2", "G2", "min_char_rnn") + tuple(
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
