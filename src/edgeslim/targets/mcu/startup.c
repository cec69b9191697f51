/* Minimal Cortex-M start-up for QEMU runs (part of edgeslim; not generated).
 * Vector table, reset handler (copy .data, enable the FPU when the build uses one, call
 * newlib's _start, which clears .bss and calls main), and a SysTick handler that counts
 * counter wraps for es_timer.h. */
#include <stdint.h>

extern void _start(void);
extern uint32_t __stack_top, __etext, __data_start__, __data_end__;

volatile uint32_t es_systick_wraps = 0;

void Reset_Handler(void);
void Default_Handler(void);
void SysTick_Handler(void);

void Reset_Handler(void)
{
    uint32_t *src = &__etext;
    uint32_t *dst = &__data_start__;
#if defined(__ARM_FP)
    *(volatile uint32_t *)0xE000ED88u |= (0xFu << 20); /* CPACR: full access to CP10, CP11 */
    __asm volatile("dsb\n\tisb" ::: "memory");
#endif
    while (dst < &__data_end__) {
        *dst++ = *src++;
    }
    _start();
    for (;;) {
    }
}

void Default_Handler(void)
{
    for (;;) {
    }
}

void SysTick_Handler(void)
{
    es_systick_wraps++;
}

__attribute__((section(".isr_vector"), used)) const void *const es_vectors[16] = {
    &__stack_top,        (const void *)Reset_Handler,   (const void *)Default_Handler,
    (const void *)Default_Handler, (const void *)Default_Handler, (const void *)Default_Handler,
    (const void *)Default_Handler, 0, 0, 0, 0, (const void *)Default_Handler,
    (const void *)Default_Handler, 0, (const void *)Default_Handler,
    (const void *)SysTick_Handler,
};
