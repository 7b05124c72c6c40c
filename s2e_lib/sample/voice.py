"""The sample corpus's voices: a source-filter speech synthesiser (Klatt-style, numpy/scipy).


- **source**: a Rosenberg glottal pulse train following an F0 contour, with jitter
  (cycle-to-cycle F0 perturbation), shimmer (amplitude perturbation), an open quotient
  (pressed to breathy voice) and pulsed aspiration noise;
- **F0 contour**: speaker base pitch x emotion ratio, pitch accents on stressed
  syllables (the emotion's range), declination, slow random drift (variability), and a
  vocal tremor for fear;
- **filter**: a cascade of four formant resonators per vowel (Peterson & Barney
  formants, scaled per speaker: male ~1.0, female ~1.17, and per emotion: spread lips
  raise formants in happy speech), cross-faded between syllables;
- **consonants**: band-passed noise for fricatives (s, sh, f), closures and bursts for
  plosives, low nasal murmurs; syllable envelopes and a syllable rate per emotion;
- **emotion correlates** (Banse & Scherer 1996; Juslin & Laukka 2003), scaled by level:
  angry = loud, raised and variable F0, fast, pressed (bright spectrum); happy = raised F0,
  wide range, raised formants; sad = low F0, narrow range, slow, soft, breathy (dark);
  fear = high, irregular F0 with tremor, fast, breathy; neutral = flat.


The same utterance id is the same "sentence" (syllable sequence) for every speaker and
emotion, as in MEAD, so a classifier has to hear the prosody and voice quality, not the
words.
"""

from __future__ import annotations

import functools
from dataclasses import asdict, dataclass

import numpy as np

from s2e_lib.errors import InputError

SR = 16_000

#: Vowel formants F1-F4 (Hz) of an adult male voice (after Peterson & Barney 1952);
#: "@" is schwa, "N" a nasal murmur used for m/n/l onsets.
VOWELS: dict[str, tuple[float, float, float, float]] = {
    "a": (730, 1090, 2440, 3400),
    "e": (530, 1840, 2480, 3500),
    "i": (270, 2290, 3010, 3700),
    "o": (570, 840, 2410, 3400),
    "u": (300, 870, 2240, 3400),
    "@": (500, 1500, 2500, 3500),
    "N": (250, 1100, 2300, 3300),
}
FORMANT_BANDWIDTHS = (80.0, 100.0, 140.0, 200.0)
ONSETS = ("", "", "s", "sh", "f", "h", "p", "t", "k", "m", "n", "l")
FRICATIVE_BANDS = {"s": (4000.0, 7500.0, 1.0), "sh": (2200.0, 5000.0, 1.0), "f": (1200.0, 7000.0, 0.45)}
BURST_BANDS = {"p": (400.0, 2000.0), "t": (3000.0, 6500.0), "k": (1500.0, 3200.0)}


@dataclass(frozen=True)
class EmotionProsody:
    """Acoustic correlates of one emotion at full intensity (level 3).

    ``f0_ratio`` multiplies the speaker's base F0; ``range_st`` is the pitch-accent
    excursion in semitones; ``drift_st`` the slow random F0 variability; ``jitter`` and
    ``shimmer`` the per-cycle perturbations (fractions); ``rate`` multiplies the syllable
    rate; ``gain_db`` the loudness; ``tilt`` > 0 brightens (pressed voice), < 0 darkens;
    ``open_quotient`` of the glottal pulse (low = pressed, high = breathy); ``breath`` the
    aspiration noise level; ``formant_scale`` multiplies formants; ``tremor_st`` a 6 Hz
    vocal tremor depth; ``final_st`` the pitch movement at the end of the utterance.
    """

    f0_ratio: float = 1.0
    range_st: float = 2.0
    drift_st: float = 0.3
    jitter: float = 0.008
    shimmer: float = 0.04
    rate: float = 1.0
    gain_db: float = 0.0
    tilt: float = 0.0
    open_quotient: float = 0.6
    breath: float = 0.03
    formant_scale: float = 1.0
    tremor_st: float = 0.0
    final_st: float = -2.0


