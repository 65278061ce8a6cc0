/* The schema and its versioned migrations. Each migration runs once, in its own IMMEDIATE
 * transaction together with its schema_migrations row, so a crash or a second daemon opening
 * the same file at the same moment never leaves a half-applied or doubly-applied version.
 * Migrations are append-only: never edit one that has shipped, add the next version. */
#include <sqlite3.h>

#include "store/store-private.h"
#include "util/clock.h"

struct store_migration {
    int version;
    const char *description;
    const char *sql;
};

/* Version 1. Times are UTC epoch ms; 0 ("unset") is stored as NULL, as are unknown token
 * counts and cost. Status and end are stored by name, so the file reads well in sqlite3(1).
 * Indexes: the dispatcher's queue order (status, priority, queue_seq, covering id); listing
 * newest first, all tasks or one status; the dependents of a task; the latest checkpoint of a
 * task. queue_seq is UNIQUE, which also makes MAX() cheap.
 * task_status_counts is kept by triggers so `beat status` counts in constant time: a grouped
 * COUNT(*) walks an index entry per task (about 7 ms at 100k tasks), this reads six rows. */
static const char store_schema_v1[] =
    "CREATE TABLE tasks ("
    "  id TEXT PRIMARY KEY,"
    "  prompt TEXT NOT NULL,"
    "  status TEXT NOT NULL CHECK (status IN"
    "    ('queued','blocked','running','completed','failed','cancelled')),"
    "  priority INTEGER NOT NULL CHECK (priority BETWEEN 0 AND 2),"
    "  agent TEXT,"
    "  working_directory TEXT,"
    "  timeout_ms INTEGER NOT NULL DEFAULT 0,"
    "  max_output_buffer INTEGER NOT NULL DEFAULT 0,"
    "  model TEXT,"
    "  system_prompt TEXT,"
    "  parent_task_id TEXT,"
    "  retry_of TEXT,"
    "  retry_count INTEGER NOT NULL DEFAULT 0,"
    "  continue_from TEXT,"
    "  resume_mode TEXT,"
    "  resume_session TEXT,"
    "  created_at INTEGER NOT NULL,"
    "  updated_at INTEGER NOT NULL,"
    "  started_at INTEGER,"
    "  completed_at INTEGER,"
    "  pid INTEGER,"
    "  pgid INTEGER,"
    "  proc_start INTEGER,"
    "  supervisor_pid INTEGER,"
    "  supervisor_start INTEGER,"
    "  end_kind TEXT NOT NULL DEFAULT 'none' CHECK (end_kind IN ('none','exited','signaled',"
    "    'timeout','cancelled','spawn_error','lost','dependency')),"
    "  exit_code INTEGER,"
    "  signal INTEGER NOT NULL DEFAULT 0,"
    "  reason TEXT,"
    "  session_id TEXT,"
    "  result_text TEXT,"
    "  api_error TEXT,"
    "  input_tokens INTEGER,"
    "  output_tokens INTEGER,"
    "  cost_usd REAL,"
    "  stdout_bytes INTEGER NOT NULL DEFAULT 0,"
    "  stderr_bytes INTEGER NOT NULL DEFAULT 0,"
    "  output_truncated INTEGER NOT NULL DEFAULT 0 CHECK (output_truncated IN (0, 1)),"
    "  env TEXT,"
    "  client_cwd TEXT,"
    "  queue_seq INTEGER NOT NULL UNIQUE"
    ") STRICT;"
    "CREATE INDEX tasks_queue ON tasks (status, priority, queue_seq, id);"
    "CREATE INDEX tasks_created ON tasks (created_at DESC, queue_seq DESC);"
    "CREATE INDEX tasks_status_created ON tasks (status, created_at DESC, queue_seq DESC);"
    ""
    "CREATE TABLE task_status_counts ("
    "  status TEXT PRIMARY KEY,"
    "  n INTEGER NOT NULL"
    ") STRICT, WITHOUT ROWID;"
    "INSERT INTO task_status_counts (status, n) VALUES ('queued', 0), ('blocked', 0),"
    "  ('running', 0), ('completed', 0), ('failed', 0), ('cancelled', 0);"
    "CREATE TRIGGER tasks_count_insert AFTER INSERT ON tasks BEGIN"
    "  UPDATE task_status_counts SET n = n + 1 WHERE status = NEW.status;"
    "END;"
    "CREATE TRIGGER tasks_count_delete AFTER DELETE ON tasks BEGIN"
    "  UPDATE task_status_counts SET n = n - 1 WHERE status = OLD.status;"
    "END;"
    "CREATE TRIGGER tasks_count_update AFTER UPDATE OF status ON tasks"
    "  WHEN OLD.status <> NEW.status BEGIN"
    "  UPDATE task_status_counts SET n = n - 1 WHERE status = OLD.status;"
    "  UPDATE task_status_counts SET n = n + 1 WHERE status = NEW.status;"
    "END;"
    ""
    "CREATE TABLE task_dependencies ("
    "  id INTEGER PRIMARY KEY,"
    "  task_id TEXT NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,"
    "  depends_on TEXT NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,"
    "  created_at INTEGER NOT NULL,"
    "  resolved_at INTEGER,"
    "  resolution TEXT NOT NULL DEFAULT 'pending'"
    "    CHECK (resolution IN ('pending','completed','failed','cancelled')),"
    "  UNIQUE (task_id, depends_on),"
    "  CHECK (task_id <> depends_on)"
    ") STRICT;"
    "CREATE INDEX task_dependencies_depends_on ON task_dependencies (depends_on);"
    ""
    "CREATE TABLE task_checkpoints ("
    "  id INTEGER PRIMARY KEY,"
    "  task_id TEXT NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,"
    "  status TEXT NOT NULL CHECK (status IN ('completed','failed','cancelled')),"
    "  reason TEXT,"
    "  exit_code INTEGER,"
    "  output_tail TEXT,"
    "  error_tail TEXT,"
    "  result_text TEXT,"
    "  session_id TEXT,"
    "  git_branch TEXT,"
    "  git_commit TEXT,"
    "  git_changed TEXT,"
    "  created_at INTEGER NOT NULL"
    ") STRICT;"
    "CREATE INDEX task_checkpoints_task ON task_checkpoints (task_id);";

