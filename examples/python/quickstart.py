"""einet from Python in a minute: train on the shipped 8×8 digits, evaluate, ask a
conditional query, inpaint a digit and save the picture.

    pip install ./crates/einet-python   # once, in a virtual environment
    python examples/python/quickstart.py [OUT_DIR]

The picture (original | top half hidden | conditional sample | MPE) needs matplotlib or
Pillow; without either it is skipped.
"""

import sys
from pathlib import Path

import numpy as np

import einet

out = Path(sys.argv[1] if len(sys.argv) > 1 else "runs/python-quickstart")
out.mkdir(parents=True, exist_ok=True)

# The data set the command line calls `digits`: values 0..16, 64 pixels, split 70/10/20.
digits = einet.load_dataset("digits")
train, valid, test = digits["train"], digits["valid"], digits["test"]

# Poon–Domingos structure and binomial leaves, as `einet train -d digits` builds them.
model = einet.Model(k=10)
history = model.fit(train, valid, epochs=10, step_size=0.2, image_shape=digits["image_shape"])
print(model)
print(f"best epoch {model.training['best_epoch']}: "
      f"test LL {model.log_likelihood(test).mean():.2f} nats per image")

# log p(x_bottom | x_top): how well the top half predicts the bottom half.
bottom = list(range(32, 64))
print(f"log p(bottom half | top half) of test digit 0: {model.conditional(test[0], bottom):.2f}")

# Inpainting: hide the top half of a few test digits, complete them by sampling and by MPE.
hidden = test[:6].copy()
hidden[:, :32] = np.nan
sampled = model.sample(evidence=hidden, seed=0)
completed = model.mpe(hidden)
assert (sampled[:, 32:] == test[:6, 32:]).all()

model.save(out / "digits.einet")
print(f"wrote {out / 'digits.einet'} (read it with einet.load or `einet eval -m ... -d digits`)")

rows = [np.nan_to_num(r, nan=8.0).reshape(6, 8, 8) for r in (test[:6], hidden, sampled, completed)]
grid = np.block([[row[i] for row in rows] for i in range(6)])  # 6 digits × 4 columns
png = out / "inpaint.png"
try:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.imsave(png, grid, cmap="gray_r", vmin=0, vmax=16)
except ImportError:
    try:
        from PIL import Image
    except ImportError:
        print("matplotlib or Pillow is not installed: no picture")
        sys.exit(0)
    pixels = (255 - np.clip(grid, 0, 16) * 255 / 16).astype(np.uint8)
    Image.fromarray(pixels).resize((grid.shape[1] * 8, grid.shape[0] * 8), Image.NEAREST).save(png)
print(f"wrote {png} (original | top half hidden | sample | MPE)")
