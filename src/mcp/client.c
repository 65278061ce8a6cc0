/* The daemon client: connecting to HOME/daemon.sock, starting the daemon detached when nothing
 * answers, and blocking MCP calls with deadlines over plain sockets and poll(). Used by the CLI
 * and the relay; the daemon itself never includes it. */
#include "mcp/client.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mcp/jsonrpc.h"
#include "mcp/session.h"
#include "util/clock.h"
#include "util/json.h"
#include "util/log.h"
#include "util/xmalloc.h"

#define RPC_MAX_LINE        (64u * 1024 * 1024) /* the daemon's own per-connection bound */
#define RPC_INIT_TIMEOUT_MS 30000
#define DAEMON_RESPAWN_MS   1000 /* start again when the socket still refuses after this */

extern char **environ;

/* Connects to path; returns the fd or -1 with errno set. */
static int
sock_connect(const char *path)
{
    struct sockaddr_un sun = { .sun_family = AF_UNIX };
    if (strlen(path) >= sizeof sun.sun_path) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(sun.sun_path, path, strlen(path) + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return -1;
    }
    if (connect(fd, (struct sockaddr *)&sun, sizeof sun) != 0) {
        int saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    return fd;
}

/* The environment for the daemon: ours with BACKBEAT_HOME set to home. */
static char **
daemon_envp(const char *home)
{
    size_t n = 0;
    while (environ[n]) {
        n++;
    }
    char **envp = xcalloc(n + 2, sizeof *envp);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (strncmp(environ[i], "BACKBEAT_HOME=", 14) != 0) {
            envp[k++] = environ[i];
        }
    }
    envp[k++] = xasprintf("BACKBEAT_HOME=%s", home);
    envp[k] = NULL;
    return envp;
}

/* Starts `beat daemon` for home, detached: fork, setsid, fork again, stdio on /dev/null, no
 * inherited descriptors. Reports an exec failure through a close-on-exec pipe. */
static int
daemon_spawn(const char *home, struct err *e)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0) {
        return err_sys(e, ERR_UNAVAILABLE, "start the daemon: find this executable");
    }
    exe[n] = '\0';
    char *argv[] = { "beat", "daemon", NULL };
    char **envp = daemon_envp(home);
    int p[2] = { -1, -1 }, rc = -1;

    if (pipe2(p, O_CLOEXEC) != 0) {
        err_sys(e, ERR_UNAVAILABLE, "start the daemon: pipe");
        goto out;
    }
    pid_t pid = fork();
    if (pid < 0) {
        err_sys(e, ERR_UNAVAILABLE, "start the daemon: fork");
        goto out;
    }
    if (pid == 0) {
        /* Only async-signal-safe calls from here to exec. */
        int err = 0;
        setsid();
        pid_t grandchild = fork();
        if (grandchild != 0) {
            if (grandchild < 0) {
                err = errno;
                (void)!write(p[1], &err, sizeof err);
            }
            _exit(grandchild < 0 ? 1 : 0);
        }
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        int sigs[] = { SIGINT, SIGTERM, SIGHUP, SIGPIPE, SIGCHLD, SIGQUIT };
        for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
            signal(sigs[i], SIG_DFL);
        }
        int null = open("/dev/null", O_RDWR);
        if (null < 0 || dup2(null, 0) < 0 || dup2(null, 1) < 0 || dup2(null, 2) < 0 ||
            (p[1] != 3 && dup3(p[1], 3, O_CLOEXEC) < 0) || chdir("/") != 0) {
            err = errno;
            (void)!write(p[1], &err, sizeof err);
            _exit(127);
        }
        closefrom(4);
        execve(exe, argv, envp);
        err = errno;
        (void)!write(3, &err, sizeof err);
        _exit(127);
    }
    close(p[1]);
    p[1] = -1;
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    int child_err = 0;
    ssize_t got;
    do {
        got = read(p[0], &child_err, sizeof child_err);
    } while (got < 0 && errno == EINTR);
    if (got == (ssize_t)sizeof child_err) {
        errno = child_err;
        err_sys(e, ERR_UNAVAILABLE, "start the daemon: exec %s", exe);
        goto out;
    }
    rc = 0;
