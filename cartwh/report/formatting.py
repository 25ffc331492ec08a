"""How numbers print in the report: one place, so tables, figures and text agree."""

from __future__ import annotations

import math

from cartwh.stats.conventions import METHOD_NOTES, QUANTILE_CI_METHODS, QUANTILE_CONVENTIONS

TEST_ABBREVIATIONS = {
    "Mann-Whitney U": "MW",
    "Kruskal-Wallis": "KW",
    "Fisher's exact": "F",
    "Pearson chi-square": "χ²",
    "log-rank": "LR",
    "k-group log-rank": "LR",
    "Gray's test": "Gray",
}


TIME_ORIGINS = {"BCA": "absolute B-cell aplasia"}  # every other endpoint counts from the infusion


def months_after(endpoint: str) -> str:
    """The time axis of an endpoint: 'Months after infusion', or after its own origin."""
    return f"Months after {TIME_ORIGINS.get(endpoint, 'infusion')}"


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
    """S(t) as a percentage with its CI, e.g. '65.8 % (43.1–81.2)'. S = 1 means nobody had
    the event by then: its interval is degenerate, so it reads '100 % (no events)'."""
    if missing(s):
        return "not estimable"
    if s >= 1:
        return "100 % (no events)"
    text = f"{percent(100 * s)} %"
    if not (missing(lower) or missing(upper)):
        text += f" ({percent(100 * lower)}–{percent(100 * upper)})"
    return text


# Short names of the methods behind regression rows (cartwh.stats.conventions.REGRESSION_METHODS says
# each in full in the table's footnote).
METHOD_LABELS = {
    "cox": "Cox (Efron), Wald",
    "firth": "Firth (coxphf)",
    "cause_specific_cox": "cause-specific Cox",
    "fine_gray": "Fine–Gray (crr)",
}


def chi_square_test(name: str, statistic, df, p) -> str:
    """'LR 25.4 (1 df), p < 0.001'; empty when the test was not computed."""
    if missing(statistic):
        return ""
    p_text = p_value(p)
    return f"{name} {number(statistic)} ({int(df)} df), p {p_text if p_text.startswith('<') else '= ' + p_text}"


def incidence_percent(f, lower=None, upper=None) -> str:
    """A cumulative incidence as a percentage with its CI, e.g. '34.2 % (15.8–53.6)'; 0 means no
    event of the cause by then, whose interval is degenerate: '0 % (no events)'."""
    if missing(f):
        return "not estimable"
    if f <= 0:
        return "0 % (no events)"
    return survival_percent(f, lower, upper)


def median_with_ci(median, lower, upper, ci_method: str | None = "band") -> str:
    """A KM median with its CI. A band limit that was never reached prints 'NR'; a
    symmetric (median ± 1.96 SE) interval whose SE is not estimable prints 'CI n.e.'."""
    if missing(median):
        return "not reached"
    if ci_method != "band" and missing(lower) and missing(upper):
        return f"{number(median)} (CI n.e.)"
    return f"{number(median)} ({interval(lower, upper, open_end='NR' if ci_method == 'band' else 'n.e.')})"


def km_mean_with_ci(mean, lower, upper, events) -> str:
    """The KM mean with its CI; with no events it is only the longest follow-up: say so."""
    if not missing(events) and int(events) == 0:
        return "no events"
    return f"{number(mean)} ({interval(lower, upper)})"


def method_note(test: str, method: str | None) -> str:
    """How a test's p was computed, in words (a fallback the method names is kept)."""
    base, _, extra = (method or "").partition(" ")
    return " ".join(x for x in (METHOD_NOTES.get((test, base), base or "method not recorded"), extra) if x)


def km_median_note(convention: str, ci_method: str) -> str:
    return (
        f"Kaplan–Meier median: {QUANTILE_CONVENTIONS.get(convention, convention)}; "
        f"95 % CI: {QUANTILE_CI_METHODS.get(ci_method, ci_method)}"
    )
