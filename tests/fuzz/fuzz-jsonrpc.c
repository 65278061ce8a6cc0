/* libFuzzer target for src/mcp/jsonrpc.c and src/mcp/session.c. Byte 0 holds options (bit 0:
 * a 200-byte line limit instead of 4 MiB, so oversized lines are reached; bit 1: initialize the
 * session first, so tools/call and logging are reached; bits 2-7: the chunk size the stream is
 * fed in). The rest is a byte stream from a client: it is split by the framer and every line is
 * handled by a session without an engine. Every answer must be one line of valid JSON-RPC.
 * Build: -DBEAT_FUZZ=ON with clang; see tests/fuzz/README.md. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mcp/jsonrpc.h"
#include "mcp/session.h"
#include "util/json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct fuzz_state {
    struct mcp_session *session;
    size_t answers;
};

static void
fuzz_check_line(const char *line, size_t len)
{
    struct jsonrpc_msg m;
    if (memchr(line, '\n', len) != NULL) {
        abort();
    }
    enum jsonrpc_kind kind = jsonrpc_parse(line, len, &m);
    if (kind != JSONRPC_RESPONSE && kind != JSONRPC_NOTIFICATION) {
        fprintf(stderr, "bad output line: %.*s\n", (int)len, line);
        abort();
    }
    jsonrpc_msg_fini(&m);
}

static void
fuzz_send(void *arg, const char *line, size_t len)
{
    struct fuzz_state *st = arg;
    fuzz_check_line(line, len);
    st->answers++;
}

static void
fuzz_line(void *arg, const char *line, size_t len, bool too_long)
{
    struct fuzz_state *st = arg;
    if (too_long) {
        mcp_session_handle_too_long(st->session);
        return;
    }
    /* The parser's own invariants, on the same line. */
    struct jsonrpc_msg m;
    switch (jsonrpc_parse(line, len, &m)) {
    case JSONRPC_REQUEST:
        if (m.id == NULL || m.method == NULL || strcmp(m.id, "null") == 0) {
            abort();
        }
        break;
    case JSONRPC_NOTIFICATION:
        if (m.id != NULL || m.method == NULL) {
            abort();
        }
        break;
    case JSONRPC_RESPONSE:
        if (m.id == NULL || (m.result == NULL) == (m.error == NULL)) {
            abort();
        }
        break;
    case JSONRPC_INVALID:
        if (m.id == NULL ||
            (m.error_code != JSONRPC_PARSE_ERROR && m.error_code != JSONRPC_INVALID_REQUEST)) {
            abort();
        }
        break;
    }
    jsonrpc_msg_fini(&m);
    mcp_session_handle_line(st->session, line, len);
}

/* Feeds one input. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char init[] =
        "{\"jsonrpc\":\"2.0\",\"id\":0,\"method\":\"initialize\",\"params\":{\"protocolVersion\":"
        "\"2025-11-25\",\"_meta\":{\"backbeat/client\":{\"cwd\":\"/tmp\",\"env\":{\"PATH\":"
        "\"/usr/bin\"}}}}}";
    if (size == 0) {
        return 0;
    }
    unsigned opts = data[0];
    struct fuzz_state st = { 0 };
    struct jsonrpc_framer f;
    st.session = mcp_session_new(NULL, fuzz_send, &st);
    jsonrpc_framer_init(&f, (opts & 1) ? 200 : JSONRPC_MAX_MESSAGE);
    if (opts & 2) {
        mcp_session_handle_line(st.session, init, strlen(init));
    }
    size_t chunk = (opts >> 2) + 1;
    const char *p = (const char *)data + 1;
    size_t left = size - 1;
    while (left > 0) {
        size_t n = left < chunk ? left : chunk;
        jsonrpc_framer_feed(&f, p, n, fuzz_line, &st);
        p += n;
        left -= n;
    }
    jsonrpc_framer_fini(&f);
    mcp_session_free(st.session);
    return 0;
}
