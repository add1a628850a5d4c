/* main.c -- simcache-bench: dispatch to the subcommand named by argv[1].
 *
 * The subcommand list is generated from the cmd_*.c files (see sbench.h),
 * so `simcache-bench help` always lists exactly what was built.
 */
#include "sbench.h"

#include <stdio.h>
#include <string.h>

typedef struct sb_cmd {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *help;
} sb_cmd;

static const sb_cmd cmds[] = {
#define SB_CMD(n) {#n, sb_cmd_##n, sb_help_##n},
#include "sb_cmds.inc"
#undef SB_CMD
};

static void usage(FILE *f)
{
    fputs("usage: simcache-bench <mode> [options]   "
          "(simcache-bench <mode> --help for a mode's options)\n\nmodes:\n", f);
    for (size_t i = 0; i < sizeof(cmds) / sizeof(*cmds); i++)
        fprintf(f, "  %-8s %s\n", cmds[i].name, cmds[i].help);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "help") || !strcmp(argv[1], "--help") ||
        !strcmp(argv[1], "-h")) {
        usage(stdout);
        return 0;
    }
    for (size_t i = 0; i < sizeof(cmds) / sizeof(*cmds); i++)
        if (!strcmp(argv[1], cmds[i].name)) return cmds[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "simcache-bench: unknown mode '%s'\n\n", argv[1]);
    usage(stderr);
    return 2;
}
