/* File-system helpers. */
#include <sys/stat.h>
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdbool.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/fsutil.h"
#include "util/xmalloc.h"

/* mkdir -p. */
int
fs_mkdir_p(const char *dir, mode_t mode, struct err *e)
{
    char *copy = xstrdup(dir);
    for (char *p = copy + 1; *p; p++) {
        if (*p == '/') {
            *p = '\0';
            if (mkdir(copy, mode) != 0 && errno != EEXIST) {
                err_sys(e, ERR_IO, "create directory %s", copy);
                free(copy);
                return -1;
            }
            *p = '/';
        }
    }
    int rc = 0;
    if (mkdir(copy, mode) != 0 && errno != EEXIST) {
        rc = err_sys(e, ERR_IO, "create directory %s", copy);
    }
    free(copy);
    return rc;
}

static int fs_write_renamed(const char *path, const void *data, size_t len, mode_t mode,
                            bool sync, struct err *e);

/* Atomic write: temp file in the same directory, fsync, rename. */
int
fs_write_atomic(const char *path, const void *data, size_t len, mode_t mode, struct err *e)
{
    return fs_write_renamed(path, data, len, mode, true, e);
}

/* Atomic write without fsync. */
int
fs_write_quick(const char *path, const void *data, size_t len, mode_t mode, struct err *e)
{
    return fs_write_renamed(path, data, len, mode, false, e);
}

static int
fs_write_renamed(const char *path, const void *data, size_t len, mode_t mode, bool sync,
                 struct err *e)
{
    char *tmp = xasprintf("%s.tmp.%ld", path, (long)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    int rc = -1;
    if (fd < 0) {
        err_sys(e, ERR_IO, "open %s", tmp);
        goto out;
    }
    const char *p = data;
    size_t left = len;
    while (left > 0) {
        ssize_t n = write(fd, p, left);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            err_sys(e, ERR_IO, "write %s", tmp);
            goto out;
        }
        p += n;
        left -= (size_t)n;
    }
    if (fchmod(fd, mode) != 0 || (sync && fsync(fd) != 0)) {
        err_sys(e, ERR_IO, "sync %s", tmp);
        goto out;
    }
    if (close(fd) != 0) {
        fd = -1;
        err_sys(e, ERR_IO, "close %s", tmp);
        goto out;
    }
    fd = -1;
    if (rename(tmp, path) != 0) {
        err_sys(e, ERR_IO, "rename %s", path);
        goto out;
    }
    rc = 0;
out:
    if (fd >= 0) {
        close(fd);
    }
    if (rc != 0) {
        unlink(tmp);
    }
    free(tmp);
    return rc;
}

/* Reads a bounded file. */
char *
fs_read_file(const char *path, size_t max, size_t *len_out, struct err *e)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        err_sys(e, errno == ENOENT ? ERR_NOTFOUND : ERR_IO, "open %s", path);
        return NULL;
    }
    size_t cap = 4096, len = 0;
    char *data = xmalloc(cap);
    for (;;) {
        if (len + 1 >= cap) {
            if (cap > max + 1) {
                close(fd);
                free(data);
                err_set(e, ERR_IO, "%s is larger than %zu bytes", path, max);
                return NULL;
            }
            cap *= 2;
            data = xrealloc(data, cap);
        }
        ssize_t n = read(fd, data + len, cap - len - 1);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            err_sys(e, ERR_IO, "read %s", path);
            close(fd);
            free(data);
            return NULL;
        }
        if (n == 0) {
            break;
        }
        len += (size_t)n;
    }
    close(fd);
    if (len > max) {
        free(data);
        err_set(e, ERR_IO, "%s is larger than %zu bytes", path, max);
        return NULL;
    }
    data[len] = '\0';
    if (len_out) {
        *len_out = len;
    }
    return data;
}

static int
fs_remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    return remove(path) == 0 || errno == ENOENT ? 0 : -1;
}

/* rm -rf without following symlinks. */
int
fs_remove_tree(const char *path, struct err *e)
{
    if (nftw(path, fs_remove_entry, 16, FTW_DEPTH | FTW_PHYS) != 0 && errno != ENOENT) {
        return err_sys(e, ERR_IO, "remove %s", path);
    }
    return 0;
}

/* Resolves a working directory. */
char *
fs_resolve_dir(const char *path, const char *base, struct err *e)
{
    char *joined = path[0] == '/' || base == NULL ? xstrdup(path) : xasprintf("%s/%s", base, path);
    char *real = realpath(joined, NULL);
    struct stat st;
    if (real == NULL) {
        err_sys(e, ERR_INVALID, "%s does not exist", joined);
        free(joined);
        return NULL;
    }
    free(joined);
    if (stat(real, &st) != 0 || !S_ISDIR(st.st_mode)) {
        err_set(e, ERR_INVALID, "%s is not a directory", real);
        free(real);
        return NULL;
    }
    return real;
}

/* PATH lookup. */
char *
fs_find_exec(const char *name, const char *path_env)
{
    if (name[0] == '\0') {
        return NULL;
    }
    if (strchr(name, '/')) {
        return access(name, X_OK) == 0 ? xstrdup(name) : NULL;
    }
    if (path_env == NULL) {
        path_env = "/usr/local/bin:/usr/bin:/bin";
    }
    const char *p = path_env;
    while (*p) {
        const char *end = strchr(p, ':');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        char *cand = n == 0 ? xasprintf("./%s", name) : xasprintf("%.*s/%s", (int)n, p, name);
        struct stat st;
        if (stat(cand, &st) == 0 && S_ISREG(st.st_mode) && access(cand, X_OK) == 0) {
            return cand;
        }
        free(cand);
        if (!end) {
            break;
        }
        p = end + 1;
    }
    return NULL;
}
