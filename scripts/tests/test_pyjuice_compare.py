"""Offline checks of scripts/pyjuice_compare.py: no torch, no GPU, standard library only.

    python3 scripts/pyjuice_compare.py --self-test      (or: python3 -m pytest scripts/tests)

The check of the training split against einet itself runs when an einet binary is found
($EINET_BIN, else target/release/einet, else target/debug/einet) and is skipped otherwise.
"""

import contextlib
import importlib.util
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
DRIVER = os.path.join(ROOT, "scripts", "pyjuice_compare.py")

_spec = importlib.util.spec_from_file_location("pyjuice_compare", DRIVER)
pc = importlib.util.module_from_spec(_spec)
sys.modules["pyjuice_compare"] = pc
_spec.loader.exec_module(pc)


def einet_binary():
    for path in (os.environ.get("EINET_BIN"), os.path.join(ROOT, "target/release/einet"),
                 os.path.join(ROOT, "target/debug/einet")):
        if path and os.access(path, os.X_OK):
            return path
    return None


def bench_result(config, batch, fwd, train, edges, device_bytes=None):
    """One entry of `einet bench --json`, with the fields the driver reads."""
    return {"config": config, "batch_size": batch, "forward_samples_per_s": fwd,
            "train_samples_per_s": train, "edges": edges, "commit": "abc1234",
            "peak_device_memory_bytes": device_bytes, "device": "NVIDIA H100 80GB HBM3",
            "backend": "cuda"}


class RandomNumbers(unittest.TestCase):
    def test_philox_matches_the_random123_known_answers(self):
        # The vectors of einet_core::rng's own test (Random123's philox4x32_10).
        self.assertEqual(pc.philox4x32([0, 0, 0, 0], [0, 0]),
                         [0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8])
        m = 0xFFFFFFFF
        self.assertEqual(pc.philox4x32([m, m, m, m], [m, m]),
                         [0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD])

    def test_streams_are_reproducible_and_distinct(self):
        r1, r2, r3 = pc.EinetRng(7, 1), pc.EinetRng(7, 1), pc.EinetRng(7, 2)
        a = [r1.next_u32() for _ in range(9)]
        self.assertEqual(a, [r2.next_u32() for _ in range(9)])
        self.assertNotEqual(a, [r3.next_u32() for _ in range(9)])
        # Words come four to a block, the block counter in the low counter words.
        self.assertEqual(a[:4], pc.philox4x32([0, 0, 1, 0], [7, 0]))
        self.assertEqual(a[4:8], pc.philox4x32([1, 0, 1, 0], [7, 0]))

    def test_below_stays_in_range_and_shuffle_permutes(self):
        r = pc.EinetRng(3, 0)
        self.assertTrue(all(0 <= r.below(n) < n for n in (1, 2, 3, 7, 1000, 2**31 + 5)))
        idx = pc.shuffled_indices(1000, 5)
        self.assertEqual(sorted(idx), list(range(1000)))
        self.assertNotEqual(idx, list(range(1000)))
        self.assertEqual(idx, pc.shuffled_indices(1000, 5))
        self.assertNotEqual(idx, pc.shuffled_indices(1000, 6))

    def test_the_mnist_split_has_einets_sizes(self):
        train, valid = pc.einet_validation_split(60000)
        self.assertEqual((len(train), len(valid)), (50000, 10000))
        self.assertEqual(train, sorted(train))
        self.assertEqual(valid, sorted(valid))
        self.assertEqual(sorted(train + valid), list(range(60000)))
        self.assertEqual(pc.steps_per_epoch(50000, 512), 98)
        self.assertEqual(pc.round_half_away(2.5), 3)  # Rust's round, not Python's

    @unittest.skipUnless(einet_binary(), "no einet binary (cargo build --release -p einet-cli)")
    def test_the_split_is_the_one_einet_trains_on(self):
        """Images whose pixels 1-3 spell their row number: einet's validation rows, read back
        with `einet mpe --split valid`, are the ones the driver computes."""
        einet = einet_binary()
        n = 60000
        with tempfile.TemporaryDirectory() as tmp:
            mnist = os.path.join(tmp, "mnist")
            os.makedirs(mnist)
            img = bytearray(n * 784)
            for i in range(n):
                img[i * 784 + 1] = i & 255
                img[i * 784 + 2] = (i >> 8) & 255
                img[i * 784 + 3] = i >> 16
            pc.write_idx(os.path.join(mnist, "train-images-idx3-ubyte.gz"), [n, 28, 28], bytes(img))
            pc.write_idx(os.path.join(mnist, "train-labels-idx1-ubyte.gz"), [n], bytes(n))
            pc.write_idx(os.path.join(mnist, "t10k-images-idx3-ubyte.gz"), [16, 28, 28],
                         bytes(16 * 784))
            pc.write_idx(os.path.join(mnist, "t10k-labels-idx1-ubyte.gz"), [16], bytes(16))
            run = os.path.join(tmp, "run")
            subprocess.run([einet, "train", "-d", "mnist", "--data-dir", tmp, "--structure", "pd",
                            "--delta", "14", "-k", "1", "--leaf", "categorical:256", "--epochs", "1",
                            "--batch-size", "10000", "--no-samples", "--out", run],
                           check=True, capture_output=True, timeout=300)
            out = os.path.join(tmp, "valid.csv")
            subprocess.run([einet, "mpe", "-m", os.path.join(run, "model.einet"), "--data-dir", tmp,
                            "--split", "valid", "--hide", "vars:0", "-n", "10000", "--out", out],
                           check=True, capture_output=True, timeout=300)
            rows = []
            with open(out) as f:
                header = f.readline().rstrip("\n").split(",")
                c1, c2, c3 = header.index("x1"), header.index("x2"), header.index("x3")
                for line in f:
                    v = line.rstrip("\n").split(",")
                    rows.append(int(float(v[c1])) + 256 * int(float(v[c2]))
                                + 65536 * int(float(v[c3])))
        _, valid = pc.einet_validation_split(n)
        self.assertEqual(rows, valid)


