"""make_tensorboard_fixtures.py — the event files tensorboard's own writer produces for the
scalars loratty logs, for tests/test_tensorboard (engine/train/tensorboard.c).

    /work/golden-venv/bin/python tests/golden/make_tensorboard_fixtures.py \
        --train-network /path/to/sd-scripts/train_network.py

writes tests/fixtures/tensorboard/:
  scalars.json / scalars.tfevents  plain add_scalar events (step 0, negative and 2^40 steps,
                                   0, -0, inf, nan, subnormal values, a UTF-8 tag)
  steps.json / steps.tfevents      the dicts sd-scripts' NetworkTrainer.generate_step_logs
                                   returns for several optimizer / network cases (the function
                                   is taken from the given train_network.py and run on stand-in
                                   args and LR scheduler), plus epoch logs, written in dict
                                   order with the step as accelerate's TensorBoardTracker.log
                                   does; the .json also holds the inputs, so the C side builds
                                   the same logs with tb_log_step.

The events go through tensorboard.summary.writer.event_file_writer.EventFileWriter with
event_pb2 / summary_pb2 (what torch's SummaryWriter.add_scalar uses). Its first record
(file_version) carries time.time() and writer "tensorboard.summary.writer.event_file_writer";
we replace it by the same Event with the fixed wall time and writer "loratty", which is what
tb_open_at writes.

    make_tensorboard_fixtures.py --read-back DIR

loads every event file under DIR (e.g. the one test_tensorboard leaves when TB_KEEP_DIR is set)
with tensorboard's EventFileLoader and EventAccumulator and checks the scalars against the
fixture json.
"""

import argparse
import ast
import glob
import io
import json
import math
import os
import struct
import sys
import tempfile
import types

from tensorboard.backend.event_processing import event_accumulator, plugin_event_multiplexer
from tensorboard.backend.event_processing.event_file_loader import EventFileLoader
from tensorboard.compat.proto import event_pb2, summary_pb2
from tensorboard.util import tensor_util
from tensorboard.summary.writer.event_file_writer import EventFileWriter
from tensorboard.summary.writer.record_writer import RecordWriter

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "fixtures", "tensorboard")
OPEN_WALL_TIME = 1700000000.25


def split_records(data):
    recs, pos = [], 0
    while pos < len(data):
        (n,) = struct.unpack_from("<Q", data, pos)
        recs.append(data[pos : pos + 12 + n + 4])
        pos += 12 + n + 4
    return recs


def write_events(events):
    """events: (tag, step, value, wall_time). Returns the file bytes with the fixed header."""
    with tempfile.TemporaryDirectory() as d:
        w = EventFileWriter(d)
        for tag, step, value, wall in events:
            ev = event_pb2.Event(wall_time=wall, step=step)
            ev.summary.CopyFrom(summary_pb2.Summary(value=[summary_pb2.Summary.Value(tag=tag, simple_value=value)]))
            w.add_event(ev)
        w.close()
        (path,) = glob.glob(os.path.join(d, "events.out.tfevents.*"))
        data = open(path, "rb").read()
    recs = split_records(data)
    first = event_pb2.Event.FromString(recs[0][12:-4])
    assert first.file_version == "brain.Event:2"
    head = event_pb2.Event(
        wall_time=OPEN_WALL_TIME,
        file_version="brain.Event:2",
        source_metadata=event_pb2.SourceMetadata(writer="loratty"),
    )
    buf = io.BytesIO()
    RecordWriter(buf).write(head.SerializeToString())
    return buf.getvalue() + b"".join(recs[1:])


def json_float(x):
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return x