#: Per-emotion correlates at level 3; lower levels interpolate from neutral.
PROSODY: dict[str, EmotionProsody] = {
    "neutral": EmotionProsody(),
    "angry": EmotionProsody(
        f0_ratio=1.28,
        range_st=6.0,
        drift_st=1.0,
        jitter=0.018,
        shimmer=0.08,
        rate=1.22,
        gain_db=7.0,
        tilt=0.85,
        open_quotient=0.42,
        breath=0.02,
        formant_scale=1.05,
        final_st=-4.0,
    ),
    "happy": EmotionProsody(
        f0_ratio=1.32,
        range_st=8.0,
        drift_st=0.8,
        jitter=0.010,
        shimmer=0.04,
        rate=1.1,
        gain_db=3.0,
        tilt=0.3,
        open_quotient=0.55,
        breath=0.04,
        formant_scale=1.09,
        final_st=3.0,
    ),
    "sad": EmotionProsody(
        f0_ratio=0.86,
        range_st=0.8,
        drift_st=0.2,
        jitter=0.014,
        shimmer=0.06,
        rate=0.72,
        gain_db=-7.0,
        tilt=-0.85,
        open_quotient=0.78,
        breath=0.16,
        formant_scale=0.96,
        final_st=-3.0,
    ),
    "fear": EmotionProsody(
        f0_ratio=1.45,
        range_st=4.0,
        drift_st=1.6,
        jitter=0.045,
        shimmer=0.10,
        rate=1.28,
        gain_db=0.0,
        tilt=0.1,
        open_quotient=0.68,
        breath=0.12,
        formant_scale=1.03,
        tremor_st=0.9,
        final_st=2.0,
    ),
}

#: How far each level moves from neutral towards the level-3 correlates.
LEVEL_STRENGTH: dict[int, float] = {1: 0.45, 2: 0.72, 3: 1.0}


@dataclass(frozen=True)
class Speaker:
    """A synthetic voice: id (MEAD style), gender, base F0 (Hz), formant scale, habits."""

    speaker_id: str
    gender: str
    f0: float
    formant_scale: float
    rate: float = 1.0
    expressiveness: float = 1.0
    open_quotient: float = 0.0
    breath: float = 0.0
    face_shift: tuple[float, float] = (0.0, 0.0)
    face_zoom: float = 1.0
    face_tint: tuple[float, float, float] = (1.0, 1.0, 1.0)


def make_speakers(n_speakers: int = 6, seed: int = 0) -> list[Speaker]:
    """``n_speakers`` synthetic voices alternating male (``M0xx``) and female (``W0xx``)."""
    rng = np.random.default_rng([seed, 1])
    speakers = []
    n_m = n_w = 0
    for i in range(n_speakers):
        male = i % 2 == 0
        if male:
            n_m += 1
            sid, f0, fs = f"M{n_m:03d}", rng.uniform(95, 140), rng.uniform(0.94, 1.05)
        else:
            n_w += 1
            sid, f0, fs = f"W{n_w:03d}", rng.uniform(180, 240), rng.uniform(1.12, 1.22)
        speakers.append(
            Speaker(
                speaker_id=sid,
                gender="M" if male else "F",
                f0=float(f0),
                formant_scale=float(fs),
                rate=float(rng.uniform(0.9, 1.1)),
                expressiveness=float(rng.uniform(0.85, 1.15)),
                open_quotient=float(rng.uniform(-0.05, 0.05)),
                breath=float(rng.uniform(0.0, 0.03)),
                face_shift=(float(rng.uniform(-12, 12)), float(rng.uniform(-8, 8))),
                face_zoom=float(rng.uniform(0.94, 1.06)),
                face_tint=tuple(float(v) for v in rng.uniform(0.9, 1.1, size=3)),
            )
        )
    return speakers


def prosody_for(emotion: str, level: int, speaker: Speaker | None = None) -> EmotionProsody:
    """The correlates of ``emotion`` at ``level`` for ``speaker`` (interpolated from neutral)."""
    if emotion not in PROSODY:
        raise InputError(
            f"the sample synthesiser has no prosody for {emotion!r}; expected one of {', '.join(PROSODY)}"
        )
    neutral, target = asdict(PROSODY["neutral"]), asdict(PROSODY[emotion])
    s = LEVEL_STRENGTH.get(int(level), 1.0) if emotion != "neutral" else 0.0
    if speaker is not None:
        s *= speaker.expressiveness
    values = {k: neutral[k] + s * (target[k] - neutral[k]) for k in neutral}
    if speaker is not None:
        values["open_quotient"] += speaker.open_quotient
        values["breath"] += speaker.breath
        values["rate"] *= speaker.rate
    return EmotionProsody(**values)


def utterance_text(utterance: int, seed: int = 0) -> list[tuple[str, str, bool]]:
    """The syllables (onset, vowel, stressed) of utterance ``utterance``: same for every speaker."""
    rng = np.random.default_rng([seed, 2, utterance])
    n = int(rng.integers(6, 10))
    vowels = "aeiou@"
    syllables = []
    for i in range(n):
        onset = ONSETS[int(rng.integers(len(ONSETS)))]
        vowel = vowels[int(rng.integers(len(vowels)))]
        stressed = bool(i == 0 or rng.random() < 0.3)
        syllables.append((onset, vowel, stressed))
    return syllables