class Parsing(unittest.TestCase):
    def test_version_and_info(self):
        self.assertEqual(pc.parse_einet_version("einet 0.1.0 (commit 56bf093+changes)\n"),
                         {"version": "0.1.0", "commit": "56bf093+changes"})
        self.assertEqual(pc.parse_einet_version("einet 0.2.0\n"), {"version": "0.2.0", "commit": None})
        self.assertEqual(pc.parse_einet_version(""), {"version": None, "commit": None})
        info = "parameters  401444 (36 sum weights, 401408 leaf); 1628 edges\n"
        self.assertEqual(pc.parse_info_edges(info), 1628)
        self.assertIsNone(pc.parse_info_edges("no such line"))
        self.assertTrue(pc.einet_precision_supported("  --precision <P>  fp32|tf32|bf16"))
        self.assertFalse(pc.einet_precision_supported("  --repeats <REPEATS>"))

    def test_card_slugs(self):
        self.assertEqual(pc.card_slug("NVIDIA H100 80GB HBM3"), "h100")
        self.assertEqual(pc.card_slug("NVIDIA H200"), "h200")
        self.assertEqual(pc.card_slug("NVIDIA A100-SXM4-40GB"), "a100")
        self.assertEqual(pc.card_slug(None), "cpu")

    def test_bits_per_dim(self):
        self.assertAlmostEqual(pc.bits_per_dim(-894.1765355865479), 1.6454388438392682, places=12)
        self.assertIsNone(pc.bits_per_dim(None))

    def test_idx_files_and_where_they_are_found(self):
        with tempfile.TemporaryDirectory() as tmp:
            os.makedirs(os.path.join(tmp, "mnist"))
            pc.write_idx(os.path.join(tmp, "mnist", "train-images-idx3-ubyte.gz"), [2, 2, 3],
                         bytes(range(12)))
            pc.write_idx(os.path.join(tmp, "t10k-images-idx3-ubyte"), [1, 2, 3], bytes(6))
            dims, payload = pc.read_idx(os.path.join(tmp, "mnist", "train-images-idx3-ubyte.gz"))
            self.assertEqual((dims, payload), ([2, 2, 3], bytes(range(12))))
            self.assertTrue(pc.find_mnist_file(tmp, "t10k-images-idx3-ubyte").endswith("ubyte"))
            with self.assertRaises(FileNotFoundError) as e:
                pc.mnist_paths(tmp)
            self.assertIn("train-labels-idx1-ubyte", str(e.exception))
            self.assertNotIn("train-images", str(e.exception))


