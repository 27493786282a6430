"""The synthetic world behind the generated logs: advertisers, their products, how popular each
product is, how clickable, and which advertisers are active on each day."""

from __future__ import annotations

import random
import string
from dataclasses import dataclass

from devstack.sampling import zipf_weights

ADVERTISER_ALPHABET = string.ascii_uppercase + string.digits  # like the course: 20 chars
PRODUCT_ALPHABET = string.ascii_lowercase + string.digits  # like the course: 6 chars
SKEWS = ("uniform", "zipf")
CLICK_AFFINITY_SIGMA = 0.6  # spread of per-product click-through around the mean (zipf only)


@dataclass(frozen=True)
class Catalog:
    advertisers: list[str]
    pairs: list[tuple[str, str]]  # (advertiser_id, product_id), every product of every advertiser
    popularity: list[float]  # per pair: relative share of views and impressions
    click_affinity: list[float]  # per pair: relative click-through rate, mean 1 over impressions


def _unique_ids(rng: random.Random, n: int, alphabet: str, length: int) -> list[str]:
    ids: dict[str, None] = {}  # ordered, so the result depends only on the seed
    while len(ids) < n:
        ids["".join(rng.choices(alphabet, k=length))] = None
    return list(ids)


def build_catalog(rng: random.Random, advertisers: int, products: int, skew: str) -> Catalog:
    """Uniform: every product equally viewed and clicked, like the course data. Zipf: traffic
    falls off as 1/rank over advertisers and over each advertiser's products, and products
    differ in click-through (log-normal), like real traffic."""
    if skew not in SKEWS:
        raise ValueError(f"skew must be one of {', '.join(SKEWS)}, not {skew!r}")
    advertiser_ids = _unique_ids(rng, advertisers, ADVERTISER_ALPHABET, 20)
    pairs = [
        (adv, prod)
        for adv in advertiser_ids
        for prod in _unique_ids(rng, products, PRODUCT_ALPHABET, 6)
    ]
    if skew == "uniform":
        return Catalog(advertiser_ids, pairs, [1.0] * len(pairs), [1.0] * len(pairs))
    # Ranks follow the (random) order of the ids, so which advertiser is big depends on the seed.
    per_advertiser = zipf_weights(advertisers)
    per_product = zipf_weights(products)
    product_total = sum(per_product)
    popularity = [a * p / product_total for a in per_advertiser for p in per_product]
    affinity = [rng.lognormvariate(0, CLICK_AFFINITY_SIGMA) for _ in pairs]
    mean = sum(w * a for w, a in zip(popularity, affinity, strict=True)) / sum(popularity)
    return Catalog(advertiser_ids, pairs, popularity, [a / mean for a in affinity])


def active_lists(
    rng: random.Random, advertisers: list[str], active: int, churn: float, days: int
) -> list[list[str]]:
    """The active advertisers of each day: a random `active` of them on day one, then each day
    round(churn * active) of the list replaced by currently inactive advertisers."""
    if not 0 <= active <= len(advertisers):
        raise ValueError(
            f"active ({active}) must be between 0 and advertisers ({len(advertisers)})"
        )
    if not 0 <= churn <= 1:
        raise ValueError(f"churn must be a fraction between 0 and 1, not {churn}")
    current = rng.sample(advertisers, active)
    lists = [sorted(current)]
    for _ in range(days - 1):
        on_list = set(current)
        inactive = [a for a in advertisers if a not in on_list]
        swaps = min(round(churn * active), len(inactive))
        leaving = set(rng.sample(current, swaps))
        current = [a for a in current if a not in leaving] + rng.sample(inactive, swaps)
        lists.append(sorted(current))
    return lists
