/* The per-task supervisor: a small process (this binary, hidden mode `beat __supervise DIR`)
 * that owns one agent, so the agent's life does not depend on the daemon's.
 *
 * Protocol, all through files in the task directory DIR (mode 0700):
 *   spec.json   written by the daemon (0600) before the supervisor starts; read and unlinked
 *               at once (it holds the environment, hence secrets):
 *               {"argv":[...], "env":["K=V",...], "cwd":"/abs", "timeoutMs":N (0 = none),
 *                "maxOutput":N (bytes, stdout+stderr together), "graceMs":N}
 *               argv[0] is an absolute path (the daemon resolved it on the client's PATH).
 *               At most SUPERVISE_SPEC_MAX bytes; all six fields are required and unknown
 *               ones are refused; timeoutMs <= 366 days, graceMs <= 1 h, maxOutput <= 1 TiB
 *               (0 keeps no output at all); at most 4096 argv and 16384 env entries.
 *   agent.json  written atomically once the agent runs (never on spawn_error):
 *               {"pid":N, "pgid":N, "procStart":N, "supervisorPid":N, "supervisorStart":N,
 *                "startedAt":ms}
 *               pgid == pid; procStart is proc_start_time(pid) and supervisorStart that of the
 *               supervisor (0 if it could not be read), for proc_is_ours() after a restart.
 *   stdout.log, stderr.log   the agent's output, appended as it arrives, together capped at
 *               maxOutput bytes (the rest is drained and counted, never buffered in memory).
 *               Created (truncated, 0600) once spec.json is read, before the agent starts.
 *   exit.json   written atomically (and fsynced) when everything is over:
 *               {"end":"exited|signaled|timeout|cancelled|spawn_error", "exitCode":N|null,
 *                "signal":N|null, "error":"..."|null, "stdoutBytes":N, "stderrBytes":N,
 *                "droppedBytes":N, "truncated":bool, "endedAt":ms}
 *               Every key is always present. exitCode is the agent's exit status when it
 *               exited, else null; signal the signal that killed it, else null (both describe
 *               the agent's real wait status, also for timeout and cancelled). end: "exited" /
 *               "signaled" by the agent's own status; "timeout" and "cancelled" win over the
 *               signal they caused; "spawn_error" when it never ran: a bad spec.json ("spec.json:
 *               argv[0]: must be an absolute path"), "chdir <cwd>: <strerror>" or "exec <argv0>:
 *               <strerror>". error is otherwise null, or the first supervisor-side failure
 *               while the agent ran (e.g. "write stdout.log: No space left on device").
 *               stdoutBytes/stderrBytes are the sizes of the log files; droppedBytes what the
 *               agent printed beyond the cap (or failed to write); truncated = droppedBytes > 0.
 *
 * The agent runs in its own process group, stdin /dev/null, cwd from the spec, exec'd directly
 * (never through a shell). SIGTERM to the supervisor means "cancel": the agent's group gets
 * SIGTERM, then SIGKILL after graceMs. The timeout works the same way and is enforced by the
 * supervisor itself, so it holds while the daemon is down. When the agent exits, what is left
 * of its group gets the same ladder so no stray process keeps the pipes open; a process that left
 * the group (setsid) and still holds a pipe is waited for at most graceMs + 200 ms.
 * SIGINT is a cancel too; SIGHUP is ignored. The supervisor blocks these signals first thing,
 * so a cancel sent while it starts is kept and acted on once the agent runs. */
#ifndef RUNTIME_SUPERVISE_H
#define RUNTIME_SUPERVISE_H

#include <stdbool.h>
#include <stdint.h>

#define SUPERVISE_MODE_ARG "__supervise"
#define SUPERVISE_SPEC     "spec.json"
#define SUPERVISE_AGENT    "agent.json"
#define SUPERVISE_STDOUT   "stdout.log"
#define SUPERVISE_STDERR   "stderr.log"
#define SUPERVISE_EXIT     "exit.json"
#define SUPERVISE_SPEC_MAX (4u << 20) /* bytes of spec.json */

/* Runs the supervisor for the task directory dir; returns the process exit status (0 when
 * exit.json was written). Called from main in the hidden mode; never returns early on agent
 * failure: every outcome ends in exit.json. Returns 1 without touching exit.json when there is
 * no spec.json (a second supervisor for a dir must not overwrite the first one's result), or
 * when DIR cannot be written. Closes every inherited fd above 2 and makes itself the child
 * subreaper of the agent's orphans. */
int supervise_main(const char *dir);

/* Reads the start time (clock ticks since boot, field 22 of /proc/PID/stat) of pid; returns
 * 0, or -1 with errno (ENOENT: no such process, EINVAL: bad pid or unreadable stat). */
int proc_start_time(int pid, int64_t *out);
/* True when pid is alive (a zombie is not) and (if start != 0) started at start: a recycled
 * pid is not ours. */
bool proc_is_ours(int pid, int64_t start);

#endif
