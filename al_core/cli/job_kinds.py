"""Every job kind, registered: importing this module imports each module whose
``@job_kind`` functions the job process (``python -m al_core run-job``) may be asked to
run. A new job kind is named in :data:`al_core.jobs.runner.JOB_KINDS` and its module is
imported here (a test keeps the two in step). Importing it loads torch."""
from al_core.decide import compare_job, retrain  # noqa: F401 - compare, retrain
from al_core.query import round  # noqa: F401 - query
from al_core.training import prediction, train_job  # noqa: F401 - predict, train