def scalar_fixture():
    events = [
        ("loss/current", 0, 0.125, 1700000001.0),
        ("loss/current", 1, 0.1, 1700000001.5),
        ("loss/average", 1, -0.0, 1700000001.5),
        ("loss/average", 2, 0.0, 1700000002.75),
        ("lr/unet", 3, 1e-4, 1700000003.125),
        ("lr/unet", 1 << 40, float("inf"), 1700000004.0),
        ("lr/unet", -1, float("-inf"), 1700000005.0),
        ("lr/d*lr/unet", 127, float("nan"), 1700000006.0),
        ("lr/d*lr/unet", 128, 1e-40, 1700000007.0),
        ("loss/\u00e9t\u00e9", 300, 3.4e38, 1700000008.0),
        ("a" * 200, 16384, -12345.678, 1700000009.123456),
    ]
    data = write_events(events)
    meta = {
        "open_wall_time": OPEN_WALL_TIME,
        "events": [{"tag": t, "step": s, "value": json_float(v), "wall_time": w} for t, s, v, w in events],
    }
    return meta, data


def load_generate_step_logs(train_network_py):
    """NetworkTrainer.generate_step_logs out of sd-scripts' train_network.py, as a function."""
    tree = ast.parse(open(train_network_py).read())
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "NetworkTrainer")
    fn = next(n for n in cls.body if isinstance(n, ast.FunctionDef) and n.name == "generate_step_logs")
    ns = {"argparse": argparse}
    exec(compile(ast.Module(body=[fn], type_ignores=[]), train_network_py, "exec"), ns)
    return ns["generate_step_logs"]


STEP_CASES = [
    # name, optimizer_type, unet_only, lr_descriptions, lrs, ds, (keys_scaled, mean_norm, max_norm)
    ("adamw_te_unet", "AdamW", False, ["textencoder", "unet"], [5e-5, 1e-4], None, None),
    ("adamw8bit_unet_only_maxnorm", "AdamW8bit", True, ["unet"], [1e-4], None, (3, 0.5, 1.25)),
    ("prodigy_te_unet", "Prodigy", False, ["textencoder", "unet"], [1.0, 1.0], [1e-6, 2.5e-6], None),
    ("dadaptadam_unet_only_nodesc", "DAdaptAdam", True, None, [0.5], [3e-6], None),
    ("adamw_loraplus", "AdamW", False, ["textencoder", "textencoder plus", "unet", "unet plus"],
     [5e-5, 8e-4, 1e-4, 1.6e-3], None, None),
    ("lion_block_lr", "Lion", True, ["unet_block0", "unet_block1", "unet_block11"], [1e-4, 5e-5, 2e-5], None, None),
    ("sgd_nodesc_3groups", "SGDNesterov", False, None, [1e-3, 2e-3, 3e-3], None, None),
]


def steps_fixture(train_network_py):
    gen = load_generate_step_logs(train_network_py)
    cases, events = [], []
    for k, (name, opt, unet_only, desc, lrs, ds, norms) in enumerate(STEP_CASES):
        step = 10 * k + 1
        wall = 1700000100.0 + 0.5 * k
        current, average = 0.1 + 0.01 * k, 0.12 + 0.003 * k
        args = types.SimpleNamespace(network_train_unet_only=unet_only, optimizer_type=opt)
        groups = [{"lr": lr, "d": (ds[i] if ds else 1.0)} for i, lr in enumerate(lrs)]
        sched = types.SimpleNamespace(
            get_last_lr=lambda lrs=lrs: list(lrs), optimizers=[types.SimpleNamespace(param_groups=groups)]
        )
        ks, mn, mx = norms if norms else (None, None, None)
        logs = gen(None, args, current, average, sched, desc, None, ks, mn, mx)
        for tag, v in logs.items():
            events.append((tag, step, float(v), wall))
        cases.append(
            {
                "name": name, "step": step, "wall_time": wall, "optimizer_type": opt,
                "unet_only": unet_only, "lr_descriptions": desc, "lrs": lrs, "d": ds,
                "loss_current": current, "loss_average": average,
                "max_norm": None if norms is None else {"keys_scaled": ks, "avg_key_norm": mn, "max_key_norm": mx},
                "logs": [[t, v] for t, v in logs.items()],
            }
        )
    epochs = []
    for epoch in (1, 2):
        wall = 1700000200.0 + epoch
        avg = 0.2 / epoch
        events.append(("loss/epoch_average", epoch, avg, wall))  # epoch_logging: step = epoch
        epochs.append({"epoch": epoch, "loss_epoch_average": avg, "wall_time": wall})
    return {"open_wall_time": OPEN_WALL_TIME, "steps": cases, "epochs": epochs}, write_events(events)


