"""unroll from Python: stored runs, their tensors, a trained model one step
at a time, sampling and training, over libunroll.so through ctypes.

Nothing here compiles, runs the unroll command or opens SQLite itself:
every call goes to the library (train/api.h, train/session.h), so results
are the command's, bit for bit, and errors carry its one-line messages.

    import unroll
    st = unroll.open("unroll.db")          # read-only
    st.runs()                              # [{"name": ..., "status": ..., ...}]
    st.tensors("elman_char@best")          # {"W": array, ...} (copies)
    m = st.model("elman_char")             # a streaming model
    m.reset(batch=1)
    p = m.step([ids])                      # [B, V] probabilities
    m.sample(200, temperature=0.8, prime="The ")
    unroll.train("configs/min_char_rnn.yaml", overrides={"train.steps": 100})

The library is found, in this order, at $UNROLL_LIBRARY, where `make
install` put it, in the built tree this package sits in
(build/rel/libunroll.so, `make shared`), then by the system's search.
"""

import ctypes
import ctypes.util
import json
import os

import numpy as np

__all__ = ["Error", "Store", "Model", "open", "train"]


class Error(Exception):
    """An unroll error: the message is the line `unroll` prints after
    "unroll: " for the same mistake."""


class _Uerr(ctypes.Structure):
    _fields_ = [("code", ctypes.c_int), ("msg", ctypes.c_char * 1024)]


def _candidates():
    env = os.environ.get("UNROLL_LIBRARY")
    if env:
        yield env
    try:
        from . import _libpath  # written by make install

        yield _libpath.LIBRARY
    except ImportError:
        pass
    here = os.path.dirname(os.path.abspath(__file__))
    yield os.path.join(here, "..", "..", "build", "rel", "libunroll.so")
    found = ctypes.util.find_library("unroll")
    if found:
        yield found


def _load():
    tried = []
    for path in _candidates():
        try:
            return ctypes.CDLL(path)
        except OSError as exc:
            tried.append(str(exc))
    raise ImportError(
        "unroll: libunroll.so not found (make shared, or set UNROLL_LIBRARY); tried: "
        + "; ".join(tried)
    )


_lib = _load()
_P = ctypes.c_void_p
_E = ctypes.POINTER(_Uerr)


def _sig(name, res, *args):
    f = getattr(_lib, name)
    f.restype = res
    f.argtypes = list(args)
    return f


_store_open = _sig("unroll_store_open", ctypes.c_int, ctypes.POINTER(_P), ctypes.c_char_p, _E)
_store_close = _sig("store_close", None, _P)
_runs_json = _sig("unroll_runs_json", ctypes.c_int, _P, ctypes.POINTER(_P), _E)
_free = _sig("unroll_free", None, _P)
_t_load = _sig("unroll_tensors_load", ctypes.c_int, _P, ctypes.c_char_p, ctypes.POINTER(_P), _E)
_t_free = _sig("unroll_tensors_free", None, _P)
_t_count = _sig("unroll_tensor_count", ctypes.c_int, _P)
_t_name = _sig("unroll_tensor_name", ctypes.c_char_p, _P, ctypes.c_int)
_t_dtype = _sig("unroll_tensor_dtype", ctypes.c_char_p, _P, ctypes.c_int)
_t_shape = _sig("unroll_tensor_shape", ctypes.c_int, _P, ctypes.c_int,
                ctypes.POINTER(ctypes.c_int64))
_t_data = _sig("unroll_tensor_data", _P, _P, ctypes.c_int)
_m_open = _sig("unroll_model_open", ctypes.c_int, _P, ctypes.c_char_p, ctypes.POINTER(_P), _E)
_m_close = _sig("unroll_model_close", None, _P)
_m_reset = _sig("session_reset", ctypes.c_int, _P, ctypes.c_int64, _E)
_m_outputs = _sig("session_outputs", ctypes.c_int64, _P)
_m_inputs = _sig("session_inputs", ctypes.c_int64, _P)
_m_dense = _sig("session_dense", ctypes.c_int, _P)
_m_batch = _sig("session_batch", ctypes.c_int64, _P)
_m_ids = _sig("session_step_ids", ctypes.c_int, _P, _P, _P, _E)
_m_real = _sig("session_step_real", ctypes.c_int, _P, _P, _P, _E)
_m_sample = _sig("unroll_model_sample", ctypes.c_int, _P, ctypes.c_int64, ctypes.c_double,
                 ctypes.c_char_p, ctypes.c_int64, ctypes.c_int64, ctypes.c_double,
                 ctypes.POINTER(_P), _E)
_train = _sig("unroll_train", ctypes.c_int, ctypes.c_char_p, ctypes.POINTER(ctypes.c_char_p),
              ctypes.c_int, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_size_t,
              _E)


def _call(f, *args):
    e = _Uerr()
    if f(*args, ctypes.byref(e)) != 0:
        raise Error(e.msg.decode("utf-8", "replace") or "failed")


def _bytes(s):
    return None if s is None else os.fsencode(s) if not isinstance(s, str) else s.encode()


def _take_text(p):
    try:
        return ctypes.string_at(p.value).decode("utf-8")
    finally:
        _free(p)


_DTYPES = {"float32": np.float32, "float64": np.float64, "int32": np.int32}


