/* Resources: reads the machine's CPU, memory and pressure figures and our agents' process-group
 * footprints from /proc, learns what one agent of each type costs, and decides whether one more
 * may start. Reading is the only I/O; updating and deciding are plain arithmetic on what was
 * read. Not here: timers, the queue, per-agent concurrency limits. */
#include "core/resources.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime/supervise.h"
#include "util/json.h"
#include "util/str.h"
#include "util/xmalloc.h"

#define RESOURCES_STAT_MAX    (256 * 1024) /* bytes of /proc/stat read: the cpu lines come first */
#define RESOURCES_SMALL_MAX   8192         /* meminfo, loadavg, pressure files */
#define RESOURCES_PIDSTAT_MAX 2048         /* /proc/<pid>/stat: ~300 bytes plus a 16-byte comm */
#define RESOURCES_CMDLINE_MAX 8192
#define RESOURCES_MIN_RSS     (8.0 * 1024 * 1024) /* floor of a learned cost */
#define RESOURCES_MIN_CPU     1.0
/* Fewer ticks than this per CPU between two readings (~100 ms) make a noisy percentage: keep
 * the previous one and wait for a longer interval. */
#define RESOURCES_MIN_TICKS_PER_CPU 10

struct resources {
    long page_size;
    long clk_tck;
    struct resources_machine machine;
    bool have_base; /* base_* hold a reading of stat */
    bool cpu_delta; /* cpu_percent came from a delta at least once */
    uint64_t base_busy, base_total;
    struct resources_agent *agents;
    size_t nagents;
    struct resources_cost costs[RESOURCES_COSTS_MAX];
    size_t ncosts;
};

/* ---- reading ---- */

/* Reads at most max - 1 bytes of path into buf (NUL-terminated); /proc files have no size, so
 * read until EOF. Returns the length, or -1. */
static ssize_t
resources_slurp(const char *path, char *buf, size_t max)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    size_t len = 0;
    if (fd < 0) {
        return -1;
    }
    while (len < max - 1) {
        ssize_t n = read(fd, buf + len, max - 1 - len);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            break;
        }
        len += (size_t)n;
    }
    close(fd);
    buf[len] = '\0';
    return (ssize_t)len;
}

static const char *
resources_next_line(const char *line)
{
    const char *nl = strchr(line, '\n');
    return nl ? nl + 1 : NULL;
}

/* The "cpu" line's busy and total ticks, and the number of "cpuN" lines. */
static bool
resources_parse_stat(const char *text, uint64_t *busy, uint64_t *total, int *ncpu)
{
    bool found = false;
    *ncpu = 0;
    for (const char *line = text; line && *line; line = resources_next_line(line)) {
        if (strncmp(line, "cpu", 3) != 0) {
            if (found) {
                break; /* the cpu lines are all at the top */
            }
            continue;
        }
        if (isdigit((unsigned char)line[3])) {
            (*ncpu)++;
            continue;
        }
        if (line[3] != ' ') {
            continue;
        }
        unsigned long long v[8] = { 0 };
        int n = sscanf(line + 3, "%llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2],
                       &v[3], &v[4], &v[5], &v[6], &v[7]);
        if (n < 4) {
            return false;
        }
        /* user nice system idle iowait irq softirq steal; guest time is inside user already. */
        uint64_t sum = 0;
        for (int i = 0; i < n; i++) {
            sum += v[i];
        }
        uint64_t idle = v[3] + (n > 4 ? v[4] : 0);
        *total = sum;
        *busy = sum - idle;
        found = true;
    }
    return found;
}

/* A "Key:   123 kB" value of meminfo in bytes, or -1. */
static int64_t
resources_meminfo_value(const char *text, const char *key)
{
    size_t klen = strlen(key);
    for (const char *line = text; line && *line; line = resources_next_line(line)) {
        if (strncmp(line, key, klen) == 0 && line[klen] == ':') {
            long long kb;
            if (sscanf(line + klen + 1, "%lld", &kb) == 1 && kb >= 0) {
                return (int64_t)kb * 1024;
            }
            return -1;
        }
    }
    return -1;
}

