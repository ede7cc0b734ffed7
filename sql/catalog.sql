-- scrap_sga catalog: what to sync, how to reach Odoo, and what happened.
-- Objects here belong to the extension. The mirror tables (scrap_dimagaz_bc, ...) do NOT: they are
-- created by the first sync as ordinary tables, so DROP EXTENSION never takes the data with it
-- and pg_dump dumps them like any other table.

-- How to reach Odoo. One row. Nobody but its owner (a superuser) can read it, and it is left
-- out of pg_dump on purpose: after a restore, call scrap_sga.set_connection() again.
CREATE TABLE scrap_sga.connection (
    singleton   boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    url         text NOT NULL CHECK (url ~ '^https?://'),
    database    text NOT NULL CHECK (database <> ''),
    -- JSON-RPC logs in with it. JSON-2 does not use it: the API key names the user.
    login       text CHECK (login <> ''),
    -- The password or API key; or secret_file, a file on this server that holds the key and is
    -- read at every run (so a rotation is a new file, and the key never appears in SQL).
    secret      text CONSTRAINT connection_secret_check CHECK (secret <> ''),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    -- Columns below were added after 0.1.0: an upgrade appends them, so a fresh install does too.
    secret_file text CHECK (secret_file ~ '^/'),
    -- auto: ask the server its version at each run; JSON-2 on Odoo 19 and later.
    protocol    text NOT NULL DEFAULT 'auto' CHECK (protocol IN ('auto', 'json2', 'jsonrpc')),
    CONSTRAINT connection_one_secret CHECK ((secret IS NULL) <> (secret_file IS NULL)),
    -- Added in 0.3.0. Requests per second to Odoo from every process syncing this database
    -- together (NULL: no limit). Hosted Odoo answers 429 beyond its own limit.
    max_requests_per_second real CHECK (max_requests_per_second > 0),
    -- What the last run found out about the server, so that a run need not ask (found out
    -- again every schema_refresh, and after a failure that says the server changed).
    detected_protocol text CHECK (detected_protocol IN ('json2', 'jsonrpc')),
    detected_version  text,
    detected_uid      integer,
    detected_at       timestamptz,
    -- How it answers fingerprints of record sets (none: the runs list instead).
    detected_fingerprint text CHECK (detected_fingerprint IN ('formatted_read_group', 'read_group', 'none'))
);
COMMENT ON TABLE scrap_sga.connection IS 'The Odoo server scrap_sga reads from. Set it with scrap_sga.set_connection().';

