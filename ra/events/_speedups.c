/* The append path's inner loops in C: an optional accelerator.
 *
 * Each function here does what a Python function of ra does, to the byte:
 * `stamp_now` and `uuid7_run` as `ra.events.model.stamp_now` and
 * `_uuid7_run`, `encode` as the loop of `encode_batch`, `extend` as
 * `ra.events.merkle.Frontier.extend`.  The Python functions stay the
 * definition: they run whenever this module was not built, is turned off
 * (RA_PURE_PYTHON=1), or declines (`encode` and `extend` answer None for
 * anything out of the common case: a payload orjson will not write, a
 * number past 64 bits, text that is not valid Unicode, a hash that is not
 * 32 bytes), and the tests compare the two.
 *
 * Why C: a single durable append runs right after the previous one's fsync,
 * when the processor's caches and predictors are cold, and there each line of
 * Python, each call into OpenSSL (object, EVP context, provider) and each
 * big-int operation costs several times its warm price.  The same work in a
 * few kilobytes of straight C is what lets a single append keep up with a
 * bare INSERT.  Payloads are still written by orjson, as in
 * `canonical.dumps_checked`; SHA-256 is the small one below.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#define HASH_SIZE 32

/* -- SHA-256 (FIPS 180-4) ---------------------------------------------------
 * Small and self-contained: after an fsync the caches are cold, and a call
 * into OpenSSL through hashlib (object, EVP context, provider) costs several
 * times the hashing itself.  The tests compare it with hashlib. */

static const uint32_t K256[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

#define ROTR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))

static void
sha256_block(uint32_t h[8], const unsigned char *p)
{
    uint32_t w[64];
    for (int t = 0; t < 16; t++)
        w[t] = (uint32_t)p[4 * t] << 24 | (uint32_t)p[4 * t + 1] << 16
               | (uint32_t)p[4 * t + 2] << 8 | (uint32_t)p[4 * t + 3];
    for (int t = 16; t < 64; t++) {
        uint32_t s0 = ROTR(w[t - 15], 7) ^ ROTR(w[t - 15], 18) ^ (w[t - 15] >> 3);
        uint32_t s1 = ROTR(w[t - 2], 17) ^ ROTR(w[t - 2], 19) ^ (w[t - 2] >> 10);
        w[t] = w[t - 16] + s0 + w[t - 7] + s1;
    }
    uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], k = h[7];
    for (int t = 0; t < 64; t++) {
        uint32_t t1 = k + (ROTR(e, 6) ^ ROTR(e, 11) ^ ROTR(e, 25)) + ((e & f) ^ (~e & g))
                      + K256[t] + w[t];
        uint32_t t2 = (ROTR(a, 2) ^ ROTR(a, 13) ^ ROTR(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
        k = g;
        g = f;
        f = e;
        e = d + t1;
        d = c;
        c = b;
        b = a;
        a = t1 + t2;
    }
    h[0] += a; h[1] += b; h[2] += c; h[3] += d;
    h[4] += e; h[5] += f; h[6] += g; h[7] += k;
}

static void
sha256_blocks_portable(uint32_t h[8], const unsigned char *p, size_t blocks)
{
    for (; blocks; blocks--, p += 64)
        sha256_block(h, p);
}

#if defined(__x86_64__) && defined(__GNUC__)
#include <cpuid.h>
#include <immintrin.h>
#define HAVE_SHA_NI_CODE 1

/* The same blocks with the x86 SHA extensions (SHA-NI), where the processor
 * has them: the state kept as ABEF/CDGH, four rounds per step of the loop,
 * the message schedule made by sha256msg1/msg2 four words ahead. */
__attribute__((target("sha,sse4.1,ssse3"))) static void
sha256_blocks_ni(uint32_t h[8], const unsigned char *p, size_t blocks)
{
    const __m128i swap = _mm_set_epi64x(0x0c0d0e0f08090a0bULL, 0x0405060700010203ULL);
    __m128i tmp = _mm_shuffle_epi32(_mm_loadu_si128((const __m128i *)&h[0]), 0xB1); /* CDAB */
    __m128i state1 = _mm_shuffle_epi32(_mm_loadu_si128((const __m128i *)&h[4]), 0x1B); /* EFGH */
    __m128i state0 = _mm_alignr_epi8(tmp, state1, 8);  /* ABEF */
    state1 = _mm_blend_epi16(state1, tmp, 0xF0);       /* CDGH */
    for (; blocks; blocks--, p += 64) {
        __m128i abef = state0, cdgh = state1, msg[4], m;
#pragma GCC unroll 16
        for (int g = 0; g < 16; g++) {
            if (g < 4)
                msg[g] = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(p + 16 * g)), swap);
            m = _mm_add_epi32(msg[g & 3], _mm_loadu_si128((const __m128i *)&K256[4 * g]));
            state1 = _mm_sha256rnds2_epu32(state1, state0, m);
            if (g >= 3 && g <= 14) {
                __m128i t = _mm_alignr_epi8(msg[g & 3], msg[(g - 1) & 3], 4);
                msg[(g + 1) & 3] = _mm_sha256msg2_epu32(_mm_add_epi32(msg[(g + 1) & 3], t),
                                                        msg[g & 3]);
            }
            state0 = _mm_sha256rnds2_epu32(state0, state1, _mm_shuffle_epi32(m, 0x0E));
            if (g >= 1 && g <= 12)
                msg[(g - 1) & 3] = _mm_sha256msg1_epu32(msg[(g - 1) & 3], msg[g & 3]);
        }
        state0 = _mm_add_epi32(state0, abef);
        state1 = _mm_add_epi32(state1, cdgh);
    }
    tmp = _mm_shuffle_epi32(state0, 0x1B);      /* FEBA */
    state1 = _mm_shuffle_epi32(state1, 0xB1);   /* DCHG */
    state0 = _mm_blend_epi16(tmp, state1, 0xF0); /* DCBA */
    state1 = _mm_alignr_epi8(state1, tmp, 8);    /* HGFE */
    _mm_storeu_si128((__m128i *)&h[0], state0);
    _mm_storeu_si128((__m128i *)&h[4], state1);
}

static int
cpu_has_sha_ni(void)
{
    unsigned int a, b, c, d;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d) || !(b & (1u << 29))) /* SHA */
        return 0;
    if (!__get_cpuid(1, &a, &b, &c, &d))
        return 0;
    return (c & (1u << 19)) && (c & (1u << 9)); /* SSE4.1, SSSE3 */
}
#endif

/* The block function in use: SHA-NI where the processor has it. */
static void (*sha256_blocks)(uint32_t h[8], const unsigned char *p, size_t blocks) =
    sha256_blocks_portable;

