/* The daemon's Unix socket server: accepts connections, frames their bytes into lines for one
 * MCP session each, and queues the session's answers with bounded memory. What the lines mean
 * is session.c's business; the lifetime of handles and sessions is this file's. */
#include "mcp/server.h"

#include <sys/stat.h>
#include <sys/un.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <uv.h>

#include "mcp/jsonrpc.h"
#include "mcp/session.h"
#include "util/log.h"
#include "util/xmalloc.h"

struct mcp_conn {
    uv_pipe_t pipe; /* first member: the handle's address is the connection's */
    struct mcp_server *srv;
    struct mcp_session *session; /* NULL for a connection refused over the limit */
    struct jsonrpc_framer framer;
    size_t queued; /* bytes handed to uv_write and not yet written */
    bool closing;
    struct mcp_conn *prev, *next;
    char rbuf[64 * 1024];
};

struct mcp_server {
    uv_loop_t *loop;
    uv_pipe_t listener;
    struct engine *engine;
    struct mcp_conn *conns;
    int nconns;
    int open_handles; /* the listener and every connection not yet closed */
    bool stopping;
    void (*done)(void *);
    void *done_arg;
};

struct conn_write {
    uv_write_t req;
    struct mcp_conn *conn;
    size_t len;
    char data[];
};

static void
server_handle_closed(struct mcp_server *srv)
{
    if (--srv->open_handles > 0 || !srv->stopping) {
        return;
    }
    void (*done)(void *) = srv->done;
    void *arg = srv->done_arg;
    free(srv);
    if (done != NULL) {
        done(arg);
    }
}

static void
conn_close_cb(uv_handle_t *h)
{
    struct mcp_conn *conn = (struct mcp_conn *)h;
    struct mcp_server *srv = conn->srv;

    /* Only now, with no callback of this connection left to run, is the session gone. */
    mcp_session_free(conn->session);
    jsonrpc_framer_fini(&conn->framer);
    if (conn->prev) {
        conn->prev->next = conn->next;
    } else if (srv->conns == conn) {
        srv->conns = conn->next;
    }
    if (conn->next) {
        conn->next->prev = conn->prev;
    }
    srv->nconns--;
    free(conn);
    server_handle_closed(srv);
}

static void
conn_close(struct mcp_conn *conn)
{
    if (conn->closing) {
        return;
    }
    conn->closing = true;
    uv_close((uv_handle_t *)&conn->pipe, conn_close_cb);
}

static void
conn_write_cb(uv_write_t *req, int status)
{
    struct conn_write *w = (struct conn_write *)req;
    struct mcp_conn *conn = w->conn;
    conn->queued -= w->len;
    free(w);
    if (status < 0 && status != UV_ECANCELED) {
        log_debug("mcp: write to client: %s", uv_strerror(status));
        conn_close(conn);
    }
}

static void
conn_send(void *arg, const char *line, size_t len)
{
    struct mcp_conn *conn = arg;
    if (conn->closing) {
        return;
    }
    if (conn->queued + len + 1 > MCP_SERVER_MAX_QUEUED) {
        log_warn("mcp: dropping a client that does not read (%zu bytes queued)", conn->queued);
        conn_close(conn);
        return;
    }
    struct conn_write *w = xmalloc(sizeof *w + len + 1);
    w->conn = conn;
    w->len = len + 1;
    memcpy(w->data, line, len);
    w->data[len] = '\n';
    uv_buf_t buf = uv_buf_init(w->data, (unsigned)w->len);
    int rc = uv_write(&w->req, (uv_stream_t *)&conn->pipe, &buf, 1, conn_write_cb);
    if (rc != 0) {
        log_debug("mcp: write to client: %s", uv_strerror(rc));
        free(w);
        conn_close(conn);
        return;
    }
    conn->queued += w->len;
}

static void
conn_line_cb(void *arg, const char *line, size_t len, bool too_long)
{
    struct mcp_conn *conn = arg;
    if (conn->closing) {
        return;
    }
    if (too_long) {
        mcp_session_handle_too_long(conn->session);
    } else {
        mcp_session_handle_line(conn->session, line, len);
    }
}

static void
conn_alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct mcp_conn *conn = (struct mcp_conn *)h;
    (void)suggested;
    *buf = uv_buf_init(conn->rbuf, sizeof conn->rbuf);
}

static void
conn_read_cb(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
    struct mcp_conn *conn = (struct mcp_conn *)stream;
    if (nread < 0) {
        if (nread != UV_EOF) {
            log_debug("mcp: read from client: %s", uv_strerror((int)nread));
        }
        conn_close(conn);
        return;
    }
    if (nread > 0 && !conn->closing) {
        jsonrpc_framer_feed(&conn->framer, buf->base, (size_t)nread, conn_line_cb, conn);
    }
}

