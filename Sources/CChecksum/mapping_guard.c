// Reading a file through a mapping raises SIGBUS, not an error return,
// when the page is gone: the file was truncated under the mapping, or the
// device failed to read it in. A checksum over a mapped image file runs
// under this guard, so that such a file is reported like a failed read
// instead of ending crtool.
//
// The guard is per thread: a SIGBUS whose address lies in the range the
// faulting thread is reading jumps back out of the checksum; any other
// SIGBUS goes to whatever handled it before (the Swift runtime's crash
// report, or the default action).

#define _GNU_SOURCE
#include "cchecksum.h"

#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <string.h>

static __thread sigjmp_buf *guard_jump;
static __thread const char *guard_start;
static __thread const char *guard_end;

static struct sigaction previous_action;
static pthread_once_t install_once = PTHREAD_ONCE_INIT;
static int install_error;

static void on_bus_error(int sig, siginfo_t *info, void *context) {
    const char *address = info->si_addr;
    if (guard_jump && info->si_code > 0 && address >= guard_start && address < guard_end) {
        siglongjmp(*guard_jump, 1);
    }
    if (previous_action.sa_flags & SA_SIGINFO) {
        if (previous_action.sa_sigaction) {
            previous_action.sa_sigaction(sig, info, context);
            return;
        }
    } else if (previous_action.sa_handler != SIG_DFL && previous_action.sa_handler != SIG_IGN) {
        previous_action.sa_handler(sig);
        return;
    }
    // The default action: put it back, and let the fault happen again
    // (or the signal come again, when it was sent rather than raised).
    signal(SIGBUS, SIG_DFL);
    if (info->si_code <= 0) raise(SIGBUS);
}

static void install(void) {
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_sigaction = on_bus_error;
    action.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&action.sa_mask);
    if (sigaction(SIGBUS, &action, &previous_action) != 0) install_error = errno;
}

int cr_crc32_guarded(cr_crc32_function function, uint32_t crc, const void *data, size_t len, uint32_t *result) {
    pthread_once(&install_once, install);
    if (install_error) return -install_error;
    sigjmp_buf jump;
    if (sigsetjmp(jump, 1)) {
        guard_jump = NULL;
        return -EFAULT;
    }
    guard_start = data;
    guard_end = (const char *)data + len;
    guard_jump = &jump;
    uint32_t value = function(crc, data, len);
    guard_jump = NULL;
    *result = value;
    return 0;
}
