/* curl_uv.c -- libcurl's multi interface on the libuv loop.
 *
 * Design decisions (sources and pitfalls: /work/shared/reference/
 * ecosystem.md section 1):
 *  1. One CURLM per curl_uv, used only on the loop thread; it owns the
 *     connection cache, so keeping it alive across requests is what gives
 *     HTTP/1.1 keep-alive reuse. curl's socket callback maps each socket to
 *     a heap context holding a uv_poll_t; curl_multi_assign binds the two.
 *  2. CURL_POLL_REMOVE stops the poll immediately (curl may close the fd
 *     right after the callback returns) but the context is freed only in
 *     the uv_close callback (libuv's rule). Poll errors (status < 0: libuv
 *     reports POLLERR as an error) are passed to curl as CURL_CSELECT_ERR,
 *     which the canonical example forgets.
 *  3. curl's timer callback only (re)arms one uv_timer_t, also for a zero
 *     timeout: calling back into curl from inside its timer callback would
 *     recurse (curl's documentation forbids it).
 *  4. Each transfer carries a small xfer record (CURLOPT_PRIVATE) holding
 *     the done callback; the records form a list so shutdown can abort and
 *     free every transfer without running callbacks into torn-down owners.
 *  5. Shutdown order: abort transfers, curl_multi_cleanup (it may fire
 *     REMOVE for cached connections, closing their polls), close the timer;
 *     the struct is freed when the last of its handles has closed. */
#include "curl_uv.h"

#include <stdlib.h>

typedef struct xfer {
    CURL *easy;
    curl_uv_done_cb *done;
    void *ud;
    struct xfer *prev, *next;
} xfer;

typedef struct sock_ctx {
    uv_poll_t poll;
    curl_socket_t fd;
    curl_uv *cu;
} sock_ctx;

struct curl_uv {
    uv_loop_t *loop;
    CURLM *multi;
    uv_timer_t timer;    /* timer.data = this */
    xfer *xfers;         /* transfers in progress */
    int active;
    int open_handles;    /* timer + live poll contexts; freed at 0 when closing */
    int closing;
};

int curl_uv_global_init(void) {
    static int done;
    if (done) return 0;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) return -1;
    done = 1;
    return 0;
}

static void handle_closed(curl_uv *cu) {
    if (--cu->open_handles == 0 && cu->closing) free(cu);
}

static void sock_close_cb(uv_handle_t *h) {
    sock_ctx *s = h->data;
    curl_uv *cu = s->cu;
    free(s);
    handle_closed(cu);
}

static void timer_close_cb(uv_handle_t *h) { handle_closed(h->data); }

static void check_multi_info(curl_uv *cu) {
    CURLMsg *msg;
    int pending;
    while ((msg = curl_multi_info_read(cu->multi, &pending)) != NULL) {
        if (msg->msg != CURLMSG_DONE) continue;
        CURL *easy = msg->easy_handle;
        CURLcode result = msg->data.result;
        xfer *x = NULL;
        curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&x);
        curl_multi_remove_handle(cu->multi, easy);   /* msg is invalid from here */
        if (x == NULL) continue;
        if (x->prev) x->prev->next = x->next;
        else cu->xfers = x->next;
        if (x->next) x->next->prev = x->prev;
        cu->active--;
        curl_uv_done_cb *done = x->done;
        void *ud = x->ud;
        free(x);
        curl_easy_setopt(easy, CURLOPT_PRIVATE, NULL);
        done(easy, result, ud);
    }
}

static void poll_cb(uv_poll_t *p, int status, int events) {
    sock_ctx *s = p->data;
    curl_uv *cu = s->cu;
    int flags = 0;
    if (status < 0) flags = CURL_CSELECT_ERR;
    else {
        if (events & UV_READABLE) flags |= CURL_CSELECT_IN;
        if (events & UV_WRITABLE) flags |= CURL_CSELECT_OUT;
    }
    int running;
    curl_multi_socket_action(cu->multi, s->fd, flags, &running);
    check_multi_info(cu);
}