/* avg10 of the "some" and "full" lines of a pressure file. */
static bool
resources_parse_psi(const char *text, double *some10, double *full10)
{
    bool found = false;
    *full10 = 0;
    for (const char *line = text; line && *line; line = resources_next_line(line)) {
        double v;
        if (sscanf(line, "some avg10=%lf", &v) == 1) {
            *some10 = v;
            found = true;
        } else if (sscanf(line, "full avg10=%lf", &v) == 1) {
            *full10 = v;
        }
    }
    return found;
}

/* From a /proc/<pid>/stat line: process group, CPU ticks (own and waited-for children), RSS in
 * pages. The command name is in parentheses and may hold spaces and ')': fields are counted
 * from the last ')'. Zombies have nothing left to count. */
static bool
resources_parse_pidstat(const char *text, int *pgrp, uint64_t *ticks, int64_t *rss_pages)
{
    const char *p = strrchr(text, ')');
    char state;
    int ppid, pg;
    unsigned long long f[20];
    if (p == NULL) {
        return false;
    }
    /* state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime cutime
     * cstime priority nice threads itrealvalue starttime vsize rss */
    int n =
        sscanf(p + 1,
               " %c %d %d %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu "
               "%llu %llu %llu %llu %llu %llu",
               &state, &ppid, &pg, &f[0], &f[1], &f[2], &f[3], &f[4], &f[5], &f[6], &f[7], &f[8],
               &f[9], &f[10], &f[11], &f[12], &f[13], &f[14], &f[15], &f[16], &f[17], &f[18]);
    if (n < 22 || state == 'Z' || state == 'X') {
        return false;
    }
    *pgrp = pg;
    *ticks = f[8] + f[9] + f[10] + f[11];
    *rss_pages = (int64_t)f[18];
    return true;
}

static bool
resources_is_pid(const char *name)
{
    if (*name == '\0') {
        return false;
    }
    for (const char *p = name; *p; p++) {
        if (!isdigit((unsigned char)*p)) {
            return false;
        }
    }
    return true;
}

static void
resources_scan_groups(const char *root, struct resources_raw *out)
{
    DIR *d = opendir(root);
    struct dirent *de;
    size_t seen = 0;
    char path[4096], text[RESOURCES_PIDSTAT_MAX];
    if (d == NULL) {
        return;
    }
    while ((de = readdir(d)) != NULL && seen < RESOURCES_SCAN_MAX) {
        if (!resources_is_pid(de->d_name)) {
            continue;
        }
        seen++;
        int n = snprintf(path, sizeof path, "%s/%s/stat", root, de->d_name);
        if (n < 0 || (size_t)n >= sizeof path || resources_slurp(path, text, sizeof text) <= 0) {
            continue; /* gone since readdir, or not ours to read */
        }
        int pgrp;
        uint64_t ticks;
        int64_t pages;
        if (!resources_parse_pidstat(text, &pgrp, &ticks, &pages) || pgrp <= 0) {
            continue;
        }
        for (size_t i = 0; i < out->ngroups; i++) {
            if (out->groups[i].pgid == pgrp) {
                out->groups[i].nprocs++;
                out->groups[i].ticks += ticks;
                out->groups[i].rss_pages += pages;
                break;
            }
        }
    }
    closedir(d);
}

/* Reads /proc. */
int
resources_read(const char *root, const int *pgids, size_t npgids, int64_t now_ms,
               struct resources_raw *out, struct err *e)
{
    char path[4096], small[RESOURCES_SMALL_MAX];
    char *big = xmalloc(RESOURCES_STAT_MAX);
    int rc = -1;

