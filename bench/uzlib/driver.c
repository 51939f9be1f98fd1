/* Compress a file the way MicroPython's deflate.DeflateIO(stream, GZIP, wbits).write does
 * (extmod/moddeflate.c): uzlib's LZ77 over a 2**wbits window, fixed Huffman codes, the
 * input fed 4096 bytes at a time (the RS-Core uploader's buffer), a gzip header and
 * trailer. Built by bench/bench_uzlib.py against a MicroPython checkout's lib/uzlib;
 * with -DCOUNT it counts the byte comparisons of the window search (the work that an
 * ESP32 spends its cycles on).
 *
 *   driver IN WBITS OUT.gz  ->  "in=N out=N seconds=S"  or, counting, "in=N out=N cmps=N"
 */
#define _POSIX_C_SOURCE 199309L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "uzlib.h"
#ifdef COUNT
unsigned long long rs_comparisons;
#endif
#include "lz77.c"
#include "crc32.c"

#define CHUNK_BYTES 4096

typedef struct {
    uint8_t *bytes;
    size_t len, cap;
} sink_t;

static void sink_byte(void *data, uint8_t b) {
    sink_t *s = data;
    if (s->len == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 1 << 16;
        s->bytes = realloc(s->bytes, s->cap);
        if (!s->bytes) {
            perror("realloc");
            exit(1);
        }
    }
    s->bytes[s->len++] = b;
}

static void sink_le32(sink_t *s, uint32_t v) {
    for (int i = 0; i < 4; i++) sink_byte(s, (uint8_t)(v >> (8 * i)));
}

static void gzip_stream(const uint8_t *in, size_t n, int wbits, sink_t *out) {
    static const uint8_t header[10] = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 4, 3};
    size_t window_bytes = (size_t)1 << wbits;
    uint8_t *window = malloc(window_bytes);
    uzlib_lz77_state_t lz;
    uint32_t crc = ~0u;
    out->len = 0;
    for (int i = 0; i < 10; i++) sink_byte(out, header[i]);
    uzlib_lz77_init(&lz, window, window_bytes);
    lz.dest_write_data = out;
    lz.dest_write_cb = sink_byte;
    uzlib_start_block(&lz);
    for (size_t at = 0; at < n; at += CHUNK_BYTES) {
        unsigned len = (unsigned)(n - at < CHUNK_BYTES ? n - at : CHUNK_BYTES);
        crc = uzlib_crc32(in + at, len, crc);
        uzlib_lz77_compress(&lz, in + at, len);
    }
    uzlib_finish_block(&lz);
    sink_le32(out, ~crc);
    sink_le32(out, (uint32_t)n);
    free(window);
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: %s IN WBITS OUT.gz\n", argv[0]);
        return 2;
    }
    FILE *f = fopen(argv[1], "rb");
    if (!f) {
        perror(argv[1]);
        return 1;
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *in = malloc(n ? n : 1);
    if (fread(in, 1, n, f) != (size_t)n) {
        perror("read");
        return 1;
    }
    fclose(f);
    int wbits = atoi(argv[2]);
    sink_t out = {0};
    double best_s = 1e9;
    for (int run = 0; run < 3; run++) { /* best of 3 */
        struct timespec a, b;
        clock_gettime(CLOCK_MONOTONIC, &a);
        gzip_stream(in, n, wbits, &out);
        clock_gettime(CLOCK_MONOTONIC, &b);
        double s = (b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) * 1e-9;
        if (s < best_s) best_s = s;
    }
    FILE *g = fopen(argv[3], "wb");
    fwrite(out.bytes, 1, out.len, g);
    fclose(g);
#ifdef COUNT
    printf("in=%ld out=%zu cmps=%llu\n", n, out.len, rs_comparisons / 3);
#else
    printf("in=%ld out=%zu seconds=%.6f\n", n, out.len, best_s);
#endif
    return 0;
}
