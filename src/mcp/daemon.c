/* The daemon process: one per state directory, enforced by an flock on daemon.lock. Wires the
 * event loop, the engine and the socket server together, turns lifecycle events into MCP
 * logging notifications, and shuts down cleanly on SIGTERM/SIGINT, leaving running agents to
 * their supervisors. */
#include <sys/file.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <uv.h>

#include "core/config.h"
#include "core/engine.h"
#include "mcp/daemon.h"
#include "mcp/server.h"
#include "runtime/rt.h"
#include "util/fsutil.h"
#include "util/log.h"
#include "util/xmalloc.h"

struct daemon {
    uv_loop_t loop;
    uv_signal_t sigterm, sigint, sighup;
    uv_fs_poll_t config_poll;
    struct rt *rt;
    struct engine *engine;
    struct mcp_server *server;
    bool kill_tasks;
    bool stopping;
};

static void
daemon_event_cb(void *arg, const char *event, const json_t *data)
{
    struct daemon *d = arg;
    (void)event;
    if (d->server) {
        mcp_server_broadcast_log(d->server, "info", "backbeat", data);
    }
}

static void
daemon_server_stopped_cb(void *arg)
{
    (void)arg;
}

static void
daemon_stop(struct daemon *d)
{
    if (d->stopping) {
        return;
    }
    d->stopping = true;
    log_info("daemon: stopping%s", d->kill_tasks ? " and cancelling running tasks" : "");
    engine_stop(d->engine, d->kill_tasks);
    mcp_server_stop(d->server, daemon_server_stopped_cb, d);
    d->server = NULL;
    uv_signal_stop(&d->sigterm);
    uv_signal_stop(&d->sigint);
    uv_signal_stop(&d->sighup);
    uv_fs_poll_stop(&d->config_poll);
    uv_close((uv_handle_t *)&d->sigterm, NULL);
    uv_close((uv_handle_t *)&d->sigint, NULL);
    uv_close((uv_handle_t *)&d->sighup, NULL);
    uv_close((uv_handle_t *)&d->config_poll, NULL);
}

static void
daemon_signal_cb(uv_signal_t *h, int signum)
{
    struct daemon *d = h->data;
    if (signum == SIGHUP) {
        log_info("daemon: SIGHUP: reloading configuration");
        engine_reload_config(d->engine);
        return;
    }
    /* SIGUSR-free protocol: `beat daemon stop --kill-tasks` writes a marker first. */
    char *marker = xasprintf("%s/stop-kill-tasks", engine_home(d->engine));
    if (access(marker, F_OK) == 0) {
        d->kill_tasks = true;
        unlink(marker);
    }
    free(marker);
    log_info("daemon: signal %d", signum);
    daemon_stop(d);
}

static void
daemon_config_cb(uv_fs_poll_t *h, int status, const uv_stat_t *prev, const uv_stat_t *curr)
{
    struct daemon *d = h->data;
    (void)curr;
    if (status < 0 && prev->st_mtim.tv_sec == 0 && prev->st_mtim.tv_nsec == 0) {
        return; /* still no config file */
    }
    log_info("daemon: config.json changed: reloading");
    engine_reload_config(d->engine);
    enum log_level lvl;
    if (log_level_parse(config_str(engine_config(d->engine), "logLevel"), &lvl) == 0) {
        log_set_level(lvl);
    }
}

/* Takes the per-directory lock; returns its fd, or -1 when another daemon holds it. */
static int
daemon_lock(const char *home, struct err *e)
{
    char *path = xasprintf("%s/daemon.lock", home);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    free(path);
    if (fd < 0) {
        err_sys(e, ERR_IO, "open %s/daemon.lock", home);
        return -1;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        err_set(e, ERR_STATE, "another backbeat daemon is already running for %s", home);
        close(fd);
        return -1;
    }
    char pid[32];
    int n = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) != 0 || pwrite(fd, pid, (size_t)n, 0) != n) {
        log_warn("daemon: cannot record pid in daemon.lock");
    }
    return fd;
}

