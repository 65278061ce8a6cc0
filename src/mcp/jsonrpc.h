/* JSON-RPC 2.0 over newline-delimited JSON: one line in, one classified message out; response
 * and notification lines out; and a line framer for byte streams. Nothing here knows MCP.
 *
 * Ids are kept as compact JSON text ("0", "-1", "\"abc\"", "null"), so any integer id, even one
 * beyond int64 that jansson cannot hold, is echoed exactly. */
#ifndef MCP_JSONRPC_H
#define MCP_JSONRPC_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "util/buf.h"

#define JSONRPC_MAX_MESSAGE (4u * 1024 * 1024) /* bytes of one line, without "\n" */

#define JSONRPC_PARSE_ERROR      -32700
#define JSONRPC_INVALID_REQUEST  -32600
#define JSONRPC_METHOD_NOT_FOUND -32601
#define JSONRPC_INVALID_PARAMS   -32602
#define JSONRPC_INTERNAL_ERROR   -32603

enum jsonrpc_kind {
    JSONRPC_REQUEST,      /* method + id */
    JSONRPC_NOTIFICATION, /* method, no id */
    JSONRPC_RESPONSE,     /* id + result or error */
    JSONRPC_INVALID,      /* answer with error_code/error_msg and id (or "null") */
};

/* One parsed line. Every pointer is owned by the message and lives until jsonrpc_msg_fini. */
struct jsonrpc_msg {
    enum jsonrpc_kind kind;
    json_t *root;       /* the whole object, NULL when the line is not a JSON object */
    char *id;           /* id as JSON text; NULL for notifications; "null" when unknown */
    const char *method; /* requests and notifications */
    json_t *params;     /* object or array, NULL when absent */
    json_t *result;     /* responses: the result, or NULL */
    json_t *error;      /* responses: the error object, or NULL */
    int error_code;     /* JSONRPC_INVALID: JSONRPC_PARSE_ERROR or JSONRPC_INVALID_REQUEST */
    char error_msg[256];
};

/* Parses and classifies one line (no '\n'). Never fails: a bad line becomes JSONRPC_INVALID
 * with the code and message to answer. Float, boolean, object and array ids are invalid (MCP:
 * ids are strings or integers), and so is a null id on a request; a JSON array (a batch) is
 * refused with "batches are not supported". Call jsonrpc_msg_fini afterwards. */
enum jsonrpc_kind jsonrpc_parse(const char *line, size_t len, struct jsonrpc_msg *m);
void jsonrpc_msg_fini(struct jsonrpc_msg *m);

/* The id text of a parsed JSON value (string or integer), or NULL for any other type. Caller
 * frees. Used to match notifications/cancelled requestId against request ids. */
char *jsonrpc_id_text(const json_t *id);

/* Builders of single compact lines without the trailing '\n'. id is JSON text as above (NULL
 * means "null"); borrowed values are not modified. The caller frees the result; *len_out, when
 * not NULL, receives its length. */
char *jsonrpc_result_line(const char *id, const json_t *result, size_t *len_out);
char *jsonrpc_error_line(const char *id, int code, const char *message, const json_t *data,
                         size_t *len_out);
char *jsonrpc_request_line(const char *id, const char *method, const json_t *params,
                           size_t *len_out);
char *jsonrpc_notification_line(const char *method, const json_t *params, size_t *len_out);

/* Called with each complete line (without "\r\n"; empty and blank lines are skipped), or with
 * line == NULL and too_long set once for a line longer than the framer's limit, whose bytes
 * are then dropped up to the next '\n'. The callback must not free the framer. */
typedef void (*jsonrpc_line_fn)(void *arg, const char *line, size_t len, bool too_long);

/* Splits a byte stream into lines; accepts any chunking. */
struct jsonrpc_framer {
    struct buf partial; /* bytes of an incomplete line */
    size_t max;         /* longest accepted line */
    bool discarding;    /* inside an oversized line, dropping up to '\n' */
};

void jsonrpc_framer_init(struct jsonrpc_framer *f, size_t max);
void jsonrpc_framer_fini(struct jsonrpc_framer *f);
/* Feeds len bytes; calls fn for every line completed by them, in order. */
void jsonrpc_framer_feed(struct jsonrpc_framer *f, const char *data, size_t len, jsonrpc_line_fn fn,
                         void *arg);

#endif
