/* Random identifiers. */
#ifndef UTIL_UUID_H
#define UTIL_UUID_H

/* Writes a random RFC 4122 version 4 UUID ("xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx") to out. */
void uuid_v4(char out[37]);
/* True when s is "<prefix><uuid v4>" with a lower-case UUID. */
int uuid_is_prefixed(const char *s, const char *prefix);

#endif