/* SHA-256 of data[0:n] into out[0:32], with `blocks` for the rounds. */
static void
sha256_with(void (*blocks)(uint32_t[8], const unsigned char *, size_t),
            const unsigned char *data, size_t n, unsigned char out[HASH_SIZE])
{
    uint32_t h[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                     0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    size_t whole = n / 64;
    if (whole)
        blocks(h, data, whole);
    unsigned char tail[128] = {0};
    size_t rest = n - whole * 64;
    memcpy(tail, data + whole * 64, rest);
    tail[rest] = 0x80;
    size_t end = rest < 56 ? 64 : 128;
    uint64_t bits = (uint64_t)n * 8;
    for (int i = 0; i < 8; i++)
        tail[end - 1 - i] = (unsigned char)(bits >> (8 * i));
    blocks(h, tail, end / 64);
    for (int i = 0; i < 8; i++) {
        out[4 * i] = (unsigned char)(h[i] >> 24);
        out[4 * i + 1] = (unsigned char)(h[i] >> 16);
        out[4 * i + 2] = (unsigned char)(h[i] >> 8);
        out[4 * i + 3] = (unsigned char)h[i];
    }
}

static void
sha256(const unsigned char *data, size_t n, unsigned char out[HASH_SIZE])
{
    sha256_with(sha256_blocks, data, n, out);
}

/* sha256(data, portable=False) -> 32 bytes: for the tests, which compare
 * both block functions with hashlib. */
static PyObject *
sha256_py(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    Py_buffer view;
    unsigned char out[HASH_SIZE];
    if (nargs < 1 || nargs > 2) {
        PyErr_SetString(PyExc_TypeError, "sha256(data, portable=False)");
        return NULL;
    }
    int portable = nargs == 2 ? PyObject_IsTrue(args[1]) : 0;
    if (portable < 0 || PyObject_GetBuffer(args[0], &view, PyBUF_SIMPLE) < 0)
        return NULL;
    sha256_with(portable ? sha256_blocks_portable : sha256_blocks, view.buf, (size_t)view.len,
                out);
    PyBuffer_Release(&view);
    return PyBytes_FromStringAndSize((const char *)out, HASH_SIZE);
}

/* -- configuration ------------------------------------------------------------ */

static struct {
    PyObject *dumps;        /* orjson.dumps */
    PyObject *kwnames;      /* ("default", "option") */
    PyObject *fallback;     /* its `default` callable */
    PyObject *option;       /* its option flags (int) */
    PyObject *encode_error; /* orjson.JSONEncodeError */
    PyObject *json_str;     /* json.encoder.encode_basestring */
    PyObject *known_types;  /* ra.events.model._KNOWN_GOOD_TYPES (a set) */
    PyObject *known_streams; /* ra.events.model._KNOWN_GOOD_STREAMS (a set) */
    PyObject *outcomes;     /* ra.events.model.OUTCOMES (a frozenset) */
    PyObject *actor_type;   /* ra.events.model.Actor */
} st;

static PyObject *s_actor, *s_json, *s_origin, *s_outcome, *s_payload, *s_schema_version, *s_type;

static PyObject *
configure(PyObject *self, PyObject *args)
{
    PyObject *dumps, *fallback, *option, *encode_error, *json_str, *known_types,
        *known_streams, *outcomes, *actor_type;
    if (!PyArg_ParseTuple(args, "OOOOOO!O!O!O!:configure", &dumps, &fallback, &option,
                          &encode_error, &json_str, &PySet_Type, &known_types, &PySet_Type,
                          &known_streams, &PyFrozenSet_Type, &outcomes, &PyType_Type,
                          &actor_type))
        return NULL;
    /* interned: orjson knows its keywords by identity */
    PyObject *d = PyUnicode_InternFromString("default");
    PyObject *o = d ? PyUnicode_InternFromString("option") : NULL;
    PyObject *kwnames = o ? PyTuple_Pack(2, d, o) : NULL;
    Py_XDECREF(d);
    Py_XDECREF(o);
    if (kwnames == NULL)
        return NULL;
    Py_XSETREF(st.kwnames, kwnames);
    Py_XSETREF(st.dumps, Py_NewRef(dumps));
    Py_XSETREF(st.fallback, Py_NewRef(fallback));
    Py_XSETREF(st.option, Py_NewRef(option));
    Py_XSETREF(st.encode_error, Py_NewRef(encode_error));
    Py_XSETREF(st.json_str, Py_NewRef(json_str));
    Py_XSETREF(st.known_types, Py_NewRef(known_types));
    Py_XSETREF(st.known_streams, Py_NewRef(known_streams));
    Py_XSETREF(st.outcomes, Py_NewRef(outcomes));
    Py_XSETREF(st.actor_type, Py_NewRef(actor_type));
    Py_RETURN_NONE;
}

/* -- the clock: `ra.events.model.stamp_now` ----------------------------------- */

static struct {
    time_t second;
    char text[32]; /* "YYYY-MM-DDTHH:MM:SS" of `second` */
    size_t size;
} clock_text = {(time_t)-1, "", 0};

/* Now as `format_time` writes it (into text[48], its length returned) and in
 * Unix milliseconds; -1 with an exception set if the clock cannot be read. */
static Py_ssize_t
clock_now(char text[48], long long *ms)
{
    struct timespec now;
    if (clock_gettime(CLOCK_REALTIME, &now) != 0) {
        PyErr_SetFromErrno(PyExc_OSError);
        return -1;
    }
    if (now.tv_sec != clock_text.second) {
        struct tm parts;
        if (gmtime_r(&now.tv_sec, &parts) == NULL) {
            PyErr_SetFromErrno(PyExc_OSError);
            return -1;
        }
        size_t size = strftime(clock_text.text, sizeof clock_text.text, "%Y-%m-%dT%H:%M:%S",
                               &parts);
        if (size == 0) {
            PyErr_SetString(PyExc_OverflowError, "the clock's year does not fit");
            return -1;
        }
        clock_text.size = size;
        clock_text.second = now.tv_sec;
    }
    memcpy(text, clock_text.text, clock_text.size);
    int more = snprintf(text + clock_text.size, 48 - clock_text.size, ".%06ldZ",
                        (long)(now.tv_nsec / 1000));
    *ms = (long long)now.tv_sec * 1000 + now.tv_nsec / 1000000;
    return (Py_ssize_t)clock_text.size + more;
}

/* stamp_now() -> (text, unix ms): one clock read, as format_time writes it. */
static PyObject *
stamp_now(PyObject *self, PyObject *unused)
{
    char text[48];
    long long ms;
    Py_ssize_t size = clock_now(text, &ms);
    if (size < 0)
        return NULL;
    PyObject *stamp = PyUnicode_FromStringAndSize(text, size);
    if (stamp == NULL)
        return NULL;
    PyObject *millis = PyLong_FromLongLong(ms);
    if (millis == NULL) {
        Py_DECREF(stamp);
        return NULL;
    }
    PyObject *pair = PyTuple_Pack(2, stamp, millis);
    Py_DECREF(stamp);
    Py_DECREF(millis);
    return pair;
}

/* -- UUIDv7 runs: `ra.events.model._uuid7_run` ---------------------------------
 * The same bits from the same draws; its own entropy pool (getrandom, 409 ids
 * a read, dropped in a forked child) and its own last id. */

typedef unsigned __int128 u128;
#define MASK48 ((1ULL << 48) - 1)

static struct {
    unsigned char pool[4090];
    size_t at;
    u128 last;
} ids = {{0}, sizeof ids.pool, 0};

static void
forget_entropy(void)
{
    ids.at = sizeof ids.pool; /* a forked child must not reuse its parent's bytes */
}

static int
draw80(u128 *rand)
{
    if (ids.at + 10 > sizeof ids.pool) {
        size_t got = 0;
        while (got < sizeof ids.pool) {
            ssize_t n = getrandom(ids.pool + got, sizeof ids.pool - got, 0);
            if (n < 0) {
                if (errno == EINTR)
                    continue;
                PyErr_SetFromErrno(PyExc_OSError);
                return -1;
            }
            got += (size_t)n;
        }
        ids.at = 0;
    }
    u128 value = 0;
    for (int i = 0; i < 10; i++)
        value = value << 8 | ids.pool[ids.at + i];
    ids.at += 10;
    *rand = value;
    return 0;
}

/* A run of `count` UUIDv7s at `ms`: the text up to the last group into
 * prefix[32] (its length returned) and the first last group into *low;
 * `drawn` (or NULL: the pool) gives the random bits. -1 on an error. */
static int
uuid_run(uint64_t count, uint64_t ms, const u128 *drawn, char prefix[32], uint64_t *low_out)
{
    u128 rand;
    if (drawn != NULL)
        rand = *drawn;
    else if (draw80(&rand) < 0)
        return -1;
    ms &= MASK48;
    uint64_t low = (uint64_t)rand & MASK48;
    u128 first;
    if (ms > (uint64_t)(ids.last >> 80) && low + count <= MASK48) {
        /* a later millisecond than the last id's: the run is past it as drawn */
        first = (u128)ms << 80 | (u128)(0x7000 | (uint64_t)(rand >> 68)) << 64
                | (u128)(0x8000 | ((uint64_t)(rand >> 48) & 0x1FFF)) << 48 | low;
    } else {
        first = (u128)ms << 80 | (u128)0x7 << 76 | (u128)(uint64_t)(rand >> 68) << 64
                | (u128)0x2 << 62 | (rand & (((u128)1 << 61) - 1));
        if (first <= ids.last)
            first = ids.last + 1;
        if (((uint64_t)first & MASK48) + count > MASK48) /* one last group */
            first = (first | MASK48) + 1;
    }
    ids.last = first + (u128)count - 1;
    *low_out = (uint64_t)first & MASK48;
    return snprintf(prefix, 32, "%08x-%04x-%04x-%04x-", (unsigned)(first >> 96),
                    (unsigned)(first >> 80) & 0xFFFF, (unsigned)(first >> 64) & 0xFFFF,
                    (unsigned)(first >> 48) & 0xFFFF);
}

/* uuid7_run(count, now_ms=None, drawn=None) -> (prefix, low)
 * `drawn`, 10 bytes, stands for the pool's next draw (for the tests). */
static PyObject *
uuid7_run(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs < 1 || nargs > 3) {
        PyErr_SetString(PyExc_TypeError, "uuid7_run takes 1 to 3 arguments");
        return NULL;
    }
    long long count = PyLong_AsLongLong(args[0]);
    if (count == -1 && PyErr_Occurred())
        return NULL;
    if (count < 0 || (unsigned long long)count > MASK48) {
        PyErr_SetString(PyExc_ValueError, "a run of UUIDv7s is 0 to 2**48 - 1 long");
        return NULL;
    }
    uint64_t ms;
    if (nargs >= 2 && args[1] != Py_None) {
        PyObject *mask = PyLong_FromUnsignedLongLong(MASK48);
        if (mask == NULL)
            return NULL;
        PyObject *masked = PyNumber_And(args[1], mask);
        Py_DECREF(mask);
        if (masked == NULL)
            return NULL;
        ms = PyLong_AsUnsignedLongLong(masked);
        Py_DECREF(masked);
        if (ms == (uint64_t)-1 && PyErr_Occurred())
            return NULL;
    } else {
        struct timespec now;
        if (clock_gettime(CLOCK_REALTIME, &now) != 0)
            return PyErr_SetFromErrno(PyExc_OSError);
        ms = (uint64_t)now.tv_sec * 1000 + (uint64_t)now.tv_nsec / 1000000;
    }
    u128 drawn = 0, *given = NULL;
    if (nargs == 3 && args[2] != Py_None) {
        if (!PyBytes_Check(args[2]) || PyBytes_GET_SIZE(args[2]) != 10) {
            PyErr_SetString(PyExc_ValueError, "drawn must be 10 bytes");
            return NULL;
        }
        const unsigned char *b = (const unsigned char *)PyBytes_AS_STRING(args[2]);
        for (int i = 0; i < 10; i++)
            drawn = drawn << 8 | b[i];
        given = &drawn;
    }
    char prefix[32];
    uint64_t low;
    int n = uuid_run((uint64_t)count, ms, given, prefix, &low);
    if (n < 0)
        return NULL;
    PyObject *text = PyUnicode_FromStringAndSize(prefix, n);
    PyObject *number = text ? PyLong_FromUnsignedLongLong(low) : NULL;
    PyObject *pair = number ? PyTuple_Pack(2, text, number) : NULL;
    Py_XDECREF(text);
    Py_XDECREF(number);
    return pair;
}

