/* A disk with a slow flush, for measuring what the journal does when fsync takes as long
 * as on a network-attached cloud volume (about 1-2 ms) rather than this machine's local
 * disk (0.2-0.5 ms). Preloaded, it makes every fsync and fdatasync of the process return
 * SYNC_DELAY_US microseconds (default 2000) after the real call.
 *
 *   cc -shared -fPIC -O2 -o /tmp/slow-fsync.so bench/tools/slow-fsync.c -ldl
 *   LD_PRELOAD=/tmp/slow-fsync.so SYNC_DELAY_US=1000 .build/release/tickwire serve ...
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
#include <unistd.h>

static useconds_t delay(void) {
    static long value = -1;
    if (value < 0) {
        const char *text = getenv("SYNC_DELAY_US");
        value = text ? atol(text) : 2000;
    }
    return (useconds_t)value;
}

/* The real call, then the delay. */
#define DELAYED(name)                                                 \
    int name(int fd) {                                                \
        static int (*real)(int);                                      \
        if (!real) real = (int (*)(int))dlsym(RTLD_NEXT, #name);      \
        int result = real(fd);                                        \
        usleep(delay());                                              \
        return result;                                                \
    }

DELAYED(fdatasync)
DELAYED(fsync)