static void timer_cb(uv_timer_t *t) {
    curl_uv *cu = t->data;
    int running;
    curl_multi_socket_action(cu->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    check_multi_info(cu);
}

static int socket_cb(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp) {
    (void)easy;
    curl_uv *cu = userp;
    sock_ctx *s = socketp;
    if (what == CURL_POLL_REMOVE) {
        if (s) {
            uv_poll_stop(&s->poll);
            uv_close((uv_handle_t *)&s->poll, sock_close_cb);
            if (!cu->closing) curl_multi_assign(cu->multi, fd, NULL);   /* not mid-cleanup */
        }
        return 0;
    }
    if (s == NULL) {
        s = malloc(sizeof *s);
        if (s == NULL) return -1;
        s->fd = fd;
        s->cu = cu;
        if (uv_poll_init_socket(cu->loop, &s->poll, fd) != 0) {
            free(s);
            return -1;
        }
        s->poll.data = s;
        cu->open_handles++;
        curl_multi_assign(cu->multi, fd, s);
    }
    int ev = 0;
    if (what == CURL_POLL_IN || what == CURL_POLL_INOUT) ev |= UV_READABLE;
    if (what == CURL_POLL_OUT || what == CURL_POLL_INOUT) ev |= UV_WRITABLE;
    uv_poll_start(&s->poll, ev, poll_cb);
    return 0;
}

static int timer_fn(CURLM *multi, long timeout_ms, void *userp) {
    (void)multi;
    curl_uv *cu = userp;
    if (timeout_ms < 0) uv_timer_stop(&cu->timer);
    else uv_timer_start(&cu->timer, timer_cb, (uint64_t)timeout_ms, 0);   /* 0 too: no recursion */
    return 0;
}

curl_uv *curl_uv_new(uv_loop_t *loop, long max_host_conns) {
    curl_uv *cu = calloc(1, sizeof *cu);
    if (cu == NULL) return NULL;
    cu->loop = loop;
    cu->multi = curl_multi_init();
    if (cu->multi == NULL) {
        free(cu);
        return NULL;
    }
    uv_timer_init(loop, &cu->timer);
    cu->timer.data = cu;
    cu->open_handles = 1;
    curl_multi_setopt(cu->multi, CURLMOPT_SOCKETFUNCTION, socket_cb);
    curl_multi_setopt(cu->multi, CURLMOPT_SOCKETDATA, cu);
    curl_multi_setopt(cu->multi, CURLMOPT_TIMERFUNCTION, timer_fn);
    curl_multi_setopt(cu->multi, CURLMOPT_TIMERDATA, cu);
    if (max_host_conns > 0) curl_multi_setopt(cu->multi, CURLMOPT_MAX_HOST_CONNECTIONS, max_host_conns);
    return cu;
}

int curl_uv_add(curl_uv *cu, CURL *easy, curl_uv_done_cb *done, void *ud) {
    if (cu->closing) return -1;
    xfer *x = malloc(sizeof *x);
    if (x == NULL) return -1;
    x->easy = easy;
    x->done = done;
    x->ud = ud;
    curl_easy_setopt(easy, CURLOPT_PRIVATE, (char *)x);
    if (curl_multi_add_handle(cu->multi, easy) != CURLM_OK) {
        curl_easy_setopt(easy, CURLOPT_PRIVATE, NULL);
        free(x);
        return -1;
    }
    x->prev = NULL;
    x->next = cu->xfers;
    if (cu->xfers) cu->xfers->prev = x;
    cu->xfers = x;
    cu->active++;
    return 0;
}

void curl_uv_remove(curl_uv *cu, CURL *easy) {
    xfer *x = NULL;
    curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&x);
    curl_multi_remove_handle(cu->multi, easy);
    curl_easy_setopt(easy, CURLOPT_PRIVATE, NULL);
    if (x == NULL) return;
    if (x->prev) x->prev->next = x->next;
    else cu->xfers = x->next;
    if (x->next) x->next->prev = x->prev;
    cu->active--;
    free(x);
}

int curl_uv_active(const curl_uv *cu) { return cu->active; }

void curl_uv_close(curl_uv *cu) {
    if (cu == NULL || cu->closing) return;
    while (cu->xfers) {
        CURL *easy = cu->xfers->easy;
        curl_uv_remove(cu, easy);
        curl_easy_cleanup(easy);
    }
    cu->closing = 1;
    curl_multi_cleanup(cu->multi);   /* may fire CURL_POLL_REMOVE: closes polls */
    cu->multi = NULL;
    uv_timer_stop(&cu->timer);
    uv_close((uv_handle_t *)&cu->timer, timer_close_cb);
}