-- The Odoo models to mirror, and where.
CREATE TABLE scrap_sga.model (
    model             text PRIMARY KEY CHECK (model ~ '^[a-z0-9_]+(\.[a-z0-9_]+)*$'),
    table_schema      name NOT NULL DEFAULT 'public',
    table_name        name NOT NULL,
    enabled           boolean NOT NULL DEFAULT true,
    -- Models are synced in this order (orders before their lines).
    sync_order        integer NOT NULL DEFAULT 100,
    page_size         integer NOT NULL DEFAULT 2000 CHECK (page_size BETWEEN 1 AND 50000),
    -- Records written since (cursor - lookback) are asked for again: Odoo truncates write_date
    -- to the second, and a transaction that commits late carries an older write_date.
    lookback          interval NOT NULL DEFAULT '5 minutes' CHECK (lookback >= '0'),
    -- How often the field list is asked again (fields_get), to follow fields added in Odoo.
    schema_refresh    interval NOT NULL DEFAULT '10 minutes' CHECK (schema_refresh >= '0'),
    -- How often (id, write_date) pairs are compared with Odoo's: repairs what the window missed
    -- (a transaction that committed later than lookback), and finds deletions the per-run count
    -- check could not see.
    reconcile_every   interval NOT NULL DEFAULT '1 hour' CHECK (reconcile_every >= '0'),
    -- Row audit (triggers into scrap_sga.audit_log) for this model's table.
    audit             boolean NOT NULL DEFAULT true,
    -- Highest write_date of the records copied by the last successful run (UTC).
    cursor            timestamptz,
    -- Odoo's clock (its HTTP Date header) when the last run first read, minus 10 seconds. The
    -- next run reads again every listed record written since: a second write within the same
    -- second has the same truncated write_date, so only a read made safely later can trust it.
    recheck_from      timestamptz,
    schema_checked_at timestamptz,
    reconciled_at     timestamptz,
    -- Columns below were added after 0.1.0 (an upgrade appends them).
    -- Odoo's clock when the last successful sync first read. The next run lists what was
    -- written since read_at - lookback: a window anchored on when we read, not on the newest
    -- write_date, so that a burst of writes stops being listed once lookback has passed.
    read_at           timestamptz,
    -- Live (not soft-deleted) rows of the mirror table, kept up to date by each write so that
    -- comparing it with Odoo's record count (to see deletions) costs nothing here.
    live_rows         bigint,
    -- How often the fields Odoo computes without storing them, where a DBA opted them in
    -- (scrap_sga.copy_computed_field), are read again for every record: their value can change
    -- without write_date moving.
    computed_refresh  interval NOT NULL DEFAULT '1 hour' CHECK (computed_refresh >= '0'),
    computed_refreshed_at timestamptz,
    -- Requests a full pass or a reconcile listing may have under way at once, each on its own id
    -- range. An Odoo serves one request per HTTP worker (odoo --workers N): up to N streams go
    -- faster, more only queue. 1 suits every Odoo, --workers 0 included.
    parallel          integer NOT NULL DEFAULT 1 CHECK (parallel BETWEEN 1 AND 16),
    -- Added in 0.3.0. Records per request that last worked, and what a record weighed then:
    -- batches shrink when Odoo cannot serve them (too large, too slow) and grow back gradually.
    batch_size        integer CHECK (batch_size > 0),
    bytes_per_record  integer CHECK (bytes_per_record >= 0),
    -- How a job worker is told which model to sync.
    model_id          integer GENERATED ALWAYS AS IDENTITY UNIQUE,
    -- The sum of the live rows' ids, kept with live_rows: Odoo's count and id sum against the
    -- mirror's tell a deletion even when a creation makes up for its count.
    live_id_sum       bigint,
    -- The fingerprint (count, id sum, newest write_date) Odoo gave of the records written since
    -- window_since, when the window was last listed: a run that gets the same one lists nothing.
    window_since      timestamptz,
    window_count      bigint,
    window_id_sum     bigint,
    window_newest     timestamptz,
    -- A row copied less than this after its write_date (Odoo's clock; the measured offset of
    -- ours folded in) may hide a second write in the same second: read once more.
    recheck_margin    interval,
    -- Added in 0.4.0. How often the display names kept beside many2ones (<field>_display) are
    -- checked against Odoo: the records each points to that were written since the last check
    -- (one small request per related model, shared by the models of a run), then every id
    -- referenced, with each reconcile. 0: at every run.
    display_refresh   interval NOT NULL DEFAULT '5 minutes' CHECK (display_refresh >= '0'),
    UNIQUE (table_schema, table_name)
);
COMMENT ON TABLE scrap_sga.model IS 'Odoo models mirrored by scrap_sga, their target tables and per-model settings.';

-- Empty at CREATE EXTENSION: the first set_connection() registers dimagaz.bc and its lines
-- (sql/api.sql says why).

-- The fields Odoo reported, and what became of each.
CREATE TABLE scrap_sga.model_field (
    model        text NOT NULL REFERENCES scrap_sga.model ON UPDATE CASCADE ON DELETE CASCADE,
    field        text NOT NULL,
    odoo_type    text NOT NULL,
    relation     text,
    label        text,
    stored       boolean NOT NULL,
    -- active: copied; skipped: never copied (see reason); retired: gone from Odoo, column kept.
    status       text NOT NULL CHECK (status IN ('active', 'skipped', 'retired')),
    columns      text[] NOT NULL DEFAULT '{}',
    pg_types     text[] NOT NULL DEFAULT '{}',
    reason       text,
    first_seen   timestamptz NOT NULL DEFAULT now(),
    changed_at   timestamptz NOT NULL DEFAULT now(),
    -- Added after 0.1.0. For a field Odoo computes without storing it: copied anyway because a
    -- DBA said so (scrap_sga.copy_computed_field).
    copy_computed boolean NOT NULL DEFAULT false,
    -- Added in 0.3.0, from fields_get. A float's [precision, scale] (empty: numeric without
    -- them); NULL where Odoo gives no digits.
    digits       integer[],
    -- A selection's [value, label] pairs, as Odoo sent them (Django makes them choices).
    selection    jsonb,
    -- A one2many's inverse: the many2one of the related model that points back.
    relation_field text,
    -- Left out by the DBA (scrap_sga.exclude_field): never read, its column and data stay.
    excluded     boolean NOT NULL DEFAULT false,
    -- Since when the sync user may not read it (Odoo refused it, naming it): not read, and tried
    -- again at each field check (schema_refresh).
    unreadable_since timestamptz,
    -- Added in 0.4.0, for a many2one with a display column: when its display names were last
    -- checked against the model it points to (our clock), Odoo's clock at that check (the next
    -- asks for what was written since, less the model's lookback), and why they could not be
    -- (the sync user may not read that model): the column then keeps what it has.
    display_checked_at timestamptz,
    display_since      timestamptz,
    display_error      text,
    PRIMARY KEY (model, field)
);
COMMENT ON TABLE scrap_sga.model_field IS 'Every field fields_get reported for each model, its columns, or why it is not copied.';

