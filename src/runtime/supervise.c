/* The per-task supervisor (`beat __supervise DIR`): reads spec.json, runs one agent in its own
 * process group, copies its output to capped log files, enforces timeout and cancel with a
 * TERM/KILL ladder, and records the outcome in exit.json. It is a plain poll() loop over two
 * pipes and a signalfd, so it stays small and does not depend on libuv, SQLite or the daemon.
 * It knows nothing about tasks or agents beyond argv, env and cwd. */
#include "runtime/gitstate.h"
#include "runtime/supervise.h"

#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/types.h>
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

#include <jansson.h>

#include "util/clock.h"
#include "util/common.h"
#include "util/fsutil.h"
#include "util/json.h"

#define SUPERVISE_ARGV_MAX    4096  /* argv entries */
#define SUPERVISE_ENV_MAX     16384 /* env entries */
#define SUPERVISE_TIMEOUT_MAX (366LL * 24 * 3600 * 1000)
#define SUPERVISE_GRACE_MAX   (3600LL * 1000)
#define SUPERVISE_OUTPUT_MAX  (1LL << 40)
#define SUPERVISE_READ_SIZE   (64 * 1024)
/* After SIGKILL (or when nothing was left to kill) the pipes get this long to reach EOF: a
 * process outside the group (one that called setsid) may hold them open forever. */
#define SUPERVISE_DRAIN_MS 200
/* While a ladder runs, the group is re-checked this often: members that are not our
 * descendants would die without a SIGCHLD reaching us. */
#define SUPERVISE_TICK_MS     50
#define SUPERVISE_POLL_MAX_MS (3600 * 1000) /* poll() takes an int; long timeouts re-arm */

/* What the pre-exec child reports through the CLOEXEC pipe when it fails. */
enum supervise_stage { SUPERVISE_STAGE_SETUP = 1, SUPERVISE_STAGE_CHDIR, SUPERVISE_STAGE_EXEC };

struct supervise_report {
    int stage;
    int err;
};

struct supervise_spec {
    char **argv; /* NULL-terminated */
    char **env;  /* NULL-terminated */
    char *cwd;
    int64_t timeout_ms; /* 0 = none */
    int64_t max_output;
    int64_t grace_ms;
};

enum supervise_reason { SUPERVISE_REASON_NONE, SUPERVISE_REASON_TIMEOUT, SUPERVISE_REASON_CANCEL };

/* One captured stream: the read end of the agent's pipe and the log file it goes to. */
struct supervise_stream {
    const char *name; /* log file name, for messages */
    int pipe_fd;      /* -1 once at EOF */
    int log_fd;
    int64_t bytes; /* written to the log file */
    bool write_failed;
};

struct supervise {
    const char *dir;
    struct supervise_spec spec;
    struct supervise_stream streams[2];
    int sig_fd;
    pid_t pid; /* the agent, also its process group id */
    int64_t start_mono;
    bool exited; /* reaped */
    int status;
    enum supervise_reason reason;
    bool ladder;     /* SIGTERM sent (or the post-exit ladder began) */
    int64_t kill_at; /* monotonic ms at which SIGKILL is due */
    bool kill_sent;
    bool group_gone; /* the group was seen empty after the agent was reaped */
    int64_t dropped;
    char error[512]; /* first output-write failure, reported in exit.json */
};

static void
supervise_strv_free(char **v)
{
    if (v == NULL) {
        return;
    }
    for (char **p = v; *p; p++) {
        free(*p);
    }
    free(v);
}

static void
supervise_spec_fini(struct supervise_spec *s)
{
    supervise_strv_free(s->argv);
    supervise_strv_free(s->env);
    free(s->cwd);
    memset(s, 0, sizeof(*s));
}

/* A string without NUL bytes (exec takes C strings), or NULL. */
static const char *
supervise_cstr(const json_t *v)
{
    if (!json_is_string(v)) {
        return NULL;
    }
    const char *s = json_string_value(v);
    return strlen(s) == json_string_length(v) ? s : NULL;
}

