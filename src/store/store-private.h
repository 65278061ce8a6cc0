/* Inside the store: the connection, the prepared-statement cache and the helpers every
 * store-*.c file shares. Nothing outside src/store/ includes this, except the store's own unit
 * test, which reads the connection to check pragmas and query plans. */
#ifndef STORE_STORE_PRIVATE_H
#define STORE_STORE_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

#include "store/store.h"
#include "util/err.h"

/* One slot per cached statement. The SQL lives next to the code that uses it. */
enum store_stmt_id {
    STORE_STMT_BEGIN,
    STORE_STMT_COMMIT,
    STORE_STMT_ROLLBACK,
    STORE_STMT_TASK_INSERT,
    STORE_STMT_TASK_UPDATE,
    STORE_STMT_TASK_LOAD,
    STORE_STMT_TASK_STATUS,
    STORE_STMT_TASK_LIST_ALL,
    STORE_STMT_TASK_LIST_STATUS,
    STORE_STMT_TASK_COUNT_ALL,
    STORE_STMT_TASK_COUNT_STATUS,
    STORE_STMT_TASK_COUNT_BY_STATUS,
    STORE_STMT_TASK_IDS_QUEUE,
    STORE_STMT_TASK_IDS_CREATED,
    STORE_STMT_TASK_PRUNE,
    STORE_STMT_DEP_INSERT,
    STORE_STMT_DEP_LIST,
    STORE_STMT_DEP_DEPENDENTS,
    STORE_STMT_DEP_UNMET,
    STORE_STMT_DEP_RESOLVE,
    STORE_STMT_DEP_OPEN,
    STORE_STMT_DEP_UNBLOCK,
    STORE_STMT_CHECKPOINT_INSERT,
    STORE_STMT_CHECKPOINT_LOAD,
    STORE_STMT_COUNT
};

struct store_hook {
    store_hook_fn fn, drop;
    void *arg;
    struct store_hook *next;
};

struct store {
    sqlite3 *db;
    int tx_depth;   /* store_begin nesting; only 0 <-> 1 touches SQLite */
    bool tx_doomed; /* an inner level rolled back: the outermost commit must fail */
    struct store_hook *hooks, **hooks_tail; /* store_after_commit, in order */
    sqlite3_stmt *stmts[STORE_STMT_COUNT];
};

/* The cached statement for id, prepared from sql on first use, reset and with no bindings.
 * The caller must hand it back with store_stmt_done before returning. NULL with ERR_STORE
 * when sql does not prepare. */
sqlite3_stmt *store_stmt(struct store *st, enum store_stmt_id id, const char *sql, struct err *e);
/* Resets stmt and clears its bindings (so no borrowed pointer outlives the call and no read
 * transaction stays open); NULL is allowed. */
void store_stmt_done(sqlite3_stmt *stmt);
/* Fills e with ERR_STORE: "<what>: <sqlite message>", saying so plainly when the disk is full.
 * rc is the SQLite result code that failed. Returns -1. */
int store_fail(struct store *st, int rc, struct err *e, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Runs one statement with no result rows through the cache; what names it in errors. */
int store_exec_cached(struct store *st, enum store_stmt_id id, const char *sql, const char *what,
                      struct err *e);
/* Steps stmt to the end, collecting column 0 of each row as an owned string into a
 * NULL-terminated array (strv_free). */
int store_collect_ids(struct store *st, sqlite3_stmt *stmt, char ***out, const char *what,
                      struct err *e);

/* Binding helpers: a NULL string or an "unset" number binds SQL NULL. Text is bound without
 * a copy (SQLITE_STATIC): store_stmt_done clears it before the caller's buffer can go. */
int store_bind_text(sqlite3_stmt *stmt, int idx, const char *s);
int store_bind_int64_or_null(sqlite3_stmt *stmt, int idx, int64_t v, int64_t unset);
/* Column helpers: SQL NULL reads as NULL / the given default. */
char *store_col_text(sqlite3_stmt *stmt, int col);
int64_t store_col_int64(sqlite3_stmt *stmt, int col, int64_t if_null);

/* Applies every pending migration, each in its own transaction. */
int store_schema_migrate(struct store *st, struct err *e);

/* The connection, for the store's unit test (pragmas, query plans, disk-full simulation). */
sqlite3 *store_db(struct store *st);

#endif
