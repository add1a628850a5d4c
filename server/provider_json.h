/* provider_json.h -- request bodies and response parsing for the embedding
 * providers (OpenAI-compatible /v1/embeddings and Ollama /api/embed).
 *
 * Pure functions: no libuv, no curl, no globals, so the parser is fuzzed
 * directly (tests/fuzz/fuzz_provider_json.c). A response is accepted only if
 * it is exactly what was asked for: one finite vector of the expected
 * dimension per input, matched by `data[i].index` (OpenAI) or by position
 * (Ollama, whose `embeddings` array has no index). Anything else is an
 * error, never a vector. Any thread may call these functions. */
#ifndef SIMCACHE_PROVIDER_JSON_H
#define SIMCACHE_PROVIDER_JSON_H

#include <stddef.h>
#include <stdint.h>

#include "sbuf.h"

enum pj_kind { PJ_OPENAI = 0, PJ_OLLAMA = 1 };

/* Parser errors (negative). */
enum {
    PJ_OK = 0,
    PJ_EMALFORMED = -1, /* not JSON, or not the expected shape */
    PJ_ECOUNT = -2,     /* number of vectors != number of inputs */
    PJ_EINDEX = -3,     /* index missing, out of range or duplicated */
    PJ_EDIM = -4,       /* wrong or inconsistent dimension */
    PJ_ENONFINITE = -5, /* NaN or infinity in a vector */
    PJ_ENOMEM = -6,
};

/* Appends the request body for n texts (raw bytes, any content: escaped
 * here, invalid UTF-8 included as-is is the caller's problem, control bytes
 * and NUL become \u00XX) to out. dims > 0 adds "dimensions"; base64 adds
 * "encoding_format":"base64" (OpenAI only; Ollama has no base64). model may
 * be "" (omitted). Errors surface as out->oom. */
void pj_build_request(sbuf *out, enum pj_kind kind, const char *model, int dims, int base64,
                      const char *const *texts, const size_t *lens, size_t n);

/* Parses a 200 response carrying n embeddings. dim: the expected dimension,
 * or 0 to accept whatever the first vector has (all must then agree).
 * On success returns PJ_OK, *vecs_out = malloc'd n*dim floats (caller
 * frees), *dim_out = dim, *tokens_out = prompt tokens billed (OpenAI
 * usage.prompt_tokens, Ollama prompt_eval_count; 0 if absent). On error
 * returns a PJ_E* code, *vecs_out = NULL, and err holds a short lowercase
 * reason without CR/LF. */
int pj_parse_response(enum pj_kind kind, const char *body, size_t len, size_t n, int dim,
                      float **vecs_out, int *dim_out, long long *tokens_out, char *err,
                      size_t errlen);

/* Extracts the error of a non-200 body: OpenAI {"error":{"message","type",
 * "code"}} or Ollama {"error":"..."}. Returns 1 if the error is a quota
 * error (type or code "insufficient_quota": not retryable), 0 otherwise.
 * msg receives the message (cut to msglen-1 bytes, CR/LF replaced), or ""
 * if the body is not a recognised error. */
int pj_parse_error(const char *body, size_t len, char *msg, size_t msglen);

/* Decodes standard base64 (padding optional) into out (cap bytes). Returns
 * the decoded length, or -1 on a bad character or overflow. */
long pj_base64_decode(const char *in, size_t len, unsigned char *out, size_t cap);

/* Short name of a PJ_E* code ("malformed", "count", ...). */
const char *pj_strerror(int code);

#endif
