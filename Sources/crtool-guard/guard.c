/*
 * Undoes what a dump holds on the host when crtool dies before it lets
 * it go itself (kill -9, the OOM killer). The kernel takes care of the
 * tracing: a tracer's death lets every tracee run on. It does not know
 * of what crtool changed outside the tree's threads, and would leave it:
 *   - the packets of the tree's connections dropped by crtool's nftables
 *     table (or a table in a network namespace of the tree's), so the
 *     connections of a tree that runs on hang for good;
 *   - those connections' sockets in TCP repair mode, where they send
 *     nothing;
 *   - a cgroup frozen while the tree is seized (dump --freeze-cgroup),
 *     so every task in it stays frozen.
 *
 * crtool tells it what to undo, and what it undid or handed on itself,
 * over a seqpacket socket on fd 0:
 *   "L<nft path>\0<table>"  at crtool's death, delete nftables table
 *                           inet <table>; with a network namespace
 *                           (SCM_RIGHTS), the table of that namespace
 *                           (one of the tree's, reached through a veth);
 *   "l<table>"              forget it;
 *   "R<inode: 8 bytes><SO_REUSEADDR: 4 bytes>" with a socket (SCM_RIGHTS)
 *                           at crtool's death, take the socket out of
 *                           repair mode, without a window probe, and set
 *                           SO_REUSEADDR back (leaving repair clears it);
 *   "r<inode: 8 bytes>"     forget it, and close the copy held here;
 *   "W<path>\0<text>"       at crtool's death, write text to path (a
 *                           cgroup's freezer state), replacing an earlier
 *                           "W" of the same path;
 *   "w<path>"               forget it;
 *   "S"                     answered with "S" once everything before it
 *                           is done: the copies of sockets forgotten are
 *                           closed, so a restore can make them again.
 * Numbers are little-endian, this machine's own order. Nothing else is
 * answered. An end of the socket
 * (crtool's exit, by any means) undoes what is still registered, in an
 * order that lets the tree run first and its packets flow last, and
 * ends this process.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef TCP_REPAIR
#define TCP_REPAIR 19
#endif
/* Out of repair mode without sending a window probe. */
#ifndef TCP_REPAIR_OFF_NO_WP
#define TCP_REPAIR_OFF_NO_WP (-1)
#endif

enum { message_size = 8192 };

struct entry {
    char kind;          /* 'L', 'R' or 'W' */
    char *key;          /* table, path; NULL for a socket */
    char *detail;       /* nft path, text to write */
    uint64_t inode;
    int32_t reuse;
    int fd;             /* the socket; the network namespace of a table, or -1 */
};

static struct entry *entries;
static size_t count;

static void drop(size_t i)
{
    if (entries[i].fd >= 0)
        close(entries[i].fd);
    free(entries[i].key);
    free(entries[i].detail);
    entries[i] = entries[--count];
}

static size_t find(char kind, const char *key, uint64_t inode)
{
    for (size_t i = 0; i < count; i++) {
        if (entries[i].kind != kind)
            continue;
        if (key ? strcmp(entries[i].key, key) == 0 : entries[i].inode == inode)
            return i;
    }
    return count;
}

static int add(struct entry e)
{
    size_t old = find(e.kind, e.key, e.inode);
    if (old < count)
        drop(old);
    struct entry *grown = realloc(entries, (count + 1) * sizeof *entries);
    if (!grown)
        return -1;
    entries = grown;
    entries[count++] = e;
    return 0;
}

/* The two strings of "X<first>\0<second>", or -1 when malformed. */
static int split(char *payload, size_t length, char **first, char **second)
{
    char *nul = memchr(payload, '\0', length);
    if (!nul || nul == payload || nul + 1 >= payload + length)
        return -1;
    *first = payload;
    *second = nul + 1;
    return 0;
}

static void run_nft(const char *nft, const char *table, int namespace)
{
    pid_t pid = fork();
    if (pid == 0) {
        if (namespace >= 0 && setns(namespace, CLONE_NEWNET) != 0)
            _exit(126);
        execl(nft, nft, "delete", "table", "inet", table, (char *)NULL);
        _exit(127);
    }
    if (pid > 0) {
        int status;
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
    }
}

static void write_text(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    ssize_t ignored = write(fd, text, strlen(text));
    (void)ignored;
    close(fd);
}

/* crtool is gone: the cgroup first, so that the tree can run; then the
 * sockets, so that they can send; then the packets. */
