"""``s2e ials check``: every file of IALS's ``pretrain/`` folder, one line per problem.

A fake folder is generated in tmp (arrays of the release's shapes and dtypes, random
values) and broken in every way the check must name; an opt-in test runs it on
``../shared/data/ials_pretrain`` (skipped when absent)."""

from __future__ import annotations

import os
from collections import OrderedDict

import numpy as np
import pytest
import torch

from s2e_lib.cli import main
from s2e_lib.edit.ials import check
from s2e_lib.edit.ials.check import (
    EXPECTED_SHA256,
    check_array,
    check_pretrain,
    check_state_dict,
    optional_weights,
    required_arrays,
    sha256,
)
from s2e_lib.edit.ials.classifier import AttributeClassifier
from s2e_lib.edit.ials.stylegan1 import Generator, StyleGANConfig

SMALL = StyleGANConfig.small(resolution=8, channels=8, fused_min_resolution=128)


def make_fake_pretrain(root):
    """Every required data file with the release's shape and dtype (random values) → {rel: sha256}."""
    rng = np.random.default_rng(0)
    sums = {}
    for spec in required_arrays():
        path = root / spec.path
        path.parent.mkdir(parents=True, exist_ok=True)
        np.save(path, rng.normal(size=spec.shape).astype(spec.dtype))
        sums[spec.path] = sha256(path)
    return sums


@pytest.fixture()
def fake(tmp_path):
    root = tmp_path / "pretrain"
    return root, make_fake_pretrain(root)


def run_check(capsys, *args):
    code = main(["ials", "check", *args])
    out, err = capsys.readouterr()
    return code, out.splitlines(), err.splitlines()


def test_spec_covers_the_release_layout():
    specs = required_arrays()
    assert len(specs) == 32 and {s.path for s in specs} == set(EXPECTED_SHA256)
    shapes = {s.path: (s.shape, s.dtype) for s in specs}
    assert shapes["attr_level_direction/interfacegan/ffhq/smiling.npy"] == ((1, 512), "<f8")
    assert shapes["attr_level_direction/ganspace/celebahq/pose.npy"] == ((1, 512), "<f4")
    assert shapes["stylegan/ffhq/avg_code.npy"] == ((512,), "<f4")
    assert shapes["real_latent_code/real1.npy"] == ((18, 512), "<f4")
    assert "attr_level_direction/ours/celebahq/young.npy" not in shapes  # the release lacks it
    assert [w.path for w in optional_weights()][:3] == [
        "stylegan/ffhq/weight.pkl",
        "stylegan/celebahq/weight.pkl",
        "classifier/smiling/weight.pkl",
    ]


def test_generated_folder_is_complete_and_weights_are_optional(fake):
    root, sums = fake
    report = check_pretrain(root, expected_sha256=sums)
    assert report.ok and report.required_right == 32 and report.checked == 32
    assert len(report.notes) == 8 and all("missing (optional:" in str(n) for n in report.notes)
    assert "ok; 32 of 32 required data files right" in report.summary()
    strict = check_pretrain(root, require_weights=True, expected_sha256=sums)
    assert len(strict.problems) == 8 and not strict.notes
    assert str(strict.problems[0]) == (
        f"{root / 'stylegan/ffhq/weight.pkl'}: missing (required: ffhq StyleGAN-1 generator)"
    )


def test_generated_values_do_not_match_the_release_hashes(fake):
    root, _ = fake
    report = check_pretrain(root)  # the recorded sums of IALS's files
    assert len(report.problems) == 32 and report.required_right == 0
    assert all("sha256" in p.message and "expected" in p.message for p in report.problems)
    first = report.problems[0]
    assert first.message.endswith(
        f"expected {EXPECTED_SHA256[str(first.path.relative_to(root))][:12]}… "
        "(differs from IALS's release file)"
    )


