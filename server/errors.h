/* errors.h -- error replies used by more than one file, worded exactly as
 * Redis 7.0 words them (checked against redis-server 7.0.15; see
 * /work/shared/reference/ecosystem.md). Pass them to reply_error(): the
 * code comes first, no leading '-', no CR/LF. The README's "Error replies"
 * list is this file. */
#ifndef SIMCACHE_ERRORS_H
#define SIMCACHE_ERRORS_H

#define ERR_SYNTAX        "ERR syntax error"
#define ERR_NOT_INTEGER   "ERR value is not an integer or out of range"
#define ERR_WRONGTYPE     "WRONGTYPE Operation against a key holding the wrong kind of value"
#define ERR_NOAUTH        "NOAUTH Authentication required."
#define ERR_WRONGPASS     "WRONGPASS invalid username-password pair or user is disabled."
#define ERR_NOPASS        "ERR AUTH <password> called without any password configured " \
                          "for the default user. Are you sure your configuration is correct?"
#define ERR_NOPROTO       "NOPROTO unsupported protocol version"
#define ERR_MAXCLIENTS    "ERR max number of clients reached"
#define ERR_DB_RANGE      "ERR DB index is out of range"
#define ERR_OOM           "OOM command not allowed when used memory > 'maxmemory'."
#define ERR_NO_SUCH_CLIENT "ERR No such client"
#define ERR_CLIENT_NAME   "ERR Client names cannot contain spaces, newlines or special characters."
#define ERR_TIMEOUT       "ERR timeout is not an integer or out of range"
#define ERR_SHUTDOWN      "ERR Errors trying to SHUTDOWN. Check logs."
#define ERR_DENIED \
    "DENIED simcache is running in protected mode because protected mode is enabled " \
    "and no password is set for the default user. In this mode connections are only " \
    "accepted from the loopback interface. If you want to connect from external " \
    "computers, you may: 1) set a password with 'requirepass <password>' or a " \
    "'user <name> <password>' line and restart, or 2) disable protected mode with " \
    "'CONFIG SET protected-mode no' from a loopback connection, or 3) start the " \
    "server with '--protected-mode no'. Read the README's security notes first."

#endif
