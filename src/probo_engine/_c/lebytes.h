/* Little-endian loads and stores for the snapshot format, whatever the host.
 *
 * probo_put/probo_get: n bytes, one at a time (headers).  probo_st/ld: fixed
 * widths through memcpy, one move on a little-endian host, byte shuffles
 * elsewhere (records).
 */
#ifndef PROBO_LEBYTES_H
#define PROBO_LEBYTES_H

#include <string.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define PROBO_LE 1
#else
#define PROBO_LE 0
#endif

static inline void probo_put(unsigned char *p, unsigned long long v, int n) {
    for (int i = 0; i < n; i++) {
        p[i] = (unsigned char)(v >> (8 * i));
    }
}

static inline unsigned long long probo_get(const unsigned char *p, int n) {
    unsigned long long v = 0;
    for (int i = 0; i < n; i++) {
        v |= (unsigned long long)p[i] << (8 * i);
    }
    return v;
}

static inline void probo_st64(unsigned char *p, unsigned long long v) {
    if (PROBO_LE)
        memcpy(p, &v, 8);
    else
        probo_put(p, v, 8);
}

static inline void probo_st32(unsigned char *p, unsigned int v) {
    if (PROBO_LE)
        memcpy(p, &v, 4);
    else
        probo_put(p, v, 4);
}

static inline unsigned long long probo_ld64(const unsigned char *p) {
    unsigned long long v;
    if (PROBO_LE) {
        memcpy(&v, p, 8);
        return v;
    }
    return probo_get(p, 8);
}

static inline unsigned int probo_ld32(const unsigned char *p) {
    unsigned int v;
    if (PROBO_LE) {
        memcpy(&v, p, 4);
        return v;
    }
    return (unsigned int)probo_get(p, 4);
}

#endif /* PROBO_LEBYTES_H */
