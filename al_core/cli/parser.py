"""``python -m al_core``: the project's operations, headless. Thin: parse arguments,
call the library, print. Every subcommand has ``--help``."""
# The parser and main() live here; the commands in cli/data.py (a project's data),
# cli/models.py (models and jobs), cli/simulate.py, cli/users.py (team mode's users and
# audit log) and cli/work.py (its review workflow), what they share on the console in
# cli/console.py, the argument types in cli/arguments.py.
from __future__ import annotations

import argparse
import logging
import sqlite3
import sys
from pathlib import Path

from al_core.cli import data
from al_core.cli import models
from al_core.cli import simulate as cli_simulate
from al_core.cli import users as cli_users
from al_core.cli import work as cli_work
from al_core.cli.arguments import COUNT, ID, SEED, ids, int_in, share
from al_core.cli.console import ACTING_USER_ENV
from al_core.formats.coco_import import ImportFailed
from al_core.formats.export import PRELABEL_MIN_SCORE
from al_core.formats.images import DEFAULT_MAX_PIXELS
from al_core.names import printable
from al_core.permissions import ROLES, PermissionDenied
from al_core.query.round import DEFAULT_RANDOM_CONTROL
from al_core.query.strategies import (COLD_START_STRATEGY, DEFAULT_OPTIONS, DEFAULT_STRATEGY,
                                      STRATEGIES)