def plan_args(*argv):
    return pc.parse_args(["--out", "/nonexistent", *argv])


class Planning(unittest.TestCase):
    def test_full_and_quick_plans(self):
        full = pc.make_plan(plan_args())
        self.assertEqual(full["bench_models"], ["hclt", "pd", "rat", "rat32"])
        self.assertEqual(full["train_models"], ["hclt", "pd"])
        self.assertEqual(pc.einet_bench_groups(full),
                         [(1000, ["P1", "P2"]), (512, ["P4", "P3", "P1", "P2"])])
        self.assertEqual((full["repeats"], full["warmup"], full["budget_s"]), (20, 3, 450))
        self.assertAlmostEqual(full["einet_pseudocount"], 0.1 / 256)
        quick = pc.make_plan(plan_args("--quick"))
        self.assertEqual(pc.einet_bench_groups(quick), [(1000, ["P1"]), (512, ["P4", "P3"])])
        self.assertEqual(quick["train_models"], ["hclt"])
        self.assertEqual(quick["budget_s"], 240)
        some = pc.make_plan(plan_args("--models", "rat,hclt", "--train-models", "", "--batch-sizes",
                                      "64", "--repeats", "2"))
        self.assertEqual(pc.einet_bench_groups(some), [(64, ["P4", "P1"])])
        self.assertEqual((some["train_models"], some["repeats"]), ([], 2))
        with self.assertRaises(SystemExit):
            pc.make_plan(plan_args("--train-models", "rat"))
        with self.assertRaises(SystemExit):
            pc.make_plan(plan_args("--models", "cnn"))

    def test_budget(self):
        now = [0.0]
        b = pc.Budget(100, clock=lambda: now[0])
        self.assertEqual(b.limit(30), 30)
        now[0] = 80.0
        self.assertEqual(b.limit(30), 15)
        now[0] = 81.0
        self.assertIsNone(b.limit(30))


def merged_example():
    plan = pc.make_plan(plan_args())
    return {
        "started": "2026-12-07T12:00:00+00:00",
        "card": "NVIDIA H100 80GB HBM3",
        "settings": plan,
        "parts": [{"name": "pyjuice_pd", "status": "error", "error": "CompilationError: x"}],
        "einet": {
            "backend": "cuda", "precision": "fp32", "version": "0.1.0", "commit": "abc1234",
            "bench": {"status": "ok", "results": [
                bench_result("P4", 512, 200000.0, 40000.0, 600000, 300e6),
                bench_result("P3", 512, 100000.0, 30000.0, 3480000, 500e6),
                bench_result("P1", 1000, 900000.0, 200000.0, 830000, 400e6),
            ]},
            "train": {"hclt": {"status": "ok", "steps": 98, "edges": 600000,
                               "test_ll": -600.0, "train_seconds_per_epoch": 2.5},
                      "pd": {"status": "timeout"}},
        },
        "pyjuice": {"status": "ok", "version": "2.6.3", "torch": "2.11.0", "triton": "3.6.0",
                    "models": {
                        "hclt": {"status": "ok", "num_edges": 620000,
                                 "bench": [{"batch_size": 512, "status": "ok",
                                            "forward_samples_per_s": 80000.0,
                                            "train_samples_per_s": 20000.0,
                                            "peak_memory_train_bytes": 399e6}],
                                 "train": {"status": "ok", "steps": 98, "num_edges": 620000,
                                           "test_ll_at_best_valid": -610.0,
                                           "final_test_ll": -610.0,
                                           "train_seconds_per_epoch": 3.0}},
                        "pd": {"status": "error", "error": "CompilationError: x", "bench": []},
                    }},
    }


