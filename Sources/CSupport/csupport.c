#define _GNU_SOURCE
#include "csupport.h"

#include <cpuid.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sched.h>
#include <spawn.h>
#include <string.h>
#include <linux/userfaultfd.h>
#include <sys/ioctl.h>
#include <sys/auxv.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <unistd.h>

int cr_spawn_actions_close_from(posix_spawn_file_actions_t *actions, int from)
{
    return posix_spawn_file_actions_addclosefrom_np(actions, from);
}

long cr_ptrace(long request, pid_t pid, uint64_t addr, uint64_t data)
{
    return syscall(SYS_ptrace, request, pid, (void *)addr, (void *)data);
}

long cr_syscall6(long nr, uint64_t a1, uint64_t a2, uint64_t a3,
                 uint64_t a4, uint64_t a5, uint64_t a6)
{
    return syscall(nr, a1, a2, a3, a4, a5, a6);
}

pid_t cr_spawn_gated(const pid_t *tids, size_t ntids, uint64_t flags, const char *path,
                     char *const argv[], char *const envp[], int gate_fd, int keep_fd)
{
    cr_clone_args args;
    memset(&args, 0, sizeof(args));
    args.flags = flags;
    args.exit_signal = SIGCHLD;
    if (ntids > 0) {
        args.set_tid = (uint64_t)(uintptr_t)tids;
        args.set_tid_size = ntids;
    }
    long r = syscall(SYS_clone3, &args, sizeof(args));
    if (r != 0)
        return (pid_t)r;

    /* Child: raw system calls only, the parent may be multi-threaded. */
    char byte;
    long n;
    do {
        n = syscall(SYS_read, gate_fd, &byte, 1);
    } while (n < 0 && errno == EINTR);
    if (n != 1)
        syscall(SYS_exit_group, 126);
    uint64_t empty = 0;
    syscall(SYS_rt_sigprocmask, SIG_SETMASK, &empty, NULL, 8);
    int first_closed = 3;
    if (keep_fd >= 0) {
        /* Kept across exec at 3: dup3 leaves the copy without O_CLOEXEC. */
        if (keep_fd != 3 && syscall(SYS_dup3, keep_fd, 3, 0) != 3)
            syscall(SYS_exit_group, 125);
        if (keep_fd == 3 && syscall(SYS_fcntl, 3, F_SETFD, 0) != 0)
            syscall(SYS_exit_group, 125);
        first_closed = 4;
    }
    syscall(SYS_close_range, first_closed, ~0U, 0);
    syscall(SYS_execve, path, argv, envp);
    syscall(SYS_exit_group, 127);
    return -1;
}

ssize_t cr_process_vm_readv(pid_t pid, const struct iovec *local, unsigned long nlocal,
                            const struct iovec *remote, unsigned long nremote)
{
    return syscall(SYS_process_vm_readv, pid, local, nlocal, remote, nremote, 0UL);
}

ssize_t cr_process_vm_writev(pid_t pid, const struct iovec *local, unsigned long nlocal,
                             const struct iovec *remote, unsigned long nremote)
{
    return syscall(SYS_process_vm_writev, pid, local, nlocal, remote, nremote, 0UL);
}

int cr_uffd_api(int uffd) {
    struct uffdio_api api = { .api = UFFD_API, .features = 0 };
    return ioctl(uffd, UFFDIO_API, &api) == 0 ? 0 : -errno;
}

int cr_uffd_register_missing(int uffd, uint64_t start, uint64_t len) {
    struct uffdio_register reg = { .range = { .start = start, .len = len }, .mode = UFFDIO_REGISTER_MODE_MISSING };
    return ioctl(uffd, UFFDIO_REGISTER, &reg) == 0 ? 0 : -errno;
}

int cr_uffd_unregister(int uffd, uint64_t start, uint64_t len) {
    struct uffdio_range range = { .start = start, .len = len };
    return ioctl(uffd, UFFDIO_UNREGISTER, &range) == 0 ? 0 : -errno;
}