out:
    if (p[0] >= 0) {
        close(p[0]);
    }
    if (p[1] >= 0) {
        close(p[1]);
    }
    /* Only the last entry (BACKBEAT_HOME) was allocated here; the others belong to environ. */
    size_t k = 0;
    while (envp[k + 1]) {
        k++;
    }
    free(envp[k]);
    free(envp);
    return rc;
}

static bool
connect_retryable(int err)
{
    return err == ENOENT || err == ECONNREFUSED || err == EAGAIN;
}

/* Connects to the daemon of home, starting it when needed. */
int
daemon_connect(const char *home, bool autostart, int *fd_out, struct err *e)
{
    char *path = xasprintf("%s/daemon.sock", home);
    int fd = sock_connect(path), rc = -1;
    if (fd >= 0) {
        goto done;
    }
    if (!autostart || !connect_retryable(errno)) {
        err_sys(e, ERR_UNAVAILABLE, "cannot connect to the backbeat daemon at %s", path);
        goto out;
    }
    if (daemon_spawn(home, e) != 0) {
        goto out;
    }
    int64_t now = clock_mono_ms(), deadline = now + DAEMON_START_TIMEOUT_MS;
    int64_t respawn = now + DAEMON_RESPAWN_MS;
    int wait_ms = 2;
    for (;;) {
        /* A daemon that is still shutting down (`beat daemon restart`) holds the lock, so the
         * one we started may have given up. Starting another is harmless: the lock lets only
         * one run. */
        if (clock_mono_ms() >= respawn) {
            respawn = clock_mono_ms() + DAEMON_RESPAWN_MS;
            if (daemon_spawn(home, e) != 0) {
                goto out;
            }
        }
        fd = sock_connect(path);
        if (fd >= 0) {
            goto done;
        }
        if (!connect_retryable(errno)) {
            err_sys(e, ERR_UNAVAILABLE, "cannot connect to the backbeat daemon at %s", path);
            goto out;
        }
        int64_t left = deadline - clock_mono_ms();
        if (left <= 0) {
            err_set(e, ERR_UNAVAILABLE,
                    "the backbeat daemon did not start within %d s: see %s/daemon.log",
                    DAEMON_START_TIMEOUT_MS / 1000, home);
            goto out;
        }
        poll(NULL, 0, (int)(left < wait_ms ? left : wait_ms));
        wait_ms = wait_ms < 50 ? wait_ms * 2 : 50;
    }
done:
    *fd_out = fd;
    rc = 0;
out:
    free(path);
    return rc;
}

/* The client context for initialize's _meta. */
json_t *
rpc_client_meta(void)
{
    json_t *env = json_object();
    size_t bytes = 0;
    for (char **p = environ; *p; p++) {
        const char *eq = strchr(*p, '=');
        if (eq == NULL || eq == *p) {
            continue;
        }
        /* The daemon refuses more than its bounds; leaving a variable out keeps beat usable in
         * an oversized environment. Names only in the warning: values may be secrets. */
        char *key = xstrndup(*p, (size_t)(eq - *p));
        json_t *k = json_string_bytes(key, strlen(key));
        json_t *v = json_string_bytes(eq + 1, strlen(eq + 1));
        size_t n = json_string_length(k) + json_string_length(v);
        if (json_object_size(env) >= MCP_CLIENT_ENV_MAX || bytes + n > MCP_CLIENT_ENV_BYTES) {
            log_warn("beat: environment variable %s not passed to the daemon: the environment "
                     "is over %d variables or %d bytes",
                     json_string_value(k), MCP_CLIENT_ENV_MAX, MCP_CLIENT_ENV_BYTES);
            json_decref(v);
        } else {
            bytes += n;
            json_object_set_new(env, json_string_value(k), v);
        }
        json_decref(k);
        free(key);
    }
    json_t *meta = json_object();
    char *cwd = getcwd(NULL, 0);
    if (cwd != NULL) {
        json_object_set_new(meta, "cwd", json_string_bytes(cwd, strlen(cwd)));
        free(cwd);
    }
    json_object_set_new(meta, "env", env);
    json_object_set_new(meta, "version", json_string(BEAT_VERSION));
    return meta;
}