CREATE SEQUENCE scrap_sga.invocation_seq;

-- One row per model per run: the equivalent of cron.job_run_details.
CREATE TABLE scrap_sga.sync_run (
    run_id         bigserial PRIMARY KEY,
    -- The rows of one sync() call (or one worker cycle) share it.
    invocation     bigint NOT NULL,
    model          text NOT NULL,
    trigger        text NOT NULL CHECK (trigger IN ('manual', 'worker', 'resync', 'full_resync', 'reconcile', 'resync_failed')),
    status         text NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'succeeded', 'failed')),
    started_at     timestamptz NOT NULL DEFAULT clock_timestamp(),
    finished_at    timestamptz,
    -- (id, write_date) pairs listed: by incremental runs in their window (then they read what
    -- changed), and by reconcile for every record.
    listed         bigint NOT NULL DEFAULT 0,
    fetched        bigint NOT NULL DEFAULT 0,
    inserted       bigint NOT NULL DEFAULT 0,
    updated        bigint NOT NULL DEFAULT 0,
    unchanged      bigint NOT NULL DEFAULT 0,
    deleted        bigint NOT NULL DEFAULT 0,
    restored       bigint NOT NULL DEFAULT 0,
    failed         bigint NOT NULL DEFAULT 0,
    -- full: every record was read (first run, new columns, full_resync); incremental otherwise.
    mode           text,
    reconciled     boolean NOT NULL DEFAULT false,
    pages          bigint NOT NULL DEFAULT 0,
    requests       bigint NOT NULL DEFAULT 0,
    -- Where the time went: waiting for Odoo (including reading its JSON), and writing pages.
    odoo_time      interval,
    db_time        interval,
    cursor_before  timestamptz,
    cursor_after   timestamptz,
    odoo_version   text,
    schema_changes text[] NOT NULL DEFAULT '{}',
    sqlstate       text,
    error          text,
    backend_pid    integer NOT NULL DEFAULT pg_backend_pid(),
    -- Columns below were added after 0.1.0 (an upgrade appends them).
    -- The protocol the run spoke: json2 or jsonrpc (the connection's protocol may be auto).
    protocol       text,
    -- Records reconcile found out of date and read again: a late commit the window missed (or a
    -- write made while the run went on). Non-zero means the repair worked.
    repaired       bigint NOT NULL DEFAULT 0,
    -- Added in 0.3.0. Records Odoo could not serve even alone, set aside in the retry queue;
    -- batches halved after Odoo could not serve them; answers of 429 or 503 waited for.
    parked         bigint NOT NULL DEFAULT 0,
    splits         bigint NOT NULL DEFAULT 0,
    waits          bigint NOT NULL DEFAULT 0,
    -- Added in 0.4.0: how far a run under way is, current to its last page (scrap_sga.progress).
    -- The step it is in; records done in it and expected (NULL: not known), records per second
    -- over its last pages, when these were written; the id after which a full pass resumed.
    phase          text,
    done           bigint,
    expected       bigint,
    rate           real,
    progress_at    timestamptz,
    resumed_from   integer,
    -- Rows whose many2one display names were set to what the named records show now (counted
    -- in updated too, but not read again: unchanged = fetched - inserted - (updated - renamed)
    -- - restored - failed).
    renamed        bigint NOT NULL DEFAULT 0
);
CREATE INDEX ON scrap_sga.sync_run (model, started_at DESC);
CREATE INDEX ON scrap_sga.sync_run (invocation);
-- The status view's last run and last success of each model, read from an index (0.3.0).
CREATE INDEX sync_run_model_run_id_idx ON scrap_sga.sync_run (model, run_id DESC);
CREATE INDEX sync_run_model_succeeded_idx ON scrap_sga.sync_run (model, run_id DESC) WHERE status = 'succeeded';
-- The runs under way (scrap_sga.progress), read from an index however long the log (0.4.0).
CREATE INDEX sync_run_running_idx ON scrap_sga.sync_run (run_id) WHERE status = 'running';
COMMENT ON TABLE scrap_sga.sync_run IS 'One row per model per run: what started it, counts, cursor before and after, and the error of a failed run.';