static int
supervise_spec_strv(const json_t *root, const char *key, size_t max, char ***out, struct err *e)
{
    const json_t *arr = json_object_get(root, key);
    if (arr == NULL) {
        return err_set(e, ERR_INVALID, "%s: missing", key);
    }
    if (!json_is_array(arr)) {
        return err_set(e, ERR_INVALID, "%s: must be an array of strings", key);
    }
    size_t n = json_array_size(arr);
    if (n > max) {
        return err_set(e, ERR_INVALID, "%s: more than %zu entries", key, max);
    }
    char **v = xcalloc(n + 1, sizeof(char *));
    for (size_t i = 0; i < n; i++) {
        const char *s = supervise_cstr(json_array_get(arr, i));
        if (s == NULL) {
            supervise_strv_free(v);
            return err_set(e, ERR_INVALID, "%s[%zu]: must be a string without NUL bytes", key, i);
        }
        v[i] = xstrdup(s);
    }
    *out = v;
    return 0;
}

static int
supervise_spec_int(const json_t *root, const char *key, int64_t max, int64_t *out, struct err *e)
{
    const json_t *v = json_object_get(root, key);
    if (v == NULL) {
        return err_set(e, ERR_INVALID, "%s: missing", key);
    }
    if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > max) {
        return err_set(e, ERR_INVALID, "%s: must be an integer from 0 to %lld", key,
                       (long long)max);
    }
    *out = json_integer_value(v);
    return 0;
}

/* Parses and validates the text of spec.json into s (cleared on failure). */
static int
supervise_spec_parse(const char *text, size_t len, struct supervise_spec *s, struct err *e)
{
    static const char *const known[] = {
        "argv", "env", "cwd", "timeoutMs", "maxOutput", "graceMs",
    };
    int rc = -1;
    json_t *root = json_parse(text, len, e);
    memset(s, 0, sizeof(*s));
    if (root == NULL) {
        goto out;
    }
    if (!json_is_object(root)) {
        err_set(e, ERR_INVALID, "must be a JSON object");
        goto out;
    }
    const char *key;
    json_t *val;
    json_object_foreach(root, key, val)
    {
        bool ok = false;
        for (size_t i = 0; i < ARRAY_SIZE(known); i++) {
            ok = ok || strcmp(key, known[i]) == 0;
        }
        if (!ok) {
            err_set(e, ERR_INVALID, "unknown field \"%.64s\"", key);
            goto out;
        }
    }
    if (supervise_spec_strv(root, "argv", SUPERVISE_ARGV_MAX, &s->argv, e) != 0) {
        goto out;
    }
    if (s->argv[0] == NULL) {
        err_set(e, ERR_INVALID, "argv: must not be empty");
        goto out;
    }
    if (s->argv[0][0] != '/') {
        err_set(e, ERR_INVALID, "argv[0]: must be an absolute path");
        goto out;
    }
    if (supervise_spec_strv(root, "env", SUPERVISE_ENV_MAX, &s->env, e) != 0) {
        goto out;
    }
    for (size_t i = 0; s->env[i]; i++) {
        const char *eq = strchr(s->env[i], '=');
        if (eq == NULL || eq == s->env[i]) {
            err_set(e, ERR_INVALID, "env[%zu]: must be NAME=VALUE with a non-empty NAME", i);
            goto out;
        }
    }
    const char *cwd = supervise_cstr(json_object_get(root, "cwd"));
    if (cwd == NULL || cwd[0] != '/') {
        err_set(e, ERR_INVALID, "cwd: must be an absolute path");
        goto out;
    }
    s->cwd = xstrdup(cwd);
    if (supervise_spec_int(root, "timeoutMs", SUPERVISE_TIMEOUT_MAX, &s->timeout_ms, e) != 0 ||
        supervise_spec_int(root, "maxOutput", SUPERVISE_OUTPUT_MAX, &s->max_output, e) != 0 ||
        supervise_spec_int(root, "graceMs", SUPERVISE_GRACE_MAX, &s->grace_ms, e) != 0) {
        goto out;
    }
    rc = 0;
out:
    json_decref(root);
    if (rc != 0) {
        supervise_spec_fini(s);
    }
    return rc;
}

/* Reads spec.json, unlinks it at once (it holds secrets), and validates it. Returns 1 when
 * there is no spec at all (nothing to supervise, and nothing we may overwrite). */
