/* Cycle detection over task dependency edges: an iterative depth-first search from each new
 * dependency, looking for a path back to the task being added. Nodes are interned in a hash
 * table so 10,000-task graphs cost a few milliseconds, and the walk never recurses. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/graph.h"
#include "util/buf.h"
#include "util/xmalloc.h"

struct graph_node {
    char *id;
    size_t *out; /* indexes of the nodes this one depends on */
    size_t nout, cap;
};

struct graph {
    struct graph_node *nodes;
    size_t n, cap;
    size_t *slots; /* open addressing: node index + 1, 0 = empty */
    size_t nslots;
};

static uint64_t
graph_hash(const char *s)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (; *s; s++) {
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    }
    return h;
}

static void graph_rehash(struct graph *g);

/* Finds a node; adds it when add is set. Returns its index or SIZE_MAX. */
static size_t
graph_node(struct graph *g, const char *id, int add)
{
    if (g->nslots == 0) {
        if (!add) {
            return SIZE_MAX;
        }
        graph_rehash(g);
    }
    size_t mask = g->nslots - 1, i = (size_t)graph_hash(id) & mask;
    while (g->slots[i] != 0) {
        if (strcmp(g->nodes[g->slots[i] - 1].id, id) == 0) {
            return g->slots[i] - 1;
        }
        i = (i + 1) & mask;
    }
    if (!add) {
        return SIZE_MAX;
    }
    if (g->n == g->cap) {
        g->cap = g->cap ? g->cap * 2 : 64;
        g->nodes = xrealloc(g->nodes, g->cap * sizeof *g->nodes);
    }
    g->nodes[g->n] = (struct graph_node){ .id = xstrdup(id) };
    g->slots[i] = ++g->n;
    if (g->n * 2 > g->nslots) {
        graph_rehash(g);
    }
    return g->n - 1;
}

static void
graph_rehash(struct graph *g)
{
    size_t nslots = g->nslots ? g->nslots * 2 : 128;
    free(g->slots);
    g->slots = xcalloc(nslots, sizeof *g->slots);
    g->nslots = nslots;
    for (size_t k = 0; k < g->n; k++) {
        size_t i = (size_t)graph_hash(g->nodes[k].id) & (nslots - 1);
        while (g->slots[i] != 0) {
            i = (i + 1) & (nslots - 1);
        }
        g->slots[i] = k + 1;
    }
}

/* Creates an empty graph. */
struct graph *
graph_new(void)
{
    return xcalloc(1, sizeof(struct graph));
}

/* Frees a graph. */
void
graph_free(struct graph *g)
{
    if (g == NULL) {
        return;
    }
    for (size_t i = 0; i < g->n; i++) {
        free(g->nodes[i].id);
        free(g->nodes[i].out);
    }
    free(g->nodes);
    free(g->slots);
    free(g);
}

/* Adds an edge. */
void
graph_add(struct graph *g, const char *from, const char *to)
{
    size_t a = graph_node(g, from, 1);
    size_t b = graph_node(g, to, 1);
    struct graph_node *n = &g->nodes[a];
    if (n->nout == n->cap) {
        n->cap = n->cap ? n->cap * 2 : 4;
        n->out = xrealloc(n->out, n->cap * sizeof *n->out);
    }
    n->out[n->nout++] = b;
}

/* Finds the cycle that from -> deps would close. */
char *
graph_find_cycle(const struct graph *g, const char *from, char *const *deps)
{
    struct buf b;
    for (char *const *d = deps; d && *d; d++) {
        if (strcmp(*d, from) == 0) {
            buf_init(&b);
            buf_printf(&b, "%s -> %s", from, from);
            return buf_take(&b);
        }
    }
    size_t target = graph_node((struct graph *)g, from, 0);
    if (target == SIZE_MAX) {
        return NULL; /* nothing depends on from yet: no path can lead back to it */
    }
    /* parent[i] = the node we reached i from (SIZE_MAX: not visited); stack of indexes. */
    size_t *parent = xmalloc((g->n ? g->n : 1) * sizeof *parent);
    size_t *stack = xmalloc((g->n ? g->n : 1) * sizeof *stack);
    char *cycle = NULL;
    for (size_t i = 0; i < g->n; i++) {
        parent[i] = SIZE_MAX;
    }
    for (char *const *d = deps; d && *d && cycle == NULL; d++) {
        size_t start = graph_node((struct graph *)g, *d, 0);
        if (start == SIZE_MAX || parent[start] != SIZE_MAX) {
            continue;
        }
        size_t top = 0;
        parent[start] = start;
        stack[top++] = start;
        while (top > 0 && cycle == NULL) {
            size_t v = stack[--top];
            if (v == target) {
                /* from -> dep -> ... -> v(=from): walk the parents back to the dep. */
                size_t len = 0;
                for (size_t u = v; ; u = parent[u]) {
                    stack[len++] = u;
                    if (u == parent[u]) {
                        break;
                    }
                }
                buf_init(&b);
                buf_adds(&b, from);
                while (len > 0) {
                    buf_printf(&b, " -> %s", g->nodes[stack[--len]].id);
                }
                cycle = buf_take(&b);
                break;
            }
            const struct graph_node *n = &g->nodes[v];
            for (size_t k = 0; k < n->nout; k++) {
                size_t w = n->out[k];
                if (parent[w] == SIZE_MAX) {
                    parent[w] = v;
                    stack[top++] = w;
                }
            }
        }
    }
    free(parent);
    free(stack);
    return cycle;
}