from al_core.simulation.demo import DEMO_KINDS, DemoConfig
from al_core.store import ProjectError
from al_core.training.split import DEFAULT_DISTRIBUTION
from al_core.types import SPLITS
from al_core.workflow import SKIP_TO, WorkflowError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m al_core", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name, fn, help_text, *, under=None):
        p = (under or sub).add_parser(name, help=help_text, description=help_text)
        p.add_argument("--project", type=Path, required=True, help="project directory")
        add_acting_user(p)
        p.set_defaults(fn=fn)
        return p

    p = command("demo", data.cmd_demo, "create a built-in demo project: handwritten digits "
                "(default) or shapes (icons on photographs, with occlusion)")
    p.add_argument("--kind", choices=DEMO_KINDS,
                   help="which demo dataset (default digits; see docs/demo.md); on an existing "
                        "demo, refused unless it is that kind")
    p.add_argument("--images", type=COUNT, default=DemoConfig.n_images,
                   help="scenes (default %(default)s)")
    p.add_argument("--test", type=COUNT, default=DemoConfig.test_size,
                   help="scenes labeled from the oracle and frozen as test (default %(default)s)")
    p.add_argument("--empty-share", type=float, default=DemoConfig.empty_share,
                   help="share of scenes with no object, like a raw pool's empty frames "
                        "(default %(default)s)")
    p.add_argument("--labeled", type=COUNT, default=0,
                   help="also label N random pool items from the oracle and split them")
    p.add_argument("--seed", type=SEED, default=0)

    p = command("import", data.cmd_import, "import a folder of images, optionally with COCO "
                "labels; or label a selection's items from a corrected COCO file")
    p.add_argument("--images", type=Path, help="folder of jpg/png/webp (recursive)")
    p.add_argument("--coco", type=Path, help="COCO instances JSON with the labels")
    p.add_argument("--selection", metavar="TAG",
                   help="label exactly this selection's items from --coco (matched by file "
                        "name); no --images")
    p.add_argument("--predictions", type=Path, help="COCO results JSON to keep as pre-labels")
    p.add_argument("--model-name", help="name of the model that made --predictions")
    p.add_argument("--reference", action="store_true",
                   help="leave the images where they are instead of copying them in")
    p.add_argument("--max-pixels", type=int, default=DEFAULT_MAX_PIXELS,
                   help="reject larger images (default %(default)s)")
    p.add_argument("--replace-labels", action="store_true",
                   help="images already labeled in the project take the file's labels "
                        "(their history keeps the old ones); unlabeled ones always do")
    p.add_argument("--crowd-as-boxes", action="store_true",
                   help="import crowd regions (iscrowd 1; CVAT writes masks so) as ordinary "
                        "boxes instead of leaving their images unlabeled")
    p.add_argument("--verbose", action="store_true", help="list every problem and note")

    p = command("export", data.cmd_export, "export the current labels")
    p.add_argument("--format", choices=("coco", "yolo"), required=True)
    p.add_argument("--out", type=Path, required=True, help="JSON file (coco) or folder (yolo)")
    p.add_argument("--split", choices=SPLITS, help="only this split")
    p.add_argument("--tag", help="only labeled items with this tag (or selection)")
    p.add_argument("--selection", metavar="TAG", help="a selection's whole batch, labeled or "
                   "not, with the model's pre-labels (coco only)")
    p.add_argument("--min-score", type=float, default=PRELABEL_MIN_SCORE,
                   help="pre-labels from this score (default %(default)s)")
    p.add_argument("--without-auto-accepted", action="store_true",
                   help="leave out the boxes box-level review accepted without asking "
                        "(keeping only the boxes people decided)")

    p = command("query", data.cmd_query, "pick the next batch to label with a strategy (plus a "
                "random control slice) and store it as a named selection")
    p.add_argument("--strategy", default=DEFAULT_STRATEGY, choices=list(STRATEGIES),
                   help="default %(default)s; with no active model, strategies that need one "
                        f"use {COLD_START_STRATEGY}")
    size = p.add_mutually_exclusive_group(required=True)
    size.add_argument("--add", type=COUNT, help="items to pick")
    size.add_argument("--target", type=COUNT, help="the labeled set's size (labeled items "
                      "outside test, plus items waiting in earlier selections) after this query")
    p.add_argument("--random-control", type=float, default=DEFAULT_RANDOM_CONTROL,
                   help="fraction of the batch drawn uniformly from the pool, marked as the "
                        "control (default %(default)s)")
    p.add_argument("--seed", type=SEED, default=0)
    p.add_argument("--tag", help="the selection's name (default al-iteration-ROUND)")
    p.add_argument("--pool-tag", help="only pool items carrying this tag")
    p.add_argument("--include-pending", action="store_true",
                   help="also consider unlabeled items waiting in earlier selections")
    p.add_argument("--config", help="JSON object (inline or a file) of strategy options: "
                   + ", ".join(f"{k} ({v})" for k, v in DEFAULT_OPTIONS.items()))
    p.add_argument("--background", action="store_true", help="start the job and return")

    p = command("label", data.cmd_label, "label a selection's unlabeled images from the demo's "
                "hidden ground truth, as reviews by 'oracle' (the demo's stand-in for a person)")
    p.add_argument("--selection", metavar="TAG", required=True)
    p.add_argument("--from-oracle", action="store_true", required=True,
                   help="use the project's hidden ground truth (demo and simulation projects)")
    p.add_argument("--min-score", type=float, default=PRELABEL_MIN_SCORE,
                   help="the pre-labels a reviewer would see, to count the corrections "
                        "(default %(default)s)")

    p = command("split", data.cmd_split, "assign labeled items to train/val/test")
    default = "/".join(str(round(100 * DEFAULT_DISTRIBUTION[s])) for s in SPLITS)
    p.add_argument("--distribution", default=default,
                   help="train/val/test as 80/10/10, 'equal', or train=0.7,val=0.2,test=0.1 "
                        "(default %(default)s)")
    p.add_argument("--seed", type=SEED, default=0)
    p.add_argument("--resplit", action="store_true",
                   help="redraw every labeled item's split, the frozen test split included")

    p = command("status", data.cmd_status, "counts by split and status, model, rounds")
    p.add_argument("--json", action="store_true")

    p = command("evaluate", models.cmd_evaluate, "evaluate a model on the frozen test split, "
                "first predicting the test images it has not predicted (stored with the test "
                "set's identity)")
    p.add_argument("--model", type=ID, required=True, help="model id")
    p.add_argument("--iou", type=float, default=0.5, help="IoU threshold (default %(default)s)")
    p.add_argument("--json", action="store_true", help="the same schema as eval-coco --json")

    p = command("compare", models.cmd_compare, "compare a new model with the active (or --old) "
                "one on the frozen test split: update_model or discard (each model first "
                "predicts the test images it has not predicted)")
    p.add_argument("--new", type=ID, required=True, help="the candidate model id")
    p.add_argument("--old", type=ID, help="the model to beat (default: the active model)")
    p.add_argument("--config",
                   help="compare config, a JSON object inline or a file (Dataloop's format, "
                        "see docs/guide/compare.md; default: the "
                        "project's, else the safe default: one class won, mAP higher, no "
                        "class down by more than 0.05 AP)")
    p.add_argument("--apply", action="store_true",
                   help="carry the decision out: make the new model active, or discard it")

    p = command("train", models.cmd_train, "Create New Model: clone the active (or --base) "
                "model's config, apply --config, train on the train split, validate on val "
                "(one training at a time: a second one waits for the first)")
    p.add_argument("--config", help="JSON object (inline or a file) overriding config keys: "
                                    "arch, width, image_size, epochs, batch_size, lr, "
                                    "weight_decay, patience (stop on a val plateau), "
                                    "time_budget_s, augment, repeat_threshold, "
                                    "ema_decay, seed, weights_path, warm_start (fine-tune "
                                    "the base model), device")
    p.add_argument("--base", type=ID, help="model id whose config to clone (default: active)")
    p.add_argument("--background", action="store_true", help="start the job and return")

    p = command("predict", models.cmd_predict, "store a model's predictions (score >= 0.05) and "
                "image embeddings")
    p.add_argument("--model", type=ID, required=True)
    p.add_argument("--split", choices=("pool+test", "pool", "test", "all"), default="pool+test",
                   help="which items (default: the unlabeled pool and the test split)")

    p = command("jobs", models.cmd_jobs, "recent jobs (a job whose process died is marked failed)")
    p.add_argument("--limit", type=COUNT, default=20)

    p = command("cancel", models.cmd_cancel, "ask a running job to stop; a queued one is "
                "cancelled at once")
    p.add_argument("job_id", type=ID)

    p = command("models", models.cmd_models, "the model registry")
    p.add_argument("--json", action="store_true",
                   help='a list of {"id", "status", "parent", "arch", "created"}')

    add_team_commands(sub, command)
    add_work_commands(sub, command)

    # the job process itself: no help= keeps it out of the listing (help=SUPPRESS
    # listed it as "==SUPPRESS==")
    p = sub.add_parser("run-job")
    p.add_argument("--project", type=Path, required=True)
    p.add_argument("--job", type=ID, required=True)
    p.set_defaults(fn=models.cmd_run_job)

    help_text = ("the whole loop headless with the ground truth as the oracle: label "
                 "efficiency of query strategies vs random (curves.json, curves.png)")
    p = sub.add_parser("simulate", help=help_text, description=help_text)
    p.add_argument("--demo", action="store_true", help="simulate on the built-in demo")
    p.add_argument("--images", type=Path, help="images folder (with --coco)")
    p.add_argument("--coco", type=Path, help="COCO instances JSON: the oracle's labels")
    p.add_argument("--demo-seed", type=SEED, help="with --demo: another draw of the demo's "
                   "scenes (default 0, the demo's own), e.g. to choose settings on one draw "
                   "and report on another")
    p.add_argument("--demo-kind", choices=DEMO_KINDS,
                   help="with --demo: which demo dataset (default digits)")
    p.add_argument("--test-size", type=COUNT,
                   help="with --coco: items frozen as the test split (default 300, or "
                   "for a small dataset what fits beside the labels queried)")
    p.add_argument("--strategy", action="append", choices=list(STRATEGIES),
                   help="repeat for several (default: random, uncertainty, coreset, hybrid)")
    p.add_argument("--initial", type=COUNT, help="labels of round 0, picked by the cold-start "
                   "strategy (the same for every strategy)")
    p.add_argument("--initial-strategy", choices=list(STRATEGIES),
                   help=f"round 0's strategy (default {COLD_START_STRATEGY})")
    p.add_argument("--add", type=COUNT, help="labels added per round")
    p.add_argument("--rounds", type=COUNT, help="query rounds after round 0")
    p.add_argument("--seeds", type=COUNT, help="seeds per strategy")
    p.add_argument("--config", help="JSON object (inline or a file) of strategy options "
                   "for every query after round 0, as for query --config")
    p.add_argument("--train-config", help="JSON object overriding the training config of "
                   "every round (default epochs and sizes: see docs/simulation.md)")
    p.add_argument("--min-train-images", type=COUNT,
                   help="each round trains for at least this many images (default "
                        "4000; --quick 20)")
    p.add_argument("--box-level", action="store_true",
                   help="label rounds after round 0 by box-level review: pre-labels at or "
                        "above their class's threshold kept as predicted, the rest from the "
                        "oracle; records the seconds saved and the noise let in")
    p.add_argument("--prelabel-threshold", choices=("fixed", "model"), default="fixed",
                   help="the pre-label threshold corrections are counted at: fixed (0.3 for "
                        "every model, the default) or model (each model's own, chosen on its "
                        "validation images; the fixed one's counts are kept beside it)")
    p.add_argument("--out", type=Path, required=True,
                   help="output folder; rerunning with the same one resumes")
    p.add_argument("--quick", action="store_true",
                   help="a small variant for tests: a 300-image demo of 96 px scenes and "
                        "tiny training")
    p.set_defaults(fn=cli_simulate.cmd_simulate)

    help_text = ("per-class AP at one IoU threshold of a COCO results file against COCO "
                 "instances (equal to pycocotools)")
    p = sub.add_parser("eval-coco", help=help_text, description=help_text)
    p.add_argument("--gt", type=Path, required=True,
                   help="COCO instances JSON (image and category ids: numbers or strings, "
                        "as pycocotools takes them)")
    p.add_argument("--dt", type=Path, required=True,
                   help="COCO results JSON: a list of {image_id, category_id, bbox, score}")
    p.add_argument("--iou", type=float, default=0.5, help="IoU threshold (default %(default)s)")
    p.add_argument("--json", action="store_true",
                   help='print {"iou_threshold", "map", "per_class": {name: {"ap", "num_gt"}}}')
    p.set_defaults(fn=models.cmd_eval_coco)
    return parser


