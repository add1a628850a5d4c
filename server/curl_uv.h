/* curl_uv.h -- one libcurl multi handle driven by a libuv loop (curl's
 * multi-uv pattern, hardened as /work/shared/reference/ecosystem.md section
 * 1 describes).
 *
 * Threading: everything here runs on the loop thread, including the done
 * callbacks. curl_global_init must have been called before any thread
 * starts (curl_uv_global_init does it once). */
#ifndef SIMCACHE_CURL_UV_H
#define SIMCACHE_CURL_UV_H

#include <curl/curl.h>
#include <uv.h>

typedef struct curl_uv curl_uv;

/* Called on the loop thread once a transfer ends (any outcome). The easy
 * handle has been removed from the multi; the callee owns it again and
 * must curl_easy_cleanup it (or reuse it). */
typedef void curl_uv_done_cb(CURL *easy, CURLcode result, void *ud);

/* curl_global_init(CURL_GLOBAL_DEFAULT) once per process; 0 or -1. */
int curl_uv_global_init(void);

/* Creates the multi on loop. NULL on allocation/initialisation failure.
 * max_host_conns bounds connections per host (0 = unlimited; curl queues
 * the excess transfers itself). */
curl_uv *curl_uv_new(uv_loop_t *loop, long max_host_conns);

/* Starts a transfer. The easy handle must not be in any multi. done runs
 * exactly once later (never from inside this call) unless curl_uv_remove
 * is called first. Returns 0, or -1 if curl refused the handle (done will
 * not run). The private pointer (CURLOPT_PRIVATE) is used by this module. */
int curl_uv_add(curl_uv *cu, CURL *easy, curl_uv_done_cb *done, void *ud);

/* Aborts a transfer started with curl_uv_add: removes it from the multi;
 * done will not run; the caller owns easy again. */
void curl_uv_remove(curl_uv *cu, CURL *easy);

/* Number of transfers in progress. */
int curl_uv_active(const curl_uv *cu);

/* Shuts down: aborts every transfer (their done callbacks do not run, and
 * their easy handles are cleaned up here), curl_multi_cleanup (closes the
 * cached connections), then closes the timer; the struct is freed in the
 * last close callback, so the caller runs the loop afterwards until
 * uv_loop_close() succeeds. */
void curl_uv_close(curl_uv *cu);

#endif
