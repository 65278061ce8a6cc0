/* Output file readers. They never hold more than one bounded buffer in memory. */
#include <sys/stat.h>

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/output.h"
#include "util/str.h"
#include "util/xmalloc.h"

/* The size of path. */
int64_t
output_file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (int64_t)st.st_size : 0;
}

static size_t
output_pread_all(int fd, char *buf, size_t len, off_t off)
{
    size_t got = 0;
    while (got < len) {
        ssize_t n = pread(fd, buf + got, len - got, off + (off_t)got);
        if (n <= 0) {
            break;
        }
        got += (size_t)n;
    }
    return got;
}

/* The last n lines of a file. */
char *
output_tail_lines(const char *path, int n, size_t max_bytes, size_t *len_out)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    *len_out = 0;
    if (fd < 0 || n <= 0) {
        if (fd >= 0) {
            close(fd);
        }
        return xstrdup("");
    }
    int64_t size = output_file_size(path);
    size_t want = size < (int64_t)max_bytes ? (size_t)size : max_bytes;
    char *buf = xmalloc(want + 1);
    size_t got = output_pread_all(fd, buf, want, (off_t)(size - (int64_t)want));
    close(fd);
    buf[got] = '\0';
    /* Walk back over n newlines, ignoring a final one that only terminates the last line. */
    size_t end = got;
    if (end > 0 && buf[end - 1] == '\n') {
        end--;
    }
    size_t start = end;
    int lines = 0;
    while (start > 0) {
        if (buf[start - 1] == '\n') {
            if (++lines == n) {
                break;
            }
        }
        start--;
    }
    size_t len = got - start;
    memmove(buf, buf + start, len);
    buf[len] = '\0';
    *len_out = len;
    return buf;
}

/* A byte range of a file, not splitting UTF-8 sequences. */
char *
output_read_range(const char *path, int64_t offset, size_t max, size_t *len_out,
                  int64_t *size_out)
{
    int64_t size = output_file_size(path);
    *size_out = size;
    *len_out = 0;
    if (offset < 0 || offset >= size) {
        return xstrdup("");
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return xstrdup("");
    }
    size_t want = size - offset < (int64_t)max ? (size_t)(size - offset) : max;
    char *buf = xmalloc(want + 1);
    size_t got = output_pread_all(fd, buf, want, (off_t)offset);
    close(fd);
    size_t cut = got;
    if (offset + (int64_t)got < size) {
        size_t b = str_utf8_boundary(buf, got);
        if (b > 0) {
            cut = b;
        }
    }
    buf[cut] = '\0';
    *len_out = cut;
    return buf;
}

/* Counts the lines of a file in 64 KiB blocks. */
int64_t
output_count_lines(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return 0;
    }
    char *buf = xmalloc(65536);
    int64_t lines = 0;
    char last = '\n';
    ssize_t n;
    while ((n = read(fd, buf, 65536)) > 0) {
        for (char *p = buf; (p = memchr(p, '\n', (size_t)(buf + n - p))) != NULL; p++) {
            lines++;
        }
        last = buf[n - 1];
    }
    close(fd);
    free(buf);
    return lines + (last != '\n');
}
