"""The regime calibration (fortifai.recursive.calibration): M0 at every grid point of fortifai.claims.regime, then
results/regime/choice.json. Resumable: run it again after an interruption.

    git worktree add ../regime-calibration <commit>       # code pinned at the commit that starts the runs
    cd ../regime-calibration && nohup .venv/bin/python scripts/regime_calibration.py > regime.log 2>&1 &
"""

from fortifai.recursive.calibration import calibrate

if __name__ == "__main__":
    choice = calibrate()
    print("chosen:", choice["chosen"])