struct rpc_line {
    struct rpc_line *next;
    size_t len;
    char data[];
};

struct rpc_client {
    int fd;
    char *home;
    struct jsonrpc_framer framer;
    struct rpc_line *head, *tail; /* framed lines not yet looked at */
    long long next_id;
    char *server_version;
    bool broken; /* the connection failed; every later call fails at once */
};

static void
client_line_cb(void *arg, const char *line, size_t len, bool too_long)
{
    struct rpc_client *c = arg;
    if (too_long) {
        log_warn("mcp client: dropped a message of more than %u bytes from the daemon",
                 RPC_MAX_LINE);
        return;
    }
    struct rpc_line *l = xmalloc(sizeof *l + len + 1);
    l->next = NULL;
    l->len = len;
    memcpy(l->data, line, len);
    l->data[len] = '\0';
    if (c->tail) {
        c->tail->next = l;
    } else {
        c->head = l;
    }
    c->tail = l;
}

static int
remaining_ms(int64_t deadline)
{
    if (deadline < 0) {
        return -1;
    }
    int64_t left = deadline - clock_mono_ms();
    return left <= 0 ? 0 : left > INT_MAX ? INT_MAX : (int)left;
}

static int
client_fail(struct rpc_client *c, struct err *e, const char *what)
{
    c->broken = true;
    return err_set(e, ERR_UNAVAILABLE,
                   "%s: the backbeat daemon closed the connection (see %s/daemon.log)", what,
                   c->home);
}

/* Writes the whole line plus '\n' before the deadline. */
static int
client_send(struct rpc_client *c, const char *line, size_t len, int64_t deadline, struct err *e)
{
    struct iovec iov[2] = { { (void *)line, len }, { "\n", 1 } };
    struct msghdr mh = { .msg_iov = iov, .msg_iovlen = 2 };
    if (c->broken) {
        return client_fail(c, e, "send");
    }
    while (iov[0].iov_len + iov[1].iov_len > 0) {
        ssize_t n = sendmsg(c->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            struct pollfd pfd = { .fd = c->fd, .events = POLLOUT };
            int left = remaining_ms(deadline);
            if (left == 0 || poll(&pfd, 1, left) == 0) {
                c->broken = true; /* a partial line cannot be taken back */
                return err_set(e, ERR_UNAVAILABLE, "timed out sending to the backbeat daemon");
            }
            continue;
        }
        if (n < 0) {
            return client_fail(c, e, "send");
        }
        size_t done = (size_t)n;
        for (int i = 0; i < 2; i++) {
            size_t take = done < iov[i].iov_len ? done : iov[i].iov_len;
            iov[i].iov_base = (char *)iov[i].iov_base + take;
            iov[i].iov_len -= take;
            done -= take;
        }
        if (iov[0].iov_len == 0) {
            mh.msg_iov = &iov[1];
            mh.msg_iovlen = 1;
        }
    }
    return 0;
}