/* uuid7_forget() : forget the last id (for the tests). */
static PyObject *
uuid7_forget(PyObject *self, PyObject *unused)
{
    ids.last = 0;
    Py_RETURN_NONE;
}

/* -- encode: `ra.events.model.encode_batch`'s loop ------------------------------ */

/* Decimal text of v into out (24 bytes will do); its length. As "%lld". */
static int
fmt_decimal(char *out, long long v)
{
    char digits[24];
    int n = 0;
    unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
    do {
        digits[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    int size = 0;
    if (v < 0)
        out[size++] = '-';
    while (n)
        out[size++] = digits[--n];
    return size;
}

/* The low 48 bits of a UUID as 12 lower-case hex digits. As "%012llx". */
static void
fmt_hex12(char out[12], uint64_t v)
{
    static const char hex[] = "0123456789abcdef";
    for (int i = 11; i >= 0; i--, v >>= 4)
        out[i] = hex[v & 15];
}

/* A growing byte buffer: on the stack while it fits. */
typedef struct {
    char *p;
    size_t n, cap;
    char small[2048];
} writer;

static void
w_init(writer *w)
{
    w->p = w->small;
    w->n = 0;
    w->cap = sizeof w->small;
}

static void
w_free(writer *w)
{
    if (w->p != w->small)
        PyMem_Free(w->p);
}

static int w_grow(writer *w, size_t more);

static inline int
w_room(writer *w, size_t more)
{
    return w->n + more <= w->cap ? 0 : w_grow(w, more);
}

static int
w_grow(writer *w, size_t more)
{
    size_t cap = w->cap * 2;
    while (cap < w->n + more)
        cap *= 2;
    char *bigger = PyMem_Malloc(cap);
    if (bigger == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    memcpy(bigger, w->p, w->n);
    w_free(w);
    w->p = bigger;
    w->cap = cap;
    return 0;
}

static inline int
w_put(writer *w, const char *s, size_t n)
{
    if (w_room(w, n) < 0)
        return -1;
    memcpy(w->p + w->n, s, n);
    w->n += n;
    return 0;
}

#define W_LIT(w, lit) w_put((w), (lit), sizeof(lit) - 1)

/* UTF-8 text as a JSON string, escaped as json.encoder.encode_basestring
 * escapes it (ensure_ascii off): '"', '\\', and the C0 controls only. */
static int
w_json_string(writer *w, const char *s, Py_ssize_t n)
{
    static const char hex[] = "0123456789abcdef";
    /* at most 6 bytes out for one in, and the quotes */
    if (w_room(w, (size_t)n * 6 + 2) < 0)
        return -1;
    char *out = w->p + w->n;
    *out++ = '"';
    for (Py_ssize_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\') {
            *out++ = (char)c;
            continue;
        }
        *out++ = '\\';
        switch (c) {
        case '"': *out++ = '"'; break;
        case '\\': *out++ = '\\'; break;
        case '\n': *out++ = 'n'; break;
        case '\r': *out++ = 'r'; break;
        case '\t': *out++ = 't'; break;
        case '\b': *out++ = 'b'; break;
        case '\f': *out++ = 'f'; break;
        default:
            *out++ = 'u';
            *out++ = '0';
            *out++ = '0';
            *out++ = hex[c >> 4];
            *out++ = hex[c & 15];
        }
    }
    *out++ = '"';
    w->n = (size_t)(out - w->p);
    return 0;
}

typedef struct {
    const char *key;
    Py_ssize_t key_n;
    PyObject *value;
} field_item;

/* The canonical JSON of a flat payload (a dict of text keys and str, int,
 * bool or None values; keys sorted by code point, which is UTF-8 byte order):
 * 1 written, 0 not flat or not small (nothing written), -1 error. */
static int
w_flat_payload(writer *w, PyObject *payload)
{
    field_item items[32];
    Py_ssize_t count = PyDict_GET_SIZE(payload);
    if (count > 32)
        return 0;
    Py_ssize_t at = 0, i = 0;
    PyObject *key, *value;
    while (PyDict_Next(payload, &at, &key, &value)) {
        if (!PyUnicode_CheckExact(key))
            return 0;
        if (!(value == Py_None || PyBool_Check(value) || PyLong_CheckExact(value)
              || PyUnicode_CheckExact(value)))
            return 0;
        items[i].key = PyUnicode_AsUTF8AndSize(key, &items[i].key_n);
        if (items[i].key == NULL) {
            if (!PyErr_ExceptionMatches(PyExc_UnicodeError))
                return -1;
            PyErr_Clear();
            return 0;
        }
        items[i].value = value;
        /* insertion sort: payloads are small */
        Py_ssize_t j = i++;
        while (j > 0) {
            field_item *a = &items[j - 1], *b = &items[j];
            Py_ssize_t both = a->key_n < b->key_n ? a->key_n : b->key_n;
            int order = memcmp(a->key, b->key, (size_t)both);
            if (order < 0 || (order == 0 && a->key_n <= b->key_n))
                break;
            field_item swap = *a;
            *a = *b;
            *b = swap;
            j--;
        }
    }
    size_t start = w->n;
    if (W_LIT(w, "{") < 0)
        return -1;
    for (i = 0; i < count; i++) {
        if ((i && W_LIT(w, ",") < 0) || w_json_string(w, items[i].key, items[i].key_n) < 0
            || W_LIT(w, ":") < 0)
            return -1;
        PyObject *v = items[i].value;
        int done;
        if (v == Py_None) {
            done = W_LIT(w, "null");
        } else if (v == Py_True) {
            done = W_LIT(w, "true");
        } else if (v == Py_False) {
            done = W_LIT(w, "false");
        } else if (PyLong_CheckExact(v)) {
            int overflow = 0;
            long long number = PyLong_AsLongLongAndOverflow(v, &overflow);
            if (overflow) { /* past 64 bits: orjson and then `dumps` see to it */
                w->n = start;
                return 0;
            }
            char digits[24];
            done = w_put(w, digits, (size_t)fmt_decimal(digits, number));
        } else {
            Py_ssize_t text_n;
            const char *text = PyUnicode_AsUTF8AndSize(v, &text_n);
            if (text == NULL) {
                if (!PyErr_ExceptionMatches(PyExc_UnicodeError))
                    return -1;
                PyErr_Clear();
                w->n = start;
                return 0;
            }
            done = w_json_string(w, text, text_n);
        }
        if (done < 0)
            return -1;
    }
    return W_LIT(w, "}") < 0 ? -1 : 1;
}

/* After a conversion came back empty: None, a decline (the Python loop takes
 * it), when no error is set or the error is an overflow (a number past 64
 * bits); NULL, passing the error on, for anything else. */
static PyObject *
decline_or_fail(void)
{
    if (PyErr_Occurred()) {
        if (!PyErr_ExceptionMatches(PyExc_OverflowError))
            return NULL;
        PyErr_Clear();
    }
    Py_RETURN_NONE;
}

/* UTF-8 of a str; NULL and no error set means "not for this path". */
static const char *
text_of(PyObject *value, Py_ssize_t *size)
{
    if (!PyUnicode_Check(value))
        return NULL;
    const char *utf8 = PyUnicode_AsUTF8AndSize(value, size);
    if (utf8 == NULL && PyErr_ExceptionMatches(PyExc_UnicodeError))
        PyErr_Clear(); /* lone surrogates: the Python loop names the event */
    return utf8;
}

/* "hand this batch to the Python loop" (no error set) */
#define DECLINE(label) do { declined = 1; goto label; } while (0)

/* The rows and leaf hashes of `events` (see `encode`): a new (rows, leaves),
 * a new reference to None when declined, or NULL on an error. */
static PyObject *
encode_rows(PyObject *events_in, long long seq, long long version, PyObject *stream_obj,
            const char *at, Py_ssize_t at_n, const char *own, Py_ssize_t own_n,
            const char *prefix, Py_ssize_t prefix_n, uint64_t low)
{
    if (st.dumps == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "_speedups.configure was not called");
        return NULL;
    }
    Py_ssize_t stream_n;
    const char *stream = text_of(stream_obj, &stream_n);
    if (stream == NULL)
        return decline_or_fail();
    PyObject *events = PySequence_Fast(events_in, "events must be a sequence");
    if (events == NULL)
        return NULL;
    Py_ssize_t count = PySequence_Fast_GET_SIZE(events);
    PyObject **items = PySequence_Fast_ITEMS(events);
    int declined = 0;
    PyObject *rows = NULL, *leaves = NULL, *joined = NULL, *result = NULL;
    writer w;
    w_init(&w);
    if (count == 0 || seq > LLONG_MAX - count || version > LLONG_MAX - count)
        DECLINE(done);
    rows = PyList_New(2 * count + 3);
    leaves = PyList_New(count);
    joined = PyBytes_FromStringAndSize(NULL, HASH_SIZE * count);
    if (rows == NULL || leaves == NULL || joined == NULL)
        goto done;
    unsigned char *joined_at = (unsigned char *)PyBytes_AS_STRING(joined);

    for (Py_ssize_t i = 0; i < count; i++, seq++, version++, low++) {
        PyObject *event = items[i];
        PyObject *actor = NULL, *actor_json = NULL, *origin = NULL, *origin_json = NULL,
                 *outcome = NULL, *payload = NULL, *payload_json = NULL, *schema = NULL,
                 *type = NULL, *leaf = NULL, *text = NULL;
        int ok = 0;
        Py_ssize_t actor_n, origin_n, outcome_n, type_n;
        const char *actor_s, *origin_s, *outcome_s, *type_s;
        if (low > MASK48)
            DECLINE(event_done);
        if ((actor = PyObject_GetAttr(event, s_actor)) == NULL
            || (actor_json = PyObject_GetAttr(actor, s_json)) == NULL
            || (origin = PyObject_GetAttr(event, s_origin)) == NULL
            || (outcome = PyObject_GetAttr(event, s_outcome)) == NULL
            || (payload = PyObject_GetAttr(event, s_payload)) == NULL
            || (schema = PyObject_GetAttr(event, s_schema_version)) == NULL
            || (type = PyObject_GetAttr(event, s_type)) == NULL)
            goto event_done;
        if ((actor_s = text_of(actor_json, &actor_n)) == NULL)
            goto event_decline;
        if (origin == Py_None || (PyUnicode_Check(origin) && PyUnicode_GET_LENGTH(origin) == 0)) {
            origin_s = own; /* `event.origin or origin`, as `envelope` has it */
            origin_n = own_n;
        } else {
            if (!PyUnicode_Check(origin))
                DECLINE(event_done);
            if ((origin_json = PyObject_CallOneArg(st.json_str, origin)) == NULL)
                goto event_done;
            if ((origin_s = text_of(origin_json, &origin_n)) == NULL)
                goto event_decline;
        }
        if ((outcome_s = text_of(outcome, &outcome_n)) == NULL
            || (type_s = text_of(type, &type_n)) == NULL)
            goto event_decline;
        if (!PyLong_CheckExact(schema))
            DECLINE(event_done);
        int overflow = 0;
        long long schema_v = PyLong_AsLongLongAndOverflow(schema, &overflow);
        if (overflow || (schema_v == -1 && PyErr_Occurred())) {
            PyErr_Clear();
            DECLINE(event_done);
        }
        char numbers[3][24], id_low[12];
        int seq_n = fmt_decimal(numbers[0], seq);
        int version_n = fmt_decimal(numbers[1], version);
        int schema_n = fmt_decimal(numbers[2], schema_v);
        int low_n = 12;
        fmt_hex12(id_low, low);
        /* 0x00 and the body: the leaf hash's input, and the text after it */
        w.n = 0;
        if (w_put(&w, "\0{\"actor\":", 10) < 0 || w_put(&w, actor_s, (size_t)actor_n) < 0
            || W_LIT(&w, ",\"event_id\":\"") < 0 || w_put(&w, prefix, (size_t)prefix_n) < 0
            || w_put(&w, id_low, (size_t)low_n) < 0 || W_LIT(&w, "\",\"occurred_at\":\"") < 0
            || w_put(&w, at, (size_t)at_n) < 0 || W_LIT(&w, "\",\"origin\":") < 0
            || w_put(&w, origin_s, (size_t)origin_n) < 0 || W_LIT(&w, ",\"outcome\":\"") < 0
            || w_put(&w, outcome_s, (size_t)outcome_n) < 0 || W_LIT(&w, "\",\"payload\":") < 0)
            goto event_done;
        int flat = PyDict_CheckExact(payload) ? w_flat_payload(&w, payload) : 0;
        if (flat < 0)
            goto event_done;
        if (!flat) { /* nested, or big: orjson, as `canonical.dumps_checked` */
            PyObject *call[4] = {NULL, payload, st.fallback, st.option};
            payload_json = PyObject_Vectorcall(st.dumps, call + 1,
                                               1 | PY_VECTORCALL_ARGUMENTS_OFFSET, st.kwnames);
            if (payload_json == NULL) {
                if (PyErr_ExceptionMatches(st.encode_error)) {
                    PyErr_Clear();
                    DECLINE(event_done); /* `canonical.dumps` writes it, in Python */
                }
                goto event_done;
            }
            if (!PyBytes_Check(payload_json))
                DECLINE(event_done);
            if (w_put(&w, PyBytes_AS_STRING(payload_json), (size_t)PyBytes_GET_SIZE(payload_json)) < 0)
                goto event_done;
        }
        if (W_LIT(&w, ",\"schema_version\":") < 0 || w_put(&w, numbers[2], (size_t)schema_n) < 0
            || W_LIT(&w, ",\"seq\":") < 0 || w_put(&w, numbers[0], (size_t)seq_n) < 0
            || W_LIT(&w, ",\"stream\":\"") < 0 || w_put(&w, stream, (size_t)stream_n) < 0
            || W_LIT(&w, "\",\"stream_version\":") < 0
            || w_put(&w, numbers[1], (size_t)version_n) < 0 || W_LIT(&w, ",\"type\":\"") < 0
            || w_put(&w, type_s, (size_t)type_n) < 0 || W_LIT(&w, "\"}") < 0)
            goto event_done;
        unsigned char *digest = joined_at + HASH_SIZE * i;
        sha256((const unsigned char *)w.p, w.n, digest);
        if ((leaf = PyBytes_FromStringAndSize((const char *)digest, HASH_SIZE)) == NULL)
            goto event_done;
        if ((text = PyUnicode_DecodeUTF8(w.p + 1, (Py_ssize_t)w.n - 1, "strict")) == NULL)
            goto event_done;
        Py_ssize_t at_row = i == 0 ? 0 : 2 * i + 3;
        PyObject *seq_obj = PyLong_FromLongLong(seq);
        if (seq_obj == NULL)
            goto event_done;
        PyList_SET_ITEM(rows, at_row, seq_obj);
        PyList_SET_ITEM(rows, at_row + 1, text);
        text = NULL;
        PyList_SET_ITEM(leaves, i, leaf);
        leaf = NULL;
        ok = 1;
        goto event_done;
    event_decline:
        if (!PyErr_Occurred())
            declined = 1;
    event_done:
        Py_XDECREF(actor);
        Py_XDECREF(actor_json);
        Py_XDECREF(origin);
        Py_XDECREF(origin_json);
        Py_XDECREF(outcome);
        Py_XDECREF(payload);
        Py_XDECREF(payload_json);
        Py_XDECREF(schema);
        Py_XDECREF(type);
        Py_XDECREF(leaf);
        Py_XDECREF(text);
        if (!ok)
            goto done;
    }
    {
        PyObject *last = PyLong_FromLongLong(version - 1);
        if (last == NULL)
            goto done;
        PyList_SET_ITEM(rows, 2, Py_NewRef(stream_obj));
        PyList_SET_ITEM(rows, 3, last);
        PyList_SET_ITEM(rows, 4, joined);
        joined = NULL;
        result = PyTuple_Pack(2, rows, leaves);
    }
done:
    w_free(&w);
    Py_DECREF(events);
    Py_XDECREF(rows);
    Py_XDECREF(leaves);
    Py_XDECREF(joined);
    if (result == NULL && declined && !PyErr_Occurred())
        Py_RETURN_NONE;
    return result;
}

/* encode(events, first_seq, first_version, stream, occurred_at, own_origin,
 *        id_prefix, low) -> (rows, leaves) or None
 *
 * `own_origin` is the store's origin already written as a JSON string;
 * `stream` and `occurred_at` are written as they are (validated: no escapes).
 */
static PyObject *
encode(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 8) {
        PyErr_SetString(PyExc_TypeError, "encode takes 8 arguments");
        return NULL;
    }
    long long seq = PyLong_AsLongLong(args[1]);
    long long version = PyLong_AsLongLong(args[2]);
    unsigned long long low = PyLong_AsUnsignedLongLong(args[7]);
    if (PyErr_Occurred())
        return decline_or_fail();
    Py_ssize_t at_n, own_n, prefix_n;
    const char *at = text_of(args[4], &at_n);
    const char *own = at ? text_of(args[5], &own_n) : NULL;
    const char *prefix = own ? text_of(args[6], &prefix_n) : NULL;
    if (prefix == NULL)
        return decline_or_fail();
    return encode_rows(args[0], seq, version, args[3], at, at_n, own, own_n, prefix, prefix_n,
                       low);
}

