/* prompt_norm.h -- prompt normalisation (exact-match keys and embedder
 * input) and the light English suffix stemmer.
 *
 * One normal form serves two purposes: the cache's exact key is XXH3 of the
 * normalised prompt, and the built-in embedder (embed_builtin.h) extracts its
 * features from it. The rules, applied byte by byte to the input:
 *   - ASCII letters are lowercased; digits, '_' and every byte >= 0x80 are
 *     kept unchanged (UTF-8 passes through untouched, so valid UTF-8 in is
 *     valid UTF-8 out; invalid sequences are kept as bytes, never repaired).
 *   - ASCII whitespace, control bytes and sentence punctuation
 *     (. , ! ? ; : " ( ) [ ] { }) become a separator, except that '.' and
 *     ':' between two digits are kept ("3.5", "2:30", "v2.10.0").
 *   - An apostrophe (' or `, or U+2018/U+2019) between two ASCII word
 *     characters is deleted ("don't" -> "dont"); elsewhere it is a
 *     separator.
 *     U+201C/U+201D (curly double quotes) and U+00A0 (no-break space) are
 *     separators.
 *   - '-' is kept before a digit when not preceded by a word character
 *     ("-5"); elsewhere it is a separator ("state-of-the-art" ->
 *     "state of the art").
 *   - Every other ASCII symbol (+ * / = < > % $ # @ & | ^ ~ \) is kept: it
 *     changes meaning ("c++", "2+2", "a/b").
 *   - Separator runs collapse to one ' '; leading and trailing ones vanish.
 * Properties (tested, and fuzzed by tests/fuzz/fuzz_prompt_norm.c): the
 * output is never longer than the input, and normalising twice gives the
 * same bytes as normalising once. All functions are pure and thread-safe. */
#ifndef SIMCACHE_PROMPT_NORM_H
#define SIMCACHE_PROMPT_NORM_H

#include <stddef.h>
#include <stdint.h>

/* Normalises in[0..len) into out, which must have room for len bytes (the
 * output is never longer; out may not overlap in). Returns the output
 * length: 0 for an empty or separator-only prompt. Not NUL-terminated. */
size_t prompt_norm(const char *in, size_t len, char *out);

/* The exact-match key: XXH3-64 (seed 0) of prompt_norm(in). Stores it in
 * *key and returns 0; returns -1 for a prompt that normalises to nothing
 * (the cache refuses those) and -2 if a scratch buffer could not be
 * allocated (prompts over 4 KiB are normalised in a heap buffer). */
int prompt_norm_key(const char *in, size_t len, uint64_t *key);

/* Light deterministic English suffix stemmer, in place. Only words made of
 * [a-z] are touched; suffix rules need at least 4 bytes. Strips the first
 * matching of: -ies/-ied (-> y), -sses/-ches/-shes/-xes/-zes (-> drop
 * "es"), -s (not after s, u, i: "status", "this", "class"), -ing/-ed (when
 * at least 2 bytes with a vowel remain; a doubled final consonant other
 * than l, s, z is then undoubled in stems of 4+ bytes), -ly (when 4 bytes
 * remain); then a final -e (not -ee) of any word of 3+ bytes. So
 * "libraries"/"library", "creating"/"created"/"creates"/"create",
 * "running"/"runs"/"run", "uses"/"used"/"using"/"use" meet. Returns the
 * new length (>= 1 and <= len). */
size_t prompt_stem(char *w, size_t len);

#endif