/* Takes the next framed line, reading until one arrives; 1 on timeout. Caller frees *out. */
static int
client_next_line(struct rpc_client *c, int64_t deadline, struct rpc_line **out, struct err *e)
{
    char chunk[64 * 1024];
    while (c->head == NULL) {
        if (c->broken) {
            return client_fail(c, e, "receive");
        }
        struct pollfd pfd = { .fd = c->fd, .events = POLLIN };
        int left = remaining_ms(deadline);
        int pr = left == 0 ? 0 : poll(&pfd, 1, left);
        if (pr < 0 && errno == EINTR) {
            continue;
        }
        if (pr == 0) {
            return 1;
        }
        ssize_t n = recv(c->fd, chunk, sizeof chunk, MSG_DONTWAIT);
        if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)) {
            continue;
        }
        if (n <= 0) {
            return client_fail(c, e, "receive");
        }
        jsonrpc_framer_feed(&c->framer, chunk, (size_t)n, client_line_cb, c);
    }
    *out = c->head;
    c->head = c->head->next;
    if (c->head == NULL) {
        c->tail = NULL;
    }
    return 0;
}

static enum err_code
rpc_error_code(json_int_t code)
{
    switch (code) {
    case JSONRPC_PARSE_ERROR:
    case JSONRPC_INVALID_REQUEST:
    case JSONRPC_METHOD_NOT_FOUND:
    case JSONRPC_INVALID_PARAMS:
        return ERR_INVALID;
    default:
        return ERR_INTERNAL;
    }
}

/* Sends a request and waits for its response; returns the result (new reference). */
static json_t *
client_roundtrip(struct rpc_client *c, const char *method, const json_t *params, int timeout_ms,
                 const char *token, void (*on_progress)(void *, const char *), void *arg,
                 struct err *e)
{
    int64_t deadline = timeout_ms < 0 ? -1 : clock_mono_ms() + timeout_ms;
    char *id = xasprintf("%lld", c->next_id++);
    size_t len;
    char *line = jsonrpc_request_line(id, method, params, &len);
    json_t *result = NULL;

    int rc = client_send(c, line, len, deadline, e);
    free(line);
    if (rc != 0) {
        goto out;
    }
    for (;;) {
        struct rpc_line *l = NULL;
        rc = client_next_line(c, deadline, &l, e);
        if (rc < 0) {
            goto out;
        }
        if (rc == 1) {
            json_t *cp = json_pack("{s:I,s:s}", "requestId", (json_int_t)(c->next_id - 1), "reason",
                                   "timeout");
            char *cl = jsonrpc_notification_line("notifications/cancelled", cp, &len);
            struct err ignore;
            client_send(c, cl, len, clock_mono_ms() + 1000, &ignore);
            free(cl);
            json_decref(cp);
            err_set(e, ERR_UNAVAILABLE, "%s: no answer from the backbeat daemon within %d ms",
                    method, timeout_ms);
            goto out;
        }
        struct jsonrpc_msg m;
        jsonrpc_parse(l->data, l->len, &m);
        free(l);
        if (m.kind == JSONRPC_NOTIFICATION && on_progress != NULL &&
            strcmp(m.method, "notifications/progress") == 0) {
            char *tok = jsonrpc_id_text(json_object_get(m.params, "progressToken"));
            const char *msg = json_get_str(m.params, "message");
            if (tok != NULL && token != NULL && strcmp(tok, token) == 0 && msg != NULL) {
                on_progress(arg, msg);
            }
            free(tok);
        }
        if (m.kind != JSONRPC_RESPONSE || strcmp(m.id, id) != 0) {
            jsonrpc_msg_fini(&m); /* a log, another call's progress, a stale answer */
            continue;
        }
        if (m.error != NULL) {
            const char *msg = json_get_str(m.error, "message");
            err_set(e, rpc_error_code(json_get_int(m.error, "code", 0)), "%s",
                    msg ? msg : "error without a message");
        } else {
            result = json_incref(m.result);
        }
        jsonrpc_msg_fini(&m);
        goto out;
    }
out:
    free(id);
    return result;
}

/* Sends any request and returns its result. */
json_t *
rpc_request(struct rpc_client *c, const char *method, const json_t *params, int timeout_ms,
            struct err *e)
{
    return client_roundtrip(c, method, params, timeout_ms, NULL, NULL, NULL, e);
}

