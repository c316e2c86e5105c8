/*
 * The process crtool restores into. It never runs: crtool starts it under
 * ptrace, holds it at the exec stop, and replaces its whole address space
 * by injected system calls before letting it go. It exists only so the new
 * process starts from a clean exec (no inherited handlers, no rseq
 * registration, no memory of crtool's).
 */
#include <unistd.h>

int main(void)
{
    for (;;)
        pause();
}