# --- the synthesiser -----------------------------------------------------------------


def synthesize(
    speaker: Speaker,
    emotion: str,
    level: int,
    utterance: int,
    seed: int = 0,
    sr: int = SR,
) -> np.ndarray:
    """Synthesise one take: ``speaker`` saying ``utterance`` with ``emotion`` at ``level``.

    Deterministic in all its arguments. Returns float32 mono in [-1, 1] at ``sr``.
    """
    from scipy.ndimage import gaussian_filter1d
    from scipy.signal import sosfilt

    emo_index = list(PROSODY).index(emotion) if emotion in PROSODY else 99
    rng = np.random.default_rng(
        [seed, 3, int(speaker.speaker_id[1:]), ord(speaker.speaker_id[0]), emo_index, level, utterance]
    )
    p = prosody_for(emotion, level, speaker)
    syllables = utterance_text(utterance, seed)

    # timeline, built on a 1 kHz control grid and interpolated to audio rate ------------
    lead, tail = rng.uniform(0.12, 0.25), rng.uniform(0.15, 0.3)
    base_syll = 0.21 / p.rate
    durs = np.array([base_syll * rng.uniform(0.8, 1.2) * (1.25 if st else 1.0) for _, _, st in syllables])
    starts = lead + np.concatenate([[0.0], np.cumsum(durs)[:-1]])
    total = lead + durs.sum() + tail
    n = int(round(total * sr))
    t = np.arange(n) / sr
    cr = 1000  # control rate (Hz)
    nc = int(np.ceil(total * cr)) + 1
    tc = np.arange(nc) / cr

    vowel_names = list(VOWELS)
    weights = np.zeros((len(vowel_names), nc))
    voicing = np.zeros(nc)
    frication = {k: np.zeros(nc) for k in FRICATIVE_BANDS}
    bursts = {k: np.zeros(n) for k in BURST_BANDS}
    aspiration = np.zeros(nc)
    accents = np.zeros(len(syllables))

    def span(a, b, rate=cr):
        return slice(int(round(a * rate)), int(round(b * rate)))

    for i, ((onset, vowel, stressed), start, dur) in enumerate(zip(syllables, starts, durs, strict=True)):
        end = start + dur
        onset_dur = 0.0
        if onset in FRICATIVE_BANDS:
            onset_dur = dur * rng.uniform(0.3, 0.4)
            frication[onset][span(start, start + onset_dur)] = 1.0
        elif onset in BURST_BANDS:
            onset_dur = dur * rng.uniform(0.22, 0.3)
            bursts[onset][span(start + onset_dur - 0.012, start + onset_dur, sr)] = 1.0
        elif onset == "h":
            onset_dur = dur * 0.25
            aspiration[span(start, start + onset_dur)] = 1.0
            weights[vowel_names.index(vowel), span(start, start + onset_dur)] = 1.0
        elif onset in ("m", "n", "l"):
            onset_dur = dur * 0.25
            voicing[span(start, start + onset_dur)] = 0.45
            weights[vowel_names.index("N"), span(start, start + onset_dur)] = 1.0
        v = span(start + onset_dur, end - 0.015)
        voicing[v] = 1.0 if stressed else 0.8
        weights[vowel_names.index(vowel), v] = 1.0
        accents[i] = p.range_st * (rng.uniform(0.6, 1.0) if stressed else rng.uniform(-0.3, 0.3))

    def up(x):  # control grid -> audio rate
        return np.interp(t, tc, x)

    # smooth transitions: ~12 ms for envelopes (sharper when pressed), ~20 ms formant cross-fades
    voicing = up(gaussian_filter1d(voicing, 0.012 * cr / (1.0 + p.tilt * 0.3)))
    weights = gaussian_filter1d(weights, 0.02 * cr, axis=1)
    weights /= np.maximum(weights.sum(axis=0, keepdims=True), 1e-6)
    aspiration = up(gaussian_filter1d(aspiration, 0.01 * cr))
    frication = {k: up(gaussian_filter1d(v, 0.01 * cr)) for k, v in frication.items() if v.any()}

    # F0 contour (semitones re the emotion's mean) -----------------------------------------
    centers = starts + durs / 2
    progress = (tc - lead) / max(durs.sum(), 1e-3)
    st = np.interp(tc, centers, accents)
    st += -1.5 * np.clip(progress, 0, 1)  # declination
    st += p.final_st * np.clip((progress - 0.8) / 0.2, 0, 1)
    drift = gaussian_filter1d(rng.standard_normal(nc), 0.06 * cr)
    st += p.drift_st * drift / (drift.std() + 1e-9)
    st = gaussian_filter1d(st, 0.02 * cr)
    st = up(st) + p.tremor_st * np.sin(2 * np.pi * rng.uniform(5.0, 7.0) * t + rng.uniform(0, 2 * np.pi))
    f0 = speaker.f0 * p.f0_ratio * 2.0 ** (st / 12.0)
    # jitter: an F0 perturbation redrawn every ~5 ms
    jit = np.repeat(rng.standard_normal(n // 80 + 1), 80)[:n]
    f0 = f0 * (1.0 + p.jitter * jit)

    # glottal source: Rosenberg pulses, shimmer, pulsed aspiration ------------------------
    phase = np.cumsum(f0 / sr)
    cycle = phase.astype(np.int64)
    frac = phase - cycle
    oq = float(np.clip(p.open_quotient, 0.3, 0.9))
    tp, tn = 0.62 * oq, 0.38 * oq
    flow = np.where(
        frac < tp,
        0.5 * (1 - np.cos(np.pi * frac / tp)),
        np.where(frac < tp + tn, np.cos(0.5 * np.pi * (frac - tp) / tn), 0.0),
    )
    shimmer = 1.0 + p.shimmer * rng.standard_normal(cycle.max() + 2)
    source = np.diff(flow, prepend=0.0) * shimmer[cycle] * sr / (speaker.f0 * 4.0)
    noise = rng.standard_normal(n)
    breath = p.breath * noise * (0.4 + 0.6 * flow)
    excitation = (source + breath) * voicing + 0.5 * noise * aspiration

    # spectral tilt: pressed voice boosts highs, soft voice rolls them off
    if p.tilt > 0:
        excitation = excitation + p.tilt * 0.9 * np.diff(excitation, prepend=0.0) * 3.0
    elif p.tilt < 0:
        a = -p.tilt * 0.85
        excitation = sosfilt(np.array([[1 - a, 0, 0, 1, -a, 0]]), excitation)

    # vocal tract: a formant cascade per vowel, cross-faded -------------------------------
    speech = np.zeros(n)
    scale = speaker.formant_scale * p.formant_scale
    warmup = int(0.03 * sr)  # resonators settle before the vowel's weight rises
    for k, name in enumerate(vowel_names):
        if not weights[k].any():
            continue
        w = up(weights[k])
        formants = np.array(VOWELS[name]) * (speaker.formant_scale if name == "N" else scale)
        sos = formant_sos(formants, FORMANT_BANDWIDTHS, sr)
        for a, b in _active_spans(w > 1e-4):  # filter only where this vowel is heard
            a0 = max(0, a - warmup)
            speech[a:b] += w[a:b] * sosfilt(sos, excitation[a0:b])[a - a0 :]

    # consonant noises
    for name, (lo, hi, amp) in FRICATIVE_BANDS.items():
        if name in frication:
            band = sosfilt(_butter(4, (lo, min(hi, 0.45 * sr)), "band", sr), noise)
            speech += 0.25 * amp * band * frication[name]
    for name, (lo, hi) in BURST_BANDS.items():
        if bursts[name].any():
            band = sosfilt(_butter(2, (lo, hi), "band", sr), noise)
            speech += 0.6 * band * np.convolve(bursts[name], np.hanning(97) / 24.0, mode="same")

    speech = sosfilt(_butter(2, 70.0, "high", sr), speech)
    ref = np.sqrt(np.mean(speech[voicing > 0.5] ** 2)) if (voicing > 0.5).any() else np.abs(speech).max()
    speech = speech / (ref + 1e-9) * 0.07 * 10 ** (p.gain_db / 20.0)
    speech += 10 ** (-60 / 20) * rng.standard_normal(n)  # recording noise floor
    return np.clip(speech, -0.99, 0.99).astype(np.float32)


@functools.lru_cache(maxsize=64)
def _butter(order: int, cutoff, btype: str, sr: int) -> np.ndarray:
    from scipy.signal import butter

    return butter(order, cutoff, btype=btype, fs=sr, output="sos")


def _active_spans(mask: np.ndarray) -> list[tuple[int, int]]:
    """(start, stop) of each run of True in ``mask``."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], mask.astype(np.int8), [0]])))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True))


def formant_sos(formants, bandwidths, sr: int = SR) -> np.ndarray:
    """Second-order sections of a cascade of unit-DC-gain formant resonators."""
    rows = []
    for f, bw in zip(formants, bandwidths, strict=True):
        f = min(float(f), 0.47 * sr)
        r = np.exp(-np.pi * bw / sr)
        c = -2 * r * np.cos(2 * np.pi * f / sr)
        gain = 1 + c + r * r
        rows.append([gain, 0.0, 0.0, 1.0, c, r * r])
    return np.array(rows)
