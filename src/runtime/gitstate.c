/* Reads branch, commit and changed files of a work tree by running git (argv, no shell),
 * each call bounded in time and output size. */
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <stdbool.h>
#include <string.h>
#include <unistd.h>

#include "runtime/gitstate.h"
#include "util/buf.h"
#include "util/clock.h"
#include "util/fsutil.h"
#include "util/json.h"
#include "util/xmalloc.h"

#define GIT_OUTPUT_MAX (1024 * 1024)

/* Runs git with args in cwd; returns its stdout (NULL when it failed or ran too long). */
static char *
gitstate_run(const char *cwd, const char *const *args)
{
    int out[2];
    if (pipe2(out, O_CLOEXEC) != 0) {
        return NULL;
    }
    pid_t pid = fork();
    if (pid < 0) {
        close(out[0]);
        close(out[1]);
        return NULL;
    }
    if (pid == 0) {
        const char *argv[16] = { "git", "-C", cwd };
        int n = 3;
        for (int i = 0; args[i] && n < 15; i++) {
            argv[n++] = args[i];
        }
        argv[n] = NULL;
        int null_fd = open("/dev/null", O_RDWR);
        dup2(null_fd, 0);
        dup2(out[1], 1);
        dup2(null_fd, 2);
        setenv("GIT_OPTIONAL_LOCKS", "0", 1); /* never take the index lock of the user's repo */
        setenv("LC_ALL", "C", 1);
        execvp("git", (char *const *)argv);
        _exit(127);
    }
    close(out[1]);
    struct buf b;
    buf_init(&b);
    int64_t deadline = clock_mono_ms() + GITSTATE_TIMEOUT_MS;
    bool ok = true;
    for (;;) {
        int64_t left = deadline - clock_mono_ms();
        struct pollfd pfd = { .fd = out[0], .events = POLLIN };
        if (left <= 0) {
            ok = false;
            break;
        }
        int r = poll(&pfd, 1, (int)left);
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r <= 0) {
            ok = false;
            break;
        }
        char chunk[8192];
        ssize_t n = read(out[0], chunk, sizeof chunk);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            break;
        }
        if (b.len + (size_t)n > GIT_OUTPUT_MAX) {
            ok = false;
            break;
        }
        buf_add(&b, chunk, (size_t)n);
    }
    close(out[0]);
    if (!ok) {
        kill(pid, SIGKILL);
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (!ok || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        buf_fini(&b);
        return NULL;
    }
    return buf_take(&b);
}

static char *
gitstate_line(char *s)
{
    if (s) {
        s[strcspn(s, "\n")] = '\0';
    }
    return s;
}

/* True when cwd or a parent holds .git: outside a repository no git process is started at
 * all, which keeps the end of every task a few milliseconds shorter. */
static bool
gitstate_maybe_repo(const char *cwd)
{
    char *dir = xstrdup(cwd);
    bool found = false;
    for (;;) {
        char *probe = xasprintf("%s/.git", dir);
        found = access(probe, F_OK) == 0;
        free(probe);
        char *slash = strrchr(dir, '/');
        if (found || slash == NULL || slash == dir) {
            if (!found && slash == dir && dir[1] != '\0') {
                found = access("/.git", F_OK) == 0;
            }
            break;
        }
        *slash = '\0';
    }
    free(dir);
    return found;
}

/* Captures the git state of cwd into task_dir/git.json. */
int
gitstate_capture(const char *task_dir, const char *cwd, struct err *e)
{
    static const char *const inside[] = { "rev-parse", "--is-inside-work-tree", NULL };
    static const char *const branch_args[] = { "rev-parse", "--abbrev-ref", "HEAD", NULL };
    static const char *const commit_args[] = { "rev-parse", "HEAD", NULL };
    static const char *const status_args[] = { "status", "--porcelain=v1", "-z",
                                               "--untracked-files=normal", NULL };
    if (!gitstate_maybe_repo(cwd)) {
        return 0;
    }
    char *in = gitstate_line(gitstate_run(cwd, inside));
    if (in == NULL || strcmp(in, "true") != 0) {
        free(in);
        return 0;
    }
    free(in);
    char *branch = gitstate_line(gitstate_run(cwd, branch_args));
    char *commit = gitstate_line(gitstate_run(cwd, commit_args)); /* NULL in an empty repo */
    char *status = gitstate_run(cwd, status_args);
    json_t *changed = json_array();
    int64_t count = 0;
    /* -z records: "XY path\0", renames followed by "orig\0". */
    for (char *p = status; p && *p;) {
        size_t len = strlen(p);
        if (len > 3) {
            if (json_array_size(changed) < GITSTATE_FILES_MAX) {
                json_array_append_new(changed, json_string_bytes(p + 3, len - 3));
            }
            count++;
        }
        bool rename = p[0] == 'R' || p[0] == 'C';
        p += len + 1;
        if (rename && *p) {
            p += strlen(p) + 1;
        }
    }
    json_t *j = json_pack("{s:o, s:I}", "changed", changed, "changedCount", (json_int_t)count);
    if (branch && strcmp(branch, "HEAD") != 0) {
        json_set_str(j, "branch", branch);
    }
    if (commit) {
        json_set_str(j, "commit", commit);
    }
    char *text = json_dump_compact(j);
    char *path = xasprintf("%s/%s", task_dir, GITSTATE_FILE);
    int rc = fs_write_atomic(path, text, strlen(text), 0600, e);
    free(path);
    free(text);
    json_decref(j);
    free(branch);
    free(commit);
    free(status);
    return rc;
}
