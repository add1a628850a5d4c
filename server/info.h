/* info.h -- extension point of INFO (cmd_server.c) for modules outside the
 * core: a module registers its section once at start-up, before the loop
 * runs; INFO then lists it after the built-in sections, under its name (and
 * in INFO / INFO default if is_default, and in INFO all).
 *
 * fn appends "# Title\r\nfield:value\r\n" lines to o. Loop thread only.
 * Returns 0, or -1 when the (small, fixed) table is full. */
#ifndef SIMCACHE_INFO_H
#define SIMCACHE_INFO_H

#include "sbuf.h"

int info_register_section(const char *name, void (*fn)(sbuf *o), int is_default);

#endif
