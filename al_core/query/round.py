"""A query round: gather the pool, let a strategy pick a batch with no two near-duplicates
among its picks (:func:`select_distinct`; the random control slice is drawn as it
falls, unchecked), make sure the picks
carry the active model's predictions as pre-labels, and store it all as a named
selection. Runs as a job (kind ``query``) from the CLI and UI.

Deterministic for a seed: the control slice is drawn with ``default_rng(seed)`` from the
pool first (so it is a uniform sample of the pool, untouched by the strategy), then the
strategy gets ``default_rng([seed, 1])`` and the rest of the pool.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import numpy as np

from al_core.jobs.runner import job_kind
from al_core.query.context import Progress, QueryContext
from al_core.query.duplicates import DUPLICATE_COSINE, drop_near_duplicates, duplicate_vectors
from al_core.query.strategies import (COLD_START_STRATEGY, DEFAULT_STRATEGY, Ranked, Strategy,
                                      check_options, get_strategy)
from al_core.store import Store
from al_core.types import Selection, SelectionItem, brief

log = logging.getLogger(__name__)
DEFAULT_RANDOM_CONTROL = 0.1


@dataclass(frozen=True)
class QuerySpec:
    """What to query. Exactly one of ``add`` (items to pick) and ``target`` (the labeled
    training set's size once this and earlier pending selections are labeled)."""

    strategy: str = DEFAULT_STRATEGY
    add: int | None = None
    target: int | None = None
    random_control: float = DEFAULT_RANDOM_CONTROL
    seed: int = 0
    tag: str | None = None
    pool_tag: str | None = None
    include_pending: bool = False
    options: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        get_strategy(self.strategy)
        if (self.add is None) == (self.target is None):
            raise ValueError("give exactly one of --add N (items to pick) and --target N "
                             "(the labeled set's size after this query)")
        for name in ("add", "target"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                      or value < 1):
                raise ValueError(f"--{name}: {brief(value)} is not a positive integer")
        if not (isinstance(self.random_control, (int, float)) and 0 <= self.random_control < 1):
            raise ValueError(f"--random-control: {brief(self.random_control)} must be a fraction "
                             "in [0, 1)")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"--seed: {brief(self.seed)} is not an integer >= 0")
        check_options(self.options)


def batch_size_for(store: Store, spec: QuerySpec) -> int:
    """How many items to pick: ``add``, or ``target`` minus the labeled training set and
    the items still waiting in earlier selections."""
    if spec.add is not None:
        return spec.add
    labeled = len(store.training_labeled_ids())
    pending = len(store.pending_item_ids())
    add = spec.target - labeled - pending
    if add < 1:
        raise ValueError(f"--target {spec.target}: the labeled set already has {labeled} items"
                         + (f" and {pending} more wait in earlier selections" if pending else "")
                         + "; nothing to add")
    return add


@dataclass(frozen=True)
class QueryPlan:
    """What a query will do, checked before any work: see :func:`plan_query`."""

    strategy: str  # the one that will run (the cold-start one when no model is active)
    model_id: int | None
    pool: np.ndarray  # (N,) item ids
    batch: int
    tag: str
    round: int


def plan_query(store: Store, spec: QuerySpec) -> QueryPlan:
    """Resolve the strategy, pool, batch size and tag; raise ValueError naming the
    problem (the CLI calls this before starting a job, so mistakes fail at once)."""
    model_id = store.active_model_id()
    strategy = get_strategy(spec.strategy)
    if strategy.needs_model and model_id is None:
        strategy = get_strategy(COLD_START_STRATEGY)
    pool = np.array(store.query_pool(tag=spec.pool_tag, include_pending=spec.include_pending),
                    np.int64)
    n = batch_size_for(store, spec)
    if n > len(pool):
        raise ValueError(f"asked for {n} items but the pool has only {len(pool)} "
                         "(unlabeled, unsplit" + (f", tagged {brief(spec.pool_tag)}" if spec.pool_tag
                                                   else "")
                         + ("" if spec.include_pending else ", not waiting in a selection")
                         + ")")
    round_ = store.next_round()
    tag = store.check_new_tag(spec.tag or f"al-iteration-{round_}")  # as it is stored
    return QueryPlan(strategy.name, model_id, pool, n, tag, round_)


