/* Dependency-graph checks, pure: given the open edges (task -> the task it depends on) and a
 * proposed set of new edges, find a cycle and name it. Through the public operations a task
 * can only depend on tasks that already exist, so a new task cannot close a cycle; the check
 * still guards every submission, so an edge source added later (or a damaged store) can never
 * make a task wait on itself. Linear in the number of edges. */
#ifndef CORE_GRAPH_H
#define CORE_GRAPH_H

#include <stddef.h>

struct graph;

struct graph *graph_new(void);
void graph_free(struct graph *g);
/* Adds the edge from -> to (from depends on to). Strings are copied. */
void graph_add(struct graph *g, const char *from, const char *to);
/* When adding from -> each of deps would close a cycle, returns it as a new string
 * "a -> b -> ... -> a" (from first); NULL when it would not. */
char *graph_find_cycle(const struct graph *g, const char *from, char *const *deps);

#endif
