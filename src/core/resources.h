/* Resources: what the machine has left and what our own agents use, read from /proc, and the
 * one admission rule built on those numbers. Reading /proc (resources_read) is kept apart from
 * the arithmetic (resources_update, resources_decide), which is pure, so tests replay recorded
 * samples. Also the start-up recovery decision for a task found running, for the same reason.
 * Not here: when to sample (the engine's timer), per-agent concurrency limits (the agents work).
 * Not thread-safe; the daemon uses it from its loop only. */
#ifndef CORE_RESOURCES_H
#define CORE_RESOURCES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "core/task.h"
#include "util/err.h"

/* An agent younger than this has not reached its steady footprint yet: admission counts it at
 * what its type is known to cost, whatever it uses so far. */
#define RESOURCES_SETTLE_MS 5000
/* A sample younger than this is good enough for a dispatch decision. */
#define RESOURCES_CACHE_MS 250
/* The engine samples this often while tasks run or wait. */
#define RESOURCES_INTERVAL_MS 1000
/* Entries of /proc looked at per sample, and process groups followed at most. */
#define RESOURCES_SCAN_MAX   65536
#define RESOURCES_GROUPS_MAX 1024
/* Bytes of an agent type name kept (longer names are cut: they only key the cost table). */
#define RESOURCES_TYPE_MAX 33 /* an agent name of up to 32 bytes, and its NUL */
/* Agent types whose cost is learned; more share the prior. */
#define RESOURCES_COSTS_MAX 64
/* What one agent is assumed to cost before any of its type was measured here: Claude Code
 * measures 200-600 MB and mostly waits on the network between bursts. */
#define RESOURCES_PRIOR_RSS (400LL * 1024 * 1024)
#define RESOURCES_PRIOR_CPU 10.0 /* percent of one core */
/* Weight of a new measurement in the per-type moving average. */
#define RESOURCES_EWMA_ALPHA 0.2
/* Pressure stall limits (share of the last 10 s in which some task stalled, percent). */
#define RESOURCES_PSI_MEMORY_MAX 10.0
#define RESOURCES_PSI_CPU_MAX    80.0

struct resources_settings {
    int64_t max_workers;        /* hard cap on running agents */
    int64_t cpu_threshold;      /* percent of the usable cores; 100 turns the CPU checks off */
    int64_t memory_reserve;     /* bytes that must stay available */
    int64_t cpu_cores_reserved; /* cores left to other work (at least one core stays usable) */
};

/* The footprint of one process group, summed over its live members. */
struct resources_group {
    int pgid;
    int nprocs;
    int64_t rss_pages;
    uint64_t ticks; /* utime + stime + cutime + cstime, clock ticks */
};

/* One raw reading of /proc. Fields that could not be read are marked unknown (ncpu 0,
 * mem_available -1, has_psi false); reading never fails for lack of a file. */
struct resources_raw {
    int64_t at_ms; /* monotonic time of the reading */
    int ncpu;      /* cpuN lines of stat */
    uint64_t cpu_busy, cpu_total;
    double load1; /* loadavg; used until two readings give a CPU delta; < 0 unknown */
    int64_t mem_total, mem_available; /* bytes, -1 unknown */
    bool has_psi_cpu, has_psi_memory;
    double psi_cpu_some10, psi_memory_some10, psi_memory_full10;
    struct resources_group *groups; /* one per pgid asked for, same order; owned */
    size_t ngroups;
};

/* The machine as the last sample saw it. */
struct resources_machine {
    int64_t at_ms;                    /* monotonic; 0 = never sampled */
    int ncpu;                         /* 0 = unknown */
    double cpu_percent;               /* busy share of all CPUs, 0..100 */
    bool cpu_from_load;               /* cpu_percent comes from the load average (no delta yet) */
    int64_t mem_total, mem_available; /* bytes, -1 unknown */
    bool has_psi_cpu, has_psi_memory;
    double psi_cpu_some10, psi_memory_some10, psi_memory_full10;
};

/* One running agent: who it is (filled by the caller) and what it uses (filled by
 * resources_update). */
struct resources_agent {
    char id[TASK_ID_LEN + 1];
    char type[RESOURCES_TYPE_MAX]; /* agent name: "claude", ... */
    int pgid;                      /* 0 while not known */
    int64_t started_ms;            /* monotonic */
    bool measured;                 /* rss holds a reading of a live group */
    bool cpu_known;                /* cpu_percent holds a delta over two readings */
    int nprocs;
    int64_t rss;        /* bytes */
    double cpu_percent; /* percent of one core */
    uint64_t ticks;     /* the previous reading, for the next delta */
    int64_t ticks_at;
};

