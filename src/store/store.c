/* The store's connection: opening the database with the pragmas we rely on, the per-store cache
 * of prepared statements, nested transactions and the one way SQLite errors become struct err.
 * Tables and queries live in store-schema.c, store-task.c, store-dep.c, store-checkpoint.c. */
#include <sys/stat.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "store/store-private.h"
#include "util/log.h"
#include "util/str.h"
#include "util/xmalloc.h"

#define STORE_BUSY_TIMEOUT_MS 5000

/* Fills e with the SQLite error behind rc, prefixed with what was being done. */
int
store_fail(struct store *st, int rc, struct err *e, const char *fmt, ...)
{
    char what[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);

    const char *msg = st != NULL && st->db != NULL ? sqlite3_errmsg(st->db) : sqlite3_errstr(rc);
    if ((rc & 0xff) == SQLITE_FULL) {
        return err_set(e, ERR_STORE, "%s: the disk is full (%s)", what, msg);
    }
    return err_set(e, ERR_STORE, "%s: %s", what, msg);
}

/* Returns the cached statement for id, preparing it on first use. */
sqlite3_stmt *
store_stmt(struct store *st, enum store_stmt_id id, const char *sql, struct err *e)
{
    sqlite3_stmt *stmt = st->stmts[id];
    if (stmt != NULL) {
        /* store_stmt_done already reset it; this keeps a forgotten release harmless. */
        sqlite3_reset(stmt);
        sqlite3_clear_bindings(stmt);
        return stmt;
    }
    int rc = sqlite3_prepare_v3(st->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt, NULL);
    if (rc != SQLITE_OK) {
        sqlite3_finalize(stmt);
        store_fail(st, rc, e, "prepare \"%.60s\"", sql);
        return NULL;
    }
    st->stmts[id] = stmt;
    return stmt;
}

/* Resets a cached statement and drops its bindings. */
void
store_stmt_done(sqlite3_stmt *stmt)
{
    if (stmt != NULL) {
        sqlite3_reset(stmt);
        sqlite3_clear_bindings(stmt);
    }
}

/* Runs a cached statement that returns no rows. */
int
store_exec_cached(struct store *st, enum store_stmt_id id, const char *sql, const char *what,
                  struct err *e)
{
    sqlite3_stmt *stmt = store_stmt(st, id, sql, e);
    if (stmt == NULL) {
        return err_wrap(e, "%s", what);
    }
    int rc = sqlite3_step(stmt);
    int ret = 0;
    if (rc != SQLITE_DONE) {
        ret = store_fail(st, rc, e, "%s", what);
    }
    store_stmt_done(stmt);
    return ret;
}

/* Collects column 0 of every row of stmt into a NULL-terminated array. */
int
store_collect_ids(struct store *st, sqlite3_stmt *stmt, char ***out, const char *what,
                  struct err *e)
{
    size_t n = 0, cap = 8;
    char **v = xmalloc(cap * sizeof *v);
    int rc;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        if (n + 1 >= cap) {
            cap *= 2;
            v = xrealloc(v, cap * sizeof *v);
        }
        char *s = store_col_text(stmt, 0);
        v[n++] = s != NULL ? s : xstrdup("");
    }
    v[n] = NULL;
    if (rc != SQLITE_DONE) {
        store_fail(st, rc, e, "%s", what);
        strv_free(v);
        return -1;
    }
    *out = v;
    return 0;
}

/* Binds a string, or NULL. */
int
store_bind_text(sqlite3_stmt *stmt, int idx, const char *s)
{
    if (s == NULL) {
        return sqlite3_bind_null(stmt, idx);
    }
    return sqlite3_bind_text(stmt, idx, s, (int)strlen(s), SQLITE_STATIC);
}

/* Binds v, or NULL when v equals unset. */
int
store_bind_int64_or_null(sqlite3_stmt *stmt, int idx, int64_t v, int64_t unset)
{
    if (v == unset) {
        return sqlite3_bind_null(stmt, idx);
    }
    return sqlite3_bind_int64(stmt, idx, v);
}