static int
supervise_spec_load(const char *dir, struct supervise_spec *s, struct err *e)
{
    char *path = xasprintf("%s/%s", dir, SUPERVISE_SPEC);
    char *claimed = xasprintf("%s/%s.%ld", dir, SUPERVISE_SPEC, (long)getpid());
    size_t len = 0;
    int rc = -1;
    char *text = NULL;
    /* Claim the spec by renaming it: of two supervisors started on one directory, exactly
     * one gets it, and the other finds nothing to do. */
    if (rename(path, claimed) != 0) {
        if (errno == ENOENT) {
            err_set(e, ERR_NOTFOUND, "no %s in %s", SUPERVISE_SPEC, dir);
            rc = 1;
        } else {
            err_sys(e, ERR_IO, "claim %s", path);
        }
        goto out;
    }
    text = fs_read_file(claimed, SUPERVISE_SPEC_MAX, &len, e);
    if (unlink(claimed) != 0 && errno != ENOENT) {
        log_warn("supervise: unlink %s: %s", claimed, strerror(errno));
    }
    if (text == NULL) {
        goto out;
    }
    rc = supervise_spec_parse(text, len, s, e);
    explicit_bzero(text, len);
out:
    if (rc < 0) {
        err_wrap(e, "%s", SUPERVISE_SPEC);
    }
    free(text);
    free(claimed);
    free(path);
    return rc;
}

static const char *
supervise_end_name(const struct supervise *sv, bool spawn_error)
{
    if (spawn_error) {
        return "spawn_error";
    }
    switch (sv->reason) {
    case SUPERVISE_REASON_TIMEOUT:
        return "timeout";
    case SUPERVISE_REASON_CANCEL:
        return "cancelled";
    case SUPERVISE_REASON_NONE:
        break;
    }
    return WIFSIGNALED(sv->status) ? "signaled" : "exited";
}

/* Writes exit.json; error is NULL unless the agent could not be started. */
static int
supervise_write_exit(struct supervise *sv, const char *error, struct err *e)
{
    bool spawn_error = error != NULL;
    json_t *o = json_object();
    json_set_str(o, "end", supervise_end_name(sv, spawn_error));
    if (!spawn_error && sv->exited && WIFEXITED(sv->status)) {
        json_set_int(o, "exitCode", WEXITSTATUS(sv->status));
    } else {
        json_object_set_new(o, "exitCode", json_null());
    }
    if (!spawn_error && sv->exited && WIFSIGNALED(sv->status)) {
        json_set_int(o, "signal", WTERMSIG(sv->status));
    } else {
        json_object_set_new(o, "signal", json_null());
    }
    if (error == NULL && sv->error[0] != '\0') {
        error = sv->error;
    }
    json_object_set_new(o, "error", error ? json_string_bytes(error, strlen(error)) : json_null());
    json_set_int(o, "stdoutBytes", sv->streams[0].bytes);
    json_set_int(o, "stderrBytes", sv->streams[1].bytes);
    json_set_int(o, "droppedBytes", sv->dropped);
    json_object_set_new(o, "truncated", json_boolean(sv->dropped > 0));
    json_set_int(o, "endedAt", clock_now_ms());
    char *text = json_dump_compact(o);
    char *path = xasprintf("%s/%s", sv->dir, SUPERVISE_EXIT);
    int rc = fs_write_atomic(path, text, strlen(text), 0600, e);
    free(path);
    free(text);
    json_decref(o);
    return rc;
}

static int
supervise_write_agent(struct supervise *sv, struct err *e)
{
    int64_t start = 0, self_start = 0;
    if (proc_start_time(sv->pid, &start) != 0) {
        log_warn("supervise: start time of pid %d: %s", (int)sv->pid, strerror(errno));
    }
    if (proc_start_time(getpid(), &self_start) != 0) {
        log_warn("supervise: own start time: %s", strerror(errno));
    }
    json_t *o = json_object();
    json_set_int(o, "pid", sv->pid);
    json_set_int(o, "pgid", sv->pid);
    json_set_int(o, "procStart", start);
    json_set_int(o, "supervisorPid", getpid());
    json_set_int(o, "supervisorStart", self_start);
    json_set_int(o, "startedAt", clock_now_ms());
    char *text = json_dump_compact(o);
    char *path = xasprintf("%s/%s", sv->dir, SUPERVISE_AGENT);
    int rc = fs_write_atomic(path, text, strlen(text), 0600, e);
    free(path);
    free(text);
    json_decref(o);
    return rc;
}

