"""Annotator time fitted from a project's own reviews: seconds per image against the
image's change counts, by non-negative least squares, once the project holds enough
timed reviews; the published constants (:mod:`al_core.review.effort`) until then.

Which reviews count: those saved on the review screen (``action`` ``accept`` or
``save``; imports and the demo's oracle have no real time), timed, with more than 0 and
at most :data:`MAX_SECONDS` seconds (longer is an image left open, e.g. over lunch: it is
excluded and counted in :attr:`ProjectCost.over_cap`). :data:`MIN_REVIEWS` of them are
needed before the fit replaces the published constants.

The fit: ``seconds_i = image + sum_a c_a x count_{i,a}`` over the box actions ``a``, every
coefficient >= 0 (``scipy.optimize.nnls``; scipy comes with scikit-learn). An action seen
in fewer than :data:`MIN_ACTION_REVIEWS` of the reviews cannot be told apart from noise:
its coefficient stays at the published constant (its seconds are subtracted before the
fit) and it is listed as not fitted. The spread of each fitted coefficient is a bootstrap
over the reviews (:data:`BOOTSTRAP` resamples, a seeded generator): its standard error and
95% percentile interval; the residual spread is the residuals' standard deviation with
the fitted coefficients' degrees of freedom taken off.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import nnls

from al_core.review.changes import ChangeCounts
from al_core.review.effort import (ACTION_NAMES, ACTIONS, BOX_ACTIONS, DEFAULT_DRAW, CostModel,
                                   counts_from_dict, published_model)
from al_core.store import Store

MIN_REVIEWS = 30  # timed reviews needed before the fit replaces the published constants
MAX_SECONDS = 600.0  # a review timed longer than 10 minutes is an image left open
MIN_ACTION_REVIEWS = 5  # an action seen in fewer reviews keeps its published constant
TIMED_ACTIONS = ("accept", "save")  # reviews a person timed on the review screen
BOOTSTRAP = 400  # resamples for the coefficients' spread


@dataclass(frozen=True)
class TimedReview:
    """One review's seconds and what it changed."""

    seconds: float
    counts: ChangeCounts


@dataclass(frozen=True)
class EffortFit:
    """A least-squares fit of seconds per image. ``model``: the fitted seconds per action
    (actions not in ``fitted`` hold the published constant); ``standard_error`` and
    ``interval`` (95%, seconds): the bootstrap spread of each fitted action;
    ``residual_sd``: seconds per image; ``n``: reviews fitted."""

    model: CostModel
    fitted: tuple[str, ...]
    standard_error: dict[str, float]
    interval: dict[str, tuple[float, float]]
    residual_sd: float
    n: int


@dataclass(frozen=True)
class ProjectCost:
    """The cost model a project uses and why. ``source``: ``"fitted"`` (``fit`` holds the
    fit) or ``"published"`` (fewer than :data:`MIN_REVIEWS` usable reviews; ``needed``
    more are needed). ``usable``: timed review-screen reviews within the cap;
    ``over_cap``: those excluded as longer than :data:`MAX_SECONDS`."""

    model: CostModel
    published: CostModel
    source: str
    fit: EffortFit | None
    usable: int
    over_cap: int
    needed: int
    minimum: int


def timed_reviews(rows: Iterable[dict], *, cap: float = MAX_SECONDS
                  ) -> tuple[list[TimedReview], int]:
    """The reviews a fit may use, from ``reviews`` rows (:meth:`Store.reviews`): saved on
    the review screen, timed, 0 < seconds <= ``cap``. Returns them and how many timed
    review-screen reviews were left out for being longer than ``cap``."""
    kept, over = [], 0
    for row in rows:
        seconds = row["seconds"]
        if row["action"] not in TIMED_ACTIONS or seconds is None or not seconds > 0:
            continue
        if seconds > cap:
            over += 1
            continue
        kept.append(TimedReview(float(seconds), counts_from_dict(row)))
    return kept, over


def _design(reviews: Sequence[TimedReview]) -> tuple[np.ndarray, np.ndarray]:
    counts = np.array([[getattr(r.counts, a) for a in BOX_ACTIONS] for r in reviews],
                      np.float64).reshape(len(reviews), len(BOX_ACTIONS))  # (N, 5)
    x = np.hstack([np.ones((len(reviews), 1)), counts])  # (N, 6): the image, then each action
    return x, np.array([r.seconds for r in reviews], np.float64)  # (N,)


