"""The simulation's rounds with box-level review on (``SimConfig.box_level``): the oracle
answers as a box-level annotator (:func:`al_core.review.auto_accept.oracle_box_level`):
pre-labels at or above their class's threshold are kept as predicted, marked
auto-accepted, and the rest come from the oracle. Each round records, in the project's
meta, the person's change counts (what the effort model prices), the boxes accepted
without asking, and the noise let into the labels (the saved labels against the oracle).
"""
from __future__ import annotations

import json

from al_core.review.auto_accept import oracle_box_level, predict_validation, thresholds_for
from al_core.review.corrections import summed_changes
from al_core.review.prelabel_threshold import prelabel_threshold
from al_core.review.save import prelabels
from al_core.store import Store
from al_core.types import DEFAULT_MIN_SCORE


def _key(r: int) -> str:
    return f"sim-box-level-round-{r}"


def label_round(store: Store, r: int, tag: str, item_ids: list[int], *,
                min_score: float = DEFAULT_MIN_SCORE, threshold: str = "fixed") -> bool:
    """Label the selection's unlabeled ``item_ids`` box-level against its model's
    thresholds (the model predicts the validation images first when it has not), the
    pre-labels shown at ``min_score`` or, with ``threshold="model"``, at the model's own
    (:mod:`al_core.review.prelabel_threshold`); False,
    labeling nothing, when the selection has no model (a cold start: the caller labels
    from the oracle). Recorded once per round: a resumed run does not count it again."""
    model_id = store.selection(tag).model_id
    if model_id is None:
        return False
    predict_validation(store, model_id)
    thresholds = thresholds_for(store, model_id)
    if threshold == "model":
        min_score = prelabel_threshold(store, model_id).min_score()
    truth = store.oracle_boxes(item_ids)
    shown = prelabels(store, model_id, item_ids, min_score=min_score)
    reviews = {i: oracle_box_level(shown[i], truth[i], thresholds, min_score=min_score)
               for i in item_ids}
    noise = {k: sum(v.noise[k] for v in reviews.values()) for k in ("right", "saved", "truth")}
    with store.write():
        for i, review in reviews.items():
            store.set_labels(i, review.saved, source="oracle", author="oracle", round=r,
                             reason="labeled box-level from the oracle",
                             auto_accepted=review.auto)
        if store.get_meta(_key(r)) is None:
            store.set_meta(_key(r), json.dumps({
                "images": len(item_ids),
                "changes": summed_changes(v.changes for v in reviews.values()).as_dict(),
                "auto_accepted": int(sum(sum(v.auto) for v in reviews.values())),
                **{k: int(v) for k, v in noise.items()},  # numpy's ints are not JSON
                "thresholds": {str(c): None if t.threshold is None else float(t.threshold)
                               for c, t in thresholds.classes.items()}}))
    return True


def round_figures(store: Store, r: int) -> dict | None:
    """Rounds 0..r's box-level figures, or None when none was labeled box-level:
    ``auto_accepted`` boxes, ``label_precision`` and ``label_recall`` of the labels saved
    box-level against the oracle (the rounds labeled whole, from the oracle, are exact
    and left out), and the estimated annotator ``seconds`` of every round (the person's
    changes where box-level, the whole review's elsewhere; None for a run made before
    seconds were counted)."""
    from al_core.review.effort import counts_from_dict, published_model

    rounds = [json.loads(store.get_meta(_key(k)) or "null") for k in range(r + 1)]
    if all(c is None for c in rounds):
        return None
    done = [c for c in rounds if c is not None]
    right, saved, truth = (sum(c[k] for c in done) for k in ("right", "saved", "truth"))
    whole = [json.loads(store.get_meta(f"sim-cost-round-{k}") or "null") for k in range(r + 1)]
    priced = [c if c is not None else w for c, w in zip(rounds, whole)]
    model = published_model()  # the oracle has no real seconds: the published constants
    seconds = None if any(c is None or "changes" not in c for c in priced) else round(
        sum(model.seconds(counts_from_dict(c["changes"]), c["images"]) for c in priced), 1)
    return {"auto_accepted": sum(c["auto_accepted"] for c in done),
            "label_precision": round(right / saved, 5) if saved else None,
            "label_recall": round(right / truth, 5) if truth else None, "seconds": seconds}
