/*
 * connflood: open TCP connections to 127.0.0.1:PORT as fast as one process can, from many
 * loopback source addresses, write one small HTTP request on each and wait for the server to
 * close it -- what a banned client sees. Built by bench/connflood.py with the system C
 * compiler; one process per core share, pinned by the caller.
 *
 *   connflood PORT DURATION_S MAX_CONNECTIONS CONCURRENCY SRC_FIRST SRC_COUNT
 *
 * SRC_FIRST is a host-order IPv4 address in 127.0.0.0/8; connection i binds source address
 * SRC_FIRST + (i % SRC_COUNT) with port 0 and IP_BIND_ADDRESS_NO_PORT, so the ephemeral port
 * range is per source address and 28k ports never run out. Every socket is closed with
 * SO_LINGER 0 (reset), so neither side keeps TIME_WAIT state.
 *
 * Bounded: stops after DURATION_S seconds or MAX_CONNECTIONS connections, whichever is first;
 * loopback destination only. Prints one JSON object:
 *   {"connections":N,"refused":N,"answered":N,"connect_errors":N,"elapsed_s":S}
 * refused = closed (EOF or reset) without a byte of answer; answered = at least one byte came.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

#define MAX_CONCURRENCY 4096
#define MAX_DURATION_S 120.0

static const char REQ[] = "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: bench\r\n\r\n";

enum state { CONNECTING = 1, WAITING = 2 };

struct slot {
    int fd;
    int state;
};

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static long long connections, refused, answered, connect_errors;
static unsigned src_first, src_count, src_next;
static int port, epfd;

static void finish(struct slot *s) {
    struct linger lg = {1, 0};
    setsockopt(s->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    close(s->fd);
    s->fd = -1;
    s->state = 0;
}

/* Start one connection in slot s; returns 0 on success (slot in use), -1 on error. */
static int start(struct slot *s) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    int one = 1;
    setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct sockaddr_in src = {.sin_family = AF_INET};
    src.sin_addr.s_addr = htonl(src_first + (src_next++ % src_count));
    struct sockaddr_in dst = {.sin_family = AF_INET, .sin_port = htons((unsigned short)port)};
    dst.sin_addr.s_addr = htonl(0x7f000001u);
    connections++;
    if (bind(fd, (struct sockaddr *)&src, sizeof src) < 0 ||
        (connect(fd, (struct sockaddr *)&dst, sizeof dst) < 0 && errno != EINPROGRESS)) {
        connect_errors++;
        close(fd);
        return -1;
    }
    s->fd = fd;
    s->state = CONNECTING;
    struct epoll_event ev = {.events = EPOLLOUT | EPOLLIN | EPOLLRDHUP, .data.ptr = s};
    epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev);
    return 0;
}

static void on_event(struct slot *s, unsigned events) {
    char buf[256];
    if (s->state == CONNECTING && (events & EPOLLOUT) && !(events & (EPOLLERR | EPOLLHUP))) {
        s->state = WAITING;
        ssize_t n = send(s->fd, REQ, sizeof REQ - 1, MSG_NOSIGNAL);
        if (n < 0) { /* reset before the request went out: refused */
            refused++;
            finish(s);
            return;
        }
        struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP, .data.ptr = s};
        epoll_ctl(epfd, EPOLL_CTL_MOD, s->fd, &ev);
        if (!(events & (EPOLLIN | EPOLLRDHUP))) return;
    }
    if (s->state == CONNECTING) { /* error or hang-up while connecting */
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err == ECONNREFUSED || err == ETIMEDOUT) connect_errors++;
        else refused++;
        finish(s);
        return;
    }
    ssize_t n = recv(s->fd, buf, sizeof buf, 0);
    if (n > 0) answered++;
    else if (n == 0 || errno == ECONNRESET || errno == EPIPE) refused++;
    else if (errno == EAGAIN) return;
    else refused++;
    finish(s);
}

int main(int argc, char **argv) {
    if (argc != 7) {
        fprintf(stderr, "usage: connflood PORT DURATION_S MAX_CONN CONCURRENCY SRC_FIRST SRC_COUNT\n");
        return 2;
    }
    port = atoi(argv[1]);
    double duration = atof(argv[2]);
    long long max_conn = atoll(argv[3]);
    int conc = atoi(argv[4]);
    src_first = (unsigned)strtoul(argv[5], NULL, 10);
    src_count = (unsigned)strtoul(argv[6], NULL, 10);
    if (port <= 0 || port > 65535 || duration <= 0 || duration > MAX_DURATION_S || max_conn <= 0 ||
        conc <= 0 || conc > MAX_CONCURRENCY || src_count == 0 || (src_first >> 24) != 127 ||
        ((src_first + src_count - 1) >> 24) != 127) {
        fprintf(stderr, "connflood: bad arguments (loopback sources only, bounded run)\n");
        return 2;
    }
    epfd = epoll_create1(EPOLL_CLOEXEC);
    struct slot *slots = calloc((size_t)conc, sizeof *slots);
    struct epoll_event evs[256];
    double t0 = now_s(), end = t0 + duration;
    int active = 0;
    for (int i = 0; i < conc; i++) {
        slots[i].fd = -1;
        if (start(&slots[i]) == 0) active++;
    }
    unsigned loops = 0;
    int stopping = 0;
    while (active > 0) {
        int n = epoll_wait(epfd, evs, 256, 100);
        for (int i = 0; i < n; i++) {
            struct slot *s = evs[i].data.ptr;
            if (s->fd < 0) continue;
            on_event(s, evs[i].events);
            if (s->fd < 0) {
                active--;
                if (!stopping && connections < max_conn && start(s) == 0) active++;
            }
        }
        if ((++loops & 63) == 0 || n == 0) stopping = stopping || now_s() >= end;
        if (!stopping) { /* refill slots whose start failed */
            for (int i = 0; i < conc && active < conc && connections < max_conn; i++)
                if (slots[i].fd < 0 && start(&slots[i]) == 0) active++;
        }
        if (stopping && now_s() >= end + 5.0) break; /* stragglers: give up after 5 s */
    }
    double elapsed = now_s() - t0;
    printf("{\"connections\":%lld,\"refused\":%lld,\"answered\":%lld,\"connect_errors\":%lld,"
           "\"elapsed_s\":%.3f}\n",
           connections, refused, answered, connect_errors, elapsed);
    return 0;
}