/* encode_now(events, first_seq, first_version, stream, own_origin)
 *     -> (rows, leaves, occurred_at, id_prefix, low) or None
 * `stamp_now`, `_uuid7_run` and `encode` in one call: one clock read dates
 * the events and their ids, as `EventStore.append` does with the three. */
static PyObject *
encode_now(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 5) {
        PyErr_SetString(PyExc_TypeError, "encode_now takes 5 arguments");
        return NULL;
    }
    long long seq = PyLong_AsLongLong(args[1]);
    long long version = PyLong_AsLongLong(args[2]);
    Py_ssize_t count = PyObject_Length(args[0]);
    if (PyErr_Occurred())
        return decline_or_fail();
    Py_ssize_t own_n;
    const char *own = text_of(args[4], &own_n);
    if (own == NULL)
        return decline_or_fail();
    if (count < 1 || (uint64_t)count > MASK48)
        Py_RETURN_NONE;
    char at[48], prefix[32];
    long long ms;
    uint64_t low;
    Py_ssize_t at_n = clock_now(at, &ms);
    if (at_n < 0)
        return NULL;
    int prefix_n = uuid_run((uint64_t)count, (uint64_t)ms, NULL, prefix, &low);
    if (prefix_n < 0)
        return NULL;
    PyObject *made = encode_rows(args[0], seq, version, args[3], at, at_n, own, own_n, prefix,
                                 prefix_n, low);
    if (made == NULL || made == Py_None)
        return made;
    PyObject *stamp = PyUnicode_FromStringAndSize(at, at_n);
    PyObject *text = stamp ? PyUnicode_FromStringAndSize(prefix, prefix_n) : NULL;
    PyObject *number = text ? PyLong_FromUnsignedLongLong(low) : NULL;
    PyObject *result = number ? PyTuple_Pack(5, PyTuple_GET_ITEM(made, 0),
                                             PyTuple_GET_ITEM(made, 1), stamp, text, number)
                              : NULL;
    Py_DECREF(made);
    Py_XDECREF(stamp);
    Py_XDECREF(text);
    Py_XDECREF(number);
    return result;
}