/* Calls a tool and returns its structuredContent. */
json_t *
rpc_call_tool(struct rpc_client *c, const char *tool, const json_t *args, int timeout_ms,
              void (*on_progress)(void *arg, const char *msg), void *arg, struct err *e)
{
    json_t *params = json_pack("{s:s}", "name", tool);
    json_object_set_new(params, "arguments", args ? json_deep_copy(args) : json_object());
    char *token = NULL;
    if (on_progress != NULL) {
        token = xasprintf("%lld", c->next_id); /* the request's own id: unique per client */
        json_object_set_new(params, "_meta",
                            json_pack("{s:I}", "progressToken", (json_int_t)c->next_id));
    }
    json_t *r = client_roundtrip(c, "tools/call", params, timeout_ms, token, on_progress, arg, e);
    json_t *out = NULL;
    free(token);
    json_decref(params);
    if (r == NULL) {
        return NULL;
    }
    json_t *sc = json_object_get(r, "structuredContent");
    if (json_is_true(json_object_get(r, "isError"))) {
        const char *msg = json_get_str(sc, "error");
        if (msg == NULL) {
            json_t *first = json_array_get(json_object_get(r, "content"), 0);
            msg = json_get_str(first, "text");
        }
        err_set(e, err_code_parse(json_get_str(sc, "code")), "%s", msg ? msg : "tool failed");
    } else if (!json_is_object(sc)) {
        err_set(e, ERR_INTERNAL, "%s: the daemon's answer has no structuredContent", tool);
    } else {
        out = json_incref(sc);
    }
    json_decref(r);
    return out;
}

/* Connects and initializes; checks the daemon's version. */
struct rpc_client *
rpc_client_open(const char *home, bool autostart, struct err *e)
{
    int fd = -1;
    if (daemon_connect(home, autostart, &fd, e) != 0) {
        return NULL;
    }
    struct rpc_client *c = xcalloc(1, sizeof *c);
    c->fd = fd;
    c->home = xstrdup(home);
    c->next_id = 1;
    jsonrpc_framer_init(&c->framer, RPC_MAX_LINE);

    json_t *params =
        json_pack("{s:s,s:{},s:{s:s,s:s},s:{s:o}}", "protocolVersion", MCP_PROTOCOL_LATEST,
                  "capabilities", "clientInfo", "name", "beat", "version", BEAT_VERSION, "_meta",
                  MCP_CLIENT_META_KEY, rpc_client_meta());
    json_t *r = rpc_request(c, "initialize", params, RPC_INIT_TIMEOUT_MS, e);
    json_decref(params);
    if (r == NULL) {
        goto fail;
    }
    const char *version = json_get_str(json_object_get(r, "serverInfo"), "version");
    c->server_version = xstrdup(version ? version : "unknown");
    json_decref(r);
    if (strcmp(c->server_version, BEAT_VERSION) != 0) {
        err_set(e, ERR_VERSION,
                "the daemon is version %s and this beat is %s: run `beat daemon restart`",
                c->server_version, BEAT_VERSION);
        goto fail;
    }
    size_t len;
    char *line = jsonrpc_notification_line("notifications/initialized", NULL, &len);
    int rc = client_send(c, line, len, clock_mono_ms() + RPC_INIT_TIMEOUT_MS, e);
    free(line);
    if (rc != 0) {
        goto fail;
    }
    return c;
fail:
    rpc_client_close(c);
    return NULL;
}

/* The daemon's version. */
const char *
rpc_client_server_version(const struct rpc_client *c)
{
    return c->server_version;
}

/* Closes the connection. */
void
rpc_client_close(struct rpc_client *c)
{
    if (c == NULL) {
        return;
    }
    if (c->fd >= 0) {
        close(c->fd);
    }
    while (c->head) {
        struct rpc_line *l = c->head;
        c->head = l->next;
        free(l);
    }
    jsonrpc_framer_fini(&c->framer);
    free(c->server_version);
    free(c->home);
    free(c);
}