def add_acting_user(p: argparse.ArgumentParser) -> None:
    p.add_argument("--as", dest="as_user", metavar="NAME",
                   help=f"act as this project user (team mode: every change names who makes "
                        f"it, and their role must allow it); default: ${ACTING_USER_ENV}")


def add_team_commands(sub, command) -> None:
    """``users`` (its own subcommands) and ``audit``."""
    help_text = ("project users and roles (team mode): the first user added is a lead and "
                 "turns team mode on; passwords come from $ALS_PASSWORD or a prompt, never "
                 "from an argument")
    group = sub.add_parser("users", help=help_text, description=help_text)
    actions = group.add_subparsers(dest="users_command", required=True, metavar="ACTION")
    p = command("add", cli_users.cmd_add, "add a user (the project's first must be --role "
                "lead and needs no --as)", under=actions)
    p.add_argument("name", help="the user's name (as they sign in)")
    p.add_argument("--role", choices=ROLES, required=True,
                   help="annotator: labels; reviewer: also judges labels, exports and "
                        "evaluates; lead: everything, users included")
    p.add_argument("--email", help="the e-mail single sign-on maps to this user")
    p = command("list", cli_users.cmd_list, "the project's users and their roles",
                under=actions)
    p.add_argument("--json", action="store_true",
                   help='a list of {"name", "role", "email", "disabled", "created"}')
    p = command("set-role", cli_users.cmd_set_role, "change a user's role (their open "
                "sessions end)", under=actions)
    p.add_argument("name", help="the user")
    p.add_argument("role", choices=ROLES, help="the new role")
    p = command("disable", cli_users.cmd_disable, "disable a user (their sessions end; "
                "their labels and history stay)", under=actions)
    p.add_argument("name", help="the user")
    p = command("enable", cli_users.cmd_enable, "enable a disabled user again",
                under=actions)
    p.add_argument("name", help="the user")
    p = command("reset-password", cli_users.cmd_reset_password, "give a user a new password "
                "($ALS_PASSWORD or a prompt; their sessions end)", under=actions)
    p.add_argument("name", help="the user")
    p = command("set-email", cli_users.cmd_set_email, "set the e-mail single sign-on maps to "
                "a user ('' removes it)", under=actions)
    p.add_argument("name", help="the user")
    p.add_argument("email", help="their e-mail address ('' removes it)")

    p = command("audit", cli_users.cmd_audit, "the audit log (team mode: who changed what, "
                "when), newest first")
    p.add_argument("--actor", metavar="NAME", help="only this user's actions")
    p.add_argument("--action", help="only this action (e.g. review.save, user.role)")
    p.add_argument("--since", metavar="ISO", help="from this time on (ISO 8601, e.g. "
                   "2026-12-01 or 2026-12-01T09:00:00)")
    p.add_argument("--limit", type=COUNT, default=100,
                   help="rows shown (default %(default)s; --csv writes them all)")
    p.add_argument("--csv", type=Path, metavar="FILE", help="write every matching row to "
                   "this CSV file")


