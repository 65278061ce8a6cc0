/* `beat mcp start`: relays newline-delimited JSON-RPC between an MCP client on stdio and the
 * daemon's socket. It adds the client context to initialize, survives daemon restarts (replaying
 * the handshake, failing the calls that were in flight), and keeps stdout for protocol lines.
 * It runs no tools and never stops the daemon. */
#include "mcp/relay.h"

#include <sys/socket.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mcp/client.h"
#include "mcp/jsonrpc.h"
#include "mcp/server.h"
#include "mcp/session.h"
#include "util/buf.h"
#include "util/json.h"
#include "util/log.h"
#include "util/xmalloc.h"

#define RELAY_HIGH_WATER   (8u * 1024 * 1024) /* stop reading a side while its peer lags */
#define RELAY_INFLIGHT_MAX 65536              /* request ids tracked for restart errors */
#define RELAY_CHUNK        (64 * 1024)

static volatile sig_atomic_t relay_stop;
static volatile sig_atomic_t relay_exit_now; /* set while blocked outside ppoll */

/* Bytes waiting for one side, written from off onwards. */
struct relay_out {
    struct buf buf;
    size_t off;
};

struct relay {
    const char *home;
    int sock; /* -1 while disconnected */
    struct jsonrpc_framer from_client, from_daemon;
    struct relay_out to_daemon, to_client;
    json_t *init_params; /* the client's initialize params with our _meta, for replays */
    char *init_id;       /* the id of the client's initialize */
    bool client_initialized;
    char **inflight; /* ids (JSON text) of requests forwarded and not yet answered */
    size_t ninflight;
    char *reinit_id; /* id of a replayed initialize, whose answer is swallowed */
    int reinits;
    bool stdin_eof;
    bool stdout_gone;
    sigset_t orig_mask; /* the caller's mask, restored at the end */
    sigset_t run_mask;  /* outside ppoll: SIGINT and SIGTERM blocked */
    sigset_t poll_mask; /* inside ppoll: the caller's mask without SIGINT and SIGTERM */
};

static void
relay_signal_cb(int sig)
{
    (void)sig;
    if (relay_exit_now) {
        _exit(0);
    }
    relay_stop = 1;
}

static size_t
out_pending(const struct relay_out *o)
{
    return o->buf.len - o->off;
}

static void
out_line(struct relay_out *o, const char *line, size_t len)
{
    buf_add(&o->buf, line, len);
    buf_addc(&o->buf, '\n');
}

/* Writes what fd takes now; returns -1 on a write error other than "try again". */
static int
out_flush(struct relay_out *o, int fd, bool is_socket)
{
    while (out_pending(o) > 0) {
        size_t n = out_pending(o);
        if (!is_socket && n > RELAY_CHUNK) {
            n = RELAY_CHUNK; /* a blocking stdout (a tty) must not be handed megabytes */
        }
        ssize_t w = is_socket ? send(fd, o->buf.data + o->off, n, MSG_NOSIGNAL | MSG_DONTWAIT)
                              : write(fd, o->buf.data + o->off, n);
        if (w < 0 && errno == EINTR) {
            continue;
        }
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            return 0;
        }
        if (w <= 0) {
            return -1;
        }
        o->off += (size_t)w;
        if (!is_socket) {
            break; /* back to poll: stdout may be a blocking pipe */
        }
    }
    if (out_pending(o) == 0) {
        buf_reset(&o->buf);
        o->off = 0;
    }
    return 0;
}

static void
client_error(struct relay *r, const char *id, int code, const char *msg)
{
    size_t len;
    char *line = jsonrpc_error_line(id, code, msg, NULL, &len);
    out_line(&r->to_client, line, len);
    free(line);
}

static void
inflight_add(struct relay *r, const char *id)
{
    if (r->ninflight >= RELAY_INFLIGHT_MAX) {
        return;
    }
    if (r->ninflight % 64 == 0) {
        r->inflight = xrealloc(r->inflight, (r->ninflight + 64) * sizeof *r->inflight);
    }
    r->inflight[r->ninflight++] = xstrdup(id);
}

static void
inflight_remove(struct relay *r, const char *id)
{
    for (size_t i = 0; id != NULL && i < r->ninflight; i++) {
        if (strcmp(r->inflight[i], id) == 0) {
            free(r->inflight[i]);
            r->inflight[i] = r->inflight[--r->ninflight];
            return;
        }
    }
}

