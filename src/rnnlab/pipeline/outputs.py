"""The files of a pipeline run that git keeps: what a retraining commits.

DVC keeps an output in git, not in its cache, when dvc.yaml says `cache: false`
(selection records, metrics, history plots, the leaderboard tables, the promotion record).
Those, dvc.lock and the params files its stages read are what a clone needs beside the DVC
remote for `dvc status` to be clean; the list comes from DVC's own index of the pipeline,
so a new stage's outputs are in it without anyone listing them.
"""

from __future__ import annotations

from pathlib import Path

from dvc.dependency.param import ParamsDependency
from dvc.repo import Repo


def git_kept(root: Path) -> list[str]:
    """Paths relative to `root`, sorted, of every existing file git keeps for the pipeline."""
    with Repo(str(root)) as repo:
        paths: set[str] = set()
        for stage in repo.index.stages:
            paths |= {out.def_path for out in stage.outs if not out.use_cache}
            paths |= {dep.def_path for dep in stage.deps if isinstance(dep, ParamsDependency)}
            if stage.dvcfile.path.endswith("dvc.yaml"):
                paths.add(str(Path(stage.dvcfile.path).with_suffix(".lock").relative_to(root)))
    return sorted(path for path in paths if (root / path).is_file())
