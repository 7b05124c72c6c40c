"""Probabilities that mean what they say: temperature scaling, ECE, the uncertain flag."""

from __future__ import annotations

import json

import numpy as np
import pytest

from s2e_lib.ser import calibration as cal


def _draw(n: int, temperature: float, seed: int = 0):
    rng = np.random.default_rng(seed)
    logits = rng.normal(0, 3, (n, 5))
    p = cal.softmax(logits, temperature)
    targets = np.array([rng.choice(5, p=row) for row in p])
    return logits, targets


def test_the_fitted_temperature_is_the_one_that_made_the_labels():
    logits, targets = _draw(4000, 2.5)
    assert cal.fit_temperature(logits, targets) == pytest.approx(2.5, rel=0.12)
    logits, targets = _draw(4000, 0.6, seed=1)
    assert cal.fit_temperature(logits, targets) == pytest.approx(0.6, rel=0.12)


def test_calibration_is_monotone_and_keeps_every_label():
    logits, _ = _draw(200, 1.0)
    raw = cal.softmax(logits)
    previous_top = raw.max(1)
    for temperature in (1.5, 2.0, 4.0):
        p = cal.softmax(logits, temperature)
        assert np.array_equal(p.argmax(1), raw.argmax(1))
        assert np.array_equal(np.argsort(p, 1), np.argsort(raw, 1))  # every class keeps its rank
        assert (p.max(1) <= previous_top + 1e-12).all()  # a higher temperature is never surer
        previous_top = p.max(1)


def test_ece_falls_when_an_overconfident_model_is_calibrated():
    logits, targets = _draw(3000, 3.0, seed=2)  # the model's logits are 3x too sharp
    before = cal.expected_calibration_error(cal.softmax(logits), targets)
    temperature = cal.fit_temperature(logits, targets)
    after = cal.expected_calibration_error(cal.softmax(logits, temperature), targets)
    assert before > 0.1 and after < 0.04 and after < before / 3
    result = cal.loco_calibration(cal.softmax(logits), targets, np.array(["a", "b"] * 1500))
    assert (
        set(result["ece_after"]) == {"a", "b", "all"}
        and result["ece_after"]["all"] < result["ece_before"]["all"]
    )


def test_is_uncertain():
    assert cal.is_uncertain({"angry": 0.40, "sad": 0.35, "happy": 0.25})
    assert not cal.is_uncertain({"angry": 0.80, "sad": 0.20})


def test_a_calibrated_checkpoint_divides_its_logits_and_the_cli_writes_one(tmp_path):
    from _ser_data import synth_clip

    from s2e_lib.cli import main
    from s2e_lib.ser import default_model_path, load_model

    report = tmp_path / "report.json"
    report.write_text(
        json.dumps(
            {"calibration": {"temperature": 2.0, "ece_before": {"all": 0.2}, "ece_after": {"all": 0.05}}}
        )
    )
    out = tmp_path / "calibrated.pt"
    assert (
        main(["ser", "calibrate", str(default_model_path()), "--report", str(report), "--out", str(out)]) == 0
    )
    raw, calibrated = load_model(), load_model(out)  # the shipped model has its own temperature
    assert calibrated.temperature == 2.0 and raw.temperature > 0
    clip = synth_clip("angry", 120.0, np.random.default_rng(0))
    p_raw = np.array(list(raw.predict_proba(clip).values()))
    p_cal = np.array(list(calibrated.predict_proba(clip).values()))
    # both divide the ensemble's log-probabilities: log p_raw = log p / T_raw + const
    expected = cal.softmax(np.log(np.maximum(p_raw, 1e-12)) * raw.temperature, 2.0)
    assert np.abs(p_cal - expected).max() < 1e-4 and p_cal.argmax() == p_raw.argmax()
    # never overwrites; a report without a calibration is one line
    assert (
        main(["ser", "calibrate", str(default_model_path()), "--report", str(report), "--out", str(out)]) == 2
    )
    empty = tmp_path / "empty.json"
    empty.write_text("{}")
    assert (
        main(
            [
                "ser",
                "calibrate",
                str(default_model_path()),
                "--report",
                str(empty),
                "--out",
                str(tmp_path / "x.pt"),
            ]
        )
        == 2
    )
    assert not (tmp_path / "x.pt").exists()
