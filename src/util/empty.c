/* Keeps an empty layer linkable while it is being written. */
typedef int util_empty_unit;