/* -- valid: `NewEvent.validate`'s common case ------------------------------------ */

/* valid(events, stream) -> bool: whether the stream is one `validate_stream`
 * passed before, and each event passes `NewEvent.validate`'s first test (a
 * known type and outcome, an `Actor` with its JSON, an int schema version of
 * at least 1, a dict of text keys and scalar values). False is no verdict:
 * the caller then runs `validate_stream` and `validate` on each event. */
static PyObject *
valid(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "valid takes (events, stream)");
        return NULL;
    }
    if (st.known_types == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "_speedups.configure was not called");
        return NULL;
    }
    int known = PyUnicode_CheckExact(args[1]) ? PySet_Contains(st.known_streams, args[1]) : 0;
    if (known < 0)
        return NULL;
    if (!known)
        Py_RETURN_FALSE;
    PyObject *events = PySequence_Fast(args[0], "events must be a sequence");
    if (events == NULL)
        return NULL;
    Py_ssize_t count = PySequence_Fast_GET_SIZE(events);
    PyObject **items = PySequence_Fast_ITEMS(events);
    int good = 1;
    for (Py_ssize_t i = 0; good && i < count; i++) {
        PyObject *event = items[i], *value = NULL, *json = NULL;
        good = 0;
        if ((value = PyObject_GetAttr(event, s_type)) == NULL)
            goto next;
        int in = PyUnicode_CheckExact(value) ? PySet_Contains(st.known_types, value) : 0;
        Py_CLEAR(value);
        if (in != 1 || (value = PyObject_GetAttr(event, s_outcome)) == NULL)
            goto next;
        in = PyUnicode_CheckExact(value) ? PySet_Contains(st.outcomes, value) : 0;
        Py_CLEAR(value);
        if (in != 1 || (value = PyObject_GetAttr(event, s_actor)) == NULL)
            goto next;
        if (Py_TYPE(value) != (PyTypeObject *)st.actor_type
            || (json = PyObject_GetAttr(value, s_json)) == NULL || json == Py_None)
            goto next;
        Py_CLEAR(value);
        if ((value = PyObject_GetAttr(event, s_schema_version)) == NULL
            || !PyLong_CheckExact(value))
            goto next;
        int overflow = 0;
        long long version = PyLong_AsLongLongAndOverflow(value, &overflow);
        if (overflow || version < 1)
            goto next;
        Py_CLEAR(value);
        if ((value = PyObject_GetAttr(event, s_payload)) == NULL || !PyDict_CheckExact(value))
            goto next;
        Py_ssize_t at = 0;
        PyObject *key, *item;
        good = 1;
        while (good && PyDict_Next(value, &at, &key, &item)) {
            good = PyUnicode_CheckExact(key)
                   && (PyUnicode_CheckExact(item) || PyLong_CheckExact(item)
                       || PyBool_Check(item) || item == Py_None);
        }
    next:
        Py_XDECREF(value);
        Py_XDECREF(json);
        if (PyErr_Occurred()) {
            Py_DECREF(events);
            return NULL;
        }
    }
    Py_DECREF(events);
    return PyBool_FromLong(good);
}