/* Makes sure fds 0-2 are open, so no descriptor we create lands there and the child's dup2()
 * onto 0-2 never clobbers one of its own sources, and closes whatever else we inherited: the
 * daemon's socket or database must not live on in a process that may outlive it by hours. */
static int
supervise_std_fds(struct err *e)
{
    if (close_range(3, ~0U, 0) != 0) {
        log_debug("supervise: close_range: %s", strerror(errno));
    }
    for (int fd = 0; fd <= 2; fd++) {
        if (fcntl(fd, F_GETFD) == -1 && errno == EBADF) {
            int n = open("/dev/null", O_RDWR);
            if (n < 0) {
                return err_sys(e, ERR_IO, "open /dev/null");
            }
            if (n != fd) {
                close(n);
                return err_set(e, ERR_INTERNAL, "fd %d is closed but open() returned %d", fd, n);
            }
        }
    }
    return 0;
}

static int
supervise_open_log(const char *dir, const char *name, struct err *e)
{
    char *path = xasprintf("%s/%s", dir, name);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        err_sys(e, ERR_IO, "open %s", path);
    }
    free(path);
    return fd;
}

static void
supervise_close(int *fd)
{
    if (*fd >= 0) {
        close(*fd);
        *fd = -1;
    }
}

/* In the child between fork and exec: only async-signal-safe calls, no allocation. */
static void
supervise_child_report(int fd, enum supervise_stage stage, int err)
{
    struct supervise_report r = { .stage = stage, .err = err };
    ssize_t n;
    do {
        n = write(fd, &r, sizeof(r));
    } while (n < 0 && errno == EINTR);
    _exit(127);
}

static void
supervise_child(const struct supervise_spec *s, int null_fd, int out_fd, int err_fd, int rep_fd,
                int fd_limit)
{
    struct sigaction dfl;
    sigset_t none;

    memset(&dfl, 0, sizeof(dfl));
    dfl.sa_handler = SIG_DFL;
    sigemptyset(&dfl.sa_mask);
    sigemptyset(&none);
    setpgid(0, 0);
    for (int sig = 1; sig < NSIG; sig++) {
        sigaction(sig, &dfl, NULL); /* SIGKILL, SIGSTOP and glibc's internal ones refuse */
    }
    if (dup2(null_fd, STDIN_FILENO) < 0 || dup2(out_fd, STDOUT_FILENO) < 0 ||
        dup2(err_fd, STDERR_FILENO) < 0) {
        supervise_child_report(rep_fd, SUPERVISE_STAGE_SETUP, errno);
    }
    if (chdir(s->cwd) != 0) {
        supervise_child_report(rep_fd, SUPERVISE_STAGE_CHDIR, errno);
    }
    /* Everything above 2 closes at exec, including the report pipe (so the parent sees EOF). */
    if (close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) != 0) {
        for (int fd = 3; fd < fd_limit; fd++) {
            fcntl(fd, F_SETFD, FD_CLOEXEC);
        }
    }
    sigprocmask(SIG_SETMASK, &none, NULL);
    execve(s->argv[0], s->argv, s->env);
    supervise_child_report(rep_fd, SUPERVISE_STAGE_EXEC, errno);
}

/* Starts the agent. Returns 0 when it runs, 1 when it could not be started (spawn_msg holds
 * the reason for exit.json), -1 on a supervisor failure (e). */
