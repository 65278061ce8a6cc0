/* The git state of a working directory, read with the git CLI under a deadline, for task
 * checkpoints. Runs in the supervisor after the agent has ended, never in the daemon's loop. */
#ifndef RUNTIME_GITSTATE_H
#define RUNTIME_GITSTATE_H

#include "util/err.h"

#define GITSTATE_FILE        "git.json"
#define GITSTATE_FILES_MAX   100
#define GITSTATE_TIMEOUT_MS  3000

/* Writes task_dir/git.json {"branch","commit","changed":[...],"changedCount":N} when cwd is
 * inside a git work tree; writes nothing (and returns 0) when it is not, or git is missing. */
int gitstate_capture(const char *task_dir, const char *cwd, struct err *e);

#endif
