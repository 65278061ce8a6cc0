/* Reading a task's captured output files: tails, ranges and line counts, with bounded memory
 * whatever the file's size. Bytes are returned raw; callers sanitize for JSON. */
#ifndef CORE_OUTPUT_H
#define CORE_OUTPUT_H

#include <stddef.h>
#include <stdint.h>

/* The last n lines of path, reading at most max_bytes from its end. A missing file is empty.
 * Returns a new NUL-terminated buffer; *len_out gets its length. */
char *output_tail_lines(const char *path, int n, size_t max_bytes, size_t *len_out);
/* Bytes [offset, offset + max) of path, cut back so no UTF-8 sequence is split (unless that
 * would return nothing). *size_out gets the file's size. */
char *output_read_range(const char *path, int64_t offset, size_t max, size_t *len_out,
                        int64_t *size_out);
/* The number of lines in path (a last line without '\n' counts); 0 when missing. */
int64_t output_count_lines(const char *path);
/* The size of path, 0 when missing. */
int64_t output_file_size(const char *path);

#endif
