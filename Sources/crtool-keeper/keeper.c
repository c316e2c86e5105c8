/*
 * Keeps open, from a dump to its restore, the files a dumped tree shared
 * with processes outside it (crtool dump --hold-external): the write end
 * of a pipe another program reads, a unix connection to a server outside
 * the tree. While a descriptor of such a file stays open somewhere, the
 * program on the other side sees no end of file and no hang-up; the
 * restore takes each file back from here (pidfd_getfd) and then ends this
 * process.
 *
 * crtool talks to it over a seqpacket socket on fd 0:
 *   "H" with one descriptor (SCM_RIGHTS): keep it; the answer is the
 *       number it has here (4 bytes, native order).
 *   "W" with a pidfd: a process whose memory the held files track (a
 *       pre-dump's write trackers); "W" alone: one that has ended
 *       already. The answer is "W".
 *   "C": the image is complete; the answer is "C", then this process
 *       stays until it is killed, or, when it was given pidfds, until
 *       every one of those processes has ended: a tracker of a process
 *       that is gone tracks nothing, and nobody would end this keeper.
 * An end of the socket before "C" means the dump failed: everything is
 * let go at once.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

static int receive(int control, char *what, int *fd)
{
    char data[16];
    union {
        char buffer[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } space;
    struct iovec iov = { .iov_base = data, .iov_len = sizeof data };
    struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1,
                          .msg_control = space.buffer, .msg_controllen = sizeof space.buffer };
    ssize_t n;
    do {
        n = recvmsg(control, &msg, 0);
    } while (n < 0 && errno == EINTR);
    if (n <= 0)
        return -1;
    *what = data[0];
    *fd = -1;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c))
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS && c->cmsg_len == CMSG_LEN(sizeof(int)))
            memcpy(fd, CMSG_DATA(c), sizeof(int));
    return 0;
}

/* Returns once every process in `watched` has ended. */
static void wait_for_all(struct pollfd *watched, int count)
{
    while (count > 0) {
        if (poll(watched, count, -1) < 0) {
            if (errno == EINTR)
                continue;
            return;
        }
        for (int i = 0; i < count;) {
            if (watched[i].revents) {
                close(watched[i].fd);
                watched[i] = watched[--count];
            } else {
                i++;
            }
        }
    }
}

int main(void)
{
    const int control = 0;
    setsid();
    signal(SIGHUP, SIG_IGN);
    signal(SIGINT, SIG_IGN);
    signal(SIGPIPE, SIG_IGN);
    if (chdir("/") != 0)
        return 1;
    struct rlimit files;
    if (getrlimit(RLIMIT_NOFILE, &files) == 0) {
        files.rlim_cur = files.rlim_max;
        setrlimit(RLIMIT_NOFILE, &files);
    }
    struct pollfd *watched = NULL;
    int count = 0, watching = 0;
    for (;;) {
        char what;
        int fd;
        if (receive(control, &what, &fd) != 0)
            return 0;
        if (what == 'H' && fd >= 0) {
            if (send(control, &fd, sizeof fd, 0) != sizeof fd)
                return 0;
        } else if (what == 'W') {
            watching = 1;
            if (fd >= 0) {
                struct pollfd *grown = realloc(watched, (size_t)(count + 1) * sizeof *watched);
                if (!grown)
                    return 1;
                watched = grown;
                watched[count++] = (struct pollfd){ .fd = fd, .events = POLLIN };
            }
            if (send(control, "W", 1, 0) != 1)
                return 0;
        } else if (what == 'C') {
            if (send(control, "C", 1, 0) != 1)
                return 0;
            close(control);
            if (watching) {
                wait_for_all(watched, count);
                return 0;
            }
            for (;;)
                pause();
        } else {
            return 1;
        }
    }
}