static int
supervise_spawn(struct supervise *sv, char *spawn_msg, size_t msg_size, struct err *e)
{
    int null_fd = -1, rep[2] = { -1, -1 }, out[2] = { -1, -1 }, errp[2] = { -1, -1 };
    int rc = -1;
    struct rlimit rl;
    int fd_limit = 65536;

    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
        rl.rlim_cur < (rlim_t)fd_limit) {
        fd_limit = (int)rl.rlim_cur;
    }
    null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (null_fd < 0) {
        err_sys(e, ERR_IO, "open /dev/null");
        goto out;
    }
    if (pipe2(rep, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0 || pipe2(errp, O_CLOEXEC) != 0) {
        err_sys(e, ERR_IO, "pipe");
        goto out;
    }
    pid_t pid = fork();
    if (pid < 0) {
        err_sys(e, ERR_AGENT, "fork");
        goto out;
    }
    if (pid == 0) {
        supervise_child(&sv->spec, null_fd, out[1], errp[1], rep[1], fd_limit);
    }
    /* Both sides set the group, whichever runs first, so killpg() works from here on. */
    setpgid(pid, pid);
    sv->pid = pid;
    sv->start_mono = clock_mono_ms();
    supervise_close(&rep[1]);
    supervise_close(&out[1]);
    supervise_close(&errp[1]);

    struct supervise_report r;
    ssize_t n;
    do {
        n = read(rep[0], &r, sizeof(r));
    } while (n < 0 && errno == EINTR);
    if (n == (ssize_t)sizeof(r)) {
        int status;
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
        }
        sv->pid = 0;
        const char *what = r.stage == SUPERVISE_STAGE_CHDIR  ? "chdir"
                           : r.stage == SUPERVISE_STAGE_EXEC ? "exec"
                                                             : "set up stdio for";
        const char *arg = r.stage == SUPERVISE_STAGE_CHDIR ? sv->spec.cwd : sv->spec.argv[0];
        snprintf(spawn_msg, msg_size, "%s %s: %s", what, arg, strerror(r.err));
        rc = 1;
        goto out;
    }
    if (n != 0) {
        /* A short report cannot happen with a pipe; treat it as a started agent. */
        log_warn("supervise: unexpected exec report of %zd bytes", n);
    }
    for (int i = 0; i < 2; i++) {
        int fd = i == 0 ? out[0] : errp[0];
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
        sv->streams[i].pipe_fd = fd;
    }
    out[0] = errp[0] = -1;
    rc = 0;
out:
    supervise_close(&null_fd);
    for (int i = 0; i < 2; i++) {
        supervise_close(&rep[i]);
        supervise_close(&out[i]);
        supervise_close(&errp[i]);
    }
    return rc;
}

/* Tells whether the agent's process group still has members. Once it is empty it stays
 * empty (nothing can join a group that no longer exists), and its id may then be recycled by
 * someone else's group: so the answer latches and we never signal that id again. */
static bool
supervise_group_alive(struct supervise *sv)
{
    if (!sv->group_gone && killpg(sv->pid, 0) != 0 && errno == ESRCH) {
        sv->group_gone = true;
    }
    return !sv->group_gone;
}

/* Sends sig to the agent's group, and to the agent itself while we have not reaped it (it may
 * have moved to another group). */
static void
supervise_signal(struct supervise *sv, int sig)
{
    if (!sv->group_gone && killpg(sv->pid, sig) != 0 && errno != ESRCH) {
        log_warn("supervise: killpg %d %s: %s", (int)sv->pid, strsignal(sig), strerror(errno));
    }
    if (!sv->exited) {
        kill(sv->pid, sig);
    }
}

/* Starts the TERM, grace, KILL ladder at now. */
static void
supervise_ladder_start(struct supervise *sv, int64_t now)
{
    sv->ladder = true;
    sv->kill_at = now + sv->spec.grace_ms;
    if (!sv->exited || supervise_group_alive(sv)) {
        supervise_signal(sv, SIGTERM);
    }
}

static void
supervise_reap(struct supervise *sv, int64_t now)
{
    for (;;) {
        int status;
        pid_t p = waitpid(-1, &status, WNOHANG);
        if (p <= 0) {
            break;
        }
        if (p == sv->pid && !sv->exited) {
            sv->exited = true;
            sv->status = status;
            if (!sv->ladder) {
                /* What the agent left behind in its group gets the same ladder. */
                supervise_ladder_start(sv, now);
            }
        }
    }
}

static void
supervise_read_signals(struct supervise *sv, int64_t now)
{
    struct signalfd_siginfo si[8];
    for (;;) {
        ssize_t n = read(sv->sig_fd, si, sizeof(si));
        if (n <= 0) {
            break;
        }
        for (size_t i = 0; i < (size_t)n / sizeof(si[0]); i++) {
            if (si[i].ssi_signo == SIGCHLD) {
                supervise_reap(sv, now);
            } else if (!sv->exited && sv->reason == SUPERVISE_REASON_NONE) {
                log_info("supervise: cancel by %s pid=%d", strsignal((int)si[i].ssi_signo),
                         (int)sv->pid);
                sv->reason = SUPERVISE_REASON_CANCEL;
                supervise_ladder_start(sv, now);
            }
        }
    }
}

