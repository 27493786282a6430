"""The root page's HTML, from the same response models the JSON routes return.

Every number that /stats/ also returns is marked `data-stat="<path in /stats/>"` with the exact
value in `data-value`, next to its rounded text, so the page can be checked against /stats/.
All text from the database is escaped.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

from api.models import MODELS, History, Recommendation, Stats
from api.overview.charts import Series, bar_chart, line_chart, percent
from api.overview.queries import TrendDay

LABELS = {"top_ctr": "TopCTR", "top_product": "TopProduct"}
COLORS = {"top_ctr": "#2563eb", "top_product": "#ea580c", "agreement": "#16a34a"}
RANDOM_COLORS = {"top_ctr": "#93c5fd", "top_product": "#fdba74"}
EVALUATION_CAPTION = (
    "Next-day click hit rate: share of the next day's clicks on listed products, "
    "against a random list of as many products (per list date)"
)

STYLE = """
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1f2937;
background:#f8fafc}
header{background:#0f172a;color:#f8fafc;padding:14px 28px;display:flex;align-items:baseline;
gap:24px;flex-wrap:wrap}
header h1{font-size:20px;margin:0}header a{color:#93c5fd;margin-right:14px}
main{padding:20px 28px;max-width:1300px}
section{background:#fff;border:1px solid #e2e8f0;border-radius:8px;padding:14px 18px;
margin-bottom:18px}
h2{font-size:17px;margin:0 0 10px}
.cards{display:flex;flex-wrap:wrap;gap:14px}
.card{border:1px solid #e2e8f0;border-radius:8px;padding:10px 14px;min-width:170px}
.card .big{font-size:24px;font-weight:600}.card .sub{color:#64748b;font-size:13px}
.charts{display:flex;flex-wrap:wrap;gap:18px}
figure{margin:0;flex:1 1 520px;max-width:640px}figcaption{font-weight:600;margin-bottom:4px}
svg.chart{width:100%;height:auto}
.legend span{display:inline-block;margin-right:14px;font-size:13px}
.legend i{display:inline-block;width:12px;height:12px;border-radius:2px;margin-right:5px;
vertical-align:-1px}
svg.chart .grid{stroke:#e2e8f0}svg.chart .tick,svg.chart .no-data{font-size:11px;fill:#64748b}
table{border-collapse:collapse;font-size:14px}
th,td{padding:4px 10px;border-bottom:1px solid #e2e8f0;text-align:left}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
.lists{display:flex;flex-wrap:wrap;gap:24px;align-items:flex-start}
.muted{color:#64748b}.error{color:#b91c1c;font-weight:600}
input[type=text]{font-size:15px;padding:5px 8px;width:300px}
button{font-size:15px;padding:5px 14px}
"""


@dataclass(frozen=True)
class Lookup:
    """What the form asked for, and the /history/ answer (or why there is none)."""

    advertiser_id: str
    history: History | None = None
    error: str | None = None


def _stat(path: str, value: object, text: str) -> str:
    return f'<span data-stat="{path}" data-value="{escape(str(value))}">{escape(text)}</span>'


def _age(seconds: float) -> str:
    minutes = int(seconds // 60)
    if minutes < 1:
        return f"{seconds:.0f} s ago"
    if minutes < 120:
        return f"{minutes} min ago"
    hours = minutes // 60
    return f"{hours} h ago" if hours < 48 else f"{hours // 24} days ago"


def _card(title: str, big: str, sub: str = "") -> str:
    return (
        f'<div class="card"><div class="sub">{title}</div><div class="big">{big}</div>'
        f'<div class="sub">{sub}</div></div>'
    )


def _coverage_card(stats: Stats, model: str) -> str:
    c = next(c for c in stats.coverage if c.model == model)
    path = f"coverage.{model}"
    with_lists = str(c.advertisers_with_recommendations)
    return _card(
        f"{LABELS[model]} coverage",
        _stat(f"{path}.coverage", c.coverage, percent(c.coverage)),
        f"{_stat(f'{path}.advertisers_with_recommendations', with_lists, with_lists)} of "
        f"{_stat(f'{path}.active_advertisers', c.active_advertisers, str(c.active_advertisers))}"
        f" active advertisers, "
        f"{_stat(f'{path}.avg_list_length', c.avg_list_length, f'{c.avg_list_length:.1f}')}"
        " products per list",
    )


def _cards(stats: Stats) -> str:
    a, f = stats.agreement, stats.freshness
    overlap = "n/a" if a.mean_overlap is None else f"{a.mean_overlap:.1f}"
    published = f"{f.published_at:%Y-%m-%d %H:%M:%S} UTC"
    median = _stat("agreement.median_jaccard", a.median_jaccard, percent(a.median_jaccard))
    cards = [
        _card(
            "advertisers with recommendations",
            _stat("advertisers", stats.advertisers, str(stats.advertisers)),
        ),
        *(_coverage_card(stats, c.model) for c in stats.coverage),
        _card(
            "agreement (mean Jaccard of the two lists)",
            _stat("agreement.mean_jaccard", a.mean_jaccard, percent(a.mean_jaccard)),
            f"median {median}"
            f", {_stat('agreement.mean_overlap', a.mean_overlap, overlap)} shared products, over "
            f"{_stat('agreement.advertisers', a.advertisers, str(a.advertisers))} advertisers",
        ),
        _card(
            "freshness",
            _stat("freshness.age_seconds", f.age_seconds, _age(f.age_seconds)),
            f"published {_stat('freshness.published_at', f.published_at.isoformat(), published)}"
            f"<br>run {_stat('freshness.run_id', f.run_id, f.run_id)}",
        ),
    ]
    return f'<div class="cards">{"".join(cards)}</div>'


def _legend(series: list[Series]) -> str:
    chips = "".join(
        f'<span><i style="background:{s.color}"></i>{escape(s.label)}</span>' for s in series
    )
    return f'<div class="legend">{chips}</div>'


def _figure(caption: str, series: list[Series], svg: str) -> str:
    return f"<figure><figcaption>{escape(caption)}</figcaption>{_legend(series)}{svg}</figure>"


def evaluation_series(trend: list[TrendDay]) -> list[Series]:
    """Each model's next-day click hit rate and its random reference (the CLI draws them too)."""
    series = []
    for m in MODELS:
        series.append(Series(m, LABELS[m], COLORS[m], tuple(t.hit_rate.get(m) for t in trend)))
        series.append(
            Series(
                f"random_{m}",
                f"random, {LABELS[m]}'s advertisers",
                RANDOM_COLORS[m],
                tuple(t.random_hit_rate.get(m) for t in trend),
            )
        )
    return series


def evaluation_chart(trend: list[TrendDay]) -> str:
    return line_chart(
        "chart-evaluation",
        "next-day click hit rate per model against random",
        [t.date for t in trend],
        evaluation_series(trend),
    )


def _charts(trend: list[TrendDay]) -> str:
    days = [t.date for t in trend]
    coverage = [
        Series(m, LABELS[m], COLORS[m], tuple(t.coverage.get(m) for t in trend)) for m in MODELS
    ]
    agreement = [
        Series(
            "agreement", "mean Jaccard", COLORS["agreement"], tuple(t.mean_jaccard for t in trend)
        )
    ]
    turnover = [
        Series(m, LABELS[m], COLORS[m], tuple(t.turnover.get(m) for t in trend)) for m in MODELS
    ]
    return (
        '<div class="charts">'
        + _figure(
            "Coverage: share of active advertisers with a list",
            coverage,
            line_chart("chart-coverage", "coverage per model", days, coverage),
        )
        + _figure(
            "Agreement: mean Jaccard between the TopCTR and TopProduct lists",
            agreement,
            line_chart("chart-agreement", "mean Jaccard between the models", days, agreement),
        )
        + _figure(
            "Day-over-day change: 1 - Jaccard with the advertiser's previous list (mean)",
            turnover,
            bar_chart("chart-change", "day-over-day change per model", days, turnover),
        )
        + _figure(EVALUATION_CAPTION, evaluation_series(trend), evaluation_chart(trend))
        + "</div>"
    )


def _advertiser_link(advertiser_id: str) -> str:
    a = escape(advertiser_id)
    return f'<a href="/?advertiser={a}#lookup">{a}</a>'


def _most_changed(stats: Stats) -> str:
    if not stats.most_changed:
        return '<p class="muted">No list has a previous one to compare with yet.</p>'
    rows = "".join(
        f'<tr data-advertiser="{escape(c.advertiser_id)}" data-model="{c.model}">'
        f"<td>{_advertiser_link(c.advertiser_id)}</td><td>{LABELS[c.model]}</td>"
        f"<td>{c.previous_date.isoformat()}</td><td class=num>{c.kept}</td>"
        f"<td class=num>{c.added}</td><td class=num>{c.removed}</td>"
        f'<td class=num data-value="{c.jaccard_with_previous!r}">'
        f"{percent(c.jaccard_with_previous)}</td></tr>"
        for c in stats.most_changed
    )
    return (
        '<table id="most-changed"><thead><tr><th>advertiser</th><th>model</th>'
        "<th>previous list</th><th class=num>kept</th><th class=num>added</th>"
        "<th class=num>removed</th><th class=num>Jaccard with previous</th></tr></thead>"
        f"<tbody>{rows}</tbody></table>"
    )


def _evidence(model: str, item: Recommendation) -> str:
    if model == "top_ctr":
        return f"{_count(item.clicks, 'click')} / {_count(item.impressions, 'impression')}"
    return _count(item.views, "view")


def _count(n: int | None, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _score(model: str, score: float) -> str:
    return percent(score, 2) if model == "top_ctr" else f"{score:g}"


def _list_table(model: str, items: list[Recommendation]) -> str:
    if not items:
        body = '<tr><td colspan="4" class="muted">no list on this date</td></tr>'
    else:
        body = "".join(
            f'<tr><td class=num>{r.rank}</td><td class="product">{escape(r.product_id)}</td>'
            f"<td class=num>{_score(model, r.score)}</td><td>{_evidence(model, r)}</td></tr>"
            for r in items
        )
    score = "CTR" if model == "top_ctr" else "views"
    return (
        f'<div><h3>{LABELS[model]}</h3><table class="list" data-model="{model}">'
        f"<thead><tr><th class=num>rank</th><th>product</th><th class=num>{score}</th>"
        f"<th>evidence</th></tr></thead><tbody>{body}</tbody></table></div>"
    )


def _history_table(history: History) -> str:
    rows = []
    for i, day in enumerate(history.history):
        older = history.history[i + 1] if i + 1 < len(history.history) else None
        cells = []
        for model in MODELS:
            products = {r.product_id for r in getattr(day, model)}
            if older is None:
                change = ""
            else:
                before = {r.product_id for r in getattr(older, model)}
                change = f" (+{len(products - before)} / -{len(before - products)})"
            cells.append(f"<td class=num>{len(products)}{change}</td>")
        shared = {r.product_id for r in day.top_ctr} & {r.product_id for r in day.top_product}
        rows.append(
            f'<tr data-date="{day.date.isoformat()}"><td>{day.date.isoformat()}</td>'
            f"{''.join(cells)}<td class=num>{len(shared)}</td></tr>"
        )
    return (
        '<table id="lookup-history"><thead><tr><th>published date</th>'
        "<th class=num>TopCTR products (+new / -dropped)</th>"
        "<th class=num>TopProduct products (+new / -dropped)</th>"
        "<th class=num>in both lists</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def _lookup(lookup: Lookup | None, suggestions: list[str]) -> str:
    value = escape(lookup.advertiser_id) if lookup else ""
    options = "".join(f'<option value="{escape(s)}">' for s in suggestions)
    form = (
        '<form id="lookup-form" method="get" action="/#lookup">'
        '<label for="advertiser">advertiser id </label>'
        f'<input type="text" id="advertiser" name="advertiser" value="{value}" '
        'list="advertisers" maxlength="128" required autocomplete="off">'
        f'<datalist id="advertisers">{options}</datalist> <button type="submit">Look up</button>'
        "</form>"
    )
    if lookup is None:
        return form
    if lookup.history is None:
        return f'{form}<p class="error" id="lookup-error">{escape(lookup.error or "")}</p>'
    latest = lookup.history.history[0]
    return (
        f'{form}<div id="lookup-result" data-advertiser="{value}">'
        f"<h3>{value}: lists of {latest.date.isoformat()}</h3>"
        f'<div class="lists">{_list_table("top_ctr", latest.top_ctr)}'
        f"{_list_table('top_product', latest.top_product)}</div>"
        f"<h3>History over the last {len(lookup.history.history)} published dates</h3>"
        f"{_history_table(lookup.history)}</div>"
    )


def _document(title: str, body: str) -> str:
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<link rel="icon" href="data:,">'
        f"<title>{escape(title)}</title><style>{STYLE}</style></head><body>"
        '<header><h1>adtech-recs</h1><nav><a href="/docs">API docs</a><a href="/redoc">ReDoc</a>'
        '<a href="/stats/">/stats/ (JSON)</a><a href="/metrics">metrics</a></nav></header>'
        f"<main>{body}</main></body></html>"
    )


def render(
    stats: Stats,
    trend: list[TrendDay],
    lookup: Lookup | None,
    suggestions: list[str],
    published_dates: int,
) -> str:
    """The whole page for the latest published date."""
    latest = stats.date.isoformat()
    shown = f"the last {len(trend)} published dates" if len(trend) > 1 else "the one published date"
    body = (
        f'<section><h2>Latest published date: <time id="latest-date" datetime="{latest}">'
        f'{latest}</time></h2><p class="muted">{published_dates} dates published; the same '
        'numbers as <a href="/stats/">/stats/</a>.</p>'
        f"{_cards(stats)}</section>"
        f"<section><h2>Over {shown}</h2>{_charts(trend)}</section>"
        f"<section><h2>Advertisers whose lists changed most since their previous list</h2>"
        f"{_most_changed(stats)}</section>"
        f'<section id="lookup"><h2>Look up an advertiser</h2>{_lookup(lookup, suggestions)}'
        "</section>"
    )
    return _document(f"adtech-recs: {latest}", body)


def render_unavailable(message: str) -> str:
    """Shown instead of the page when nothing can be served yet (same cause as the JSON 503)."""
    body = (
        f'<section><h2>Nothing to show yet</h2><p class="error" id="unavailable">'
        f"{escape(message)}</p><p>The page reloads the data on every visit.</p></section>"
    )
    return _document("adtech-recs", body)