def add_work_commands(sub, command) -> None:
    """The review workflow (team mode): ``workflow``, ``assign``, ``unassign``, ``gold``
    (its own subcommands) and ``work``."""
    p = command("workflow", cli_work.cmd_workflow, "the review workflow's settings (team "
                "mode): shown, or changed with `workflow set` (a lead's)")
    p.add_argument("action", nargs="?", choices=("show", "set"), default="show",
                   help="show (default) or set the settings given below")
    p.add_argument("--review-share", type=share, metavar="SHARE",
                   help="the share of each annotator's first submissions sent to review, "
                        "drawn per submission (a spot check; 1 reviews everything)")
    p.add_argument("--cap", type=int_in(1, 10_000, "the cap range"), metavar="N",
                   help="the most images an annotator holds (assigned, in progress, "
                        "returned to them) before the pool stops serving them")
    p.add_argument("--skip-to", choices=SKIP_TO, help="where a skipped image goes: back to "
                   "the pool, or to the same annotator again")
    p.add_argument("--gold-rate", type=share, metavar="RATE",
                   help="the chance that an annotator's next pulled image is a gold image "
                        "they have not answered")
    p.add_argument("--approved-only", choices=("yes", "no"),
                   help="yes: only approved labels train models (the default); no: every "
                        "saved label trains")
    p.add_argument("--json", action="store_true", help="show the settings as one object")

    p = command("assign", cli_work.cmd_assign, "hand a selection's queued images to "
                "annotators as tasks (a lead's): in rank order, round-robin, or the "
                "images named")
    p.add_argument("selection", metavar="SELECTION", help="the selection's name (tag)")
    p.add_argument("--to", metavar="NAMES", required=True,
                   help="the annotators, separated by commas (ana,bo): task k goes to the "
                        "k-th, round-robin")
    p.add_argument("--size", type=int_in(1, 10 ** 9, "the task size range"), metavar="N",
                   required=True, help="the most images of one task")
    p.add_argument("--items", type=ids, metavar="IDS", help="only these queued images of "
                   "the selection, in this order (3,5,8); default: all its queued images")

    p = command("unassign", cli_work.cmd_unassign, "put assigned images nobody opened yet "
                "back in their selection's pool (a lead's)")
    p.add_argument("--items", type=ids, metavar="IDS", required=True,
                   help="the images, separated by commas (3,5,8)")

    help_text = ("gold images (team mode): approved labeled images, outside the test split, "
                 "mixed into annotators' queues to score them")
    group = sub.add_parser("gold", help=help_text, description=help_text)
    actions = group.add_subparsers(dest="gold_command", required=True, metavar="ACTION")
    p = command("add", cli_work.cmd_gold_add, "mark images as gold (a lead's)", under=actions)
    p.add_argument("ids", type=ids, metavar="IDS", help="image ids separated by commas")
    p = command("remove", cli_work.cmd_gold_remove, "unmark gold images (a lead's)",
                under=actions)
    p.add_argument("ids", type=ids, metavar="IDS", help="image ids separated by commas")
    p = command("list", cli_work.cmd_gold_list, "the gold images' ids (a reviewer's or "
                "lead's: annotators never learn which images are gold)", under=actions)
    p.add_argument("--json", action="store_true", help="a list of ids")

    p = command("work", cli_work.cmd_work, "each selection's images by workflow state "
                "(queued ... approved), its tasks, and the labels waiting for review")
    p.add_argument("--selection", metavar="TAG", help="only this selection")
    p.add_argument("--json", action="store_true", help='{"selections": [{"selection", '
                   '"states": {state: images}}], "waiting_for_review"}')


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.ERROR, format="%(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    try:
        return args.fn(args)
    except KeyboardInterrupt:
        print("\ninterrupted: nothing half-written was kept", file=sys.stderr)
        return 130
    except KeyError as exc:  # str() of a KeyError quotes its message
        print(f"error: {printable(exc.args[0] if exc.args else exc, None)}", file=sys.stderr)
        return 2
    except (ProjectError, ImportFailed, PermissionDenied, WorkflowError, ValueError, OSError,
            sqlite3.DatabaseError) as exc:
        print(f"error: {printable(exc, None)}", file=sys.stderr)  # it may quote a name
        return 2