/* Runs the daemon in the foreground until it is told to stop. */
int
daemon_main(const char *home, bool log_to_stderr)
{
    struct daemon d = { 0 };
    struct err e = { 0 };
    char exe[4096];
    char *log_path = xasprintf("%s/daemon.log", home);
    char *sock_path = xasprintf("%s/daemon.sock", home);
    char *cfg_path = xasprintf("%s/config.json", home);
    FILE *log_file = NULL;
    int lock_fd = -1, rc = 1;

    if (fs_mkdir_p(home, 0700, &e) != 0 || chmod(home, 0700) != 0) {
        fprintf(stderr, "beat daemon: %s\n", e.msg[0] ? e.msg : "cannot secure state directory");
        goto out;
    }
    lock_fd = daemon_lock(home, &e);
    if (lock_fd < 0) {
        fprintf(stderr, "beat daemon: %s\n", e.msg);
        rc = e.code == ERR_STATE ? 3 : 1;
        goto out;
    }
    if (!log_to_stderr) {
        log_file = fopen(log_path, "ae");
        if (log_file != NULL) {
            chmod(log_path, 0600);
            log_set_file(log_file);
        }
    }
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0) {
        fprintf(stderr, "beat daemon: cannot find its own executable\n");
        goto out;
    }
    exe[n] = '\0';
    signal(SIGPIPE, SIG_IGN);
    uv_loop_init(&d.loop);
    d.rt = rt_new(&d.loop);
    d.engine = engine_new(d.rt, home, exe, &e);
    if (d.engine == NULL) {
        log_error("daemon: %s", e.msg);
        fprintf(stderr, "beat daemon: %s\n", e.msg);
        goto out_loop;
    }
    enum log_level lvl;
    if (log_level_parse(config_str(engine_config(d.engine), "logLevel"), &lvl) == 0) {
        log_set_level(lvl);
    }
    engine_set_event_cb(d.engine, daemon_event_cb, &d);
    if (engine_start(d.engine, &e) != 0) {
        log_error("daemon: start: %s", e.msg);
        fprintf(stderr, "beat daemon: %s\n", e.msg);
        goto out_loop;
    }
    d.server = mcp_server_start(&d.loop, sock_path, d.engine, &e);
    if (d.server == NULL) {
        log_error("daemon: %s", e.msg);
        fprintf(stderr, "beat daemon: %s\n", e.msg);
        goto out_loop;
    }
    uv_signal_init(&d.loop, &d.sigterm);
    uv_signal_init(&d.loop, &d.sigint);
    uv_signal_init(&d.loop, &d.sighup);
    d.sigterm.data = d.sigint.data = d.sighup.data = &d;
    uv_signal_start(&d.sigterm, daemon_signal_cb, SIGTERM);
    uv_signal_start(&d.sigint, daemon_signal_cb, SIGINT);
    uv_signal_start(&d.sighup, daemon_signal_cb, SIGHUP);
    uv_fs_poll_init(&d.loop, &d.config_poll);
    d.config_poll.data = &d;
    uv_fs_poll_start(&d.config_poll, daemon_config_cb, cfg_path, 1000);
    log_info("daemon: backbeat %s started pid=%ld home=%s", BEAT_VERSION, (long)getpid(), home);
    uv_run(&d.loop, UV_RUN_DEFAULT);
    rc = 0;
out_loop:
    if (!d.stopping && d.server != NULL) {
        mcp_server_stop(d.server, daemon_server_stopped_cb, &d);
        /* Sessions are freed in close callbacks and release engine watchers: run them while
         * the engine still exists. */
        uv_run(&d.loop, UV_RUN_NOWAIT);
        uv_run(&d.loop, UV_RUN_NOWAIT);
    }
    engine_free(d.engine);
    rt_free(d.rt);
    uv_run(&d.loop, UV_RUN_DEFAULT); /* let close callbacks run */
    if (uv_loop_close(&d.loop) != 0) {
        log_warn("daemon: loop closed with handles still open");
    }
    if (rc == 0) {
        log_info("daemon: stopped");
    }
out:
    if (lock_fd >= 0) {
        unlink(sock_path);
        close(lock_fd);
    }
    log_set_file(NULL);
    if (log_file) {
        fclose(log_file);
    }
    free(log_path);
    free(sock_path);
    free(cfg_path);
    return rc;
}
