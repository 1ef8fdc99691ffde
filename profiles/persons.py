"""Loyalty numbers per person, for the whole site at once or one part of its people at a time.

RFM ranks a buyer against every buyer of the site, and customer value is fitted on all of
them: those are the only numbers that need the whole site, and both are taken from small
summaries the store computes (sql/profiles/rfm_cuts.sql, value_histories.sql). Everything
else in a person's numbers is their own (their orders, feedback, referrals), so a bucketed run
builds them for each bucket's people only, with the same site-wide cut points and model as the
single pass: the same numbers, without every person in memory at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import polars as pl

from fidelia.store import Store
from profiles.build import ProfileInputs, build_persons
from profiles.extract import Scope, frame
from profiles.rfm import RfmCuts
from profiles.value import ValueModel, ValueSettings, epoch_day, fit_value, scores_with, value_scores, value_summary

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class SiteNumbers:
    """What scoring any part of a site's people needs of the whole site; no row per person."""

    cuts: RfmCuts
    value: ValueModel
    product_first_seen: pl.DataFrame  # product_id, first_seen: one row per product


def site_numbers(store: Store, scope: Scope, settings: ValueSettings, prior: ValueModel | None) -> SiteNumbers:
    """The site's RFM cut points and customer value model (fitted, or `prior` when it can score)."""
    base = {"site_id": scope.site_id, "as_of": scope.as_of}
    as_of_ms = (scope.as_of - EPOCH) // timedelta(milliseconds=1)  # the polars side counts from it too
    cuts = RfmCuts.from_rows(frame(store, "profiles/rfm_cuts", **base, as_of_ms=as_of_ms).rows())
    if not scores_with(prior):
        histories = frame(store, "profiles/value_histories", **base, as_of_day=epoch_day(scope.as_of))
        prior = fit_value(histories, scope.as_of, settings)
    return SiteNumbers(cuts, prior, frame(store, "profiles/product_first_seen", **base))


def person_numbers(inputs: ProfileInputs, site: SiteNumbers, as_of: datetime, attrition_days: int,
                   settings: ValueSettings) -> pl.DataFrame:
    """The loyalty numbers of the people whose orders and feedback `inputs` holds."""
    summary = value_summary(inputs.orders.select("person", "ts", "amount"), as_of).collect()
    scores = value_scores(summary, site.value, settings)
    return build_persons(inputs, as_of, attrition_days, site.cuts, scores.lazy()).collect()
