"""Admin for training runs and model versions: read-only records, promote and roll back actions.

Runs and versions are written only by the training pipeline; editing a metric or a status by
hand would make the history lie, so every field is read-only and the only changes allowed are
the two services a merchandiser needs: promote a version, roll back an algorithm.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html

from recommender.models import ModelVersion, TrainingRun
from recommender.training.champion import ChampionError, make_champion, rollback


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


class ModelVersionInline(admin.TabularInline):
    model = ModelVersion
    fields = ["algorithm", "status", "ndcg", "reason"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    @admin.display(description="NDCG@10")
    def ndcg(self, version: ModelVersion) -> str:
        return _metric(version.ndcg)


@admin.register(TrainingRun)
class TrainingRunAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "status",
        "progress_bar",
        "stage",
        "algorithms_text",
        "triggered_by",
        "attempts",
        "created_at",
        "duration_text",
    ]
    list_filter = ["status", "triggered_by"]
    date_hierarchy = "created_at"
    list_select_related = ["requested_by"]
    inlines = [ModelVersionInline]
    readonly_fields = [f.name for f in TrainingRun._meta.fields]

    @admin.display(description="Progress")
    def progress_bar(self, run: TrainingRun) -> str:
        return format_html(
            '<progress max="100" value="{}"></progress> {}%', run.progress, run.progress
        )

    @admin.display(description="Algorithms")
    def algorithms_text(self, run: TrainingRun) -> str:
        return ", ".join(run.algorithms)

    @admin.display(description="Duration")
    def duration_text(self, run: TrainingRun) -> str:
        return f"{run.duration.total_seconds():.1f}s" if run.duration else "–"


@admin.register(ModelVersion)
class ModelVersionAdmin(ReadOnlyAdmin):
    list_display = ["id", "algorithm", "status", "ndcg", "recall", "coverage", "run", "created_at"]
    list_filter = ["algorithm", "status"]
    list_select_related = ["run"]
    readonly_fields = [f.name for f in ModelVersion._meta.fields]
    actions = ["promote", "roll_back"]

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        # The changelist needs "change" for the promote/rollback actions to show; the form
        # stays read-only because every field is in readonly_fields.
        return admin.ModelAdmin.has_change_permission(self, request, obj)

    @admin.display(description="NDCG@10")
    def ndcg(self, version: ModelVersion) -> str:
        return _metric(version.ndcg)

    @admin.display(description="Recall@10")
    def recall(self, version: ModelVersion) -> str:
        return _metric(version.metrics.get("recall@10"))

    @admin.display(description="Coverage")
    def coverage(self, version: ModelVersion) -> str:
        return _metric(version.metrics.get("coverage"))

    # permissions=["change"]: without it Django offers and runs an action for anyone who may
    # view the changelist; serving a different model needs what the dashboard requires.
    @admin.action(
        description="Promote the selected version (it serves from now on)", permissions=["change"]
    )
    def promote(self, request: HttpRequest, queryset: QuerySet[ModelVersion]) -> None:
        if queryset.count() != 1:
            self.message_user(request, "Select exactly one version to promote.", messages.ERROR)
            return
        try:
            version = make_champion(version=queryset.get(), user=request.user)
        except ChampionError as exc:
            self.message_user(request, str(exc), messages.ERROR)
            return
        self.message_user(request, f"{version} now serves {version.algorithm}.", messages.SUCCESS)

    @admin.action(
        description="Roll back the selected versions' algorithms to their previous champion",
        permissions=["change"],
    )
    def roll_back(self, request: HttpRequest, queryset: QuerySet[ModelVersion]) -> None:
        for algorithm in sorted(set(queryset.values_list("algorithm", flat=True))):
            try:
                restored = rollback(algorithm=algorithm, user=request.user)
            except ChampionError as exc:
                self.message_user(request, str(exc), messages.ERROR)
                continue
            self.message_user(request, f"{algorithm}: restored {restored}.", messages.SUCCESS)


def _metric(value: float | None) -> str:
    return "–" if value is None else f"{value:.4f}"