static void undo_all(void)
{
    for (size_t i = 0; i < count; i++)
        if (entries[i].kind == 'W')
            write_text(entries[i].key, entries[i].detail);
    for (size_t i = 0; i < count; i++) {
        if (entries[i].kind != 'R')
            continue;
        int off = TCP_REPAIR_OFF_NO_WP;
        setsockopt(entries[i].fd, IPPROTO_TCP, TCP_REPAIR, &off, sizeof off);
        if (entries[i].reuse)
            setsockopt(entries[i].fd, SOL_SOCKET, SO_REUSEADDR, &entries[i].reuse, sizeof entries[i].reuse);
    }
    for (size_t i = 0; i < count; i++)
        if (entries[i].kind == 'L')
            run_nft(entries[i].detail, entries[i].key, entries[i].fd);
}

/* One message into `data` (NUL-terminated past its end), and the
 * descriptor it carried or -1. Returns its length, or -1 at the end. */
static ssize_t receive(int control, char *data, int *fd)
{
    union {
        char buffer[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } space;
    struct iovec iov = { .iov_base = data, .iov_len = message_size - 1 };
    struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1,
                          .msg_control = space.buffer, .msg_controllen = sizeof space.buffer };
    ssize_t n;
    do {
        n = recvmsg(control, &msg, MSG_CMSG_CLOEXEC);
    } while (n < 0 && errno == EINTR);
    *fd = -1;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c))
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS && c->cmsg_len == CMSG_LEN(sizeof(int)))
            memcpy(fd, CMSG_DATA(c), sizeof(int));
    if (n <= 0)
        return -1;
    data[n] = '\0';
    return n;
}

/* Takes one message in; -1 for one that makes no sense. */
static int take(char *data, size_t n, int fd)
{
    char *payload = data + 1;
    size_t length = n - 1;
    char *first, *second;
    uint64_t inode = 0;
    switch (data[0]) {
    case 'L':
    case 'W':
        if (split(payload, length, &first, &second) != 0)
            return -1;
        {
            /* "L": the key is the table, the second string; "W": the path, the first. */
            char *key = strdup(data[0] == 'L' ? second : first);
            char *detail = strdup(data[0] == 'L' ? first : second);
            if (!key || !detail) {
                free(key);
                free(detail);
                return -1;
            }
            return add((struct entry){ .kind = data[0], .key = key, .detail = detail, .fd = data[0] == 'L' ? fd : -1 });
        }
    case 'R': {
        int32_t reuse;
        if (length != sizeof inode + sizeof reuse || fd < 0)
            return -1;
        memcpy(&inode, payload, sizeof inode);
        memcpy(&reuse, payload + sizeof inode, sizeof reuse);
        return add((struct entry){ .kind = 'R', .inode = inode, .reuse = reuse, .fd = fd });
    }
    case 'r':
        if (length != sizeof inode)
            return -1;
        memcpy(&inode, payload, sizeof inode);
        {
            size_t i = find('R', NULL, inode);
            if (i < count)
                drop(i);
        }
        return 0;
    case 'l':
    case 'w': {
        size_t i = find(data[0] == 'l' ? 'L' : 'W', payload, 0);
        if (i < count)
            drop(i);
        return 0;
    }
    default:
        return -1;
    }
}

int main(void)
{
    const int control = 0;
    /* Its own session, and deaf to what ends crtool's job: crtool
     * undoes its work itself on those, and this stays for a crtool that
     * does not. */
    setsid();
    signal(SIGHUP, SIG_IGN);
    signal(SIGINT, SIG_IGN);
    signal(SIGTERM, SIG_IGN);
    signal(SIGQUIT, SIG_IGN);
    signal(SIGPIPE, SIG_IGN);
    if (chdir("/") != 0)
        return 1;
    static char data[message_size];
    for (;;) {
        int fd;
        ssize_t n = receive(control, data, &fd);
        if (n < 0) {
            undo_all();
            return 0;
        }
        if (data[0] == 'S' && n == 1) {
            if (send(control, "S", 1, MSG_NOSIGNAL) != 1)
                return 0;
            continue;
        }
        if (data[0] != 'R' && data[0] != 'L' && fd >= 0) {
            close(fd);
            fd = -1;
        }
        if (take(data, (size_t)n, fd) != 0) {
            /* A message this guard does not understand: crtool and it
             * are of different builds. Undo nothing it cannot judge. */
            if (fd >= 0)
                close(fd);
            return 1;
        }
    }
}