class Merging(unittest.TestCase):
    def test_comparison_rows(self):
        comp = pc.build_comparison(merged_example())
        rows = {(r["model"], r["batch_size"]): r for r in comp["throughput"]}
        self.assertEqual(len(rows), 6)  # hclt 512, pd 512, rat 1000/512, rat32 1000/512
        h = rows[("hclt", 512)]
        self.assertEqual(h["train_ratio_einet_over_pyjuice"], 2.0)
        self.assertEqual(h["forward_ratio_einet_over_pyjuice"], 2.5)
        self.assertEqual((h["pyjuice_edges"], h["einet_edges"]), (620000, 600000))
        p = rows[("pd", 512)]
        self.assertIsNone(p["train_ratio_einet_over_pyjuice"])
        self.assertEqual(p["pyjuice_status"], "error")
        self.assertEqual(rows[("rat", 1000)]["einet_train_samples_per_s"], 200000.0)
        self.assertIsNone(rows[("rat", 512)]["einet_train_samples_per_s"])
        t = {r["model"]: r for r in comp["training"]}
        self.assertAlmostEqual(t["hclt"]["bpd_einet_minus_pyjuice"],
                               pc.bits_per_dim(-600.0) - pc.bits_per_dim(-610.0))
        self.assertEqual(t["pd"]["einet_status"], "timeout")
        self.assertIsNone(t["pd"]["bpd_einet_minus_pyjuice"])

    def test_markdown(self):
        md = pc.render_markdown(merged_example())
        self.assertIn("NVIDIA H100 80GB HBM3", md)
        self.assertIn("commit abc1234", md)
        self.assertIn("PyJuice 2.6.3 (torch 2.11.0, triton 3.6.0), CUDA graphs on", md)
        self.assertIn("| HCLT | 512 | 0.62 M (0.62 M) | 0.60 M (P4) | 80,000 | 200,000 | 20,000 "
                      "| 40,000 | 2.00× | 399 | 300 |", md)
        self.assertIn("| PD | 512 | error (3.27 M)", md)
        self.assertIn("| HCLT | 98 / 98 | 0.62 M / 0.60 M |", md)
        self.assertIn("| timeout |", md)
        self.assertIn("pyjuice_pd: error (CompilationError: x)", md)
        for line in md.splitlines():  # every table row has as many cells as its header
            if line.startswith("| model"):
                cells = line.count("|")
            elif line.startswith("|"):
                self.assertEqual(line.count("|"), cells, line)


FAKE_EINET = """\
#!{python}
# A stand-in for the einet binary: answers the commands the driver runs.
import json, os, sys
a = sys.argv[1:]
def opt(name):
    return a[a.index(name) + 1]
if a == ["--version"]:
    print("einet 0.1.0 (commit fake123)")
elif a[:2] == ["bench", "--help"]:
    print("  --repeats <REPEATS>")
elif a[0] == "bench":
    b = int(opt("--batch-size"))
    res = [dict(config=c, batch_size=b, forward_samples_per_s=1000.0 * b,
                train_samples_per_s=100.0 * b, edges=600000, commit="fake123",
                peak_device_memory_bytes=1e8, device="fake") for c in opt("--config").split(",")]
    json.dump(res, open(opt("--json"), "w"))
elif a[0] == "train":
    out = opt("--out")
    os.makedirs(out, exist_ok=True)
    print("mnist: 50000 train / 10000 valid / 10000 test rows, 784 variables")
    with open(os.path.join(out, "metrics.jsonl"), "w") as f:
        f.write(json.dumps(dict(epoch=1, seconds=2.0, valid_ll=-700.0, test_ll=-701.0)) + "\\n")
    open(os.path.join(out, "model.einet"), "w").write("model")
elif a[0] == "eval":
    print(json.dumps(dict(log_likelihood=-701.0, bits_per_dim=701.0 / (784 * 0.6931471805599453))))
elif a[0] == "info":
    print("parameters  1 (1 sum weights, 0 leaf); 600000 edges")
else:
    sys.exit("fake einet: unexpected " + " ".join(a))
"""

FAKE_PYTHON_WITHOUT_PYJUICE = """\
#!/bin/sh
# Answers the driver's PyJuice probe as a Python without PyJuice would.
echo '{"torch": "2.11.0", "cuda_available": true, "error": "ModuleNotFoundError: No module named '"'"'pyjuice'"'"'"}'
"""