/* -- run_check: the text checks of `ra.events.verify`'s scan ----------------------- */

/* run_check(rows, i, j, stream, version) -> (stop, bad)
 * For verify's rows (seq, body, span_stream, span_last, span_leaves) i..j-1,
 * all in one span of `stream` whose row i has stream version `version`:
 * `stop` is the first row after i that starts a span of its own (else j),
 * and `bad` the indexes of rows i..stop-1 whose body does not hold, at its
 * last ',"seq":', the text `,"seq":SEQ,"stream":"STREAM","stream_version":V,"type":"`.
 * No hashing: verify hashes with hashlib. None for what is not plain (the
 * Python loop then checks those rows). */
static PyObject *
run_check(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 5 || !PyList_CheckExact(args[0]) || !PyBytes_Check(args[3])) {
        PyErr_SetString(PyExc_TypeError, "run_check takes (list, i, j, bytes, version)");
        return NULL;
    }
    PyObject *rows = args[0];
    Py_ssize_t i = PyLong_AsSsize_t(args[1]), j = PyLong_AsSsize_t(args[2]);
    long long version = PyLong_AsLongLong(args[4]);
    if (PyErr_Occurred())
        return decline_or_fail();
    if (i < 0 || j > PyList_GET_SIZE(rows) || i >= j)
        Py_RETURN_NONE;
    const char *stream = PyBytes_AS_STRING(args[3]);
    Py_ssize_t stream_n = PyBytes_GET_SIZE(args[3]);
    Py_ssize_t stop = j;
    for (Py_ssize_t k = i; k < j; k++) {
        PyObject *row = PyList_GET_ITEM(rows, k);
        if (!PyTuple_CheckExact(row) || PyTuple_GET_SIZE(row) != 5
            || !PyLong_CheckExact(PyTuple_GET_ITEM(row, 0))
            || !PyBytes_CheckExact(PyTuple_GET_ITEM(row, 1)))
            Py_RETURN_NONE;
        if (k > i && PyTuple_GET_ITEM(row, 3) != Py_None) {
            stop = k;
            break;
        }
    }
    PyObject *bad = PyList_New(0);
    if (bad == NULL)
        return NULL;
    static const char key[] = ",\"seq\":";
    const Py_ssize_t key_n = sizeof key - 1;
    for (Py_ssize_t k = i; k < stop; k++, version++) {
        PyObject *row = PyList_GET_ITEM(rows, k);
        long long seq = PyLong_AsLongLong(PyTuple_GET_ITEM(row, 0));
        if (seq == -1 && PyErr_Occurred()) {
            Py_DECREF(bad);
            return decline_or_fail();
        }
        PyObject *body_obj = PyTuple_GET_ITEM(row, 1);
        const char *body = PyBytes_AS_STRING(body_obj);
        Py_ssize_t body_n = PyBytes_GET_SIZE(body_obj);
        /* the last ',"seq":' (rfind), then the expected text from there */
        Py_ssize_t at = body_n - key_n;
        while (at >= 0 && memcmp(body + at, key, (size_t)key_n) != 0)
            at--;
        int ok = 0;
        if (at >= 0) {
            char expected[96];
            char *p = expected;
            memcpy(p, key, (size_t)key_n);
            p += key_n;
            p += fmt_decimal(p, seq);
            static const char mid[] = ",\"stream\":\"";
            memcpy(p, mid, sizeof mid - 1);
            p += sizeof mid - 1;
            Py_ssize_t head = p - expected;
            static const char after[] = "\",\"stream_version\":";
            char rest[64];
            char *q = rest;
            memcpy(q, after, sizeof after - 1);
            q += sizeof after - 1;
            q += fmt_decimal(q, version);
            static const char type[] = ",\"type\":\"";
            memcpy(q, type, sizeof type - 1);
            q += sizeof type - 1;
            Py_ssize_t rest_n = q - rest;
            ok = at + head + stream_n + rest_n <= body_n
                 && memcmp(body + at, expected, (size_t)head) == 0
                 && memcmp(body + at + head, stream, (size_t)stream_n) == 0
                 && memcmp(body + at + head + stream_n, rest, (size_t)rest_n) == 0;
        }
        if (!ok) {
            PyObject *index = PyLong_FromSsize_t(k);
            if (index == NULL || PyList_Append(bad, index) < 0) {
                Py_XDECREF(index);
                Py_DECREF(bad);
                return NULL;
            }
            Py_DECREF(index);
        }
    }
    PyObject *stop_obj = PyLong_FromSsize_t(stop);
    if (stop_obj == NULL) {
        Py_DECREF(bad);
        return NULL;
    }
    PyObject *pair = PyTuple_Pack(2, stop_obj, bad);
    Py_DECREF(stop_obj);
    Py_DECREF(bad);
    return pair;
}