class _Handle:
    """A library object released by close(), at exit of a with block, or
    when collected."""

    _h = None
    _release = None

    def close(self):
        if self._h:
            type(self)._release(self._h)
            self._h = None

    def __del__(self):
        self.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class Model(_Handle):
    """A stored model one time step at a time (train/session.h)."""

    _release = _m_close

    def __init__(self, handle):
        self._h = handle

    @property
    def outputs(self):
        """O: classes, vocabulary or real outputs per row."""
        return int(_m_outputs(self._h))

    @property
    def inputs(self):
        """The input vocabulary, or D for a model of real vectors."""
        return int(_m_inputs(self._h))

    def reset(self, batch=1):
        """A zero state for `batch` rows."""
        _call(_m_reset, self._h, int(batch))

    def step(self, x):
        """One time step: int ids [B] (or floats [B, D]) in, a new array
        [B, O] out (probabilities for softmax and sigmoid heads); the state
        is carried to the next call."""
        dense = bool(_m_dense(self._h))
        if dense:
            x = np.ascontiguousarray(x, dtype=np.float64)
            if x.ndim == 1:
                x = x[None, :]
        else:
            x = np.ascontiguousarray(x, dtype=np.int32).reshape(-1)
        B = x.shape[0]
        if _m_batch(self._h) == 0:
            self.reset(B)
        if B != _m_batch(self._h):
            raise Error("step: %d rows given, the model was reset for %d"
                        % (B, _m_batch(self._h)))
        if dense and (x.ndim != 2 or x.shape[1] != self.inputs):
            raise Error("step: expected floats [B, %d], got shape %s"
                        % (self.inputs, list(x.shape)))
        out = np.empty((B, self.outputs), dtype=np.float64)
        _call(_m_real if dense else _m_ids, self._h, x.ctypes.data, out.ctypes.data)
        return out

    def sample(self, n, temperature=None, prime=None, seed=None, top_k=None, top_p=None):
        """`unroll sample --length n [--temperature T] [--prime P] [--seed S]
        [--top-k K] [--top-p P]`: the same text, from a zero state; None
        takes the run's sample.* default (top_k, top_p: no cut), as an
        option left out does. temperature=0 is greedy (the most likely
        character each time)."""
        p = _P()
        if temperature is not None and float(temperature) < 0:
            raise Error("sample: temperature: expected 0 (greedy) or a number above 0 "
                        "and at most 1e6, found %g" % float(temperature))
        if top_k is not None and int(top_k) < 1:
            raise Error("sample: top_k: expected 1 or more, found %d" % int(top_k))
        if top_p is not None and not 0 < float(top_p) <= 1:
            raise Error("sample: top_p: expected a number above 0 and at most 1, found %g"
                        % float(top_p))
        _call(_m_sample, self._h, int(n), -1.0 if temperature is None else float(temperature),
              _bytes(prime), -1 if seed is None else int(seed),
              0 if top_k is None else int(top_k), 0.0 if top_p is None else float(top_p),
              ctypes.byref(p))
        return _take_text(p)


class Store(_Handle):
    """A checkpoint store opened read-only."""

    _release = _store_close

    def __init__(self, path):
        self._h = _P()
        _call(_store_open, ctypes.byref(self._h), _bytes(path))

    def runs(self):
        """Every run as `unroll runs list --json` lists them: dicts with
        id, name, status, started, finished, steps, ckpts, last_loss,
        best_valid_loss, parent (the checkpoint a --from run started
        from, as a reference tensors() and model() take: "RUN@STEP", or
        its id as a string where RUN@STEP now names a later version; None
        when there is none)."""
        p = _P()
        _call(_runs_json, self._h, ctypes.byref(p))
        return json.loads(_take_text(p))

    def tensors(self, ref):
        """Every tensor of checkpoint ref (id, tag, RUN@STEP, RUN@best, run
        name), name -> a numpy array of its own, dtype as stored."""
        h = _P()
        _call(_t_load, self._h, _bytes(ref), ctypes.byref(h))
        try:
            out = {}
            dims = (ctypes.c_int64 * 8)()
            for i in range(_t_count(h)):
                rank = _t_shape(h, i, dims)
                dt = np.dtype(_DTYPES[_t_dtype(h, i).decode()])
                shape = tuple(dims[k] for k in range(rank))
                a = np.empty(shape, dtype=dt)
                if a.nbytes:
                    ctypes.memmove(a.ctypes.data, _t_data(h, i), a.nbytes)
                out[_t_name(h, i).decode()] = a
            return out
        finally:
            _t_free(h)

    def model(self, ref):
        """The model of checkpoint ref, for streaming (a bidirectional model
        is refused: `unroll predict` serves it)."""
        h = _P()
        _call(_m_open, self._h, _bytes(ref), ctypes.byref(h))
        return Model(h)


def open(path):  # noqa: A001 - the package's own name for it
    """The store at path, read-only."""
    return Store(path)


def _value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def train(config, overrides=None, db="unroll.db", name=None):
    """`unroll train config --set K=V ... --db db [--name name]` in this
    process (the same run, the same bits); returns the run's name."""
    sets = ["%s=%s" % (k, _value(v)) for k, v in (overrides or {}).items()]
    arr = (ctypes.c_char_p * max(1, len(sets)))(*[s.encode() for s in sets])
    out = ctypes.create_string_buffer(512)
    _call(_train, _bytes(config), arr, len(sets), _bytes(db), _bytes(name), out, len(out))
    return out.value.decode()