/* Copies one read of the agent's output to its log, within the shared cap. */
static void
supervise_read_stream(struct supervise *sv, struct supervise_stream *st, char *buf)
{
    ssize_t n = read(st->pipe_fd, buf, SUPERVISE_READ_SIZE);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
        return;
    }
    if (n <= 0) {
        if (n < 0) {
            log_warn("supervise: read %s pipe: %s", st->name, strerror(errno));
        }
        close(st->pipe_fd);
        st->pipe_fd = -1;
        return;
    }
    int64_t room = sv->spec.max_output - sv->streams[0].bytes - sv->streams[1].bytes;
    size_t keep = room <= 0 ? 0 : (int64_t)n < room ? (size_t)n : (size_t)room;
    size_t done = 0;
    while (done < keep && !st->write_failed) {
        ssize_t w = write(st->log_fd, buf + done, keep - done);
        if (w < 0 && errno == EINTR) {
            continue;
        }
        if (w <= 0) {
            st->write_failed = true;
            if (sv->error[0] == '\0') {
                snprintf(sv->error, sizeof(sv->error), "write %s: %s", st->name,
                         w < 0 ? strerror(errno) : "short write");
            }
            break;
        }
        done += (size_t)w;
    }
    st->bytes += (int64_t)done;
    sv->dropped += (int64_t)((size_t)n - done);
}

/* The loop cannot go on (poll failed): kill the agent's group, wait for the agent, and say why
 * in exit.json rather than leave an unsupervised agent behind. */
static void
supervise_abort(struct supervise *sv, const char *what)
{
    snprintf(sv->error, sizeof(sv->error), "%s: %s", what, strerror(errno));
    log_error("supervise: %s", sv->error);
    supervise_signal(sv, SIGKILL);
    while (!sv->exited) {
        int status;
        pid_t p = waitpid(sv->pid, &status, 0);
        if (p == sv->pid) {
            sv->exited = true;
            sv->status = status;
        } else if (p < 0 && errno != EINTR) {
            break;
        }
    }
}

static int64_t
supervise_min(int64_t a, int64_t b)
{
    return a < 0 ? b : b < 0 ? a : a < b ? a : b;
}

/* Runs until the agent is reaped and its output is drained (or the ladder gave up on it). */
static void
supervise_loop(struct supervise *sv)
{
    char *buf = xmalloc(SUPERVISE_READ_SIZE);
    for (;;) {
        int64_t now = clock_mono_ms();
        int64_t wake = -1; /* absolute monotonic ms of the next timed step, -1 = none */
        if (!sv->exited && sv->reason == SUPERVISE_REASON_NONE && sv->spec.timeout_ms > 0) {
            int64_t deadline = sv->start_mono + sv->spec.timeout_ms;
            if (now >= deadline) {
                log_info("supervise: timeout after %lld ms pid=%d", (long long)sv->spec.timeout_ms,
                         (int)sv->pid);
                sv->reason = SUPERVISE_REASON_TIMEOUT;
                supervise_ladder_start(sv, now);
            } else {
                wake = deadline;
            }
        }
        if (sv->ladder && !sv->kill_sent && now >= sv->kill_at) {
            if (!sv->exited || supervise_group_alive(sv)) {
                supervise_signal(sv, SIGKILL);
            }
            sv->kill_sent = true;
        }
        bool pipes_open = sv->streams[0].pipe_fd >= 0 || sv->streams[1].pipe_fd >= 0;
        if (sv->exited) {
            bool alive = supervise_group_alive(sv);
            if (!pipes_open && !alive) {
                break;
            }
            /* Past the grace period: a last short drain, then we stop waiting. */
            if (now >= sv->kill_at + SUPERVISE_DRAIN_MS) {
                break;
            }
            wake = supervise_min(wake, sv->kill_at + SUPERVISE_DRAIN_MS);
            if (!sv->kill_sent) {
                wake = supervise_min(wake, sv->kill_at);
            }
            if (alive || sv->kill_sent) {
                wake = supervise_min(wake, now + SUPERVISE_TICK_MS);
            }
        } else if (sv->ladder && !sv->kill_sent) {
            wake = supervise_min(wake, sv->kill_at);
        }

        struct pollfd pfd[3] = {
            { .fd = sv->sig_fd, .events = POLLIN },
            { .fd = sv->streams[0].pipe_fd, .events = POLLIN },
            { .fd = sv->streams[1].pipe_fd, .events = POLLIN },
        };
        int64_t wait_ms = wake < 0 ? -1 : wake <= now ? 0 : wake - now;
        if (wait_ms > SUPERVISE_POLL_MAX_MS) {
            wait_ms = SUPERVISE_POLL_MAX_MS;
        }
        if (poll(pfd, 3, (int)wait_ms) < 0 && errno != EINTR) {
            supervise_abort(sv, "poll");
            break;
        }
        now = clock_mono_ms();
        if (pfd[0].revents) {
            supervise_read_signals(sv, now);
        }
        for (int i = 0; i < 2; i++) {
            if (pfd[i + 1].revents && sv->streams[i].pipe_fd >= 0) {
                supervise_read_stream(sv, &sv->streams[i], buf);
            }
        }
    }
    free(buf);
}