/* Reads the id of a line our daemon wrote, without parsing the rest: its encoder always starts
 * responses with {"jsonrpc":"2.0","id":<id>, and notifications with {"jsonrpc":"2.0","method":.
 * Returns 1 with the id's JSON text in out, 0 for a notification, -1 when unsure (then the
 * caller parses the line in full). Large results (tools/list) pass the relay without a parse. */
static int
relay_fast_id(const char *line, size_t len, char *out, size_t size)
{
    static const char resp[] = "{\"jsonrpc\":\"2.0\",\"id\":";
    static const char notif[] = "{\"jsonrpc\":\"2.0\",\"method\":";
    if (len >= sizeof notif - 1 && memcmp(line, notif, sizeof notif - 1) == 0) {
        return 0;
    }
    if (len < sizeof resp || memcmp(line, resp, sizeof resp - 1) != 0) {
        return -1;
    }
    const char *p = line + sizeof resp - 1, *end = line + len, *q = p;
    if (*q == '"') {
        for (q++; q < end && *q != '"'; q++) {
            if (*q == '\\') {
                q++;
            }
        }
        if (q >= end) {
            return -1;
        }
        q++;
    } else {
        while (q < end && (*q == '-' || (*q >= '0' && *q <= '9'))) {
            q++;
        }
    }
    size_t n = (size_t)(q - p);
    if (n == 0 || n >= size || q >= end || *q != ',') {
        return -1;
    }
    memcpy(out, p, n);
    out[n] = '\0';
    return 1;
}

static void
relay_daemon_line(void *arg, const char *line, size_t len, bool too_long)
{
    struct relay *r = arg;
    struct jsonrpc_msg m;
    char id[512];
    if (too_long) {
        log_warn("mcp relay: dropped an oversized message from the daemon");
        return;
    }
    int fast = relay_fast_id(line, len, id, sizeof id);
    if (fast == 0 || (fast == 1 && (r->reinit_id == NULL || strcmp(id, r->reinit_id) != 0))) {
        if (fast == 1) {
            inflight_remove(r, id);
        }
        out_line(&r->to_client, line, len);
        return;
    }
    if (jsonrpc_parse(line, len, &m) == JSONRPC_RESPONSE) {
        if (r->reinit_id != NULL && strcmp(m.id, r->reinit_id) == 0) {
            if (m.error != NULL) {
                log_warn("mcp relay: the restarted daemon refused the replayed initialize: %s",
                         json_get_str(m.error, "message"));
            }
            free(r->reinit_id);
            r->reinit_id = NULL;
            jsonrpc_msg_fini(&m);
            return;
        }
        inflight_remove(r, m.id);
    }
    jsonrpc_msg_fini(&m);
    out_line(&r->to_client, line, len);
}

