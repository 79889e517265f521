#!/usr/bin/env python3
"""make_seeds.py - writes the seed corpora under tests/fuzz/corpus/.

Run from the repository root; the files it writes are committed, so this
only needs running again to change them. Seeds are small on purpose:
libFuzzer's largest input defaults to the largest seed, and small inputs
mean more executions. They come from the repository (configs/,
tests/cells/, tests/data/, tests/golden/) plus a few valid edge cases and
a few bad inputs per format written here with the standard library only.
"""
import os
import struct

ROOT = "tests/fuzz/corpus"


def put(target, name, data):
    d = os.path.join(ROOT, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode("utf-8")
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def read(path):
    with open(path, "rb") as f:
        return f.read()


# ---- spec: configs as shipped, test cells, and bad ones ------------------
for d in ("configs", "tests/cells"):
    for fn in sorted(os.listdir(d)):
        if fn.endswith(".yaml"):
            put("spec", d.replace("/", "_") + "_" + fn, read(os.path.join(d, fn)))
spec_extra = {
    "bad_unknown_key.yaml": "data: {path: x.txt}\nmodel: {hiden: 3}\n",
    "bad_dotted.yaml": "data.path: x.txt\n",
    "bad_duplicate.yaml": "data: {path: a}\ndata: {path: b}\n",
    "bad_anchor.yaml": "data: &d {path: a}\nname: *d\n",
    "bad_tag.yaml": "data: {path: !!str 12}\n",
    "bad_two_docs.yaml": "data: {path: a}\n---\ndata: {path: b}\n",
    "bad_deep.yaml": "a: " + "[" * 40 + "]" * 40 + "\n",
    "bad_tab.yaml": "data:\n\tpath: a\n",
    "bad_type.yaml": "data: {path: a}\nmodel: {hidden: \"12\", layers: 1e3}\n",
    "bad_custom_keys.yaml": "data: {path: a}\nmodel: {cell: elman, step: [\"h[t] = x[t]\"]}\n",
    "custom_min.yaml": (
        "data: {path: a}\nmodel:\n  cell: custom\n  hidden: 2\n"
        "  params: {W: [hidden, hidden], U: [hidden, input], V: [output, hidden]}\n"
        "  state: {h: hidden}\n  step:\n    - h[t] = relu(W @ h[t-1] + U @ x[t])\n"
        "    - o[t] = V @ h[t]\ntrain: {seq_len: 2}\n"),
    "custom_bad_eq.yaml": (
        "data: {path: a}\nmodel:\n  cell: custom\n  params: {W: [hidden, 3]}\n"
        "  step: [\"h[t] = tanh(W @ h[t+1]\", 'o[t] = -(W)']\n"),
    "custom_concat.yaml": (
        "data: {kind: classify, path: a}\nmodel:\n  cell: custom\n  hidden: 3\n"
        "  outputs: last_step\n  layers: 2\n  bidirectional: true\n"
        "  params: {W: [hidden, hidden], U: [hidden, input], V: [output, hidden], c: [output]}\n"
        "  state: {h: hidden}\n  step:\n"
        "    - h[t] = tanh(W @ h[t-1] + U @ x[t])\n"
        "    - o[t] = V @ h[t] + c\n"),
    "npy_real.yaml": (
        "data: {kind: npy, path: d}\nmodel: {output: linear, loss: mse, cell: lstm}\n"
        "train: {seed: 3, seq_len: 1, scheduled_sampling: {start: 0.5}}\n"),
    "jordan_sched.yaml": (
        "data: {path: a}\nmodel: {cell: jordan, hidden: 4}\n"
        "train: {scheduled_sampling: {start: 0.2, end: 0.9}}\nsample: {prime: \"\\u00e9\\n\"}\n"),
    "sets.yaml": ("data: {path: a}\n#set model.hidden=7\n#set sample.prime=x\ty\n"
                  "#set train.optimizer.lr=1e-3\n#set model.cell=lstm\n"),
    "bad_set.yaml": "data: {path: a}\n#set model.hiden=7\n",
    "memory_budget.yaml": ("data: {path: a}\ntrain: {memory_budget: 1.5GiB}\n"
                           "#set train.memory_budget=64 MiB\n#set train.memory_budget=2kB\n"),
    "empty.yaml": "",
    "null.yaml": "~\n",
    "scalar_top.yaml": "42\n",
}
for k, v in spec_extra.items():
    put("spec", k, v)

# ---- equation: every step line of the shipped custom cells, and bad ones --
eqs = set()
for d in ("configs", "tests/cells"):
    for fn in sorted(os.listdir(d)):
        for line in read(os.path.join(d, fn)).decode().splitlines():
            s = line.strip()
            if s.startswith("- ") and "[t] =" in s:
                eqs.add(s[2:].strip().strip("'\""))
for i, q in enumerate(sorted(eqs)):
    put("equation", "cfg%02d.txt" % i, q)
eq_extra = [
    "h[t] = W @ h[t-1] + U @ x[t] + b",
    "o[t] = concat(a[t], b[t], c[t], d[t])",
    "y[t] = --x[t] * .5 - 1e-3 @ (a - b)",
    "h[t] = tanh(W @ h[t-1000])",
    "h[t] = h[t+1]",
    "h[t-1] = x[t]",
    "h[t] = f(a, b, c, d, e)",
    "h[t] = ((((((x[t]))))))",
    "h[t] = 1e999",
    "h[t] = a_very_long_name_that_is_longer_than_thirty_two",
    "h[t] = x[t] $",
    "h [ t ] = x [ t - 3 ]",
]
for i, q in enumerate(eq_extra):
    put("equation", "extra%02d.txt" % i, q)


# ---- npy: the repository's arrays, and edge cases written here ------------
def npy(descr, shape, payload, version=(1, 0), fortran="False", pad_to=64, header=None):
    if header is None:
        dims = ", ".join(str(d) for d in shape) + ("," if len(shape) == 1 else "")
        header = "{'descr': '%s', 'fortran_order': %s, 'shape': (%s), }" % (descr, fortran, dims)
    lenbytes = 2 if version[0] == 1 else 4
    h = header.encode()
    total = 8 + lenbytes + len(h) + 1
    h += b" " * ((-total) % pad_to) + b"\n"
    pre = b"\x93NUMPY" + bytes(version)
    pre += struct.pack("<H" if lenbytes == 2 else "<I", len(h))
    return pre + h + payload


put("npy", "golden_b.npy", read("tests/golden/min_char_rnn/b.npy"))
for d in sorted(os.listdir("tests/data")):
    p = os.path.join("tests/data", d)
    if os.path.isdir(p):
        for fn in sorted(os.listdir(p)):
            put("npy", d + "_" + fn, read(os.path.join(p, fn)))
put("npy", "f8_scalar.npy", npy("<f8", (), struct.pack("<d", 2.5)))
put("npy", "i8_2x2.npy", npy("<i8", (2, 2), struct.pack("<4q", 1, -2, 2**31 - 1, -2**31)))
put("npy", "i8_too_big.npy", npy("<i8", (1,), struct.pack("<q", 2**40)))
put("npy", "f4_empty.npy", npy("<f4", (0, 3), b""))
put("npy", "f4_rank4.npy", npy("<f4", (1, 2, 1, 2), struct.pack("<4f", 1, 2, 3, 4)))
put("npy", "v2.npy", npy("<i4", (2,), struct.pack("<2i", 7, 8), version=(2, 0)))
put("npy", "v3.npy", npy("<f4", (1,), struct.pack("<f", 1), version=(3, 0)))
put("npy", "bad_fortran.npy", npy("<f4", (1,), struct.pack("<f", 1), fortran="True"))
put("npy", "bad_bigendian.npy", npy(">f4", (1,), struct.pack(">f", 1)))
put("npy", "bad_not_tuple.npy", npy("<f4", (), b"\0" * 12,
                                    header="{'descr': '<f4', 'fortran_order': False, 'shape': (3), }"))
put("npy", "bad_truncated.npy", npy("<f8", (4,), b"\0" * 20))
put("npy", "bad_huge_dim.npy", npy("<f4", (), b"", header="{'descr': '<f4', 'fortran_order': "
                                   "False, 'shape': (18446744073709551620,), }"))
put("npy", "bad_magic.npy", b"\x93NUMPZ\x01\x00")


# ---- safetensors ----------------------------------------------------------
def sft(entries, data, meta=None, raw_header=None):
    """entries: (name, dtype, shape, begin, end)"""
    if raw_header is None:
        parts = []
        if meta is not None:
            parts.append('"__metadata__":{' + ",".join('"%s":"%s"' % kv for kv in meta) + "}")
        for name, dt, shape, b, e in entries:
            parts.append('"%s":{"dtype":"%s","shape":[%s],"data_offsets":[%d,%d]}'
                         % (name, dt, ",".join(str(s) for s in shape), b, e))
        raw_header = "{" + ",".join(parts) + "}"
    h = raw_header.encode()
    h += b" " * ((-len(h)) % 8)
    return struct.pack("<Q", len(h)) + h + data


f32 = struct.pack("<6f", *range(6))
put("safetensors", "two.safetensors",
    sft([("W", "F32", (2, 3), 0, 24), ("b", "F64", (1,), 24, 32)], f32 + struct.pack("<d", 1.5),
        meta=[("format", "pt"), ("unroll", "1")]))
put("safetensors", "i32_scalar.safetensors", sft([("step", "I32", (), 0, 4)], struct.pack("<i", 9)))
put("safetensors", "empty_tensor.safetensors",
    sft([("e", "F32", (0, 4), 0, 0), ("x", "F32", (1,), 0, 4)], struct.pack("<f", 1)))
put("safetensors", "no_tensors.safetensors", sft([], b"", meta=[("k", "v")]))
put("safetensors", "escapes.safetensors",
    sft([], b"", raw_header='{"__metadata__":{"a\\u00e9\\ud83d\\ude00":"\\n\\t\\"\\\\\\/"}}'))
put("safetensors", "bad_overlap.safetensors",
    sft([("a", "F32", (2,), 0, 8), ("b", "F32", (2,), 4, 12)], b"\0" * 12))
put("safetensors", "bad_hole.safetensors",
    sft([("a", "F32", (1,), 0, 4), ("b", "F32", (1,), 8, 12)], b"\0" * 12))
put("safetensors", "bad_dtype.safetensors", sft([("a", "BF16", (1,), 0, 2)], b"\0\0"))
put("safetensors", "bad_json.safetensors", sft([], b"", raw_header='{"a":{"dtype":"F32",}}'))
put("safetensors", "bad_dup.safetensors", sft([], b"", raw_header='{"a":1,"a":2}'))
put("safetensors", "bad_len.safetensors", struct.pack("<Q", 2**63) + b"{}")

# ---- text: one option byte (valid_fraction), then the text ----------------
put("text", "golden.txt", b"\x04" + read("tests/golden/min_char_rnn/text.txt")[:1500])
put("text", "utf8.txt", b"\x10" + "héllo wörld ∑ 𝄞 \ufeff日本語\n".encode())
put("text", "unknown_tail.txt", b"\x20" + b"aaaaaaaabbbbbbbbxyz")
put("text", "one.txt", b"\x00" + b"a")
put("text", "nul_code_point.txt", b"\x00" + b"a\x00a")
put("text", "bad_utf8.txt", b"\x00" + b"ab\xc0\xafcd")
put("text", "bad_surrogate.txt", b"\x00" + b"\xed\xa0\x80")
put("text", "bad_truncated.txt", b"\x00" + b"abc\xe2\x82")

# ---- classify: valid_fraction byte, max length byte, then the TSV ---------
put("classify", "words_small.tsv", b"\x08\x20" + read("tests/data/words_small.tsv"))
put("classify", "crlf.tsv", b"\x10\x10" + b"ab\tx\r\ncd\ty\r\n\r\nef\tx\r\n")
put("classify", "tabs.tsv", b"\x00\x08" + b"a\tb\tc\nd\te\n")
put("classify", "utf8.tsv", b"\x20\x08" + "été\tfr\nsummer\ten\n夏\tja\n".encode())
put("classify", "bad_no_tab.tsv", b"\x00\x08" + b"abc\n")
put("classify", "bad_empty_label.tsv", b"\x00\x08" + b"abc\t\n")
put("classify", "bad_too_long.tsv", b"\x00\x02" + b"abcdef\tx\n")
put("classify", "bad_utf8.tsv", b"\x00\x08" + b"a\xffb\tx\n")

# ---- npyset: one option byte, then inputs.npy targets.npy [lengths.npy] ---
for d in sorted(os.listdir("tests/data")):
    p = os.path.join("tests/data", d)
    if not os.path.isdir(p):
        continue
    blob = b"".join(read(os.path.join(p, fn)) for fn in ("inputs.npy", "targets.npy", "lengths.npy")
                    if os.path.exists(os.path.join(p, fn)))
    put("npyset", d + ".bin", b"\x05" + blob)
ids = npy("<i4", (2, 3), struct.pack("<6i", 0, 1, 2, 2, -1, 0))
per_seq = npy("<i4", (2,), struct.pack("<2i", 1, 0))
put("npyset", "per_sequence.bin", b"\x00" + ids + per_seq)
put("npyset", "lengths.bin", b"\x02" + ids + npy("<i4", (2, 3), struct.pack("<6i", 0, 1, -1, 1, 1, 0))
    + npy("<i4", (2,), struct.pack("<2i", 3, 1)))
put("npyset", "bad_lengths.bin", b"\x00" + ids + per_seq + npy("<i4", (2,), struct.pack("<2i", 0, 4)))
put("npyset", "bad_class.bin", b"\x00" + ids + npy("<i4", (2,), struct.pack("<2i", -5, 0)))
put("npyset", "dense_real.bin", b"\x01" + npy("<f4", (2, 2, 2), struct.pack("<8f", *range(8)))
    + npy("<f8", (2, 3), struct.pack("<6d", *range(6))))