def test_every_problem_is_one_error_line_and_exit_2(fake, capsys, monkeypatch):
    root, sums = fake
    monkeypatch.setattr(check, "EXPECTED_SHA256", sums)
    d = "attr_level_direction"
    (root / f"{d}/ganspace/ffhq/young.npy").unlink()  # missing
    np.save(root / f"{d}/ganspace/ffhq/pose.npy", np.zeros((512,), np.float32))  # wrong shape
    np.save(root / f"{d}/interfacegan/ffhq/male.npy", np.zeros((1, 512), np.float32))  # wrong dtype
    smiling = root / f"{d}/interfacegan/ffhq/smiling.npy"
    v = np.load(smiling)
    v[0, 0] += 1e-3
    np.save(smiling, v)  # same shape and dtype, other bytes
    (root / "stylegan/celebahq/avg_code.npy").unlink()
    (root / "stylegan/celebahq/avg_code.npy").mkdir()  # a folder where a file should be
    os.mkfifo(root / f"{d}/ours/ffhq/pose.npy.fifo")
    (root / f"{d}/ours/ffhq/pose.npy").unlink()
    (root / f"{d}/ours/ffhq/pose.npy.fifo").rename(root / f"{d}/ours/ffhq/pose.npy")  # a named pipe
    np.save(root / "real_latent_code/real2.npy", np.array([{"x": 1}] * 4, dtype=object), allow_pickle=True)
    data = (root / "real_latent_code/real1.npy").read_bytes()
    (root / "real_latent_code/real1.npy").write_bytes(data[: len(data) // 2])  # truncated
    nan = np.zeros((1, 512), np.float32)
    nan[0, 3] = np.nan
    np.save(root / f"{d}/ours/ffhq/male.npy", nan)
    (root / f"{d}/ganspace/celebahq/male.npy").write_bytes(b"<html>quota exceeded</html>")
    (root / f"{d}/ganspace/celebahq/young.npy").unlink()
    (root / f"{d}/ganspace/celebahq/young.npy").symlink_to(root / "nowhere.npy")
    np.save(root / "real_latent_code/real3.npy", np.zeros((1, 512), np.float32))  # an extra code, wrong shape

    code, out, err = run_check(capsys, "--pretrain", str(root))
    assert code == 2
    assert all(line.startswith("error: ") for line in err)
    expected = {
        f"{d}/ganspace/ffhq/young.npy": "missing (ganspace young direction)",
        f"{d}/ganspace/ffhq/pose.npy": "shape (512,), expected (1, 512)",
        f"{d}/interfacegan/ffhq/male.npy": "dtype float32, expected float64",
        f"{d}/interfacegan/ffhq/smiling.npy": "sha256 ",
        "stylegan/celebahq/avg_code.npy": "not a regular file (a directory)",
        f"{d}/ours/ffhq/pose.npy": "not a regular file (a named pipe)",
        "real_latent_code/real2.npy": "holds Python objects",
        "real_latent_code/real1.npy": "truncated: ",
        f"{d}/ours/ffhq/male.npy": "1 non-finite value(s)",
        f"{d}/ganspace/celebahq/male.npy": "not a .npy array",
        f"{d}/ganspace/celebahq/young.npy": "broken symbolic link",
        "real_latent_code/real3.npy": "shape (1, 512), expected (18, 512)",
    }
    assert len(err) == len(expected), err
    for rel, message in expected.items():
        prefix = f"error: {root / rel}: {message}"
        assert [line for line in err if line.startswith(prefix)], (prefix, err)
    assert out[-1].startswith(f"{root}: 12 problem(s) in 12 file(s); 21 of 32 required data files right")
    assert sum(line.startswith("note: ") for line in out) == 8


def test_cli_exit_0_on_a_good_folder_and_2_on_no_folder(fake, capsys, monkeypatch, tmp_path):
    root, sums = fake
    monkeypatch.setattr(check, "EXPECTED_SHA256", sums)
    code, out, err = run_check(capsys, "--pretrain", str(root))
    assert code == 0 and err == []
    assert out[-1].startswith(f"{root}: ok; 32 of 32 required data files right")
    assert (
        out[0] == f"note: {root / 'stylegan/ffhq/weight.pkl'}: missing (optional: ffhq StyleGAN-1 generator)"
    )
    code, out, err = run_check(capsys, "--pretrain", str(root), "--require-weights")
    assert code == 2 and len(err) == 8
    code, out, err = run_check(capsys, "--pretrain", str(tmp_path / "absent"))
    assert code == 2 and err == [f"error: {tmp_path / 'absent'}: IALS pretrain folder missing"]
    (tmp_path / "file").write_text("x")
    code, out, err = run_check(capsys, "--pretrain", str(tmp_path / "file"))
    assert code == 2 and err == [f"error: {tmp_path / 'file'}: IALS pretrain folder not a directory"]


def _meta_layout(module_factory):
    with torch.device("meta"):
        return dict(module_factory().state_dict())


def test_weight_files_present_are_loaded_and_compared(fake, monkeypatch):
    root, sums = fake
    monkeypatch.setattr(check, "_generator_layout", lambda: _meta_layout(lambda: Generator(SMALL)))
    g = Generator(SMALL)
    (root / "stylegan/ffhq").mkdir(exist_ok=True)
    torch.save(OrderedDict(g.state_dict()), root / "stylegan/ffhq/weight.pkl")  # right
    bad = dict(g.state_dict())
    bad.pop("g_mapping.dense0.bias")
    bad["g_synthesis.torgb.weight"] = torch.zeros(3, 5, 1, 1)
    bad["extra.weight"] = torch.zeros(1)
    torch.save(bad, root / "stylegan/celebahq/weight.pkl")
    (root / "classifier/smiling").mkdir(parents=True)
    torch.save(AttributeClassifier().state_dict(), root / "classifier/smiling/weight.pkl")  # IALS layout
    (root / "classifier/young").mkdir(parents=True)
    torch.save(AttributeClassifier().half().state_dict(), root / "classifier/young/weight.pkl")
    (root / "classifier/male").mkdir(parents=True)
    torch.save(torch.nn.Linear(2, 2), root / "classifier/male/weight.pkl")  # a whole module: refused unread
    report = check_pretrain(root, expected_sha256=sums)
    lines = [str(p) for p in report.problems]
    celeb = root / "stylegan/celebahq/weight.pkl"
    assert f"{celeb}: 1 of {len(g.state_dict())} key(s) missing (first: g_mapping.dense0.bias)" in lines
    assert f"{celeb}: 1 unexpected key(s) (first: extra.weight)" in lines
    assert (
        f"{celeb}: 1 tensor(s) with the wrong shape (first: g_synthesis.torgb.weight is (3, 5, 1, 1), "
        "expected (3, 8, 1, 1))" in lines
    )
    young = root / "classifier/young/weight.pkl"
    assert any(
        line.startswith(f"{young}: ") and "wrong dtype" in line and "float16" in line for line in lines
    )
    assert any(
        line.startswith(
            f"{root / 'classifier/male/weight.pkl'}: not a readable state dict (it holds Python objects"
        )
        for line in lines
    )
    assert not [line for line in lines if "stylegan/ffhq" in line or "classifier/smiling" in line]
    assert len(lines) == 5
    assert report.optional_present == 5 and len(report.notes) == 3
    quick = check_pretrain(root, expected_sha256=sums, weights=False)
    assert quick.ok and quick.optional_present == 5


def test_check_array_and_state_dict_directly(tmp_path):
    path = tmp_path / "a.npy"
    np.save(path, np.ones((2, 3), ">f4"))
    assert check_array(path, (2, 3), "<f4") == ["dtype >f4, expected <f4"]
    np.save(path, np.ones((2, 3), "<f4"))
    assert check_array(path, (2, 3), "<f4") == []
    assert check_array(path, (2, 3), "<f4", sha256(path)) == []
    with open(path, "ab") as f:
        f.write(b"\0" * 8)
    assert check_array(path, (2, 3), "<f4")[0].startswith("trailing data: ")
    layout = {"w": torch.zeros(2, 2, device="meta")}
    sd = tmp_path / "w.pt"
    torch.save({"state_dict": {"w": torch.full((2, 2), float("inf"))}}, sd)
    assert check_state_dict(sd, layout) == ["1 tensor(s) with non-finite values (first: w)"]
    torch.save([1, 2], sd)
    assert check_state_dict(sd, layout) == ["holds a list, expected a state dict of tensors"]


def test_shared_copy_is_complete_without_weights(shared_data):
    """Opt-in: ../shared's copy holds every required data file with the recorded sums, no weights."""
    root = shared_data / "ials_pretrain"
    if not root.is_dir():
        pytest.skip("../shared/data/ials_pretrain is absent")
    report = check_pretrain(root)
    assert report.ok, [str(p) for p in report.problems]
    assert report.required_right == 32
    assert [n.path.relative_to(root).as_posix() for n in report.notes] == [w.path for w in optional_weights()]
    found = {p.relative_to(root).as_posix() for p in root.rglob("*.npy")}
    assert found == set(EXPECTED_SHA256)


def test_foreign_and_truncated_weight_files_are_named(tmp_path):
    layout = {"w": torch.zeros(2, 2, device="meta")}
    path = tmp_path / "weight.pkl"
    path.write_bytes(b"<html>quota exceeded</html>")
    assert check_state_dict(path, layout) == ["not a torch-saved file (neither a zip archive nor a pickle)"]
    torch.save({"w": torch.zeros(2, 2)}, path)
    path.write_bytes(path.read_bytes()[:100])
    (problem,) = check_state_dict(path, layout)
    assert problem.startswith("not a readable state dict (RuntimeError: PytorchStreamReader failed")
