/* Feature macros and the few helpers every module uses; nothing else lives here. */
#ifndef UTIL_COMMON_H
#define UTIL_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/err.h"
#include "util/log.h"
#include "util/xmalloc.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define UNUSED        __attribute__((unused))
#define PRINTFLIKE(f, a) __attribute__((format(printf, f, a)))

#endif
