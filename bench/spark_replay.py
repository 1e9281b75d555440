"""The Spark trainer against the numpy one on the product's replay (issue 14: "its lists must
score within 5 % of the numpy ALS on the same replay").

Runs ``replay_shop`` (what ``manage.py evaluate`` runs) once per trainer in one process, keeps
each shopper's NDCG@10 of the forced "for you" list, and prints spark / numpy with its paired
95 % bootstrap interval over shoppers, beside each trainer's fit time.

    DATABASE_URL=… .venv/bin/python -m bench.spark_replay --algorithm als
"""

from __future__ import annotations

import argparse
import os
import time

import django


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--algorithm", default="als")
    parser.add_argument("--tuning-budget", type=float, default=0.0)
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    django.setup()
    from django.conf import settings

    from recommender.replay import services
    from recommender.replay.scoring import ratio_interval

    per_user: dict[str, list] = {}
    score_lists = services.score_lists

    def recording(recs, **kwargs):
        metrics, ndcg = score_lists(recs, **kwargs)
        per_user.setdefault(settings.SHELFWISE_TRAINER, []).append(ndcg)
        return metrics, ndcg

    services.score_lists = recording
    found = {}
    for trainer in ("numpy", "spark"):
        settings.SHELFWISE_TRAINER = trainer
        started = time.perf_counter()
        report = services.replay_shop(
            algorithms=[args.algorithm], tuning_budget_seconds=args.tuning_budget
        )
        names = [s.name for s in report.scores if s.target == "new items"]
        # score_lists ran once per "new items" list, baselines first, in report order.
        position = names.index(f"for_you served ({args.algorithm})")
        found[trainer] = per_user[trainer][position]
        fit = report.facts["models"][args.algorithm]
        print(
            f"{trainer}: ndcg@10 {found[trainer].mean():.4f} over {found[trainer].size} shoppers, "
            f"holdout {fit['holdout_ndcg@10']:.4f}, tune+fit+refit {fit['seconds']} s, "
            f"replay {time.perf_counter() - started:.0f} s"
        )
    interval = ratio_interval(found["spark"], found["numpy"])
    print(f"spark / numpy: {interval['ratio']:.3f} [{interval['low']:.3f}, {interval['high']:.3f}]")


if __name__ == "__main__":
    main()