static void
server_connection_cb(uv_stream_t *listener, int status)
{
    struct mcp_server *srv = listener->data;
    if (status < 0) {
        log_warn("mcp: accept: %s", uv_strerror(status));
        return;
    }
    struct mcp_conn *conn = xcalloc(1, sizeof *conn);
    conn->srv = srv;
    jsonrpc_framer_init(&conn->framer, JSONRPC_MAX_MESSAGE);
    uv_pipe_init(srv->loop, &conn->pipe, 0);
    srv->open_handles++;
    srv->nconns++;
    conn->next = srv->conns;
    if (srv->conns) {
        srv->conns->prev = conn;
    }
    srv->conns = conn;

    int rc = uv_accept(listener, (uv_stream_t *)&conn->pipe);
    if (rc != 0) {
        log_warn("mcp: accept: %s", uv_strerror(rc));
        conn_close(conn);
        return;
    }
    if (srv->stopping) {
        conn_close(conn);
        return;
    }
    if (srv->nconns > MCP_SERVER_MAX_CONNECTIONS) {
        log_warn("mcp: refusing a connection: %d already open", MCP_SERVER_MAX_CONNECTIONS);
        conn_close(conn);
        return;
    }
    conn->session = mcp_session_new(srv->engine, conn_send, conn);
    rc = uv_read_start((uv_stream_t *)&conn->pipe, conn_alloc_cb, conn_read_cb);
    if (rc != 0) {
        log_warn("mcp: read: %s", uv_strerror(rc));
        conn_close(conn);
    }
}

static void
server_listener_close_cb(uv_handle_t *h)
{
    server_handle_closed(h->data);
}

/* Starts listening on sock_path. */
struct mcp_server *
mcp_server_start(uv_loop_t *loop, const char *sock_path, struct engine *engine, struct err *e)
{
    struct sockaddr_un sun;
    if (strlen(sock_path) >= sizeof sun.sun_path) {
        err_set(e, ERR_INVALID, "socket path %s is too long (at most %zu bytes)", sock_path,
                sizeof sun.sun_path - 1);
        return NULL;
    }
    if (unlink(sock_path) != 0 && errno != ENOENT) {
        err_sys(e, ERR_IO, "remove stale socket %s", sock_path);
        return NULL;
    }
    struct mcp_server *srv = xcalloc(1, sizeof *srv);
    srv->loop = loop;
    srv->engine = engine;
    uv_pipe_init(loop, &srv->listener, 0);
    srv->listener.data = srv;
    srv->open_handles = 1;

    /* The umask makes the socket 0600 from its first moment; the chmod makes sure of it. */
    mode_t old = umask(0177);
    int rc = uv_pipe_bind(&srv->listener, sock_path);
    umask(old);
    if (rc == 0 && chmod(sock_path, 0600) != 0) {
        rc = uv_translate_sys_error(errno);
    }
    if (rc == 0) {
        rc = uv_listen((uv_stream_t *)&srv->listener, 128, server_connection_cb);
    }
    if (rc != 0) {
        err_set(e, ERR_IO, "listen on %s: %s", sock_path, uv_strerror(rc));
        /* The listener is freed by its close callback when the loop next runs. */
        srv->stopping = true;
        uv_close((uv_handle_t *)&srv->listener, server_listener_close_cb);
        return NULL;
    }
    return srv;
}

/* Closes the listener and every connection; done runs when all are closed. */
void
mcp_server_stop(struct mcp_server *srv, void (*done)(void *), void *arg)
{
    if (srv == NULL || srv->stopping) {
        return;
    }
    srv->stopping = true;
    srv->done = done;
    srv->done_arg = arg;
    for (struct mcp_conn *c = srv->conns; c; c = c->next) {
        conn_close(c);
    }
    uv_close((uv_handle_t *)&srv->listener, server_listener_close_cb);
}

/* Sends a log notification to every connection that admits its level. */
void
mcp_server_broadcast_log(struct mcp_server *srv, const char *level, const char *logger,
                         const json_t *data)
{
    if (srv == NULL) {
        return;
    }
    for (struct mcp_conn *c = srv->conns; c; c = c->next) {
        if (!c->closing && c->session != NULL) {
            mcp_session_notify_log(c->session, level, logger, data);
        }
    }
}

/* Counts open connections. */
int
mcp_server_connections(const struct mcp_server *srv)
{
    return srv ? srv->nconns : 0;
}