    memset(out, 0, sizeof *out);
    out->at_ms = now_ms;
    out->load1 = -1;
    out->mem_total = out->mem_available = -1;
    snprintf(path, sizeof path, "%s/stat", root);
    if (resources_slurp(path, big, RESOURCES_STAT_MAX) < 0) {
        err_sys(e, ERR_IO, "read %s", path);
        goto out;
    }
    if (!resources_parse_stat(big, &out->cpu_busy, &out->cpu_total, &out->ncpu)) {
        err_set(e, ERR_IO, "read %s: no cpu line", path);
        goto out;
    }
    snprintf(path, sizeof path, "%s/loadavg", root);
    if (resources_slurp(path, small, sizeof small) > 0 && sscanf(small, "%lf", &out->load1) != 1) {
        out->load1 = -1;
    }
    snprintf(path, sizeof path, "%s/meminfo", root);
    if (resources_slurp(path, small, sizeof small) > 0) {
        out->mem_total = resources_meminfo_value(small, "MemTotal");
        out->mem_available = resources_meminfo_value(small, "MemAvailable");
        if (out->mem_available < 0) {
            /* Kernels before 3.14: the classic approximation. */
            int64_t f = resources_meminfo_value(small, "MemFree");
            int64_t b = resources_meminfo_value(small, "Buffers");
            int64_t c = resources_meminfo_value(small, "Cached");
            if (f >= 0 && b >= 0 && c >= 0) {
                out->mem_available = f + b + c;
            }
        }
    }
    snprintf(path, sizeof path, "%s/pressure/cpu", root);
    if (resources_slurp(path, small, sizeof small) > 0) {
        double full;
        out->has_psi_cpu = resources_parse_psi(small, &out->psi_cpu_some10, &full);
    }
    snprintf(path, sizeof path, "%s/pressure/memory", root);
    if (resources_slurp(path, small, sizeof small) > 0) {
        out->has_psi_memory =
            resources_parse_psi(small, &out->psi_memory_some10, &out->psi_memory_full10);
    }
    if (npgids > RESOURCES_GROUPS_MAX) {
        npgids = RESOURCES_GROUPS_MAX;
    }
    if (npgids > 0) {
        out->groups = xcalloc(npgids, sizeof *out->groups);
        out->ngroups = npgids;
        for (size_t i = 0; i < npgids; i++) {
            out->groups[i].pgid = pgids[i];
        }
        resources_scan_groups(root, out);
    }
    rc = 0;
out:
    free(big);
    return rc;
}

/* Frees what a reading holds. */
void
resources_raw_fini(struct resources_raw *raw)
{
    if (raw == NULL) {
        return;
    }
    free(raw->groups);
    raw->groups = NULL;
    raw->ngroups = 0;
}

/* ---- the monitor ---- */

/* Creates a monitor. */
struct resources *
resources_new(long page_size, long clk_tck)
{
    struct resources *r = xcalloc(1, sizeof *r);
    r->page_size = page_size > 0 ? page_size : sysconf(_SC_PAGESIZE);
    r->clk_tck = clk_tck > 0 ? clk_tck : sysconf(_SC_CLK_TCK);
    if (r->page_size <= 0) {
        r->page_size = 4096;
    }
    if (r->clk_tck <= 0) {
        r->clk_tck = 100;
    }
    r->machine.mem_total = r->machine.mem_available = -1;
    return r;
}

/* Frees a monitor. */
void
resources_free(struct resources *r)
{
    if (r == NULL) {
        return;
    }
    free(r->agents);
    free(r);
}

static const struct resources_cost *
resources_cost_find(const struct resources *r, const char *type)
{
    for (size_t i = 0; i < r->ncosts; i++) {
        if (strncmp(r->costs[i].type, type, RESOURCES_TYPE_MAX - 1) == 0) {
            return &r->costs[i];
        }
    }
    return NULL;
}

/* The cost of one agent of a type. */
struct resources_cost
resources_cost_of(const struct resources *r, const char *type)
{
    const struct resources_cost *c = type ? resources_cost_find(r, type) : NULL;
    struct resources_cost out = { .rss = RESOURCES_PRIOR_RSS, .cpu_percent = RESOURCES_PRIOR_CPU };
    str_copy(out.type, type ? type : "", sizeof out.type);
    if (c != NULL && c->samples > 0) {
        out = *c;
    }
    return out;
}

