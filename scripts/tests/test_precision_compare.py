"""Offline checks of scripts/precision_compare.py: no GPU, standard library only.

    python3 scripts/precision_compare.py --self-test      (or: python3 -m unittest discover -s scripts/tests)

The check that every run's arguments parse runs when an optimised einet binary is found
($EINET_BIN, else target/release/einet) and is skipped otherwise.
"""

import importlib.util
import os
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
_spec = importlib.util.spec_from_file_location(
    "precision_compare", os.path.join(ROOT, "scripts", "precision_compare.py"))
pc = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(pc)


def einet_binary():
    for path in (os.environ.get("EINET_BIN"), os.path.join(ROOT, "target", "release", "einet")):
        if path and os.access(path, os.X_OK):
            return path
    return None


def result(name, metric, **values):
    return {"name": name, "metric": metric,
            "runs": {p: {"value": v, "seconds": 1.0} for p, v in values.items()}}


class Summary(unittest.TestCase):
    def test_differences_are_to_fp32_and_bounded_per_metric(self):
        s = pc.summarise([
            result("debd", "nats", fp32=-6.000, tf32=-6.004, bf16=-6.020),
            result("mnist", "bpd", fp32=1.3500, tf32=1.3510, bf16=1.3519),
        ])
        debd, mnist = s["runs"]
        self.assertAlmostEqual(debd["difference"]["tf32"], -0.004)
        self.assertTrue(debd["within_bound"]["tf32"])
        self.assertFalse(debd["within_bound"]["bf16"])  # 0.02 nats > 0.01
        self.assertTrue(mnist["within_bound"]["tf32"])
        self.assertTrue(mnist["within_bound"]["bf16"])  # 0.0019 bits/dim <= 0.002
        self.assertTrue(s["verdict"]["tf32"]["all_within_bounds"])
        self.assertFalse(s["verdict"]["bf16"]["all_within_bounds"])

    def test_a_missing_run_makes_the_verdict_incomplete_not_a_pass(self):
        missing = result("debd", "nats", fp32=-6.0, tf32=-6.0)
        missing["runs"]["bf16"] = {"error": "time budget spent"}
        s = pc.summarise([missing])
        self.assertTrue(s["verdict"]["tf32"]["all_within_bounds"])
        self.assertFalse(s["verdict"]["bf16"]["complete"])
        self.assertFalse(s["verdict"]["bf16"]["all_within_bounds"])
        self.assertIn("runs missing", pc.table(s))
        self.assertFalse(pc.summarise([])["verdict"]["tf32"]["all_within_bounds"])

    def test_the_table_marks_differences_outside_the_bounds(self):
        text = pc.table(pc.summarise([result("debd", "nats", fp32=-6.0, tf32=-6.0, bf16=-6.5)]))
        self.assertIn("-0.5000 (out)", text)
        self.assertIn("| debd | nats | -6.0000 | -6.0000 | -6.5000 | +0.0000 |", text)


class Commands(unittest.TestCase):
    def test_every_run_trains_on_cuda_at_the_precision_asked(self):
        for name, dataset, args, metric in pc.RUNS:
            self.assertIn(metric, pc.BOUND)
            cmd = pc.train_command("einet", "data", "out", dataset, args, "bf16")
            self.assertEqual(cmd[cmd.index("--backend") + 1], "cuda")
            self.assertEqual(cmd[cmd.index("--precision") + 1], "bf16")
            self.assertEqual(cmd[cmd.index("--seed") + 1], "0")

    @unittest.skipUnless(einet_binary(), "no einet binary")
    def test_every_run_parses_and_trains_one_epoch_on_the_cpu(self):
        data = os.environ.get("EINET_DATA", os.path.join(ROOT, "data"))
        with tempfile.TemporaryDirectory() as tmp:
            for name, dataset, args, metric in pc.RUNS:
                if not os.path.exists(os.path.join(data, "debd", dataset.split(":")[-1] +
                                                   ".train.data.gz")):
                    continue  # MNIST (a minute per HCLT epoch here) and sets not shipped
                short = list(args)
                for flag in ("--epochs", "--full-batch-epochs"):
                    if flag in short:
                        short[short.index(flag) + 1] = "1"
                out = os.path.join(tmp, name)
                cmd = pc.train_command(einet_binary(), data, out, dataset, short, "fp32")
                cmd[cmd.index("--backend") + 1] = "cpu"
                done = subprocess.run(cmd, capture_output=True, text=True)
                self.assertEqual(done.returncode, 0, f"{name}: {done.stderr}")
                record = pc.record_of(einet_binary(), out)
                self.assertLess(pc.value(record, metric), 0.0)


if __name__ == "__main__":
    sys.exit(unittest.main())
