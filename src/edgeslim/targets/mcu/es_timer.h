/* SysTick-based tick counter for QEMU instruction counts (part of edgeslim; not generated).
 * With qemu -icount shift=0 every instruction takes 1 ns of virtual time, so
 * instructions = ticks * 1e9 / SysTick clock. Reads are fenced with compiler barriers so that
 * the measured work is not moved across them. */
#ifndef ES_TIMER_H
#define ES_TIMER_H

#include <stdint.h>

extern volatile uint32_t es_systick_wraps;

#define ES_SYST_CSR (*(volatile uint32_t *)0xE000E010u)
#define ES_SYST_RVR (*(volatile uint32_t *)0xE000E014u)
#define ES_SYST_CVR (*(volatile uint32_t *)0xE000E018u)
#define ES_BARRIER() __asm volatile("" ::: "memory")

static inline void es_timer_start(void)
{
    ES_SYST_RVR = 0xFFFFFFu;
    ES_SYST_CVR = 0u;
    es_systick_wraps = 0u;
    ES_SYST_CSR = 7u; /* enable, interrupt on wrap, processor clock */
    while (ES_SYST_CVR == 0u) {
    }
}

/* Ticks elapsed since es_timer_start (the counter counts down from 0xFFFFFF). */
static inline uint64_t es_timer_ticks(void)
{
    uint32_t wraps, cvr;
    ES_BARRIER();
    do {
        wraps = es_systick_wraps;
        cvr = ES_SYST_CVR;
    } while (wraps != es_systick_wraps);
    ES_BARRIER();
    return (uint64_t)wraps * 0x1000000u + (0xFFFFFFu - cvr);
}

#endif