-- Records that could not be stored (a value that does not fit its column, a constraint), or not
-- even fetched alone (an answer too large or too slow for one record). The rest of their page is
-- stored; each later sync retries those that are due, with exponential back-off, and an entry
-- leaves the queue when its record is stored.
CREATE TABLE scrap_sga.failed_record (
    model            text NOT NULL,
    odoo_id          integer NOT NULL,
    sqlstate         text,
    error            text NOT NULL,
    attempts         integer NOT NULL DEFAULT 1,
    first_failed_at  timestamptz NOT NULL DEFAULT now(),
    last_failed_at   timestamptz NOT NULL DEFAULT now(),
    next_attempt_at  timestamptz NOT NULL DEFAULT now() + interval '1 minute',
    last_run_id      bigint,
    PRIMARY KEY (model, odoo_id),
    -- Added in 0.3.0. The write_date Odoo listed for the record since it failed: while it stays
    -- the same, windows and reconcile leave the record to its retry (NULL: not known).
    write_date       timestamptz
);
COMMENT ON TABLE scrap_sga.failed_record IS
'Records that could not be stored or fetched, waiting for a retry (next_attempt_at, doubling up to a day). scrap_sga.resync_failed() retries them all now.';

-- A full pass under way (the first copy, full_resync(), the pass owed after new columns): where
-- each of its id ranges got to, committed with each page, so that a pass cut by an error, a
-- cancel, a crash or a restart resumes there at the next run, whatever starts it (0.4.0). Gone
-- once the run that finishes the pass succeeds.
CREATE TABLE scrap_sga.full_pass (
    model          text PRIMARY KEY REFERENCES scrap_sga.model ON UPDATE CASCADE ON DELETE CASCADE,
    started_at     timestamptz NOT NULL DEFAULT now(),
    -- Odoo's clock at the pass's first answer, and the newest write_date it copied: the run that
    -- finishes the pass anchors the next window there, so that what changed while it went on
    -- (and between its attempts) is read as usual.
    read_at        timestamptz,
    max_write_date timestamptz,
    -- The columns it copies ("name type"): a pass resumes only with the same plan.
    plan           text[] NOT NULL,
    -- Odoo's record count when it began, and the records it committed since (every attempt).
    expected       bigint,
    done           bigint NOT NULL DEFAULT 0,
    -- How many times it resumed.
    resumes        integer NOT NULL DEFAULT 0
);
COMMENT ON TABLE scrap_sga.full_pass IS 'A full pass under way, resumable: its plan, Odoo''s count when it began, what it copied so far.';

-- The id ranges of a full pass (one per stream's share, see scrap_sga.model.parallel): every id
-- of a range up to done_through is committed. A range is gone once read to its end.
CREATE TABLE scrap_sga.full_pass_range (
    model        text NOT NULL REFERENCES scrap_sga.full_pass ON UPDATE CASCADE ON DELETE CASCADE,
    -- Ids after lo, up to hi (NULL: no end).
    lo           integer NOT NULL,
    hi           integer,
    done_through integer NOT NULL,
    PRIMARY KEY (model, lo)
);
COMMENT ON TABLE scrap_sga.full_pass_range IS 'Where each id range of a full pass under way got to.';

-- What the background worker is doing (one row; written by the worker itself).
CREATE TABLE scrap_sga.worker_state (
    singleton            boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    pid                  integer,
    state                text,
    next_run_at          timestamptz,
    consecutive_failures integer NOT NULL DEFAULT 0,
    interval_s           integer,
    updated_at           timestamptz
);

-- pg_dump keeps the configuration and history (the connection row is dumped by superusers only).
SELECT pg_catalog.pg_extension_config_dump('scrap_sga.model', '');
SELECT pg_catalog.pg_extension_config_dump('scrap_sga.model_field', '');
SELECT pg_catalog.pg_extension_config_dump('scrap_sga.sync_run', '');
SELECT pg_catalog.pg_extension_config_dump('scrap_sga.failed_record', '');
SELECT pg_catalog.pg_extension_config_dump('scrap_sga.full_pass', '');
SELECT pg_catalog.pg_extension_config_dump('scrap_sga.full_pass_range', '');
SELECT pg_catalog.pg_extension_config_dump('scrap_sga.sync_run_run_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('scrap_sga.invocation_seq', '');
SELECT pg_catalog.pg_extension_config_dump('scrap_sga.model_model_id_seq', '');