int cr_uffd_copy(int uffd, uint64_t dst, const void *src, uint64_t len, int64_t *copied) {
    /* Nothing waits on these pages (the process is stopped), so no wake. */
    struct uffdio_copy copy = { .dst = dst, .src = (uint64_t)(uintptr_t)src, .len = len, .mode = UFFDIO_COPY_MODE_DONTWAKE };
    int r = ioctl(uffd, UFFDIO_COPY, &copy);
    int err = errno;
    *copied = copy.copy > 0 ? copy.copy : 0;
    return r == 0 ? 0 : -err;
}

/* Not in every libc's kernel headers yet (Linux 6.7). */
#define CR_UFFD_FEATURE_WP_UNPOPULATED (1ull << 13)
#define CR_UFFD_FEATURE_WP_ASYNC (1ull << 15)

int cr_uffd_api_write_tracking(int uffd) {
    /* WP_UNPOPULATED: a page faulted in after the arming counts as
     * written too, so nothing escapes by not being there yet. */
    struct uffdio_api api = { .api = UFFD_API, .features = CR_UFFD_FEATURE_WP_ASYNC | CR_UFFD_FEATURE_WP_UNPOPULATED };
    return ioctl(uffd, UFFDIO_API, &api) == 0 ? 0 : -errno;
}

int cr_uffd_register_wp(int uffd, uint64_t start, uint64_t len) {
    struct uffdio_register reg = { .range = { .start = start, .len = len }, .mode = UFFDIO_REGISTER_MODE_WP };
    return ioctl(uffd, UFFDIO_REGISTER, &reg) == 0 ? 0 : -errno;
}

int cr_uffd_writeprotect(int uffd, uint64_t start, uint64_t len) {
    struct uffdio_writeprotect wp = { .range = { .start = start, .len = len }, .mode = UFFDIO_WRITEPROTECT_MODE_WP };
    return ioctl(uffd, UFFDIO_WRITEPROTECT, &wp) == 0 ? 0 : -errno;
}

int cr_hugetlb_present(uint64_t base, uint64_t len, uint64_t huge_size, uint8_t *present) {
    if (huge_size == 0 || len % huge_size != 0 || base % huge_size != 0)
        return -EINVAL;
    int uffd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
    if (uffd < 0)
        return -errno;
    struct uffdio_api api = { .api = UFFD_API, .features = UFFD_FEATURE_SIGBUS | UFFD_FEATURE_MISSING_HUGETLBFS };
    int result = ioctl(uffd, UFFDIO_API, &api) == 0 ? cr_uffd_register_missing(uffd, base, len) : -errno;
    if (result == 0) {
        for (uint64_t i = 0; i < len / huge_size; i++) {
            if (madvise((void *)(uintptr_t)(base + i * huge_size), huge_size, 22 /* MADV_POPULATE_READ */) == 0) {
                present[i] = 1;
            } else if (errno == EFAULT) {
                present[i] = 0;
            } else {
                result = -errno;
                break;
            }
        }
        cr_uffd_unregister(uffd, base, len);
    }
    close(uffd);
    return result;
}

struct cr_pm_scan_arg {
    uint64_t size, flags, start, end, walk_end, vec, vec_len, max_pages;
    uint64_t category_inverted, category_mask, category_anyof_mask, return_mask;
};
#define CR_PAGEMAP_SCAN _IOWR('f', 16, struct cr_pm_scan_arg)

static long cr_pagemap_scan(int pagemap_fd, uint64_t flags, uint64_t start, uint64_t end, uint64_t inverted, uint64_t mask,
                            uint64_t returned, cr_page_region *regions, uint64_t capacity, uint64_t *walk_end) {
    struct cr_pm_scan_arg arg = {
        .size = sizeof arg, .flags = flags, .start = start, .end = end,
        .vec = (uint64_t)(uintptr_t)regions, .vec_len = capacity,
        .category_inverted = inverted, .category_mask = mask, .return_mask = returned,
    };
    long r = ioctl(pagemap_fd, CR_PAGEMAP_SCAN, &arg);
    *walk_end = arg.walk_end;
    return r < 0 ? -errno : r;
}

