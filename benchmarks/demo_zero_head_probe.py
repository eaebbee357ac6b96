"""Probe: does the zero-initialised classifier (training/recipe.py zero_head) make `edgekit demo`'s
training run longer? Trains the demo's model (MobileNetV2 0.35 on digits, 60 epochs at most) with
the head as the trainer sets it (``zero``) and with Keras' random start (``nozero``).

    nice python benchmarks/demo_zero_head_probe.py zero|nozero
"""
import json, sys, time
from pathlib import Path
from rich.console import Console
from edgekit.training import fit as fitmod
variant = sys.argv[1]
if variant == "nozero":
    fitmod.zero_head = lambda net: False
out = Path("runs/demo_zero_head_probe") / variant
out.mkdir(parents=True, exist_ok=True)
t0 = time.time()
res = fitmod.train("mobilenet_v2", "digits", params={"alpha": 0.35}, epochs=60, out=out / "run",
                   console=Console(file=open(out / "train.log", "w"), soft_wrap=True, width=200))
print(json.dumps({"variant": variant, "test_accuracy": res.metrics.get("accuracy"), "epochs_run": res.metrics.get("epochs_run"), "wall_s": round(time.time()-t0,1)}))