/* Returns an owned copy of a text column, or NULL for SQL NULL. */
char *
store_col_text(sqlite3_stmt *stmt, int col)
{
    const unsigned char *s = sqlite3_column_text(stmt, col);
    if (s == NULL) {
        return NULL;
    }
    size_t n = (size_t)sqlite3_column_bytes(stmt, col);
    char *c = xmalloc(n + 1);
    memcpy(c, s, n);
    c[n] = '\0';
    return c;
}

/* Returns an integer column, or if_null for SQL NULL. */
int64_t
store_col_int64(sqlite3_stmt *stmt, int col, int64_t if_null)
{
    if (sqlite3_column_type(stmt, col) == SQLITE_NULL) {
        return if_null;
    }
    return sqlite3_column_int64(stmt, col);
}

/* Returns the connection (for the store's unit test). */
sqlite3 *
store_db(struct store *st)
{
    return st->db;
}

/* Runs a PRAGMA and copies its first result column (if any) into out. */
static int
store_pragma(struct store *st, const char *sql, char *out, size_t size, struct err *e)
{
    sqlite3_stmt *stmt = NULL;
    int ret = -1;
    int rc = sqlite3_prepare_v2(st->db, sql, -1, &stmt, NULL);
    if (rc != SQLITE_OK) {
        store_fail(st, rc, e, "%s", sql);
        goto out;
    }
    if (out != NULL && size > 0) {
        out[0] = '\0';
    }
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        const char *v = (const char *)sqlite3_column_text(stmt, 0);
        if (out != NULL && v != NULL && out[0] == '\0') {
            str_copy(out, v, size);
        }
    }
    if (rc != SQLITE_DONE) {
        store_fail(st, rc, e, "%s", sql);
        goto out;
    }
    ret = 0;
out:
    sqlite3_finalize(stmt);
    return ret;
}

/* The state file holds the clients' environments (API keys among them): owner-only. SQLite
 * gives the -wal and -shm files the main file's mode, so this covers them too. */
static void
store_restrict_mode(const char *path)
{
    struct stat sb;
    if (stat(path, &sb) == 0 && S_ISREG(sb.st_mode) && (sb.st_mode & 077) != 0) {
        if (chmod(path, sb.st_mode & 0700) != 0) {
            log_warn("store: cannot make %s private", path);
        }
    }
}

/* Opens (creating if needed) the database at path and migrates it to the latest schema. */
struct store *
store_open(const char *path, struct err *e)
{
    if (path == NULL || path[0] == '\0') {
        err_set(e, ERR_INVALID, "open database: path: required");
        return NULL;
    }
    struct store *st = xcalloc(1, sizeof *st);
    bool memory = strcmp(path, ":memory:") == 0;
    char mode[32];

    int rc = sqlite3_open_v2(
        path, &st->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        store_fail(st, rc, e, "open database %s", path);
        goto fail;
    }
    sqlite3_extended_result_codes(st->db, 1);
    if (!memory) {
        store_restrict_mode(path);
    }
    /* The busy timeout first, so the pragmas below wait for another opener instead of failing. */
    sqlite3_busy_timeout(st->db, STORE_BUSY_TIMEOUT_MS);
    if (store_pragma(st, "PRAGMA journal_mode=WAL", mode, sizeof mode, e) != 0 ||
        store_pragma(st, "PRAGMA synchronous=NORMAL", NULL, 0, e) != 0 ||
        store_pragma(st, "PRAGMA foreign_keys=ON", NULL, 0, e) != 0) {
        err_wrap(e, "open database %s", path);
        goto fail;
    }
    if (!memory && strcmp(mode, "wal") != 0) {
        err_set(e, ERR_STORE, "open database %s: cannot use WAL mode (journal mode is %s)", path,
                mode);
        goto fail;
    }
    if (store_schema_migrate(st, e) != 0) {
        err_wrap(e, "open database %s", path);
        goto fail;
    }
    return st;
fail:
    store_close(st);
    return NULL;
}

