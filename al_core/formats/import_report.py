"""What an import did, per image and in sum, in words a user can act on."""
from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field

from al_core.names import printable

log = logging.getLogger(__name__)


class ImportFailed(ValueError):
    """The import as a whole cannot go ahead (nothing was written)."""


# Why an image the COCO file lists was left unlabeled (the summary counts by these).
BAD_ANNOTATION = "an annotation of it could not be imported"
CROWD = "it has crowd regions (iscrowd 1), which the project cannot hold"
SHARED_ID = "its image id is also another image's"
LISTED_TWICE = "the file lists it more than once"
NO_ANNOTATIONS = "the file has no 'annotations' list"
OTHER_SIZE = "its size in the COCO file is not the image's (its boxes are for another frame)"
HELD = "an annotator has it open"


def plural(n: int, word: str, words: str | None = None) -> str:
    """``1 image``, ``2 images``; ``words`` where the plural is not ``word + "s"``
    (``1 box``, ``2 boxes``)."""
    return f"{n} {word}" if n == 1 else f"{n} {words or word + 's'}"


@dataclass
class ImportReport:
    images_found: int = 0  # image files in the folder
    images_imported: int = 0  # new items
    items_labeled: int = 0  # new items labeled
    items_updated: int = 0  # items already in the project that the file labeled anew
    items_unchanged: int = 0  # items already in the project that the file lists, as they were
    boxes_imported: int = 0
    boxes_clipped: int = 0
    boxes_rejected: int = 0  # annotation records not imported
    predictions_imported: int = 0
    labels_kept: int = 0  # labeled items whose labels the file would change, kept
    images_unmatched: int = 0  # COCO images that matched no file (or two)
    problems: list[str] = field(default_factory=list)  # what was not imported as given
    notes: list[str] = field(default_factory=list)  # done, in a way worth knowing
    unlabeled: dict[str, str] = field(default_factory=dict)  # image -> why (a reason above)

    def problem(self, message: str) -> None:
        """Add a line; file, class and model names in it are data, so it is kept as
        :func:`~al_core.names.printable` text: a name holding an escape code or a line
        break is shown escaped and can neither act on a terminal nor forge a line."""
        message = printable(message, None)
        log.warning(message)
        self.problems.append(message)

    def note(self, message: str) -> None:
        """Add a note, kept as printable text like :meth:`problem`."""
        message = printable(message, None)
        log.info(message)
        self.notes.append(message)

    def leave_unlabeled(self, image: str, reason: str, detail: str) -> None:
        """An image the file lists stays unlabeled (or keeps its labels) for ``reason``."""
        self.unlabeled[image] = reason
        self.problem(f"{image}: left unlabeled, {detail}")

    def lines(self) -> list[str]:
        """Every line of the report: the problems, then the notes."""
        return self.problems + [f"note: {n}" for n in self.notes]

    def summary(self, *, options: dict[str, str] | None = None) -> str:
        """Counts, then what to do (:meth:`actions`); ``options`` names the import
        options as the caller shows them (``{"replace_labels": "--replace-labels"}``)."""
        existing = self.items_updated + self.items_unchanged
        text = (f"{self.images_imported} of {self.images_found} images imported, "
                f"{self.items_labeled} labeled"
                + (f"; {existing} already in the project ({self.items_updated} updated, "
                   f"{self.items_unchanged} unchanged)" if existing else "")
                + f"; {plural(self.boxes_imported, 'box', 'boxes')} imported "
                f"({self.boxes_clipped} clipped to the image), "
                f"{plural(self.boxes_rejected, 'annotation')} not imported, "
                f"{plural(self.predictions_imported, 'pre-label box', 'pre-label boxes')}, "
                f"{plural(len(self.problems), 'problem')}.")
        return " ".join([text, *self.actions(options=options)])

    def actions(self, *, options: dict[str, str] | None = None) -> list[str]:
        """What the user can do about what went wrong, one sentence each."""
        named = {"replace_labels": "the replace-labels option",
                 "crowd_as_boxes": "the crowd-as-boxes option", **(options or {})}
        out = []
        if self.unlabeled:
            why = Counter(self.unlabeled.values())
            out.append(f"{plural(len(self.unlabeled), 'image')} left unlabeled: "
                       + "; ".join(f"{n} because {reason}" for reason, n in why.most_common())
                       + ". Fix the file and import it again: they will be updated."
                       + (" To take crowd regions as ordinary boxes, import with "
                          f"{named['crowd_as_boxes']}." if CROWD in why else ""))
        if self.images_unmatched:
            out.append(f"{plural(self.images_unmatched, 'image')} of the COCO file matched no "
                       "image in the folder, or two: put them in the folder or fix their "
                       "file_name, and import again.")
        if self.labels_kept:
            out.append(f"{plural(self.labels_kept, 'image')} already labeled in the project "
                       f"kept their labels, which differ from the file's: import again with "
                       f"{named['replace_labels']} to take the file's (the old ones stay "
                       "in their history).")
        return out
