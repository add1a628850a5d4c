/* test_net.c -- the protected-mode loopback predicate: which peers count as
 * local. A wrong answer either locks out local tools or exposes an
 * unprotected server to the network, so every address family is covered:
 * 127.0.0.0/8, ::1, IPv4-mapped ::ffff:127.x, unix sockets, and the near
 * misses (128.0.0.1, 126.255.255.255, ::2, ::ffff:10.0.0.1, 0.0.0.0). */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "server/net.h"

static int v4(const char *ip) {
    struct sockaddr_in in;
    memset(&in, 0, sizeof in);
    in.sin_family = AF_INET;
    in.sin_port = htons(5555);
    cr_assert_eq(inet_pton(AF_INET, ip, &in.sin_addr), 1);
    return net_is_loopback((struct sockaddr *)&in);
}

static int v6(const char *ip) {
    struct sockaddr_in6 in6;
    memset(&in6, 0, sizeof in6);
    in6.sin6_family = AF_INET6;
    in6.sin6_port = htons(5555);
    cr_assert_eq(inet_pton(AF_INET6, ip, &in6.sin6_addr), 1);
    return net_is_loopback((struct sockaddr *)&in6);
}

Test(loopback, ipv4_loopback_net_is_local) {
    cr_assert(v4("127.0.0.1"));
    cr_assert(v4("127.1.2.3"));
    cr_assert(v4("127.255.255.255"));
}

Test(loopback, ipv4_outside_127_is_remote) {
    cr_assert_not(v4("128.0.0.1"));
    cr_assert_not(v4("126.255.255.255"));
    cr_assert_not(v4("10.0.0.1"));
    cr_assert_not(v4("0.0.0.0"));
    cr_assert_not(v4("192.168.1.127"));
}

Test(loopback, ipv6_loopback_and_mapped) {
    cr_assert(v6("::1"));
    cr_assert(v6("::ffff:127.0.0.1"));
    cr_assert(v6("::ffff:127.9.9.9"));
    cr_assert_not(v6("::2"));
    cr_assert_not(v6("::"));
    cr_assert_not(v6("::ffff:10.0.0.1"));
    cr_assert_not(v6("fe80::1"));
    cr_assert_not(v6("2001:db8::1"));
    cr_assert_not(v6("::127.0.0.1"), "IPv4-compatible (not mapped) is not loopback");
}

Test(loopback, unix_socket_is_local) {
    struct sockaddr_un un;
    memset(&un, 0, sizeof un);
    un.sun_family = AF_UNIX;
    cr_assert(net_is_loopback((struct sockaddr *)&un));
    cr_assert(net_is_loopback(NULL));
}