long cr_pagemap_unwritten(int pagemap_fd, uint64_t start, uint64_t end, cr_page_region *regions, uint64_t capacity, uint64_t *walk_end) {
    /* A mapping without asynchronous write protection is no answer
     * (EPERM): its marks, if any, are not a tracker's. Present, and
     * neither written nor the zero page. */
    return cr_pagemap_scan(pagemap_fd, 2 /* PM_SCAN_CHECK_WPASYNC */, start, end,
                           CR_PAGE_IS_WRITTEN | CR_PAGE_IS_PFNZERO,
                           CR_PAGE_IS_PRESENT | CR_PAGE_IS_WRITTEN | CR_PAGE_IS_PFNZERO,
                           CR_PAGE_IS_PRESENT, regions, capacity, walk_end);
}

long cr_pagemap_huge(int pagemap_fd, uint64_t start, uint64_t end, cr_page_region *regions, uint64_t capacity, uint64_t *walk_end) {
    return cr_pagemap_scan(pagemap_fd, 0, start, end, 0, CR_PAGE_IS_PRESENT | CR_PAGE_IS_HUGE, CR_PAGE_IS_HUGE,
                           regions, capacity, walk_end);
}

long cr_fs_magic(const char *path)
{
    struct statfs s;
    if (statfs(path, &s) != 0)
        return -1;
    return (long)s.f_type;
}

long cr_fd_fs_magic(int fd, uint64_t *block_size)
{
    struct statfs s;
    if (fstatfs(fd, &s) != 0)
        return -1;
    *block_size = (uint64_t)s.f_bsize;
    return (long)s.f_type;
}

int cr_reap_if_exited(pid_t tid)
{
    siginfo_t info;
    memset(&info, 0, sizeof info);
    if (waitid(P_PID, (id_t)tid, &info, WEXITED | WNOHANG | WNOWAIT | __WALL) != 0 || info.si_pid != tid)
        return 0;
    if (info.si_code != CLD_EXITED && info.si_code != CLD_KILLED && info.si_code != CLD_DUMPED)
        return 0;
    int status;
    return waitpid(tid, &status, WNOHANG | __WALL) == tid;
}

uint64_t cr_user_xfeatures(void) {
#if defined(__x86_64__)
    unsigned int eax, ebx, ecx, edx;
    /* CPUID.1:ECX bit 27, OSXSAVE: the kernel set CR4.OSXSAVE, so xgetbv
     * may run. */
    if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx) || !(ecx & (1u << 27))) return 0;
    unsigned int low, high;
    __asm__ volatile("xgetbv" : "=a"(low), "=d"(high) : "c"(0));
    return ((uint64_t)high << 32) | low;
#else
    return 0;
#endif
}

uint32_t cr_xsave_area_size(void) {
#if defined(__x86_64__)
    unsigned int eax, ebx, ecx, edx;
    if (cr_user_xfeatures() == 0 || !__get_cpuid_count(0xd, 0, &eax, &ebx, &ecx, &edx)) return 0;
    return ebx;
#else
    return 0;
#endif
}

uint64_t cr_vdso_base(void) {
    return getauxval(AT_SYSINFO_EHDR);
}

static volatile sig_atomic_t interruption;

static void record_interruption(int sig)
{
    if (!interruption) interruption = sig;
}

void cr_catch_interruptions(int on)
{
    static const int signals[] = { SIGINT, SIGTERM, SIGHUP };
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = on ? record_interruption : SIG_DFL;
    action.sa_flags = on ? (SA_RESTART | SA_RESETHAND) : 0;
    sigemptyset(&action.sa_mask);
    for (unsigned i = 0; i < sizeof signals / sizeof signals[0]; i++) sigaction(signals[i], &action, NULL);
}

int cr_interruption(void)
{
    return interruption;
}

long cr_find_bytes(const void *haystack, size_t haystack_size, const void *needle, size_t needle_size)
{
    const char *found = memmem(haystack, haystack_size, needle, needle_size);
    return found ? (long)(found - (const char *)haystack) : -1;
}
