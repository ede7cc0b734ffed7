"""The extension's own tables, as Django reads them: the sync status, the run log, the retry
queue and the audit log (the admin's sync page, its changelists, and each record's history).
Unmanaged and read-only, like the mirror models, and read through the same connection.

The mirror models themselves are not here: ``manage.py scrap_sga_models <your_app>`` generates
them into an app of your project (docs/django.md, "The models").
"""
import json
from decimal import Decimal

from django.db import models

from .mirror import ReadOnlyModel


class ExactNumbers(json.JSONDecoder):
    """Numbers with a fraction as Decimal: an amount's old and new values digit for digit (a
    float would round them); history.py gives each value its column's type."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, parse_float=Decimal, **kwargs)


class SyncStatus(ReadOnlyModel):
    """A row of the view scrap_sga.status: one per mirrored model."""

    model = models.TextField(primary_key=True, verbose_name="Odoo model")
    mirror_table = models.TextField()
    enabled = models.BooleanField()
    rows = models.BigIntegerField(null=True, help_text="Live rows in its mirror table.")
    last_run = models.ForeignKey("SyncRun", models.DO_NOTHING, db_constraint=False, null=True, related_name="+")
    last_status = models.TextField(null=True)
    last_run_at = models.DateTimeField(null=True)
    last_error = models.TextField(null=True)
    last_success_at = models.DateTimeField(null=True)
    lag = models.DurationField(null=True, help_text="Since the last successful run finished.")
    waiting_retry = models.BigIntegerField(help_text="Records waiting in the retry queue.")
    worker = models.TextField(null=True)
    next_run_at = models.DateTimeField(null=True)

    class Meta:
        managed = False
        db_table = '"scrap_sga"."status"'
        verbose_name = "sync status"
        verbose_name_plural = "sync status"


class SyncRun(ReadOnlyModel):
    """A row of the run log, scrap_sga.sync_run: one per model per run."""

    run_id = models.BigAutoField(primary_key=True)
    invocation = models.BigIntegerField()
    model = models.TextField(verbose_name="Odoo model")
    trigger = models.TextField()
    status = models.TextField()
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True)
    listed = models.BigIntegerField()
    fetched = models.BigIntegerField()
    inserted = models.BigIntegerField()
    updated = models.BigIntegerField()
    unchanged = models.BigIntegerField()
    deleted = models.BigIntegerField()
    restored = models.BigIntegerField()
    failed = models.BigIntegerField()
    mode = models.TextField(null=True)
    reconciled = models.BooleanField()
    pages = models.BigIntegerField()
    requests = models.BigIntegerField()
    odoo_time = models.DurationField(null=True)
    db_time = models.DurationField(null=True)
    cursor_before = models.DateTimeField(null=True)
    cursor_after = models.DateTimeField(null=True)
    odoo_version = models.TextField(null=True)
    sqlstate = models.TextField(null=True)
    error = models.TextField(null=True)
    backend_pid = models.IntegerField()
    protocol = models.TextField(null=True)
    repaired = models.BigIntegerField()
    parked = models.BigIntegerField()
    splits = models.BigIntegerField()
    waits = models.BigIntegerField()

    class Meta:
        managed = False
        db_table = '"scrap_sga"."sync_run"'
        verbose_name = "run"
        verbose_name_plural = "run log"

    def __str__(self):
        return f"run {self.run_id} ({self.model}, {self.trigger})"


class FailedRecord(ReadOnlyModel):
    """A record waiting for a retry, scrap_sga.failed_record.

    Its key is (model, odoo_id), and Django's admin takes a single-column primary key only:
    ``odoo_id`` stands for it. The admin shows the queue as a list (no page per record), and
    nothing here looks a row up by that key alone."""

    model = models.TextField(verbose_name="Odoo model")
    odoo_id = models.IntegerField(primary_key=True, verbose_name="Odoo id")
    sqlstate = models.TextField(null=True)
    error = models.TextField()
    attempts = models.IntegerField()
    first_failed_at = models.DateTimeField()
    last_failed_at = models.DateTimeField()
    next_attempt_at = models.DateTimeField()
    last_run = models.ForeignKey(SyncRun, models.DO_NOTHING, db_constraint=False, null=True, related_name="+")
    write_date = models.DateTimeField(null=True, help_text="The write_date Odoo listed for the record since it failed.")

    class Meta:
        managed = False
        db_table = '"scrap_sga"."failed_record"'
        # The real key: the admin's list is ordered by it, so that its pages never repeat a row.
        unique_together = [("model", "odoo_id")]
        verbose_name = "record waiting for a retry"
        verbose_name_plural = "retry queue"


class AuditLog(ReadOnlyModel):
    """A row of scrap_sga.audit_log: one record inserted, updated, soft-deleted or restored by a
    run, with the columns that changed (old and new values as to_jsonb renders them)."""

    audit_id = models.BigAutoField(primary_key=True)
    logged_at = models.DateTimeField()
    # Runs are pruned sooner than the audit (their retention is their own): a run may be gone.
    run = models.ForeignKey(SyncRun, models.DO_NOTHING, db_constraint=False, null=True, related_name="+")
    table_schema = models.TextField(null=True)
    table_name = models.TextField()
    odoo_id = models.IntegerField()
    operation = models.TextField()
    old_values = models.JSONField(null=True, decoder=ExactNumbers)
    new_values = models.JSONField(null=True, decoder=ExactNumbers)

    class Meta:
        managed = False
        db_table = '"scrap_sga"."audit_log"'
