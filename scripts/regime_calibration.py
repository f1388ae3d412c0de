"""The regime calibration (fortifai.experiments.calibration): M0 at every grid point of fortifai.claims.regime, then
results/regime/choice.json. Resumable: run it again after an interruption.

    git worktree add ../regime-calibration <commit>       # code pinned at the commit that starts the runs
    cd ../regime-calibration && nohup .venv/bin/python scripts/regime_calibration.py > regime.log 2>&1 &
    python scripts/regime_calibration.py --choose          # choice.json again from the runs, running nothing
    python scripts/regime_calibration.py --pilot           # then the CE pilot (results/regime/pilot/), resumable
    python scripts/regime_calibration.py --pilot --reverse # a second pilot worker beside the first
"""

import sys

from fortifai.experiments.calibration import calibrate, choose_from_runs, run_pilot

if __name__ == "__main__":
    if "--pilot" in sys.argv[1:]:  # the CE pilot at the chosen point, six stages, rung by rung of the ladder
        print("pilot:", run_pilot(reverse="--reverse" in sys.argv[1:]))
    else:  # --choose: choice.json again from the finished runs only (after collecting them, or a disclosed change)
        # --reverse: dearest points first, a second worker beside the first on the same runs folder
        choice = choose_from_runs() if "--choose" in sys.argv[1:] else calibrate(reverse="--reverse" in sys.argv[1:])
        print("chosen:", choice["chosen"])
