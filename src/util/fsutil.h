/* Small file-system helpers with err reporting. */
#ifndef UTIL_FSUTIL_H
#define UTIL_FSUTIL_H

#include <stddef.h>
#include <sys/types.h>

#include "util/err.h"

/* Creates dir and its parents with mode (existing ones are left alone). */
int fs_mkdir_p(const char *dir, mode_t mode, struct err *e);
/* Writes data to path atomically (temp file, fsync, rename) with mode. */
int fs_write_atomic(const char *path, const void *data, size_t len, mode_t mode, struct err *e);
/* The same without fsync: for files that need not survive a power loss (a task's spec.json
 * is read by its supervisor a moment later, or redone by start-up reconciliation). */
int fs_write_quick(const char *path, const void *data, size_t len, mode_t mode, struct err *e);
/* Reads a whole file of at most max bytes into a new NUL-terminated buffer. */
char *fs_read_file(const char *path, size_t max, size_t *len_out, struct err *e);
/* Removes a directory tree (no symlinks followed). */
int fs_remove_tree(const char *path, struct err *e);
/* Resolves path against base when relative, then realpath(); must be an existing directory. */
char *fs_resolve_dir(const char *path, const char *base, struct err *e);
/* Finds an executable by name along a PATH string (names with '/' are checked as given). */
char *fs_find_exec(const char *name, const char *path_env);

#endif