static void
resources_learn(struct resources *r, const struct resources_agent *a)
{
    struct resources_cost *c = (struct resources_cost *)resources_cost_find(r, a->type);
    if (c == NULL) {
        if (r->ncosts == RESOURCES_COSTS_MAX) {
            return;
        }
        c = &r->costs[r->ncosts++];
        memset(c, 0, sizeof *c);
        str_copy(c->type, a->type, sizeof c->type);
    }
    double rss = (double)a->rss, cpu = a->cpu_percent;
    if (rss < RESOURCES_MIN_RSS) {
        rss = RESOURCES_MIN_RSS;
    }
    if (cpu < RESOURCES_MIN_CPU) {
        cpu = RESOURCES_MIN_CPU;
    }
    if (c->samples == 0) {
        /* The first real measurement replaces the prior outright: the prior is a guess. */
        c->rss = rss;
        c->cpu_percent = cpu;
    } else {
        c->rss += RESOURCES_EWMA_ALPHA * (rss - c->rss);
        c->cpu_percent += RESOURCES_EWMA_ALPHA * (cpu - c->cpu_percent);
    }
    if (c->samples < INT64_MAX) {
        c->samples++;
    }
}

/* Sets the running set, keeping known measurements. */
void
resources_sync(struct resources *r, const struct resources_agent *agents, size_t n)
{
    struct resources_agent *next = n ? xcalloc(n, sizeof *next) : NULL;
    for (size_t i = 0; i < n; i++) {
        struct resources_agent *a = &next[i];
        const struct resources_agent *old = resources_agent_find(r, agents[i].id);
        str_copy(a->id, agents[i].id, sizeof a->id);
        str_copy(a->type, agents[i].type, sizeof a->type);
        a->pgid = agents[i].pgid;
        a->started_ms = agents[i].started_ms;
        if (old != NULL && old->pgid == a->pgid) {
            a->measured = old->measured;
            a->cpu_known = old->cpu_known;
            a->nprocs = old->nprocs;
            a->rss = old->rss;
            a->cpu_percent = old->cpu_percent;
            a->ticks = old->ticks;
            a->ticks_at = old->ticks_at;
        }
    }
    free(r->agents);
    r->agents = next;
    r->nagents = n;
}

static void
resources_update_cpu(struct resources *r, const struct resources_raw *raw)
{
    struct resources_machine *m = &r->machine;
    uint64_t min_ticks = (uint64_t)(raw->ncpu > 0 ? raw->ncpu : 1) * RESOURCES_MIN_TICKS_PER_CPU;
    if (r->have_base && raw->cpu_total >= r->base_total + min_ticks &&
        raw->cpu_busy >= r->base_busy) {
        uint64_t dt = raw->cpu_total - r->base_total;
        uint64_t db = raw->cpu_busy - r->base_busy;
        m->cpu_percent = db > dt ? 100.0 : 100.0 * (double)db / (double)dt;
        m->cpu_from_load = false;
        r->cpu_delta = true;
        r->base_busy = raw->cpu_busy;
        r->base_total = raw->cpu_total;
        return;
    }
    if (!r->have_base || raw->cpu_total < r->base_total) {
        /* First reading, or counters that went back (another root in tests): start over. */
        r->have_base = true;
        r->base_busy = raw->cpu_busy;
        r->base_total = raw->cpu_total;
        r->cpu_delta = false;
    }
    if (!r->cpu_delta) {
        double pct = raw->load1 >= 0 && raw->ncpu > 0 ? 100.0 * raw->load1 / raw->ncpu : 0;
        m->cpu_percent = pct > 100 ? 100 : pct;
        m->cpu_from_load = raw->load1 >= 0;
    }
}

