"""How numbers print in the report: one place, so tables, figures and text agree."""

from __future__ import annotations

import math

TEST_ABBREVIATIONS = {
    "Mann-Whitney U": "MW",
    "Kruskal-Wallis": "KW",
    "Fisher's exact": "F",
    "Pearson chi-square": "χ²",
    "log-rank": "LR",
    "k-group log-rank": "LR",
}


def missing(x) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x))


def number(x) -> str:
    """Clinical-table precision: 3 significant digits for small values, 1 decimal from 100,
    none from 10,000 (thousands separated), trailing zeros dropped."""
    if missing(x):
        return "–"
    x = float(x)
    if x == 0:
        return "0"
    if abs(x) >= 10_000:
        return f"{x:,.0f}"
    if abs(x) >= 100:
        text = f"{x:,.1f}"
    else:
        digits = max(0, 2 - int(math.floor(math.log10(abs(x)))))
        text = f"{x:.{digits}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def percent(x) -> str:
    return "–" if missing(x) else f"{x:.1f}".removesuffix(".0")


def p_value(p) -> str:
    if missing(p):
        return ""
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def interval(lower, upper, open_end: str = "–") -> str:
    """'a–b'; a limit that was not reached (e.g. a KM median's upper limit) prints `open_end`."""
    return f"{number(lower) if not missing(lower) else open_end}–{number(upper) if not missing(upper) else open_end}"


def survival_percent(s, lower=None, upper=None) -> str:
    """S(t) as a percentage with its CI, e.g. '65.8 % (43.1–81.2)'."""
    if missing(s):
        return "not estimable"
    text = f"{100 * s:.1f} %"
    if not (missing(lower) or missing(upper)):
        text += f" ({100 * lower:.1f}–{100 * upper:.1f})"
    return text