def fit_cost_model(reviews: Sequence[TimedReview], *, prior: CostModel | None = None,
                   min_reviews: int = MIN_REVIEWS, seed: int = 0,
                   bootstrap: int = BOOTSTRAP) -> EffortFit:
    """Fit seconds per image to ``reviews`` (already filtered: :func:`timed_reviews`) by
    non-negative least squares; actions seen in fewer than :data:`MIN_ACTION_REVIEWS`
    reviews keep ``prior``'s constant (default :func:`published_model`). Raises
    ``ValueError`` with fewer than ``min_reviews`` reviews."""
    if len(reviews) < min_reviews:
        raise ValueError(f"{len(reviews)} timed reviews; the fit needs at least {min_reviews}")
    prior = prior or published_model()
    x, y = _design(reviews)
    seen = (x > 0).sum(0)  # (6,) reviews with each action; the image column: all
    free = np.array([a == "image" or seen[i] >= MIN_ACTION_REVIEWS
                     for i, a in enumerate(ACTIONS)])
    fixed = np.array([getattr(prior, a) for a in ACTIONS]) * ~free  # (6,)
    target = y - x @ fixed  # the seconds the fitted actions must explain

    def solve(rows: np.ndarray) -> np.ndarray:
        coef, _ = nnls(x[rows][:, free], target[rows])
        return coef

    coef = solve(np.arange(len(y)))
    full = fixed.copy()
    full[free] = coef
    p = int(free.sum())
    residual = y - x @ full
    residual_sd = float(np.sqrt(residual @ residual / max(len(y) - p, 1)))
    rng = np.random.default_rng(seed)
    draws = np.array([solve(rng.integers(0, len(y), len(y))) for _ in range(bootstrap)])
    names = tuple(a for a, f in zip(ACTIONS, free) if f)
    low, high = np.percentile(draws, [2.5, 97.5], axis=0)
    return EffortFit(
        model=CostModel(**{a: float(v) for a, v in zip(ACTIONS, full)}), fitted=names,
        standard_error={a: float(s) for a, s in zip(names, draws.std(0, ddof=1))},
        interval={a: (float(lo), float(hi)) for a, lo, hi in zip(names, low, high)},
        residual_sd=residual_sd, n=len(y))


def project_cost_model(store: Store, *, draw: str = DEFAULT_DRAW,
                       min_reviews: int = MIN_REVIEWS) -> ProjectCost:
    """The cost model for ``store``'s project: fitted from its reviews when it holds at
    least ``min_reviews`` usable ones, else the published constants (drawing at
    ``draw``), with how many more reviews the fit needs."""
    published = published_model(draw)
    reviews, over = timed_reviews(store.reviews())
    if len(reviews) < min_reviews:
        return ProjectCost(model=published, published=published, source="published",
                           fit=None, usable=len(reviews), over_cap=over,
                           needed=min_reviews - len(reviews), minimum=min_reviews)
    fit = fit_cost_model(reviews, prior=published, min_reviews=min_reviews)
    return ProjectCost(model=fit.model, published=published, source="fitted", fit=fit,
                       usable=len(reviews), over_cap=over, needed=0, minimum=min_reviews)


def describe_cost(cost: ProjectCost) -> str:
    """One paragraph on which cost model is in use and why, for people to read."""
    def reviews(n: int) -> str:
        return f"{n} timed review{'' if n == 1 else 's'}"

    if cost.fit is None:
        text = (f"Published constants in use: the project holds {reviews(cost.usable)} of "
                f"the {cost.minimum} a fit needs. {cost.needed} more (accepted or saved on "
                "the Review page) and the seconds per action are fitted from this "
                "project's own reviews.")
    else:
        fixed = [ACTION_NAMES[a] for a in ACTIONS if a not in cost.fit.fitted]
        text = (f"Fitted from {reviews(cost.fit.n)} by non-negative least squares: the "
                f"seconds per image it predicts are off by {cost.fit.residual_sd:.1f} s "
                "(residual standard deviation); the intervals are 95% bootstrap intervals.")
        if fixed:
            text += (f" Seen in fewer than {MIN_ACTION_REVIEWS} reviews, so kept at the "
                     f"published constant: {', '.join(fixed)}.")
    if cost.over_cap:
        text += (f" {reviews(cost.over_cap).capitalize()} longer than "
                 f"{MAX_SECONDS / 60:.0f} minutes (an image left open) "
                 f"{'is' if cost.over_cap == 1 else 'are'} left out.")
    return text
