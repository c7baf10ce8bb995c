/*
 * screenrec patch (see vendor/openh264-sys2/README.md): large buffers on their own pages.
 *
 * OpenH264 allocates every buffer with malloc and zeroes most of them with memset, which makes
 * every page of them resident whether the encoder ever uses it or not. A buffer of at least
 * SCREENREC_LAZY_PAGES_MIN bytes gets its own anonymous mapping instead: its pages read as zero
 * (so the memset is not needed) and become resident only when first written. A buffer that is
 * never used (the down-sampler's, for one spatial layer) or used only in part (the screen-content
 * block-feature storage of a picture that never becomes a motion reference) then costs address
 * space, not memory. The contents the encoder sees are the same (zero, or written before read),
 * so the bitstream is unchanged.
 *
 * ScreenrecAlloc returns the start of n usable bytes and stores in *ppStored the value that
 * ScreenrecFree needs; a mapping is marked by bit 0 of that value (malloc never returns an odd
 * address) and keeps its length in its first 16 bytes.
 */
#ifndef SCREENREC_LAZY_PAGES_H
#define SCREENREC_LAZY_PAGES_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#if defined(__unix__) || defined(__APPLE__)
#include <sys/mman.h>
#define SCREENREC_LAZY_PAGES 1
#endif

/* Below 64 KiB a mapping's rounding to whole pages would cost more than it could save. */
#define SCREENREC_LAZY_PAGES_MIN (64 * 1024)
/* Bytes before the usable ones in a mapping: its length, rounded up to keep 16-byte alignment. */
#define SCREENREC_LAZY_PAGES_HEADER 16

static inline uint8_t* ScreenrecAlloc (size_t n, int bZero, void** ppStored) {
#ifdef SCREENREC_LAZY_PAGES
  if (n >= SCREENREC_LAZY_PAGES_MIN) {
    const size_t kLen = n + SCREENREC_LAZY_PAGES_HEADER;
    void* p = mmap (NULL, kLen, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p != MAP_FAILED) {
      * (size_t*) p = kLen;
      *ppStored = (void*) ((uintptr_t) p | 1);
      return (uint8_t*) p + SCREENREC_LAZY_PAGES_HEADER;
    }
    /* No mapping left: fall back to the heap. */
  }
#endif
  uint8_t* p = (uint8_t*) (bZero ? calloc (n, 1) : malloc (n));
  *ppStored = p;
  return p;
}

static inline void ScreenrecFree (void* pStored) {
#ifdef SCREENREC_LAZY_PAGES
  if ((uintptr_t) pStored & 1) {
    void* p = (void*) ((uintptr_t) pStored & ~ (uintptr_t) 1);
    munmap (p, * (size_t*) p);
    return;
  }
#endif
  free (pStored);
}

#endif /* SCREENREC_LAZY_PAGES_H */
