"""aet augment and aet train on the command line: files in, files out, one-line errors."""

from __future__ import annotations

import numpy as np
from typer.testing import CliRunner

import aet
from aet.cli import app
from aet.model import Volume

runner = CliRunner()


def test_cli_augment(tmp_path) -> None:
    rng = np.random.default_rng(1)
    aet.io.write(Volume(rng.random((30, 34, 38)).astype(np.float32), 0.4, (1.0, 2.0, 3.0)), tmp_path / "in.mrc")
    args = ["augment", str(tmp_path / "in.mrc"), str(tmp_path / "out.mrc"), "--uncertainty", str(tmp_path / "u.mrc"),
            "--tta", "2"]  # fmt: skip
    done = runner.invoke(app, args)
    assert done.exit_code == 0, done.output
    out, unc = aet.io.read(tmp_path / "out.mrc", kind="volume"), aet.io.read(tmp_path / "u.mrc", kind="volume")
    assert out.shape == unc.shape == (30, 34, 38) and out.voxel_size == 0.4
    assert aet.io.read(tmp_path / "in.mrc", kind="volume").shape == (30, 34, 38)  # the input is untouched
    again = runner.invoke(app, args)  # outputs exist: refused unless --overwrite
    assert again.exit_code != 0


def test_cli_train_bad_config(tmp_path) -> None:
    (tmp_path / "bad.toml").write_text("[training]\nstepz = 3\n")
    done = runner.invoke(app, ["train", str(tmp_path / "bad.toml"), "--out", str(tmp_path / "run")])
    assert done.exit_code != 0
    assert "unknown key" in str(done.exception) or "unknown key" in done.output