/* -- extend: `ra.events.merkle.Frontier.extend` ----------------------------------- */

/* extend(stack, size, hashes) -> size or None
 * None, changing nothing, unless every hash is a bytes object of 32 (the
 * Python loop then takes them, or names the one that is wrong); else each is
 * appended like adding one to a binary counter, merging equal subtrees with
 * SHA-256(0x01 || left || right).
 */
static PyObject *
extend(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 3 || !PyList_CheckExact(args[0])) {
        PyErr_SetString(PyExc_TypeError, "extend takes (list, size, hashes)");
        return NULL;
    }
    PyObject *stack = args[0];
    unsigned long long size = PyLong_AsUnsignedLongLong(args[1]);
    if (size == (unsigned long long)-1 && PyErr_Occurred())
        return NULL;
    PyObject *hashes = PySequence_Fast(args[2], "hashes must be a sequence");
    if (hashes == NULL)
        return NULL;
    Py_ssize_t count = PySequence_Fast_GET_SIZE(hashes);
    PyObject **items = PySequence_Fast_ITEMS(hashes);
    for (Py_ssize_t i = 0; i < count; i++) {
        if (!PyBytes_CheckExact(items[i]) || PyBytes_GET_SIZE(items[i]) != HASH_SIZE) {
            Py_DECREF(hashes); /* the Python loop names it, or takes it */
            Py_RETURN_NONE;
        }
    }
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *node = Py_NewRef(items[i]);
        for (unsigned long long carry = size; carry & 1; carry >>= 1) {
            Py_ssize_t top = PyList_GET_SIZE(stack);
            if (top == 0) {
                PyErr_SetString(PyExc_ValueError, "the frontier is shorter than its size");
                goto fail;
            }
            PyObject *left = PyList_GET_ITEM(stack, top - 1);
            if (!PyBytes_Check(left) || PyBytes_GET_SIZE(left) != HASH_SIZE) {
                PyErr_SetString(PyExc_ValueError, "the frontier holds a hash that is not 32 bytes");
                goto fail;
            }
            unsigned char pair[1 + 2 * HASH_SIZE], parent[HASH_SIZE];
            pair[0] = 1;
            memcpy(pair + 1, PyBytes_AS_STRING(left), HASH_SIZE);
            memcpy(pair + 1 + HASH_SIZE, PyBytes_AS_STRING(node), HASH_SIZE);
            sha256(pair, sizeof pair, parent);
            PyObject *made = PyBytes_FromStringAndSize((const char *)parent, HASH_SIZE);
            if (made == NULL || PyList_SetSlice(stack, top - 1, top, NULL) < 0) {
                Py_XDECREF(made);
                goto fail;
            }
            Py_SETREF(node, made);
        }
        if (PyList_Append(stack, node) < 0)
            goto fail;
        Py_DECREF(node);
        size++;
        continue;
    fail:
        Py_DECREF(node);
        Py_DECREF(hashes);
        return NULL;
    }
    Py_DECREF(hashes);
    return PyLong_FromUnsignedLongLong(size);
}