class EndToEnd(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp()
        self.einet = os.path.join(self.tmp, "einet")
        with open(self.einet, "w") as f:
            f.write(FAKE_EINET.format(python=sys.executable))
        os.chmod(self.einet, 0o755)
        self.python = os.path.join(self.tmp, "python-without-pyjuice")
        with open(self.python, "w") as f:
            f.write(FAKE_PYTHON_WITHOUT_PYJUICE)
        os.chmod(self.python, 0o755)
        self.data = os.path.join(self.tmp, "data")
        os.makedirs(os.path.join(self.data, "mnist"))
        for stem in pc.MNIST_FILES.values():
            open(os.path.join(self.data, "mnist", stem + ".gz"), "wb").close()

    def tearDown(self):
        shutil.rmtree(self.tmp)

    def run_driver(self, *extra):
        out = os.path.join(self.tmp, "out")
        argv = ["--einet", self.einet, "--data-dir", self.data, "--out", out, "--work-dir",
                os.path.join(self.tmp, "work"), "--python", self.python, "--quick", *extra]
        with contextlib.redirect_stdout(io.StringIO()):
            rc = pc.Run(pc.parse_args(argv), pc.make_plan(pc.parse_args(argv))).run()
        files = sorted(os.listdir(out))
        with open(os.path.join(out, "cpu-pyjuice-compare.json")) as f:
            return rc, files, json.load(f)

    def test_pyjuice_missing_is_recorded_and_einet_goes_on(self):
        rc, files, m = self.run_driver()
        self.assertEqual(rc, 1)  # a part failed
        self.assertEqual(files, ["cpu-pyjuice-compare-raw.tar.gz", "cpu-pyjuice-compare.json",
                                 "cpu-pyjuice-compare.log", "cpu-pyjuice-compare.md"])
        self.assertEqual(m["pyjuice"]["status"], "error")
        self.assertIn("No module named 'pyjuice'", m["pyjuice"]["error"])
        self.assertEqual(m["einet"]["commit"], "fake123")
        self.assertEqual(m["einet"]["precision"], "fp32")
        self.assertEqual(m["einet"]["bench"]["status"], "ok")
        self.assertEqual(len(m["einet"]["bench"]["results"]), 3)  # P1 at 1000, P4 and P3 at 512
        t = m["einet"]["train"]["hclt"]
        self.assertEqual((t["status"], t["steps"], t["edges"], t["test_ll"]), ("ok", 98, 600000, -701.0))
        rows = {(r["model"], r["batch_size"]): r for r in m["comparison"]["throughput"]}
        self.assertEqual(rows[("hclt", 512)]["einet_train_samples_per_s"], 51200.0)
        self.assertIsNone(rows[("hclt", 512)]["pyjuice_train_samples_per_s"])
        status = {p["name"]: p["status"] for p in m["parts"]}
        self.assertEqual(status, {"env": "ok", "einet_bench": "ok", "pyjuice_probe": "error",
                                  "einet_train_hclt": "ok"})

    def test_einet_only(self):
        rc, _files, m = self.run_driver("--einet-only")
        self.assertEqual(rc, 0)
        self.assertTrue(m["pyjuice"]["status"].startswith("skipped"))
        self.assertIn("einet_train_hclt", [p["name"] for p in m["parts"]])

    def test_a_failing_einet_is_recorded(self):
        with open(self.einet, "a") as f:
            f.write("if a[0] == 'train': sys.exit('out of device memory')\n")
        rc, _files, m = self.run_driver("--einet-only")
        self.assertEqual(rc, 1)
        self.assertEqual(m["einet"]["train"]["hclt"]["status"], "error")
        self.assertEqual(m["einet"]["bench"]["status"], "ok")


@unittest.skipIf(importlib.util.find_spec("torch") is not None,
                 "torch is installed: the worker would really run")
class WorkerWithoutTorch(unittest.TestCase):
    def test_the_worker_records_the_import_error(self):
        with tempfile.TemporaryDirectory() as tmp:
            result = os.path.join(tmp, "r.json")
            p = subprocess.run([sys.executable, DRIVER, "--worker", "pyjuice", "--model", "hclt",
                                "--result", result], capture_output=True, text=True, timeout=60)
            self.assertEqual(p.returncode, 1)
            with open(result) as f:
                r = json.load(f)
            self.assertEqual(r["status"], "error")
            self.assertIn("ModuleNotFoundError", r["error"])


if __name__ == "__main__":
    unittest.main()