/* Folds a reading in. */
void
resources_update(struct resources *r, const struct resources_raw *raw,
                 const struct resources_agent *agents, size_t n)
{
    struct resources_machine *m = &r->machine;
    resources_sync(r, agents, n);
    m->at_ms = raw->at_ms;
    m->ncpu = raw->ncpu;
    m->mem_total = raw->mem_total;
    m->mem_available = raw->mem_available;
    m->has_psi_cpu = raw->has_psi_cpu;
    m->has_psi_memory = raw->has_psi_memory;
    m->psi_cpu_some10 = raw->psi_cpu_some10;
    m->psi_memory_some10 = raw->psi_memory_some10;
    m->psi_memory_full10 = raw->psi_memory_full10;
    resources_update_cpu(r, raw);

    for (size_t i = 0; i < r->nagents; i++) {
        struct resources_agent *a = &r->agents[i];
        const struct resources_group *g = NULL;
        for (size_t j = 0; a->pgid > 0 && j < raw->ngroups; j++) {
            if (raw->groups[j].pgid == a->pgid) {
                g = &raw->groups[j];
                break;
            }
        }
        if (g == NULL) {
            continue; /* not asked for in this reading: keep what we had */
        }
        if (g->nprocs == 0) {
            /* The group is gone (the agent ended; its supervisor reports soon). */
            a->measured = a->cpu_known = false;
            a->nprocs = 0;
            a->rss = 0;
            a->cpu_percent = 0;
            continue;
        }
        if (a->ticks_at > 0 && raw->at_ms > a->ticks_at) {
            uint64_t d = g->ticks >= a->ticks ? g->ticks - a->ticks : 0;
            a->cpu_percent = 100.0 * ((double)d / (double)r->clk_tck) /
                             ((double)(raw->at_ms - a->ticks_at) / 1000.0);
            a->cpu_known = true;
        }
        a->ticks = g->ticks;
        a->ticks_at = raw->at_ms;
        a->nprocs = g->nprocs;
        a->rss = g->rss_pages * (int64_t)r->page_size;
        a->measured = true;
        if (a->cpu_known && raw->at_ms - a->started_ms >= RESOURCES_SETTLE_MS) {
            resources_learn(r, a);
        }
    }
}

/* ---- deciding ---- */

/* Formats bytes for people. */
void
resources_format_bytes(int64_t bytes, char out[32])
{
    double v = (double)bytes;
    if (bytes < 0) {
        snprintf(out, 32, "unknown");
    } else if (v < 1024) {
        snprintf(out, 32, "%lld B", (long long)bytes);
    } else if (v < 1024.0 * 1024) {
        snprintf(out, 32, "%.0f KiB", v / 1024);
    } else if (v < 1024.0 * 1024 * 1024) {
        snprintf(out, 32, "%.0f MiB", v / (1024.0 * 1024));
    } else {
        snprintf(out, 32, "%.1f GiB", v / (1024.0 * 1024 * 1024));
    }
}

static bool
resources_is_settling(const struct resources_agent *a, int64_t now_ms)
{
    return a->pgid <= 0 || now_ms - a->started_ms < RESOURCES_SETTLE_MS;
}