/* Connects (starting the daemon when needed) and replays the client's handshake. */
static int
relay_connect(struct relay *r)
{
    struct err e;
    int fd = -1;

    /* daemon_connect may wait up to its deadline: let a signal end the relay meanwhile. */
    relay_exit_now = 1;
    if (relay_stop) {
        _exit(0);
    }
    sigprocmask(SIG_SETMASK, &r->poll_mask, NULL);
    int rc = daemon_connect(r->home, true, &fd, &e);
    sigprocmask(SIG_SETMASK, &r->run_mask, NULL);
    relay_exit_now = 0;
    if (rc != 0) {
        log_warn("mcp relay: %s", e.msg);
        return -1;
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    r->sock = fd;
    jsonrpc_framer_fini(&r->from_daemon);
    jsonrpc_framer_init(&r->from_daemon, MCP_SERVER_MAX_QUEUED);
    if (r->init_params != NULL) {
        size_t len;
        free(r->reinit_id);
        r->reinit_id = xasprintf("\"backbeat-relay-reinit-%d\"", ++r->reinits);
        char *line = jsonrpc_request_line(r->reinit_id, "initialize", r->init_params, &len);
        out_line(&r->to_daemon, line, len);
        free(line);
        if (r->client_initialized) {
            line = jsonrpc_notification_line("notifications/initialized", NULL, &len);
            out_line(&r->to_daemon, line, len);
            free(line);
        }
    }
    return 0;
}

/* The daemon connection broke: fail what was in flight. The next message from the client
 * reconnects (starting the daemon if needed) and replays the handshake; reconnecting at once
 * would undo a deliberate `beat daemon stop`. */
static void
relay_drop(struct relay *r)
{
    close(r->sock);
    r->sock = -1;
    buf_reset(&r->to_daemon.buf);
    r->to_daemon.off = 0;
    free(r->reinit_id);
    r->reinit_id = NULL;
    for (size_t i = 0; i < r->ninflight; i++) {
        if (r->init_id != NULL && strcmp(r->inflight[i], r->init_id) == 0) {
            /* The handshake itself failed: the client redoes it, so no replay. */
            json_decref(r->init_params);
            r->init_params = NULL;
            r->client_initialized = false;
        }
        client_error(r, r->inflight[i], JSONRPC_INTERNAL_ERROR,
                     "backbeat daemon restarted; please retry");
        free(r->inflight[i]);
    }
    r->ninflight = 0;
    if (!r->stdin_eof) {
        log_warn("mcp relay: lost the daemon connection; reconnecting at the next request");
    }
}

/* The client's initialize with _meta["backbeat/client"] added (its own _meta keys kept). */
static json_t *
initialize_params(const json_t *params)
{
    json_t *p = params ? json_deep_copy(params) : json_object();
    json_t *meta = json_object_get(p, "_meta");
    if (!json_is_object(meta)) {
        meta = json_object();
        json_object_set_new(p, "_meta", meta);
    }
    json_object_set_new(meta, MCP_CLIENT_META_KEY, rpc_client_meta());
    return p;
}

static void
relay_client_line(void *arg, const char *line, size_t len, bool too_long)
{
    struct relay *r = arg;
    struct jsonrpc_msg m;
    json_t *init = NULL;
    char *rewritten = NULL;

    if (too_long) {
        client_error(r, NULL, JSONRPC_INVALID_REQUEST, "message exceeds 4194304 bytes");
        return;
    }
    enum jsonrpc_kind kind = jsonrpc_parse(line, len, &m);
    if (kind == JSONRPC_REQUEST && strcmp(m.method, "initialize") == 0 &&
        (m.params == NULL || json_is_object(m.params))) {
        init = initialize_params(m.params);
        rewritten = jsonrpc_request_line(m.id, "initialize", init, &len);
        line = rewritten;
    }
    if (r->sock < 0) {
        relay_connect(r);
    }
    if (init != NULL) {
        json_decref(r->init_params);
        r->init_params = json_incref(init);
        free(r->init_id);
        r->init_id = xstrdup(m.id);
    }
    if (kind == JSONRPC_NOTIFICATION && strcmp(m.method, "notifications/initialized") == 0) {
        r->client_initialized = true;
    }
    if (kind == JSONRPC_NOTIFICATION && strcmp(m.method, "notifications/cancelled") == 0) {
        char *id = jsonrpc_id_text(json_object_get(m.params, "requestId"));
        inflight_remove(r, id);
        free(id);
    }
    if (r->sock < 0) {
        if (kind == JSONRPC_REQUEST) {
            client_error(r, m.id, JSONRPC_INTERNAL_ERROR,
                         "backbeat daemon unavailable: see the daemon.log in the state directory");
        }
        goto out;
    }
    if (kind == JSONRPC_REQUEST) {
        inflight_add(r, m.id);
    }
    out_line(&r->to_daemon, line, len);
out:
    json_decref(init);
    free(rewritten);
    jsonrpc_msg_fini(&m);
}

static bool
relay_done(const struct relay *r)
{
    if (r->stdout_gone) {
        return true;
    }
    if (!r->stdin_eof) {
        return false;
    }
    /* stdin ended: finish the answers still owed, then leave. */
    bool waiting = r->sock >= 0 && (r->ninflight > 0 || out_pending(&r->to_daemon) > 0);
    return !waiting && out_pending(&r->to_client) == 0;
}

static void
relay_loop(struct relay *r)
{
    char chunk[RELAY_CHUNK];
    while (!relay_stop && !relay_done(r)) {
        struct pollfd pfd[3];
        int nfds = 0, in_i = -1, out_i = -1, sock_i = -1, sock = r->sock;
        bool client_room = out_pending(&r->to_client) < RELAY_HIGH_WATER;
        if (!r->stdin_eof && client_room && out_pending(&r->to_daemon) < RELAY_HIGH_WATER) {
            in_i = nfds;
            pfd[nfds++] = (struct pollfd){ .fd = 0, .events = POLLIN };
        }
        if (out_pending(&r->to_client) > 0) {
            out_i = nfds;
            pfd[nfds++] = (struct pollfd){ .fd = 1, .events = POLLOUT };
        }
        if (sock >= 0) {
            sock_i = nfds;
            pfd[nfds++] = (struct pollfd){
                .fd = sock,
                .events = (short)((client_room ? POLLIN : 0) |
                                  (out_pending(&r->to_daemon) ? POLLOUT : 0)),
            };
        }
        if (ppoll(pfd, (nfds_t)nfds, NULL, &r->poll_mask) < 0) {
            if (errno == EINTR) {
                continue;
            }
            log_warn("mcp relay: poll: %s", strerror(errno));
            return;
        }
        if (out_i >= 0 && pfd[out_i].revents) {
            if (out_flush(&r->to_client, 1, false) != 0) {
                r->stdout_gone = true; /* the client went away: nothing left to do */
                return;
            }
        }
        if (sock_i >= 0 && (pfd[sock_i].revents & POLLOUT) && r->sock == sock) {
            if (out_flush(&r->to_daemon, sock, true) != 0) {
                relay_drop(r);
            }
        }
        if (sock_i >= 0 && (pfd[sock_i].revents & (POLLIN | POLLHUP | POLLERR)) &&
            r->sock == sock) {
            ssize_t n = recv(sock, chunk, sizeof chunk, MSG_DONTWAIT);
            if (n > 0) {
                jsonrpc_framer_feed(&r->from_daemon, chunk, (size_t)n, relay_daemon_line, r);
            } else if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
                relay_drop(r);
            }
        }
        if (in_i >= 0 && pfd[in_i].revents) {
            ssize_t n = read(0, chunk, sizeof chunk);
            if (n > 0) {
                jsonrpc_framer_feed(&r->from_client, chunk, (size_t)n, relay_client_line, r);
            } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
                r->stdin_eof = true;
            }
        }
        /* Writes are cheap to try at once; poll only waits for what would block. */
        if (r->sock >= 0 && out_pending(&r->to_daemon) > 0 &&
            out_flush(&r->to_daemon, r->sock, true) != 0) {
            relay_drop(r);
        }
    }
}

