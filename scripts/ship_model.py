"""Copy a trained model into the package (src/aet/nn/weights) with a card that records every training stage.

Run: python scripts/ship_model.py RUN_DIR NAME [--earlier RUN_DIR=CONFIG ...] [--config CONFIG] [--as NAME]
     [--trace KEY=VALUE] [--default]

RUN_DIR/NAME.safetensors and its card come from ``aet train``. Each ``--earlier`` (oldest first) is a run this one
was fine-tuned from, with its config: the card keeps every stage (data, settings, seeds, validation) and a retrain
command that runs them all in order, e.g. for the three stages of a fine-tuned U-Net::

    python scripts/ship_model.py runs/unet-ft2 unet --as unet-alloy --config configs/finetune2_unet.toml \
        --earlier runs/unet=configs/train_unet.toml --earlier runs/unet-ft=configs/finetune_unet.toml \
        --trace min_height=0.45

``--trace KEY=VALUE`` records tracing settings recommended for the model's output (``aet run`` and the
benchmark use them). ``--default`` makes it the model that ``aet.augment`` uses. Benchmark figures are added
afterwards by ``benchmarks/augmentation.py --update-cards``.
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
from pathlib import Path

from aet.io.atomic import atomic_paths, dump_json

WEIGHTS = Path(__file__).resolve().parents[1] / "src" / "aet" / "nn" / "weights"


def _stage(run: Path, name: str) -> dict:
    card = json.loads((run / f"{name}.json").read_text())
    with (run / "train_log.csv").open() as f:
        rows = list(csv.DictReader(f))
    config = json.loads((run / "config_used.json").read_text())
    return {
        "run": run.name, "network": config["network"], "training_data": card["training_data"],
        "training": card["training"], "steps_run": int(rows[-1]["step"]) if rows else 0,
        "samples_used": int(rows[-1]["samples_ready"]) if rows else None, "validation": card["validation"],
    }  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run", type=Path)
    ap.add_argument("name")
    ap.add_argument("--earlier", action="append", default=[], metavar="RUN_DIR=CONFIG",
                    help="an earlier stage this run was fine-tuned from, with its config; oldest first, repeatable")
    ap.add_argument("--config", help="the config of RUN_DIR itself")
    ap.add_argument("--default", action="store_true")
    ap.add_argument("--as", dest="ship_as", help="name to ship it under (default: NAME)")
    ap.add_argument("--trace", action="append", default=[], metavar="KEY=VALUE",
                    help="tracing setting recommended for this model's output (chosen on validation particles)")
    args = ap.parse_args()
    card = json.loads((args.run / f"{args.name}.json").read_text())
    earlier = [(Path(run), config) for run, config in (item.split("=", 1) for item in args.earlier)]
    card["training_stages"] = [_stage(run, args.name) for run, _ in earlier] + [_stage(args.run, args.name)]
    commands = [f"aet train {config} --out runs/{run.name}" for run, config in earlier]
    if args.config:
        commands.append(f"aet train {args.config} --out runs/{args.run.name}")
    if commands:
        card["retrain"] = " && ".join(commands)
    card.pop("benchmark", None)
    target = args.ship_as or args.name
    card["name"] = target
    shipped = WEIGHTS / f"{target}.json"  # a model shipped again under the same name gets the next version
    card["version"] = json.loads(shipped.read_text()).get("version", 1) + 1 if shipped.exists() else 1
    card["trace"] = {k: float(v) for k, v in (item.split("=", 1) for item in args.trace)}
    WEIGHTS.mkdir(exist_ok=True)
    shutil.copyfile(args.run / f"{args.name}.safetensors", WEIGHTS / f"{target}.safetensors")
    with atomic_paths(WEIGHTS / f"{target}.json") as (tmp,):
        dump_json(card, tmp)
    if args.default:
        (WEIGHTS / "default.txt").write_text(target + "\n")
    print(f"shipped {target}: {(WEIGHTS / f'{target}.safetensors').stat().st_size / 2**20:.1f} MB")


if __name__ == "__main__":
    main()