/* Decides whether one more agent may start. */
bool
resources_decide(const struct resources *r, const struct resources_settings *s, const char *type,
                 int64_t now_ms, char **why)
{
    const struct resources_machine *m = &r->machine;
    struct resources_cost cost = resources_cost_of(r, type);
    double pending_rss = 0, pending_cpu = 0;
    int settling = 0;
    char a[32], b[32], c[32], d[32];

    *why = NULL;
    if ((int64_t)r->nagents >= s->max_workers) {
        *why = xasprintf("workers: %zu running, maxWorkers %lld", r->nagents,
                         (long long)s->max_workers);
        return false;
    }
    for (size_t i = 0; i < r->nagents; i++) {
        const struct resources_agent *ag = &r->agents[i];
        if (!resources_is_settling(ag, now_ms)) {
            continue;
        }
        struct resources_cost ac = resources_cost_of(r, ag->type);
        double used_rss = ag->measured ? (double)ag->rss : 0;
        double used_cpu = ag->cpu_known ? ag->cpu_percent : 0;
        pending_rss += ac.rss > used_rss ? ac.rss - used_rss : 0;
        pending_cpu += ac.cpu_percent > used_cpu ? ac.cpu_percent - used_cpu : 0;
        settling++;
    }
    if (m->mem_available >= 0) {
        double left = (double)m->mem_available - pending_rss - cost.rss;
        if (left < (double)s->memory_reserve) {
            resources_format_bytes(m->mem_available, a);
            resources_format_bytes(s->memory_reserve, b);
            resources_format_bytes((int64_t)cost.rss, c);
            resources_format_bytes((int64_t)pending_rss, d);
            if (settling > 0) {
                *why = xasprintf("memory: %s available, %s reserve, %s per %s agent, %s more for "
                                 "%d starting",
                                 a, b, c, type ? type : "", d, settling);
            } else {
                *why = xasprintf("memory: %s available, %s reserve, %s per %s agent", a, b, c,
                                 type ? type : "");
            }
            return false;
        }
    }
    if (m->has_psi_memory && m->psi_memory_some10 >= RESOURCES_PSI_MEMORY_MAX) {
        *why = xasprintf("memory pressure: tasks stalled on memory %.0f%% of the last 10 s "
                         "(limit %.0f%%)",
                         m->psi_memory_some10, RESOURCES_PSI_MEMORY_MAX);
        return false;
    }
    /* A busy machine slows the queue down but never stops it: with none of ours running, one
     * agent may start whatever the CPU says. Memory gets no such pass: it is what crashes. */
    if (s->cpu_threshold >= 100 || m->ncpu <= 0 || r->nagents == 0) {
        return true;
    }
    int64_t usable = m->ncpu - s->cpu_cores_reserved;
    if (usable < 1) {
        usable = 1;
    }
    double limit = (double)usable * (double)s->cpu_threshold / 100.0;
    double busy = m->cpu_percent / 100.0 * m->ncpu;
    double more = (pending_cpu + cost.cpu_percent) / 100.0;
    if (busy + more > limit) {
        char starting[64] = "";
        if (settling > 0) {
            snprintf(starting, sizeof starting, " (+%.2f for %d starting)", pending_cpu / 100.0,
                     settling);
        }
        *why = xasprintf("cpu: %.1f of %d cores busy%s, +%.2f per %s agent, limit %.1f "
                         "(cpuThreshold %lld%%, %lld cores reserved)",
                         busy, m->ncpu, starting, cost.cpu_percent / 100.0, type ? type : "", limit,
                         (long long)s->cpu_threshold, (long long)s->cpu_cores_reserved);
        return false;
    }
    if (m->has_psi_cpu && m->psi_cpu_some10 >= RESOURCES_PSI_CPU_MAX) {
        *why = xasprintf("cpu pressure: tasks waited for a CPU %.0f%% of the last 10 s "
                         "(limit %.0f%%)",
                         m->psi_cpu_some10, RESOURCES_PSI_CPU_MAX);
        return false;
    }
    return true;
}

/* ---- views ---- */

/* The machine figures. */
const struct resources_machine *
resources_machine(const struct resources *r)
{
    return &r->machine;
}

/* One agent's figures, or NULL. */
const struct resources_agent *
resources_agent_find(const struct resources *r, const char *id)
{
    for (size_t i = 0; i < r->nagents; i++) {
        if (strcmp(r->agents[i].id, id) == 0) {
            return &r->agents[i];
        }
    }
    return NULL;
}

static json_t *
resources_round(double v)
{
    return json_real((double)(int64_t)(v * 10 + (v < 0 ? -0.5 : 0.5)) / 10);
}

/* The machine and cost figures as JSON. */
json_t *
resources_json(const struct resources *r, int64_t now_ms)
{
    const struct resources_machine *m = &r->machine;
    json_t *o = json_object();
    json_t *cpu = json_object();
    json_set_int(cpu, "cores", m->ncpu);
    json_object_set_new(cpu, "percent", resources_round(m->cpu_percent));
    json_object_set_new(cpu, "fromLoadAverage", json_boolean(m->cpu_from_load));
    json_object_set_new(o, "cpu", cpu);
    json_t *mem = json_object();
    if (m->mem_total >= 0) {
        json_set_int(mem, "total", m->mem_total);
    }
    if (m->mem_available >= 0) {
        json_set_int(mem, "available", m->mem_available);
    }
    json_object_set_new(o, "memory", mem);
    if (m->has_psi_cpu || m->has_psi_memory) {
        json_t *p = json_object();
        if (m->has_psi_cpu) {
            json_object_set_new(p, "cpuSome10", resources_round(m->psi_cpu_some10));
        }
        if (m->has_psi_memory) {
            json_object_set_new(p, "memorySome10", resources_round(m->psi_memory_some10));
            json_object_set_new(p, "memoryFull10", resources_round(m->psi_memory_full10));
        }
        json_object_set_new(o, "pressure", p);
    } else {
        json_object_set_new(o, "pressure", json_null());
    }
    json_t *costs = json_object();
    for (size_t i = 0; i < r->ncosts; i++) {
        const struct resources_cost *c = &r->costs[i];
        json_object_set_new(costs, c->type,
                            json_pack("{s:I, s:o, s:I}", "rss", (json_int_t)c->rss, "cpuPercent",
                                      resources_round(c->cpu_percent), "samples",
                                      (json_int_t)c->samples));
    }
    json_object_set_new(o, "costs", costs);
    json_object_set_new(o, "assumedCost",
                        json_pack("{s:I, s:o}", "rss", (json_int_t)RESOURCES_PRIOR_RSS,
                                  "cpuPercent", resources_round(RESOURCES_PRIOR_CPU)));
    if (m->at_ms > 0) {
        json_set_int(o, "sampleAgeMs", now_ms - m->at_ms);
    }
    return o;
}