/* Runs the relay until the client ends it. */
int
mcp_relay_main(const char *home)
{
    struct relay r = { .home = home, .sock = -1 };
    struct sigaction sa = { .sa_handler = relay_signal_cb };
    sigset_t block;
    int stdout_flags = -1;
    struct stat st;

    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGTERM);
    sigprocmask(SIG_BLOCK, &block, &r.orig_mask);
    sigprocmask(SIG_BLOCK, NULL, &r.run_mask);
    r.poll_mask = r.orig_mask;
    sigdelset(&r.poll_mask, SIGINT);
    sigdelset(&r.poll_mask, SIGTERM);

    /* A pipe or socket stdout is ours alone: non-blocking, so a client that stops reading
     * never freezes the relay. A terminal is shared with the shell, so it stays as it is. */
    if (fstat(1, &st) == 0 && (S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode))) {
        stdout_flags = fcntl(1, F_GETFL);
        if (stdout_flags >= 0) {
            fcntl(1, F_SETFL, stdout_flags | O_NONBLOCK);
        }
    }
    jsonrpc_framer_init(&r.from_client, JSONRPC_MAX_MESSAGE);
    jsonrpc_framer_init(&r.from_daemon, MCP_SERVER_MAX_QUEUED);
    buf_init(&r.to_daemon.buf);
    buf_init(&r.to_client.buf);

    relay_connect(&r); /* early, so the daemon is up by the time initialize arrives */
    relay_loop(&r);

    if (stdout_flags >= 0) {
        fcntl(1, F_SETFL, stdout_flags);
    }
    if (r.sock >= 0) {
        close(r.sock);
    }
    for (size_t i = 0; i < r.ninflight; i++) {
        free(r.inflight[i]);
    }
    free(r.inflight);
    free(r.reinit_id);
    free(r.init_id);
    json_decref(r.init_params);
    jsonrpc_framer_fini(&r.from_client);
    jsonrpc_framer_fini(&r.from_daemon);
    buf_fini(&r.to_daemon.buf);
    buf_fini(&r.to_client.buf);
    sigprocmask(SIG_SETMASK, &r.orig_mask, NULL);
    return 0;
}