def run_query(store: Store, spec: QuerySpec, *, progress: Progress | None = None,
              should_stop: Callable[[], bool] | None = None,
              on_commit: Callable[[], None] | None = None) -> Selection:
    """Pick a batch by ``spec`` and store it as a selection (see the module doc).
    ``should_stop`` is checked at every progress step and once more inside the
    transaction that stores the selection, where ``on_commit`` (a job's
    :meth:`~al_core.jobs.runner.Reporter.commit`) runs too; a cancel stores nothing.
    Team mode: a lead's work (``query``), checked before any scoring."""
    store.authorize("query")
    options = check_options(spec.options)
    plan = plan_query(store, spec)
    strategy, model_id, pool, n, tag = (get_strategy(plan.strategy), plan.model_id, plan.pool,
                                        plan.batch, plan.tag)
    if strategy.name != spec.strategy:
        log.info("no active model: %s falls back to %s", spec.strategy, strategy.name)
    n_control = int(round(n * spec.random_control))
    control = np.sort(np.random.default_rng(spec.seed).choice(pool, n_control, replace=False))
    ctx = QueryContext(store, model_id, np.setdiff1d(pool, control), options,
                       progress=progress, should_stop=should_stop)
    ctx.report(0.0, f"{strategy.name}: picking {n - n_control} of {len(ctx.pool)}")
    picked = select_distinct(strategy, ctx, n - n_control, np.random.default_rng([spec.seed, 1]))
    _check_picks(picked, ctx.pool, n - n_control)
    items = [SelectionItem(i, rank, s, False) for rank, (i, s) in enumerate(picked, 1)]
    items += [SelectionItem(int(i), len(picked) + r, None, True) for r, i in enumerate(control, 1)]
    ctx.report(0.9, "pre-labels for the picked items")
    # the batch carries pre-labels, and so do the gold images served beside it (team
    # mode): one without them would stand out
    ctx.ensure_predicted([i.item_id for i in items] + sorted(store.gold_ids()))
    config = {"requested": asdict(spec), "options": options, "batch": n,
              "control": n_control, "pool_size": len(pool), **ctx.notes}
    if strategy.name != spec.strategy:
        config["fallback"] = f"no active model: {spec.strategy} needs one"
    with store.write():
        ctx.report(0.95, "storing the selection")  # raises Cancelled on a cancel
        if on_commit:
            on_commit()
        selection_id = store.add_selection(
            tag=tag, round=plan.round, strategy=strategy.name, config=config, seed=spec.seed,
            model_id=model_id, items=items)
        store.audit("query.run", object_type="selection", object_id=selection_id,
                    summary=f"selection {tag}, round {plan.round}: {len(items)} images by "
                            f"{strategy.name} ({n_control} random control)",
                    after={"strategy": strategy.name, "batch": n, "control": n_control,
                           "seed": spec.seed, "model_id": model_id})
    return store.selection(tag)


def select_distinct(strategy: Strategy, ctx: QueryContext, k: int,
                    rng: np.random.Generator) -> Ranked:
    """The strategy's ``k`` picks, where a pick that is a near-duplicate
    (:mod:`~al_core.query.duplicates`) of an earlier pick is skipped and the strategy is
    asked again, on the pool without the picks so far and the skipped, for what is
    missing. Skipped ids are noted (``near_duplicates_skipped``); a pool with fewer than
    ``k`` distinct images fills the rest with the skipped, in rank order. Option
    ``skip_duplicates`` false: the strategy's picks as they are."""
    if not ctx.options["skip_duplicates"]:
        return strategy.select(ctx, k, rng)
    full_pool, kept, skipped = ctx.pool, [], []
    kept_vectors = np.zeros((0, 1), np.float32)
    try:
        while len(kept) < k:
            taken = [i for i, _ in kept] + [i for i, _ in skipped]
            ctx.pool = np.setdiff1d(full_pool, taken)
            want = min(k - len(kept), len(ctx.pool))
            if want == 0:  # fewer than k distinct images: the duplicates fill up
                kept += skipped[:k - len(kept)]
                break
            earlier = dict(ctx.notes)
            picks = strategy.select(ctx, want, rng)
            _merge_notes(ctx, earlier)
            vectors = duplicate_vectors(ctx.store, [i for i, _ in picks])
            keep = drop_near_duplicates(vectors, DUPLICATE_COSINE,
                                        kept=kept_vectors if len(kept) else None)
            kept += [p for p, ok in zip(picks, keep) if ok]
            skipped += [p for p, ok in zip(picks, keep) if not ok]
            kept_vectors = np.concatenate([kept_vectors.reshape(-1, vectors.shape[1]),
                                           vectors[keep]])
    finally:
        ctx.pool = full_pool
    left_out = {int(i) for i, _ in skipped} - {int(i) for i, _ in kept}
    if left_out:
        ctx.note("near_duplicates_skipped", sorted(left_out))
    return kept


def _merge_notes(ctx: QueryContext, earlier: dict) -> None:
    """A repeated strategy call adds to list notes (missed objects) instead of replacing."""
    for key, value in earlier.items():
        if isinstance(value, list) and isinstance(ctx.notes.get(key), list) \
                and ctx.notes[key] is not value:
            ctx.notes[key] = value + [v for v in ctx.notes[key] if v not in value]


def _check_picks(picked: Ranked, pool: np.ndarray, k: int) -> None:
    """A strategy bug must not reach the store: k distinct items, all from the pool."""
    ids = [i for i, _ in picked]
    if len(ids) != k or len(set(ids)) != k or not np.isin(ids, pool).all():
        raise RuntimeError(f"strategy returned {len(ids)} picks ({len(set(ids))} distinct), "
                           f"expected {k} distinct pool items")


@job_kind("query")
def run_query_job(store: Store, job_id: int, params: dict, reporter) -> None:
    selection = run_query(store, QuerySpec(**params), progress=reporter.progress,
                          should_stop=reporter.cancel_requested, on_commit=reporter.commit)
    reporter.progress(1.0, f"selection {selection.tag}: {len(selection.items)} items")
    reporter.log(f"selection {selection.tag} (id {selection.id})")