/* Version 2: schedules. A schedule's template and pipeline steps are JSON (the task settings
 * frozen at creation); env is the creating client's environment (secret, like tasks.env).
 * schedule_executions has one row per fire time, whatever became of it (a run, a missed or a
 * skipped fire); UNIQUE (schedule_id, fire_time) is the claim that makes a fire run once.
 * task_ids is the run's tasks as a JSON array, and schedule_run_tasks maps each task back to
 * its run so a task's end settles the run with one index lookup. Indexes: the due scan and
 * the earliest wake (status, next_run_at); the start-up check for a clock that went back
 * (status, updated_at); listing newest first; the open runs of a schedule and the delayed
 * pipeline steps (partial indexes: both sets stay small). The large JSON columns come last, so
 * reading the others never walks their overflow pages. No foreign key to tasks: pruning old
 * tasks must not touch schedule history. */
static const char store_schema_v2[] =
    "CREATE TABLE schedules ("
    "  id TEXT PRIMARY KEY,"
    "  status TEXT NOT NULL CHECK (status IN"
    "    ('active','paused','completed','cancelled','expired')),"
    "  schedule_type TEXT NOT NULL CHECK (schedule_type IN ('cron','one_time')),"
    "  cron_expression TEXT,"
    "  timezone TEXT NOT NULL,"
    "  scheduled_at INTEGER,"
    "  missed_run_policy TEXT NOT NULL CHECK (missed_run_policy IN ('skip','catchup','fail')),"
    "  max_runs INTEGER CHECK (max_runs IS NULL OR max_runs >= 1),"
    "  run_count INTEGER NOT NULL DEFAULT 0,"
    "  last_run_at INTEGER,"
    "  next_run_at INTEGER,"
    "  expires_at INTEGER,"
    "  after_schedule_id TEXT,"
    "  client_cwd TEXT,"
    "  reason TEXT,"
    "  created_at INTEGER NOT NULL,"
    "  updated_at INTEGER NOT NULL,"
    "  template TEXT NOT NULL,"
    "  steps TEXT,"
    "  env TEXT,"
    "  CHECK ((schedule_type = 'cron') = (cron_expression IS NOT NULL)),"
    "  CHECK (schedule_type = 'cron' OR scheduled_at IS NOT NULL)"
    ") STRICT;"
    "CREATE INDEX schedules_due ON schedules (status, next_run_at);"
    "CREATE INDEX schedules_updated ON schedules (status, updated_at);"
    "CREATE INDEX schedules_created ON schedules (created_at DESC, id DESC);"
    "CREATE INDEX schedules_status_created ON schedules (status, created_at DESC, id DESC);"
    ""
    "CREATE TABLE schedule_executions ("
    "  id INTEGER PRIMARY KEY,"
    "  schedule_id TEXT NOT NULL REFERENCES schedules (id) ON DELETE CASCADE,"
    "  fire_time INTEGER NOT NULL,"
    "  status TEXT NOT NULL CHECK (status IN"
    "    ('triggered','completed','failed','cancelled','missed','skipped')),"
    "  executed_at INTEGER,"
    "  task_ids TEXT,"
    "  covers TEXT,"
    "  error TEXT,"
    "  next_step INTEGER NOT NULL DEFAULT 0 CHECK (next_step >= 0),"
    "  wait_task TEXT,"
    "  resume_at INTEGER,"
    "  created_at INTEGER NOT NULL,"
    "  updated_at INTEGER NOT NULL,"
    "  UNIQUE (schedule_id, fire_time)"
    ") STRICT;"
    "CREATE INDEX schedule_executions_open ON schedule_executions (schedule_id)"
    "  WHERE status = 'triggered';"
    "CREATE INDEX schedule_executions_resume ON schedule_executions (resume_at)"
    "  WHERE resume_at IS NOT NULL;"
    ""
    "CREATE TABLE schedule_run_tasks ("
    "  task_id TEXT PRIMARY KEY,"
    "  execution_id INTEGER NOT NULL REFERENCES schedule_executions (id) ON DELETE CASCADE"
    ") STRICT, WITHOUT ROWID;"
    "CREATE INDEX schedule_run_tasks_execution ON schedule_run_tasks (execution_id);";

