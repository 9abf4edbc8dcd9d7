"""Annotator time: what reviewing one image costs in seconds, one line per action, from
the change counts a review records (:class:`al_core.review.changes.ChangeCounts`).

Seconds per image = ``image`` + ``kept`` x boxes confirmed + ``moved`` x boxes moved or
resized + ``relabeled`` x boxes given another class + ``deleted`` x boxes deleted +
``added`` x boxes drawn. A box both moved and relabeled pays both (as
:class:`ChangeCounts` counts it in both).

The published constants (:func:`published_model`), all in seconds:

==========  =======  ====================================================================
action      seconds  source
==========  =======  ====================================================================
kept        1.6      verifying a box: Papadopoulos, Uijlings, Keller, Ferrari, "We don't
                     need no bounding-boxes: training object class detectors using only
                     human verification", CVPR 2016 (about 1.6 s per yes/no answer)
added       25.5     drawing a box: Su, Deng, Fei-Fei, "Crowdsourcing annotations for
                     visual object detection", AAAI HCOMP workshop 2012 (the drawing step
                     of the ImageNet protocol). Selectable (:data:`DRAW_SECONDS`):
                     ``"traditional"`` 34.5 s and ``"extreme_clicking"`` 7.0 s,
                     Papadopoulos, Uijlings, Keller, Ferrari, "Extreme clicking for
                     efficient object annotation", ICCV 2017
image       3.0      assumption (no published figure for this step): opening an image,
                     scanning it for objects no pre-label covers, submitting it; about
                     two verifications' worth of looking (2 x 1.6 s), rounded
moved       12.75    assumption: half a draw (0.5 x 25.5 s). Moving or resizing drags one
                     or two sides of a box already on the object instead of all four, with
                     the same care per side
relabeled   3.6      assumption: a verification (1.6 s) to see the class is wrong, plus
                     two clicks (1.0 s each: select the box, pick the class)
deleted     2.6      assumption: a verification (1.6 s) to see the box is wrong, plus one
                     click or key press (1.0 s)
==========  =======  ====================================================================

Why 25.5 s is the default draw: the review screen draws a box the traditional way (press
at one corner, drag to the opposite one), so extreme clicking's 7.0 s needs an interface
the product does not have; 34.5 s is the figure Papadopoulos et al. (2017) give for the
traditional protocol, which (as we read it) counts Su et al.'s quality check as well as the
drawing, while one annotator here draws and checks in one pass. Su et al.'s 25.5 s is the
drawing step alone. It was measured on crowd workers, so a practised annotator on a
desktop is likely faster: once a project holds enough timed reviews, the constants fitted
from them (:mod:`al_core.review.effort_fit`) replace these.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

from al_core.review.changes import ChangeCounts

# the model's terms, in the order of its table: the image, then each box action
ACTIONS = ("image", "kept", "moved", "relabeled", "deleted", "added")
BOX_ACTIONS = ACTIONS[1:]

VERIFY_SECONDS = 1.6  # Papadopoulos et al., CVPR 2016: verifying a box
DRAW_SECONDS = {  # drawing a box, by how it is drawn
    "su2012": 25.5,  # Su et al., 2012: the ImageNet crowd study's drawing step
    "traditional": 34.5,  # Papadopoulos et al., ICCV 2017: the traditional way
    "extreme_clicking": 7.0,  # Papadopoulos et al., ICCV 2017: four extreme points
}
DEFAULT_DRAW = "su2012"  # the review screen drags boxes; see the module docstring
CLICK_SECONDS = 1.0  # assumption: pointing at a target and clicking (or one key press)
IMAGE_SECONDS = 3.0  # assumption: open, scan for missed objects, submit (about 2 verifies)
MOVE_FRACTION = 0.5  # assumption: a move or resize costs this fraction of a draw

# what each action is, in words, and where its constant comes from (short)
ACTION_NAMES = {"image": "image viewed", "kept": "box confirmed (kept)",
                "moved": "box moved or resized", "relabeled": "box relabeled",
                "deleted": "box deleted", "added": "box drawn (added)"}
SOURCES = {"image": "assumption: about two verifications of looking, and submitting",
           "kept": "Papadopoulos et al., CVPR 2016 (verifying a box)",
           "moved": "assumption: half a draw",
           "relabeled": "assumption: a verification and two clicks",
           "deleted": "assumption: a verification and a click",
           "added": "drawing a box: Su et al., 2012 (default); Papadopoulos et al., ICCV "
                    "2017 (traditional 34.5 s, extreme clicking 7.0 s)"}


@dataclass(frozen=True)
class CostModel:
    """Seconds per action of one review: ``image`` once per image, each other field per
    box so changed (the fields of :class:`ChangeCounts`). All in seconds, >= 0."""

    image: float
    kept: float
    moved: float
    relabeled: float
    deleted: float
    added: float

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if not value >= 0:  # NaN too
                raise ValueError(f"a cost model's seconds are >= 0: {name} = {value!r}")

    def seconds(self, counts: ChangeCounts, images: int = 1) -> float:
        """Estimated annotator seconds for ``images`` images whose reviews changed
        ``counts`` in all (one image's counts, or several images' summed: the model is
        linear)."""
        return (self.image * images + self.kept * counts.kept + self.moved * counts.moved
                + self.relabeled * counts.relabeled + self.deleted * counts.deleted
                + self.added * counts.added)

    def as_dict(self) -> dict[str, float]:
        """Seconds per action, in :data:`ACTIONS` order."""
        return {name: getattr(self, name) for name in ACTIONS}


def published_model(draw: str = DEFAULT_DRAW) -> CostModel:
    """The model from the published figures and the stated assumptions (module
    docstring), drawing a box at ``DRAW_SECONDS[draw]``; a move or resize is
    :data:`MOVE_FRACTION` of that draw."""
    if draw not in DRAW_SECONDS:
        raise ValueError(f"draw: {draw!r} is not one of {', '.join(DRAW_SECONDS)}")
    drawn = DRAW_SECONDS[draw]
    return CostModel(
        image=IMAGE_SECONDS,                              # assumption
        kept=VERIFY_SECONDS,                              # Papadopoulos et al. 2016
        moved=MOVE_FRACTION * drawn,                      # assumption: half a draw
        relabeled=VERIFY_SECONDS + 2 * CLICK_SECONDS,     # assumption: verify + 2 clicks
        deleted=VERIFY_SECONDS + CLICK_SECONDS,           # assumption: verify + 1 click
        added=drawn)                                      # Su et al. 2012 (default)


def counts_from_dict(row: dict) -> ChangeCounts:
    """The change counts of a ``reviews`` row (or any mapping with their five keys)."""
    return ChangeCounts(**{name: int(row[name]) for name in BOX_ACTIONS})
