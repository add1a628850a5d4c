/* sbench.h -- shared declarations of simcache-bench, the bench harness.
 *
 * simcache-bench is one program with subcommands (`simcache-bench load ...`,
 * `simcache-bench tune ...`, `simcache-bench sweep ...`). Each subcommand
 * lives in its own file named cmd_<name>.c and defines two symbols:
 *
 *     int sb_cmd_<name>(int argc, char **argv);   argv[0] is "<name>"
 *     const char sb_help_<name>[];                one line for the usage list
 *
 * CMake globs cmd_*.c and generates the registry (sb_cmds.inc) from the
 * file names, so adding a subcommand is adding a file: no table to edit, and
 * subcommands written in parallel never conflict.
 *
 * Every mode writes its results three ways through report.h: CSV (for
 * tools), a markdown summary (for people and PR descriptions) and an SVG
 * plot (for eyes). The output directory is chosen by the mode's --out
 * option; report.h creates it.
 */
#ifndef SIMCACHE_SBENCH_H
#define SIMCACHE_SBENCH_H

#define SB_CMD(name)                                   \
    int sb_cmd_##name(int argc, char **argv);          \
    extern const char sb_help_##name[];
#include "sb_cmds.inc"
#undef SB_CMD

#endif