static const struct store_migration store_migrations[] = {
    { 1, "tasks, task_dependencies, task_checkpoints", store_schema_v1 },
    { 2, "schedules, schedule_executions, schedule_run_tasks", store_schema_v2 },
};
#define STORE_SCHEMA_LATEST \
    (store_migrations[sizeof store_migrations / sizeof store_migrations[0] - 1].version)

static const char store_sql_migrations_table[] = "CREATE TABLE IF NOT EXISTS schema_migrations ("
                                                 "  version INTEGER PRIMARY KEY,"
                                                 "  applied_at INTEGER NOT NULL,"
                                                 "  description TEXT NOT NULL"
                                                 ") STRICT";

/* Reads the highest applied version (0 for a new file). */
static int
store_schema_current(struct store *st, int *version, struct err *e)
{
    sqlite3_stmt *stmt = NULL;
    int ret = -1;
    int rc = sqlite3_prepare_v2(st->db, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
                                -1, &stmt, NULL);
    if (rc != SQLITE_OK) {
        store_fail(st, rc, e, "read schema version");
        goto out;
    }
    rc = sqlite3_step(stmt);
    if (rc != SQLITE_ROW) {
        store_fail(st, rc, e, "read schema version");
        goto out;
    }
    *version = sqlite3_column_int(stmt, 0);
    ret = 0;
out:
    sqlite3_finalize(stmt);
    return ret;
}

/* Records a migration as applied. */
static int
store_schema_record(struct store *st, const struct store_migration *m, struct err *e)
{
    sqlite3_stmt *stmt = NULL;
    int ret = -1;
    int rc = sqlite3_prepare_v2(
        st->db, "INSERT INTO schema_migrations (version, applied_at, description) VALUES (?,?,?)",
        -1, &stmt, NULL);
    if (rc != SQLITE_OK) {
        store_fail(st, rc, e, "record migration %d", m->version);
        goto out;
    }
    sqlite3_bind_int(stmt, 1, m->version);
    sqlite3_bind_int64(stmt, 2, clock_now_ms());
    sqlite3_bind_text(stmt, 3, m->description, -1, SQLITE_STATIC);
    rc = sqlite3_step(stmt);
    if (rc != SQLITE_DONE) {
        store_fail(st, rc, e, "record migration %d", m->version);
        goto out;
    }
    ret = 0;
out:
    sqlite3_finalize(stmt);
    return ret;
}

/* Applies one migration unless it is already there; the version is read inside the write
 * transaction so two openers cannot both apply it. */
static int
store_schema_apply(struct store *st, const struct store_migration *m, struct err *e)
{
    int current = 0;
    int rc;
    if (store_begin(st, e) != 0) {
        return err_wrap(e, "migrate to version %d", m->version);
    }
    rc = sqlite3_exec(st->db, store_sql_migrations_table, NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        store_fail(st, rc, e, "create schema_migrations");
        goto fail;
    }
    if (store_schema_current(st, &current, e) != 0) {
        goto fail;
    }
    if (current > STORE_SCHEMA_LATEST) {
        err_set(e, ERR_STORE,
                "the database has schema version %d, newer than this beat knows (%d): "
                "upgrade beat",
                current, STORE_SCHEMA_LATEST);
        goto fail;
    }
    if (current < m->version) {
        rc = sqlite3_exec(st->db, m->sql, NULL, NULL, NULL);
        if (rc != SQLITE_OK) {
            store_fail(st, rc, e, "migrate to version %d (%s)", m->version, m->description);
            goto fail;
        }
        if (store_schema_record(st, m, e) != 0) {
            goto fail;
        }
    }
    return store_commit(st, e);
fail:
    store_rollback(st);
    return -1;
}

/* Applies every pending migration in order. */
int
store_schema_migrate(struct store *st, struct err *e)
{
    int current = 0;
    /* The common case, an up-to-date file, needs no write lock. A new file has no
     * schema_migrations table yet, so a failed read only means "migrate". */
    if (store_schema_current(st, &current, NULL) == 0 && current == STORE_SCHEMA_LATEST) {
        return 0;
    }
    for (size_t i = 0; i < sizeof store_migrations / sizeof store_migrations[0]; i++) {
        if (store_schema_apply(st, &store_migrations[i], e) != 0) {
            return -1;
        }
    }
    return 0;
}

/* Returns the schema version after migrations, or -1 when it cannot be read. */
int
store_schema_version(struct store *st)
{
    int version = -1;
    if (store_schema_current(st, &version, NULL) != 0) {
        return -1;
    }
    return version;
}
