"""tests/python/test_unroll.py - the Python package against the unroll
command: the same runs, tensors, samples, scores and error lines.

Run by tests/t_python.sh with UNROLL (the command), UNROLL_LIBRARY and
TMPDIR set and python/ on PYTHONPATH; prints PASS/FAIL lines.
"""

import math
import os
import subprocess
import sys

import numpy as np

import unroll

UNROLL = os.environ["UNROLL"]
T = os.environ["TMPDIR"]
failed = 0


def check(name, cond, detail=""):
    global failed
    if cond:
        print("PASS python: " + name)
    else:
        failed += 1
        print("FAIL python: " + name)
        if detail:
            print("  " + str(detail)[:2000])


def cli(*args):
    r = subprocess.run([UNROLL, *args], capture_output=True, text=True)
    return r.returncode, r.stdout, r.stderr


def cli_error(*args):
    rc, _, err = cli(*args)
    line = err.strip().splitlines()[-1] if err.strip() else ""
    return rc, line[len("unroll: "):] if line.startswith("unroll: ") else line


def raised(f):
    try:
        f()
    except unroll.Error as e:
        return str(e)
    return None


text_cfg = os.path.join(T, "text.yaml")
with open(text_cfg, "w") as f:
    f.write(
        "name: pt\n"
        "data: {kind: text, path: tests/golden/min_char_rnn/text.txt, valid_fraction: 0.1}\n"
        "model: {cell: elman, hidden: 10}\n"
        "train: {dtype: float32, seq_len: 8, batch: 2, steps: 40, valid_every: 20,\n"
        "        optimizer: {name: adam, lr: 0.01}, checkpoint: {every: 20}}\n"
    )
db = os.path.join(T, "py.db")
cdb = os.path.join(T, "cli.db")

# ---- train in-process: the same bits as the command --------------------
name = unroll.train(text_cfg, overrides={"train.steps": 60, "model.hidden": 12}, db=db)
check("train returns the run's name", name == "pt", name)
rc, _, err = cli("train", text_cfg, "--set", "train.steps=60", "--set", "model.hidden=12",
                 "--db", cdb, "--quiet")
check("the command trains the same config", rc == 0, err)
st = unroll.open(db)
cst = unroll.open(cdb)
a, b = st.tensors("pt"), cst.tensors("pt")
same = a.keys() == b.keys() and all(
    a[k].dtype == b[k].dtype and a[k].shape == b[k].shape and a[k].tobytes() == b[k].tobytes()
    for k in a)
check("unroll.train and unroll train give the same checkpoint bits", same,
      sorted(set(a) ^ set(b)))
check("tensors keep the stored dtype and shape",
      a["W"].dtype == np.float32 and a["W"].shape == (12, 12) and a["rng"].dtype == np.int32)
a["W"][0, 0] = 1e9
check("tensors are copies", st.tensors("pt")["W"][0, 0] != 1e9)
check("RUN@best and RUN@STEP resolve", set(st.tensors("pt@best")) == set(a)
      and st.tensors("pt@20")["W"].shape == (12, 12))

# ---- runs ---------------------------------------------------------------
name2 = unroll.train(text_cfg, overrides={"train.steps": 20}, db=db, name="second")
runs = st.runs()
check("runs() lists every run as dicts", [r["name"] for r in runs] == ["pt", "second"]
      and runs[0]["status"] == "finished" and runs[0]["steps"] == 60
      and isinstance(runs[0]["last_loss"], float), runs)
check("train(name=...) names the run", name2 == "second")

# ---- a model one step at a time ------------------------------------------
m = st.model("pt")
m.reset(batch=3)
p = m.step(np.array([0, 1, 2]))
check("step: [B, V] probabilities", p.shape == (3, m.outputs)
      and np.allclose(p.sum(axis=1), 1), p.shape)
q = m.step([0, 1, 2])
check("step: the state is carried", not np.array_equal(p, q))
m.reset(batch=3)
check("reset: a zero state again", np.array_equal(m.step([0, 1, 2]), p))
check("step: a batch the model was not reset for is an error",
      raised(lambda: m.step([0, 1])) is not None)

# the stream's loss on a new text is `unroll eval --data`'s
new = os.path.join(T, "new.txt")
with open("tests/golden/min_char_rnn/text.txt", encoding="utf-8") as f:
    sample_text = f.read()[:120]
with open(new, "w", encoding="utf-8") as f:
    f.write(sample_text)
rc, out, err = cli("eval", "pt", "--data", new, "--db", db)
with open("tests/golden/min_char_rnn/text.txt", encoding="utf-8") as f:
    full = f.read()
