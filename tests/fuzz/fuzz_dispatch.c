/* fuzz_dispatch.c -- libFuzzer target for the whole request path below the
 * socket (reliability matrix F2): bytes are fed to a fake client exactly as
 * the read callback feeds a real one (parser, dispatch, every handler,
 * reply writer), in up to three chunks so that split requests are covered.
 *
 * Each input starts from a clean state (default config, empty keyspace and
 * slow log) so findings reproduce from the input alone. SHUTDOWN is
 * harmless here: no loop runs, so net_stop() returns at once. */
#include <stddef.h>
#include <stdint.h>

#include "server/commands.h"
#include "server/config.h"
#include "server/keyspace.h"
#include "server/net.h"
#include "server/slowlog.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static int inited;
    if (!inited) {
        config_init();
        if (ks_init() != 0 || commands_init() != 0) return 0;
        inited = 1;
    }
    if (size > 1 << 20) return 0;
    config_init();
    client *c = client_create_fake();
    if (c == NULL) return 0;
    /* the first byte chooses the split points */
    size_t cut1 = size ? (data[0] * size) / 256 : 0;
    size_t cut2 = cut1 + (size - cut1) / 2;
    const char *p = (const char *)data;
    if (client_feed(c, p, cut1) == 0 && client_feed(c, p + cut1, cut2 - cut1) == 0)
        client_feed(c, p + cut2, size - cut2);
    client_free_fake(c);
    ks_flushall(0);
    slowlog_reset();
    return 0;
}