/* What one agent of a type costs: a moving average of settled agents' footprints. */
struct resources_cost {
    char type[RESOURCES_TYPE_MAX];
    double rss;         /* bytes */
    double cpu_percent; /* percent of one core */
    int64_t samples;    /* measurements folded in; 0 = the prior */
};

struct resources;

/* A new monitor. page_size and clk_tck convert /proc's units (0 = this machine's). */
struct resources *resources_new(long page_size, long clk_tck);
void resources_free(struct resources *r);

/* Reads root (normally "/proc"): stat, loadavg, meminfo, pressure/{cpu,memory}, and, when
 * npgids > 0, every root/<pid>/stat once (at most RESOURCES_SCAN_MAX entries) to sum the
 * members of each pgid asked for (at most RESOURCES_GROUPS_MAX). Fills *out (free with
 * resources_raw_fini). Fails (ERR_IO) only when root/stat cannot be read. */
int resources_read(const char *root, const int *pgids, size_t npgids, int64_t now_ms,
                   struct resources_raw *out, struct err *e);
void resources_raw_fini(struct resources_raw *raw);

/* Makes the running set agents[0..n) (id, type, pgid, started_ms filled in; the rest ignored),
 * keeping what was measured of those already known. No /proc access. */
void resources_sync(struct resources *r, const struct resources_agent *agents, size_t n);
/* Folds a reading in: resources_sync, then the machine figures (CPU from the delta with the
 * previous reading), each agent's RSS and CPU (from raw->groups by pgid), and the cost of
 * each type from its settled agents. raw may come from another root than the last one only
 * in tests. */
void resources_update(struct resources *r, const struct resources_raw *raw,
                      const struct resources_agent *agents, size_t n);

/* The one admission rule: may one more agent of the given type start now? Pure over r's
 * state, s and now_ms. Counts every agent still settling (younger than RESOURCES_SETTLE_MS,
 * or not measured yet) at its type's cost, on top of what it uses so far, so a burst of starts
 * is bounded before the measurements catch up. On no, *why is an owned sentence saying which
 * limit and the numbers, e.g. "memory: 1.1 GiB available, 2.5 GiB reserve, 400 MiB per claude
 * agent". Unknown figures never block, and the CPU checks never block the first agent (with
 * none of ours running), so a machine busy with other work slows the queue but cannot stop it. */
bool resources_decide(const struct resources *r, const struct resources_settings *s,
                      const char *type, int64_t now_ms, char **why);

/* Borrowed views, valid until the next sync or update. */
const struct resources_machine *resources_machine(const struct resources *r);
const struct resources_agent *resources_agent_find(const struct resources *r, const char *id);
/* The cost used for an agent of type (learned or the prior). */
struct resources_cost resources_cost_of(const struct resources *r, const char *type);

/* {"cpu":{cores, percent, fromLoadAverage}, "memory":{total, available}, "pressure":{cpuSome10,
 * memorySome10, memoryFull10} or null, "costs":{type:{rss, cpuPercent, samples}} (the types
 * measured here), "assumedCost":{rss, cpuPercent} (any other type), "sampleAgeMs"}. New
 * reference. */
json_t *resources_json(const struct resources *r, int64_t now_ms);
/* {"cpuPercent", "rss", "processes", "settling"} for one agent, or NULL when unknown. New
 * reference. */
json_t *resources_agent_json(const struct resources *r, const char *id, int64_t now_ms);

/* Formats a byte count for people: "412 MiB", "1.1 GiB". */
void resources_format_bytes(int64_t bytes, char out[32]);

/* ---- start-up recovery ---- */

/* What start-up found about a task the store says is running. */
struct resources_recover_facts {
    bool has_exit;         /* exit.json is there: the end is known */
    bool supervisor_alive; /* its supervisor runs (recorded pid and start time, or found) */
    bool spec_unread;      /* spec.json is still there: no supervisor ever read it */
    bool agent_alive;      /* the agent named by agent.json still runs */
};

enum resources_recover {
    RESOURCES_RECOVER_RECORD,  /* record the real end from exit.json */
    RESOURCES_RECOVER_ADOPT,   /* watch the live supervisor again */
    RESOURCES_RECOVER_RESPAWN, /* the daemon died before the supervisor started: start it */
    RESOURCES_RECOVER_LOST,    /* nothing can tell the end: failed, "lost" (and any agent left
                                  without its supervisor is killed) */
};

/* Decides what start-up does with a task found running. Pure. */
enum resources_recover resources_recover_decide(const struct resources_recover_facts *f);
const char *resources_recover_name(enum resources_recover d);

/* Finds a live supervisor of task id under root ("/proc"): a process whose command line is
 * `<exe> __supervise <dir>` with dir ending in "/<id>". For the moment between spawning a
 * supervisor and recording its pid, which a crash can hit. Returns its pid, or 0. */
int resources_find_supervisor(const char *root, const char *id);

#endif