static PyMethodDef methods[] = {
    {"configure", configure, METH_VARARGS,
     "configure(orjson_dumps, default, option, encode_error, json_str, known_types, "
     "known_streams, outcomes, actor_type)"},
    {"valid", (PyCFunction)(void (*)(void))valid, METH_FASTCALL,
     "valid(events, stream) -> bool"},
    {"stamp_now", stamp_now, METH_NOARGS, "stamp_now() -> (text, unix ms)"},
    {"uuid7_run", (PyCFunction)(void (*)(void))uuid7_run, METH_FASTCALL,
     "uuid7_run(count, now_ms=None, drawn=None) -> (prefix, low)"},
    {"uuid7_forget", uuid7_forget, METH_NOARGS, "forget the last UUIDv7 (for the tests)"},
    {"encode_now", (PyCFunction)(void (*)(void))encode_now, METH_FASTCALL,
     "encode_now(events, first_seq, first_version, stream, own_origin) "
     "-> (rows, leaves, occurred_at, id_prefix, low) or None"},
    {"encode", (PyCFunction)(void (*)(void))encode, METH_FASTCALL,
     "encode(events, first_seq, first_version, stream, occurred_at, own_origin, "
     "id_prefix, low) -> (rows, leaves) or None"},
    {"extend", (PyCFunction)(void (*)(void))extend, METH_FASTCALL,
     "extend(stack, size, hashes) -> size or None"},
    {"run_check", (PyCFunction)(void (*)(void))run_check, METH_FASTCALL,
     "run_check(rows, i, j, stream, version) -> (stop, bad) or None"},
    {"sha256", (PyCFunction)(void (*)(void))sha256_py, METH_FASTCALL,
     "sha256(data, portable=False) -> 32 bytes"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "ra.events._speedups",
    "The append path's inner loops in C (optional; see ra.events.speedups).", -1, methods,
};

PyMODINIT_FUNC
PyInit__speedups(void)
{
    struct { PyObject **slot; const char *name; } names[] = {
        {&s_actor, "actor"}, {&s_json, "json"}, {&s_origin, "origin"},
        {&s_outcome, "outcome"}, {&s_payload, "payload"},
        {&s_schema_version, "schema_version"}, {&s_type, "type"},
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (*names[i].slot == NULL
            && (*names[i].slot = PyUnicode_InternFromString(names[i].name)) == NULL)
            return NULL;
    }
#ifdef HAVE_SHA_NI_CODE
    if (cpu_has_sha_ni())
        sha256_blocks = sha256_blocks_ni;
#endif
    static int at_fork = 0;
    if (!at_fork) {
        if (pthread_atfork(NULL, NULL, forget_entropy) != 0) {
            PyErr_SetString(PyExc_OSError, "pthread_atfork failed");
            return NULL;
        }
        at_fork = 1;
    }
    PyObject *made = PyModule_Create(&module);
    if (made != NULL
        && PyModule_AddStringConstant(made, "SHA256_BLOCKS",
                                      sha256_blocks == sha256_blocks_portable ? "portable"
                                                                              : "sha-ni") < 0) {
        Py_DECREF(made);
        return NULL;
    }
    return made;
}