vocab = sorted(set(full[:len(full) - int(0.1 * len(full))]))  # text.h: the training part
ids = [vocab.index(c) if c in vocab else len(vocab) for c in sample_text]
m.reset(1)
loss = 0.0
for i in range(len(ids) - 1):
    loss -= math.log(m.step([ids[i]])[0, ids[i + 1]])
mine = loss / (len(ids) - 1)
theirs = float(out.split("loss ")[1].split("/")[0]) if rc == 0 else float("nan")
check("step's loss on a text is eval --data's", abs(mine - theirs) < 6e-5, (mine, out, err))

# ---- sample: the command's text --------------------------------------------
for args, kw in ((["--length", "50", "--seed", "5"], dict(seed=5)),
                 (["--length", "40", "--temperature", "0.7", "--prime", "th"],
                  dict(temperature=0.7, prime="th")),
                 (["--length", "40", "--temperature", "0"], dict(temperature=0)),
                 (["--length", "60", "--top-k", "3", "--seed", "9"], dict(top_k=3, seed=9)),
                 (["--length", "60", "--top-p", "0.5", "--seed", "9"], dict(top_p=0.5, seed=9)),
                 (["--length", "60", "--top-k", "5", "--top-p", "0.8", "--temperature", "1.5",
                   "--prime", "a"], dict(top_k=5, top_p=0.8, temperature=1.5, prime="a"))):
    rc, out, err = cli("sample", "pt", "--db", db, "--quiet", *args)
    got = m.sample(int(args[1]), **kw)
    check("sample %s equals unroll sample" % " ".join(args), rc == 0 and out == got + "\n",
          (out, got, err))

check("temperature 0 is greedy: no seed changes it",
      m.sample(30, temperature=0, seed=1) == m.sample(30, temperature=0, seed=2))
check("top_k=1 is greedy", m.sample(30, top_k=1, seed=3) == m.sample(30, temperature=0))
check("top_k and top_p cut: not the uncut text",
      m.sample(60, top_k=2, seed=9) != m.sample(60, seed=9))
for kw in (dict(top_k=0), dict(top_p=0), dict(top_p=1.5), dict(temperature=-1),
           dict(temperature=1e7)):
    msg = raised(lambda: m.sample(5, **kw))
    check("sample(%s) is refused in one line" % kw, msg and "\n" not in msg, msg)

# ---- errors: the command's lines -------------------------------------------
rc, line = cli_error("sample", "nosuch", "--db", db)
check("a bad reference: the command's message", raised(lambda: st.model("nosuch")) == line,
      (raised(lambda: st.model("nosuch")), line))
check("a bad reference for tensors", raised(lambda: st.tensors("pt@99999")) ==
      cli_error("ckpt", "show", "pt@99999", "--db", db)[1])
rc, line = cli_error("train", text_cfg, "--set", "model.hidden=-3", "--db", db)
check("a bad override: the command's message",
      raised(lambda: unroll.train(text_cfg, overrides={"model.hidden": -3}, db=db)) == line,
      line)
check("a missing store", raised(lambda: unroll.open(os.path.join(T, "no", "x.db")))
      is not None)

# ---- other kinds: classify ids, npy vectors, bidirectional refused ---------
cls_cfg = os.path.join(T, "cls.yaml")
with open(cls_cfg, "w") as f:
    f.write("data: {kind: classify, path: tests/data/words_small.tsv, valid_fraction: 0.2}\n"
            "model: {cell: elman, hidden: 6, outputs: last_step}\n"
            "train: {dtype: float64, seq_len: 12, batch: 4, steps: 10}\n")
unroll.train(cls_cfg, db=db, name="words")
mw = st.model("words")
mw.reset()
out = mw.step([3])
check("a classifier streams class probabilities", out.shape[0] == 1
      and abs(out.sum() - 1) < 1e-12)
npy_cfg = os.path.join(T, "npy.yaml")
with open(npy_cfg, "w") as f:
    f.write("data: {kind: npy, path: tests/data/parity_dense}\n"
            "model: {cell: elman, hidden: 5}\n"
            "train: {dtype: float32, batch: 4, steps: 5}\n")
unroll.train(npy_cfg, db=db, name="dense")
md = st.model("dense")
md.reset(batch=2)
y = md.step(np.zeros((2, md.inputs)))
check("a model of real vectors steps floats [B, D]", y.shape == (2, md.outputs), y.shape)
unroll.train(cls_cfg, overrides={"model.bidirectional": True}, db=db, name="bi")
msg = raised(lambda: st.model("bi"))
check("a bidirectional model is refused for streaming, in one line",
      msg is not None and "bidirectional" in msg and "\n" not in msg, msg)
check("sampling a classifier says what to use", "predict" in (raised(lambda: mw.sample(5)) or ""))

sys.exit(1 if failed else 0)