/* The supervisor's own signal dispositions. An ignored SIGCHLD (inherited across exec) would
 * make the kernel reap the agent behind our back, so the blocked ones are reset to default;
 * SIGXFSZ is ignored so a file-size limit fails a write (and is reported) instead of killing
 * us before exit.json. */
static const struct {
    int sig;
    bool ignore;
} supervise_dispositions[] = {
    { SIGTERM, false }, { SIGINT, false }, { SIGCHLD, false },
    { SIGHUP, true },   { SIGPIPE, true }, { SIGXFSZ, true },
};

/* Runs the supervisor for the task directory dir. */
int
supervise_main(const char *dir)
{
    struct supervise sv = {
        .dir = dir,
        .streams = {
            { .name = SUPERVISE_STDOUT, .pipe_fd = -1, .log_fd = -1 },
            { .name = SUPERVISE_STDERR, .pipe_fd = -1, .log_fd = -1 },
        },
        .sig_fd = -1,
    };
    struct err e = { 0 };
    sigset_t mask, old_mask;
    struct sigaction old_act[ARRAY_SIZE(supervise_dispositions)];
    char spawn_msg[1024] = "";
    int rc = 1;

    /* Signals first: a cancel that arrives while we start must wait for us, not kill us. */
    sigemptyset(&mask);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGCHLD);
    sigprocmask(SIG_BLOCK, &mask, &old_mask);
    for (size_t i = 0; i < ARRAY_SIZE(supervise_dispositions); i++) {
        struct sigaction act;
        memset(&act, 0, sizeof(act));
        act.sa_handler = supervise_dispositions[i].ignore ? SIG_IGN : SIG_DFL;
        sigemptyset(&act.sa_mask);
        sigaction(supervise_dispositions[i].sig, &act, &old_act[i]);
    }

    if (supervise_std_fds(&e) != 0) {
        log_error("supervise %s: %s", dir, e.msg);
        goto out;
    }
    int loaded = supervise_spec_load(dir, &sv.spec, &e);
    if (loaded == 1) {
        log_error("supervise %s: %s", dir, e.msg);
        goto out;
    }
    for (int i = 0; i < 2; i++) {
        sv.streams[i].log_fd = supervise_open_log(dir, sv.streams[i].name, &e);
        if (sv.streams[i].log_fd < 0) {
            log_error("supervise %s: %s", dir, e.msg);
            goto out;
        }
    }
    if (loaded != 0) {
        snprintf(spawn_msg, sizeof(spawn_msg), "%s", e.msg);
        goto finish;
    }
    sv.sig_fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
    if (sv.sig_fd < 0) {
        snprintf(spawn_msg, sizeof(spawn_msg), "signalfd: %s", strerror(errno));
        goto finish;
    }
    /* Orphaned grandchildren come to us, so we reap them and the group empties for real. */
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    int spawned = supervise_spawn(&sv, spawn_msg, sizeof(spawn_msg), &e);
    if (spawned < 0) {
        snprintf(spawn_msg, sizeof(spawn_msg), "%s", e.msg);
    }
    if (spawned != 0) {
        goto finish;
    }
    if (supervise_write_agent(&sv, &e) != 0) {
        /* The agent runs and we still own it: carry on, the daemon learns it from exit.json. */
        log_error("supervise %s: %s", dir, e.msg);
        snprintf(sv.error, sizeof(sv.error), "%s", e.msg);
    }
    log_info("supervise: started pid=%d argv0=%s", (int)sv.pid, sv.spec.argv[0]);
    supervise_loop(&sv);
    /* Reap anything else that came to us meanwhile; the group was killed or is empty. */
    while (waitpid(-1, NULL, WNOHANG) > 0) {
    }
    /* The checkpoint wants the work tree as the agent left it; git runs here, not in the
     * daemon's loop, and before exit.json so the daemon finds it when it records the end. */
    if (gitstate_capture(dir, sv.spec.cwd, &e) != 0) {
        log_warn("supervise: git state of %s: %s", sv.spec.cwd, e.msg);
    }