/* One agent's figures as JSON, or NULL. */
json_t *
resources_agent_json(const struct resources *r, const char *id, int64_t now_ms)
{
    const struct resources_agent *a = resources_agent_find(r, id);
    if (a == NULL) {
        return NULL;
    }
    json_t *o = json_object();
    if (a->measured) {
        json_set_int(o, "rss", a->rss);
        json_set_int(o, "processes", a->nprocs);
    }
    if (a->cpu_known) {
        json_object_set_new(o, "cpuPercent", resources_round(a->cpu_percent));
    }
    json_object_set_new(o, "settling", json_boolean(resources_is_settling(a, now_ms)));
    return o;
}

/* ---- start-up recovery ---- */

/* Decides what start-up does with a task found running. */
enum resources_recover
resources_recover_decide(const struct resources_recover_facts *f)
{
    if (f->has_exit) {
        return RESOURCES_RECOVER_RECORD;
    }
    if (f->supervisor_alive) {
        return RESOURCES_RECOVER_ADOPT;
    }
    /* spec.json is unlinked by the supervisor as it reads it: still there means no supervisor
     * ever ran this task, so starting one now runs the agent once, not twice. */
    if (f->spec_unread && !f->agent_alive) {
        return RESOURCES_RECOVER_RESPAWN;
    }
    return RESOURCES_RECOVER_LOST;
}

/* The decision's name, for logs. */
const char *
resources_recover_name(enum resources_recover d)
{
    switch (d) {
    case RESOURCES_RECOVER_RECORD:
        return "record";
    case RESOURCES_RECOVER_ADOPT:
        return "adopt";
    case RESOURCES_RECOVER_RESPAWN:
        return "respawn";
    case RESOURCES_RECOVER_LOST:
        return "lost";
    }
    return "?";
}

/* Finds a live supervisor of a task by its command line. */
int
resources_find_supervisor(const char *root, const char *id)
{
    DIR *d = opendir(root);
    struct dirent *de;
    size_t seen = 0;
    char path[4096];
    char *text = NULL;
    int found = 0;
    if (d == NULL) {
        return 0;
    }
    text = xmalloc(RESOURCES_CMDLINE_MAX);
    while (found == 0 && (de = readdir(d)) != NULL && seen < RESOURCES_SCAN_MAX) {
        if (!resources_is_pid(de->d_name)) {
            continue;
        }
        seen++;
        int pid = atoi(de->d_name);
        int n = snprintf(path, sizeof path, "%s/%s/cmdline", root, de->d_name);
        if (pid == (int)getpid() || n < 0 || (size_t)n >= sizeof path) {
            continue;
        }
        ssize_t len = resources_slurp(path, text, RESOURCES_CMDLINE_MAX);
        if (len <= 0) {
            continue;
        }
        /* argv[0] NUL argv[1] NUL argv[2] NUL */
        const char *arg1 = memchr(text, '\0', (size_t)len);
        if (arg1 == NULL || ++arg1 >= text + len || strcmp(arg1, SUPERVISE_MODE_ARG) != 0) {
            continue;
        }
        const char *arg2 = arg1 + strlen(arg1) + 1;
        if (arg2 >= text + len) {
            continue;
        }
        const char *base = strrchr(arg2, '/');
        if (strcmp(base ? base + 1 : arg2, id) == 0) {
            found = pid;
        }
    }
    free(text);
    closedir(d);
    return found;
}