/* Runs (committed) or drops the hooks of the transaction that just ended. */
static void
store_hooks_end(struct store *st, bool committed)
{
    struct store_hook *h = st->hooks;
    st->hooks = NULL;
    st->hooks_tail = &st->hooks;
    while (h != NULL) {
        struct store_hook *next = h->next;
        store_hook_fn fn = committed ? h->fn : h->drop;
        if (fn != NULL) {
            fn(h->arg);
        }
        free(h);
        h = next;
    }
}

/* Finalizes every cached statement and closes the connection; NULL is allowed. */
void
store_close(struct store *st)
{
    if (st == NULL) {
        return;
    }
    for (int i = 0; i < STORE_STMT_COUNT; i++) {
        sqlite3_finalize(st->stmts[i]);
    }
    if (st->db != NULL && st->tx_depth > 0 && !sqlite3_get_autocommit(st->db)) {
        sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
    }
    store_hooks_end(st, false);
    if (st->db != NULL && sqlite3_close(st->db) != SQLITE_OK) {
        log_error("store: close: %s", sqlite3_errmsg(st->db));
    }
    free(st);
}

/* Runs fn now, or queues it for the end of the open transaction. */
void
store_after_commit(struct store *st, store_hook_fn fn, store_hook_fn drop, void *arg)
{
    if (st->tx_depth == 0) {
        fn(arg);
        return;
    }
    struct store_hook *h = xcalloc(1, sizeof *h);
    h->fn = fn;
    h->drop = drop;
    h->arg = arg;
    if (st->hooks_tail == NULL) {
        st->hooks_tail = &st->hooks;
    }
    *st->hooks_tail = h;
    st->hooks_tail = &h->next;
}

/* Whether store_begin is not yet matched. */
bool
store_in_transaction(const struct store *st)
{
    return st->tx_depth > 0;
}

/* Begins a write transaction, or one more nesting level of the current one. */
int
store_begin(struct store *st, struct err *e)
{
    if (st->tx_depth == 0) {
        /* IMMEDIATE takes the write lock now, so a later write cannot fail with SQLITE_BUSY
         * halfway through the transaction. */
        if (store_exec_cached(st, STORE_STMT_BEGIN, "BEGIN IMMEDIATE", "begin transaction", e) !=
            0) {
            return -1;
        }
        st->tx_doomed = false;
    }
    st->tx_depth++;
    return 0;
}

/* Ends one nesting level; the outermost commits, or fails if an inner level rolled back. */
int
store_commit(struct store *st, struct err *e)
{
    if (st->tx_depth <= 0) {
        return err_set(e, ERR_INTERNAL, "commit without a transaction");
    }
    if (--st->tx_depth > 0) {
        return 0;
    }
    if (st->tx_doomed) {
        st->tx_doomed = false;
        if (!sqlite3_get_autocommit(st->db)) {
            sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
        }
        store_hooks_end(st, false);
        return err_set(e, ERR_STORE,
                       "commit: an inner step failed, the transaction was rolled back");
    }
    if (store_exec_cached(st, STORE_STMT_COMMIT, "COMMIT", "commit", e) != 0) {
        /* SQLite may have rolled back already (disk full, I/O error); if not, we do. */
        if (!sqlite3_get_autocommit(st->db)) {
            store_exec_cached(st, STORE_STMT_ROLLBACK, "ROLLBACK", "rollback", NULL);
        }
        store_hooks_end(st, false);
        return -1;
    }
    store_hooks_end(st, true);
    return 0;
}

/* Ends one nesting level and dooms the whole transaction; the outermost level rolls back. */
void
store_rollback(struct store *st)
{
    if (st->tx_depth <= 0) {
        return;
    }
    st->tx_doomed = true;
    if (--st->tx_depth > 0) {
        return;
    }
    st->tx_doomed = false;
    /* After some errors SQLite has already rolled back; a second ROLLBACK would only fail. */
    if (!sqlite3_get_autocommit(st->db)) {
        struct err e2;
        if (store_exec_cached(st, STORE_STMT_ROLLBACK, "ROLLBACK", "rollback", &e2) != 0) {
            log_error("store: %s", e2.msg);
        }
    }
    store_hooks_end(st, false);
}
