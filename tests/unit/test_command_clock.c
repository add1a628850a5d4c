/* test_command_clock.c -- the command clock read through the TSC
 * (commands.c, tsc_anchor) must tell the same time as CLOCK_MONOTONIC and
 * never go backwards. A wrong rate (a unit slip, a bad calibration) would
 * make every commandstats duration, slow-log entry and CACHE.LOG latency
 * wrong by a factor while looking plausible. The bound (1 ms) is far
 * above the clock's real error and independent of machine load: the test
 * compares readings, it times nothing. On a machine whose clocksource is
 * not the TSC the command clock reads CLOCK_MONOTONIC and this only checks
 * that path. */
#include <criterion/criterion.h>

#include <time.h>

#include "server/commands.h"

static uint64_t sys_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static void sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0) {}
}

Test(command_clock, tsc_readings_agree_with_clock_monotonic_and_never_go_back) {
    commands_clock_sync();            /* first anchor */
    sleep_ms(60);
    commands_clock_sync();            /* rate measured over >= 50 ms: calibrated */
    uint64_t prev = 0;
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < 100000; i++) {
            uint64_t a = sys_us();
            uint64_t b = commands_clock_read_us();
            uint64_t c = sys_us();
            cr_assert_geq(b + 1000, a, "command clock %llu behind CLOCK_MONOTONIC %llu",
                          (unsigned long long)b, (unsigned long long)a);
            cr_assert_leq(b, c + 1000, "command clock %llu ahead of CLOCK_MONOTONIC %llu",
                          (unsigned long long)b, (unsigned long long)c);
            cr_assert_geq(b, prev, "command clock went backwards");
            prev = b;
        }
        sleep_ms(30);                  /* drift between anchors, then re-anchor */
        uint64_t before = commands_clock_read_us();
        commands_clock_sync();
        cr_assert_geq(commands_clock_read_us(), before, "re-anchoring went backwards");
    }
}
