#!/usr/bin/env python3
"""Host-to-device copy rates on the GPU machine (PyTorch, which that machine has), to size
the CUDA backend's input path: pageable against pinned host memory at the input sizes of
A1 (1000 rows x 784 floats) and C2 (1000 x 3072), the host copy into a pinned buffer, and
the round trip of a small device-to-host read (what reading the log-likelihoods back costs).

    python3 scripts/h2d-copy.py
"""
import time

import torch

def median_ms(fn, repeats=50):
    for _ in range(5):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        times.append((time.perf_counter() - t) * 1e3)
    return sorted(times)[len(times) // 2]

dev = torch.device("cuda")
print(torch.cuda.get_device_name(0))
print(f"{'what':<44} {'MB':>6} {'ms':>8} {'GB/s':>7}")
for rows, width in [(1000, 784), (1000, 3072), (10000, 784)]:
    n = rows * width
    mb = n * 4 / 1e6
    pageable = torch.rand(n)
    pinned = torch.empty(n).pin_memory()
    target = torch.empty(n, device=dev)
    for name, fn in [
        (f"pageable -> device ({rows}x{width})", lambda: target.copy_(pageable)),
        (f"pinned -> device ({rows}x{width})", lambda: target.copy_(pinned, non_blocking=True)),
        (f"host copy into pinned ({rows}x{width})", lambda: pinned.copy_(pageable)),
    ]:
        ms = median_ms(fn)
        print(f"{name:<44} {mb:>6.1f} {ms:>8.3f} {mb / ms:>7.2f}")
small = torch.empty(1000, device=dev)
print(f"{'device -> host, 1000 floats, with sync':<44} {0.004:>6.3f} "
      f"{median_ms(lambda: small.cpu()):>8.3f}")