def expected_scalars(meta):
    out = []
    for e in meta["events"]:
        out.append((e["tag"], e["step"], float(e["value"]), e["wall_time"]))
    return out


def read_back(d):
    """Parse every event file under d with tensorboard; compare to the fixtures' scalars."""
    files = sorted(glob.glob(os.path.join(d, "**", "events.out.tfevents.*"), recursive=True))
    if not files:
        sys.exit(f"no event files under {d}")
    ok = True
    for path in files:
        kind = "steps" if "steps" in os.path.relpath(path, d) else "scalars"
        meta = json.load(open(os.path.join(OUT, kind + ".json")))
        if kind == "scalars":
            want = expected_scalars(meta)
        else:
            want = [(t, c["step"], float(v), c["wall_time"]) for c in meta["steps"] for t, v in c["logs"]]
            want += [("loss/epoch_average", e["epoch"], e["loss_epoch_average"], e["wall_time"]) for e in meta["epochs"]]
        got = []
        first = None
        for ev in EventFileLoader(path).Load():
            if first is None:
                first = ev
                continue
            for v in ev.summary.value:
                # EventFileLoader migrates simple_value into a scalar tensor (data_compat)
                x = float(tensor_util.make_ndarray(v.tensor)) if v.HasField("tensor") else v.simple_value
                got.append((v.tag, ev.step, x, ev.wall_time))
        f32 = lambda x: struct.unpack("<f", struct.pack("<f", x))[0]
        same = len(got) == len(want) and all(
            g[0] == w[0] and g[1] == w[1] and g[3] == w[3]
            and (g[2] == f32(w[2]) or (math.isnan(g[2]) and math.isnan(w[2])))
            for g, w in zip(got, want)
        )
        acc = event_accumulator.EventAccumulator(os.path.dirname(path))
        acc.Reload()
        tags = acc.Tags()["scalars"]
        n_acc = sum(len(acc.Scalars(t)) for t in tags)
        by_tag = {}
        for t, s, x, w in got:
            by_tag.setdefault(t, []).append((s, x, w))
        acc_same = sorted(tags) == sorted(by_tag) and all(
            [(e.step, e.wall_time) for e in acc.Scalars(t)] == [(s, w) for s, _, w in by_tag[t]]
            and all(e.value == x or (math.isnan(e.value) and math.isnan(x)) for e, (_, x, _) in zip(acc.Scalars(t), by_tag[t]))
            for t in tags
        )
        print(f"{os.path.relpath(path, d)}: file_version={first.file_version!r} "
              f"writer={first.source_metadata.writer!r}; EventFileLoader {len(got)} scalars "
              f"{'match' if same else 'DIFFER'}; EventAccumulator tags={len(tags)} points={n_acc} "
              f"{'match' if acc_same else 'DIFFER'}")
        ok &= same and acc_same and first.file_version == "brain.Event:2"
    # what `tensorboard --logdir d` lists as runs: the folders relative to d
    mux = plugin_event_multiplexer.EventMultiplexer()
    mux.AddRunsFromDirectory(d)
    mux.Reload()
    print("runs:", sorted(mux.Runs()))
    sys.exit(0 if ok else 1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--train-network", help="sd-scripts' train_network.py")
    ap.add_argument("--read-back", metavar="DIR")
    a = ap.parse_args()
    if a.read_back:
        read_back(a.read_back)
    if not a.train_network:
        ap.error("--train-network is required to make the fixtures")
    os.makedirs(OUT, exist_ok=True)
    for name, (meta, data) in (("scalars", scalar_fixture()), ("steps", steps_fixture(a.train_network))):
        with open(os.path.join(OUT, name + ".json"), "w") as f:
            json.dump(meta, f, indent=1, ensure_ascii=False)
            f.write("\n")
        with open(os.path.join(OUT, name + ".tfevents"), "wb") as f:
            f.write(data)
        print(name, len(data), "bytes")


if __name__ == "__main__":
    main()