finish:
    for (int i = 0; i < 2; i++) {
        if (fdatasync(sv.streams[i].log_fd) != 0) {
            log_warn("supervise: sync %s: %s", sv.streams[i].name, strerror(errno));
        }
    }
    if (supervise_write_exit(&sv, spawn_msg[0] ? spawn_msg : NULL, &e) != 0) {
        log_error("supervise %s: %s", dir, e.msg);
        goto out;
    }
    rc = 0;
out:
    for (int i = 0; i < 2; i++) {
        supervise_close(&sv.streams[i].pipe_fd);
        supervise_close(&sv.streams[i].log_fd);
    }
    supervise_close(&sv.sig_fd);
    supervise_spec_fini(&sv.spec);
    prctl(PR_SET_CHILD_SUBREAPER, 0);
    for (size_t i = 0; i < ARRAY_SIZE(supervise_dispositions); i++) {
        sigaction(supervise_dispositions[i].sig, &old_act[i], NULL);
    }
    sigprocmask(SIG_SETMASK, &old_mask, NULL);
    return rc;
}

/* Reads state (field 3) and starttime (field 22) of /proc/PID/stat. The command name (field 2)
 * may hold spaces and parentheses, so fields are counted from the last ')'. */
static int
proc_stat_read(int pid, char *state, int64_t *start)
{
    char path[64], buf[4096];
    if (pid <= 0) {
        errno = EINVAL;
        return -1;
    }
    snprintf(path, sizeof(path), "/proc/%d/stat", pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return -1;
    }
    ssize_t n;
    do {
        n = read(fd, buf, sizeof(buf) - 1);
    } while (n < 0 && errno == EINTR);
    int saved = errno;
    close(fd);
    if (n < 0) {
        errno = saved == ESRCH ? ENOENT : saved;
        return -1;
    }
    buf[n] = '\0';
    char *p = memrchr(buf, ')', (size_t)n);
    if (p == NULL || p[1] != ' ' || p[2] == '\0') {
        errno = EINVAL;
        return -1;
    }
    p += 2; /* field 3 */
    *state = *p;
    for (int field = 3; field < 22; field++) {
        p = strchr(p, ' ');
        if (p == NULL) {
            errno = EINVAL;
            return -1;
        }
        p++;
    }
    char *end;
    errno = 0;
    long long v = strtoll(p, &end, 10);
    if (errno != 0 || end == p || (*end != ' ' && *end != '\n' && *end != '\0') || v < 0) {
        errno = EINVAL;
        return -1;
    }
    *start = v;
    return 0;
}

/* Reads the start time of pid, in clock ticks since boot. */
int
proc_start_time(int pid, int64_t *out)
{
    char state;
    return proc_stat_read(pid, &state, out);
}

/* Tells whether pid is a live process (not a zombie) that started at start (0 = any). */
bool
proc_is_ours(int pid, int64_t start)
{
    char state;
    int64_t actual;
    if (proc_stat_read(pid, &state, &actual) != 0) {
        return false;
    }
    if (state == 'Z' || state == 'X' || state == 'x') {
        return false;
    }
    return start == 0 || actual == start;
}
