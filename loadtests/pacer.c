/* An open-loop load generator in C: POST requests at a fixed rate, latency counted from the
 * schedule. The same command line and JSON line as loadtests/pacer.py, at a third of its CPU,
 * plus what only this one reports or does: its own delays (the wake and send lags below) and
 * --realtime.
 *
 * Why C: on a 2-core machine the Python pacer took 0.35-0.4 of a core at 14,000 req/s, a core
 * the server under test then did not have. This one sends request k at start + k / rate on the
 * longest-idle keep-alive connection (or as soon as one frees up) and measures each latency from
 * that scheduled time, not from when a connection became free, so a server stall counts against
 * every request it delayed (no coordinated omission). One thread, epoll.
 *
 * It wakes on a tick (--tick-ms, 1 ms by default, the timer granularity of wrk2 and of asyncio's
 * sleeps), reads every answer that arrived meanwhile and sends every request due by then. Each
 * answer is timed by the kernel's receive stamp (SO_TIMESTAMPNS), not by the tick that read it;
 * a request sent up to a tick late has that delay in its latency, so the tick can only make the
 * server look slower. Waking for each request and each answer instead cost ~35 us of kernel
 * time a request on this VM (context switches), CPU the server under test would lose.
 *
 *     cc -O2 -o var/pacer loadtests/pacer.c -lm
 *     var/pacer --port 8000 --rate 5000 --seconds 10 --body-file bodies.jsonl
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_AGENTS 32
#define READ_BUFFER 65536
#define DRAIN_SECONDS 10.0

typedef struct {
    char *data;
    size_t len;
} request_t;

typedef struct {
    int fd;
    int busy;
    double due;                /* scheduled send time of the request in flight */
    const request_t *request;
    size_t sent;               /* bytes of the request written so far */
    char buffer[READ_BUFFER];
    size_t filled;
} connection_t;

static struct sockaddr_in server;
static int epoll_fd;
static long statuses[600];     /* index 0: requests the connection failed (closed, reset) */
static double *latencies;
static size_t latency_count, latency_capacity;
/* What the pacer itself adds, reported apart: how late each tick woke (the machine did not run
 * the pacer on time) and how late each request left against its schedule (a late tick, the tick
 * itself, or no free connection because the server was slow). Both are inside the latencies. */
static double *wake_lags, *send_lags;
static size_t wake_count, wake_capacity, send_count, send_capacity;
static double realtime_offset;  /* CLOCK_REALTIME - CLOCK_MONOTONIC: kernel receive stamps are realtime */
static double last_answer;

/* The connections, and the idle ones in a ring, oldest first: every connection takes its turn,
 * so none sits idle past the server's keep-alive timeout and is closed under the pacer. */
static connection_t *pool;
static int pool_size, *by_fd, max_fd = -1;
static int *idle, idle_head, idle_count;

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *message) {
    fprintf(stderr, "pacer: %s\n", message);
    exit(2);
}

static void push_idle(connection_t *c) {
    idle[(idle_head + idle_count++) % pool_size] = (int)(c - pool);
}

static connection_t *pop_idle(void) {
    connection_t *c = &pool[idle[idle_head]];
    idle_head = (idle_head + 1) % pool_size;
    idle_count--;
    return c;
}

static void connect_to_server(connection_t *c) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    if (fd < 0 || connect(fd, (struct sockaddr *)&server, sizeof server) != 0) {
        fprintf(stderr, "pacer: cannot connect to 127.0.0.1:%d: %s\n", ntohs(server.sin_port), strerror(errno));
        exit(2);
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof one);
    struct epoll_event event = {.events = EPOLLIN};
    event.data.fd = fd;
    epoll_ctl(epoll_fd, EPOLL_CTL_ADD, fd, &event);
    if (fd > max_fd) {
        by_fd = realloc(by_fd, ((size_t)fd + 1) * sizeof *by_fd);
        if (!by_fd) die("out of memory");
        max_fd = fd;
    }
    by_fd[fd] = (int)(c - pool);
    c->fd = fd;
    c->busy = 0;
    c->filled = 0;
}

static void reconnect(connection_t *c) {
    epoll_ctl(epoll_fd, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    connect_to_server(c);
}

static void append(double **values, size_t *count, size_t *capacity, double value) {
    if (*count == *capacity) {
        *capacity = *capacity ? 2 * *capacity : 1 << 16;
        *values = realloc(*values, *capacity * sizeof **values);
        if (!*values) die("out of memory");
    }
    (*values)[(*count)++] = value;
}

static void record(double latency, int status) {
    append(&latencies, &latency_count, &latency_capacity, latency);
    statuses[status > 0 && status < 600 ? status : 0]++;
}

/* Writes what the socket takes, the rest on EPOLLOUT (rare: requests are ~1 KB); -1 if the
 * connection is gone. */
static int send_more(connection_t *c) {
    while (c->sent < c->request->len) {
        ssize_t n = send(c->fd, c->request->data + c->sent, c->request->len - c->sent, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno != EAGAIN) return -1;
            struct epoll_event event = {.events = EPOLLIN | EPOLLOUT};
            event.data.fd = c->fd;
            epoll_ctl(epoll_fd, EPOLL_CTL_MOD, c->fd, &event);
            return 0;
        }
        c->sent += (size_t)n;
    }
    return 0;
}

/* The connection closed or failed: its request in flight, if any, is counted as failed and the
 * connection replaced (an idle one is already in the ring). */
static void fail(connection_t *c, int *in_flight) {
    int busy = c->busy;
    if (busy) {
        record(now() - c->due, 0);
        (*in_flight)--;
    }
    reconnect(c);
    if (busy) push_idle(c);
}

/* One complete response in the buffer: its length, or 0 while it is still arriving. */
static size_t response_length(const connection_t *c, int *status) {
    const char *end = memmem(c->buffer, c->filled, "\r\n\r\n", 4);
    if (!end || c->filled < 12) return 0;
    size_t head = (size_t)(end - c->buffer) + 4, body = 0;
    *status = atoi(c->buffer + 9);
    for (const char *line = c->buffer; line && line < end;) {
        if (strncasecmp(line, "content-length:", 15) == 0) body = strtoul(line + 15, NULL, 10);
        const char *eol = memchr(line, '\n', (size_t)(end - line));
        line = eol ? eol + 1 : NULL;
    }
    return c->filled >= head + body ? head + body : 0;
}

/* One epoll event of a connection: the rest of its request written, or its answer read. */
static void handle(connection_t *c, uint32_t events, int *in_flight) {
    if (events & EPOLLOUT) {
        if (send_more(c) != 0) {
            fail(c, in_flight);
            return;
        }
        if (c->sent == c->request->len) {
            struct epoll_event event = {.events = EPOLLIN};
            event.data.fd = c->fd;
            epoll_ctl(epoll_fd, EPOLL_CTL_MOD, c->fd, &event);
        }
    }
    if (!(events & (EPOLLIN | EPOLLHUP | EPOLLERR))) return;
    char control[CMSG_SPACE(sizeof(struct timespec))];
    struct iovec into = {.iov_base = c->buffer + c->filled, .iov_len = READ_BUFFER - c->filled};
    struct msghdr message = {.msg_iov = &into, .msg_iovlen = 1, .msg_control = control,
                             .msg_controllen = sizeof control};
    ssize_t n = recvmsg(c->fd, &message, 0);
    if (n == 0 || (n < 0 && errno != EAGAIN)) {
        fail(c, in_flight);  /* the server closed or reset the connection */
        return;
    }
    if (n < 0) return;
    c->filled += (size_t)n;
    int status = 0;
    size_t length = response_length(c, &status);
    if (length && c->busy) {
        /* When the answer reached this machine's socket, not when this tick got to it. */
        double arrived = now();
        for (struct cmsghdr *cm = CMSG_FIRSTHDR(&message); cm; cm = CMSG_NXTHDR(&message, cm)) {
            if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_TIMESTAMPNS) {
                struct timespec stamp;
                memcpy(&stamp, CMSG_DATA(cm), sizeof stamp);
                arrived = (double)stamp.tv_sec + (double)stamp.tv_nsec / 1e9 - realtime_offset;
            }
        }
        if (arrived > last_answer) last_answer = arrived;
        record(arrived - c->due, status);
        memmove(c->buffer, c->buffer + length, c->filled - length);
        c->filled -= length;
        c->busy = 0;
        (*in_flight)--;
        push_idle(c);
    } else if (c->filled == READ_BUFFER) {
        die("a response is larger than 64 KiB");
    }
}

static int by_value(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The q-quantile of `values` (sorted), in ms. */
static double quantile(const double *values, size_t count, double q) {
    if (!count) return 0.0;
    size_t i = (size_t)(q * (double)count);
    return 1000.0 * values[i < count ? i : count - 1];
}

static char *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "pacer: cannot read %s: %s\n", path, strerror(errno));
        exit(2);
    }
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *data = malloc((size_t)size + 1);
    if (!data || fread(data, 1, (size_t)size, f) != (size_t)size) die("cannot read the body file");
    data[size] = 0;
    fclose(f);
    *len = (size_t)size;
    return data;
}

static void usage(void) {
    fprintf(stderr, "usage: pacer --port PORT --rate PER_SECOND --body-file FILE [--seconds 10] "
                    "[--connections 64] [--path /collect] [--user-agent UA]... [--content-type text/plain] "
                    "[--host 127.0.0.1] [--tick-ms 1] [--realtime]\n");
    exit(2);
}

int main(int argc, char **argv) {
    const char *host = "127.0.0.1", *path = "/collect", *body_file = NULL, *content_type = "text/plain";
    const char *agents[MAX_AGENTS];
    int agent_count = 0, port = 0, connections = 64, realtime = 0;
    double rate = 0, seconds = 10, tick = 0.001;
    static struct option options[] = {
        {"host", required_argument, 0, 'h'}, {"port", required_argument, 0, 'p'},
        {"path", required_argument, 0, 'P'}, {"rate", required_argument, 0, 'r'},
        {"seconds", required_argument, 0, 's'}, {"connections", required_argument, 0, 'c'},
        {"body-file", required_argument, 0, 'b'}, {"user-agent", required_argument, 0, 'u'},
        {"content-type", required_argument, 0, 't'}, {"tick-ms", required_argument, 0, 'k'},
        {"realtime", no_argument, 0, 'R'}, {0, 0, 0, 0}};
    for (int opt; (opt = getopt_long(argc, argv, "", options, NULL)) != -1;) {
        switch (opt) {
        case 'h': host = optarg; break;
        case 'p': port = atoi(optarg); break;
        case 'P': path = optarg; break;
        case 'r': rate = atof(optarg); break;
        case 's': seconds = atof(optarg); break;
        case 'c': connections = atoi(optarg); break;
        case 'b': body_file = optarg; break;
        case 'u':
            if (agent_count == MAX_AGENTS) die("at most 32 --user-agent");
            agents[agent_count++] = optarg;
            break;
        case 't': content_type = optarg; break;
        case 'k': tick = atof(optarg) / 1000.0; break;
        case 'R': realtime = 1; break;
        default: usage();
        }
    }
    if (!port || !body_file) usage();
    if (strcmp(host, "127.0.0.1") != 0 && strcmp(host, "localhost") != 0)
        die("load is only sent to this machine (127.0.0.1)");
    if (rate <= 0 || seconds <= 0 || connections <= 0) die("--rate, --seconds and --connections must be above 0");
    if (tick <= 0) die("--tick-ms must be above 0");
    /* --realtime: the lowest real-time priority, so the server's threads (ClickHouse's inserts and
     * merges among them) never keep the pacer from its tick, as they would not delay visitors'
     * browsers on other machines. It needs CAP_SYS_NICE (root); refused, the pacer says so. */
    struct sched_param lowest = {.sched_priority = sched_get_priority_min(SCHED_FIFO)};
    if (realtime && sched_setscheduler(0, SCHED_FIFO, &lowest) != 0) {
        fprintf(stderr, "pacer: --realtime refused (%s): run as root, or without it\n", strerror(errno));
        exit(2);
    }
    if (!agent_count) agents[agent_count++] = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";

    /* Every body line with every user agent, sent in turn, as the Python pacer does. */
    size_t file_len;
    char *file = read_file(body_file, &file_len);
    request_t *requests = NULL;
    size_t request_count = 0;
    for (char *line = strtok(file, "\n"); line; line = strtok(NULL, "\n")) {
        if (strspn(line, " \t\r") == strlen(line)) continue;
        for (int a = 0; a < agent_count; a++) {
            requests = realloc(requests, (request_count + 1) * sizeof *requests);
            size_t body = strlen(line), room = body + strlen(agents[a]) + strlen(path) + 256;
            request_t *r = &requests[request_count++];
            r->data = malloc(room);
            r->len = (size_t)snprintf(r->data, room,
                                      "POST %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUser-Agent: %s\r\n"
                                      "Content-Type: %s\r\nContent-Length: %zu\r\n\r\n%s",
                                      path, port, agents[a], content_type, body, line);
        }
    }
    if (!request_count) die("the body file has no request body");

    server.sin_family = AF_INET;
    server.sin_port = htons((unsigned short)port);
    inet_pton(AF_INET, "127.0.0.1", &server.sin_addr);
    epoll_fd = epoll_create1(0);
    pool_size = connections;
    pool = calloc((size_t)connections, sizeof *pool);
    idle = malloc((size_t)connections * sizeof *idle);
    if (!pool || !idle) die("out of memory");
    for (int i = 0; i < connections; i++) {
        connect_to_server(&pool[i]);
        push_idle(&pool[i]);
    }

    struct timespec wall;
    clock_gettime(CLOCK_REALTIME, &wall);
    realtime_offset = (double)wall.tv_sec + (double)wall.tv_nsec / 1e9 - now();
    const double start = now() + 0.2, end = start + seconds;
    last_answer = start;
    unsigned long next = 0;    /* the next request to send: due at start + next / rate */
    int in_flight = 0;
    struct epoll_event events[256];
    for (;;) {
        /* Everything that arrived since the last tick, each answer timed by the kernel. */
        for (int ready = 256; ready == 256;) {
            ready = epoll_wait(epoll_fd, events, 256, 0);
            if (ready < 0 && errno != EINTR) die("epoll_wait failed");
            for (int e = 0; e < ready; e++) handle(&pool[by_fd[events[e].data.fd]], events[e].events, &in_flight);
        }
        double t = now(), due = start + (double)next / rate;
        while (idle_count && due <= t && due < end) {
            connection_t *c = pop_idle();
            c->busy = 1;
            c->due = due;
            c->request = &requests[next % request_count];
            c->sent = 0;
            in_flight++;
            append(&send_lags, &send_count, &send_capacity, t - due);
            if (send_more(c) != 0) fail(c, &in_flight);
            due = start + (double)++next / rate;
        }
        if (due >= end && (!in_flight || t > end + DRAIN_SECONDS)) break;
        double tick_at = start + (floor((t - start) / tick) + 1) * tick;
        struct timespec wake = {.tv_sec = (time_t)tick_at, .tv_nsec = (long)((tick_at - floor(tick_at)) * 1e9)};
        clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &wake, NULL);
        if (tick_at < end) append(&wake_lags, &wake_count, &wake_capacity, now() - tick_at);
    }

    if (realtime) {  /* the sorts below take tens of ms: not at a priority above the server's */
        struct sched_param normal = {.sched_priority = 0};
        sched_setscheduler(0, SCHED_OTHER, &normal);
    }
    qsort(latencies, latency_count, sizeof *latencies, by_value);
    qsort(send_lags, send_count, sizeof *send_lags, by_value);
    qsort(wake_lags, wake_count, sizeof *wake_lags, by_value);
    double elapsed = last_answer - start > 1e-9 ? last_answer - start : 1e-9;  /* last_answer: set by handle */
    printf("{\"target_rate\": %g, \"rate\": %.1f, \"requests\": %zu, \"statuses\": {", rate,
           (double)latency_count / elapsed, latency_count);
    const char *comma = "";
    for (int s = 0; s < 600; s++) {
        if (!statuses[s]) continue;
        printf("%s\"%s\": %ld", comma, s ? (char[4]){(char)('0' + s / 100), (char)('0' + s / 10 % 10),
                                                      (char)('0' + s % 10), 0} : "error", statuses[s]);
        comma = ", ";
    }
    printf("}, \"p50_ms\": %.2f, \"p90_ms\": %.2f, \"p99_ms\": %.2f, \"max_ms\": %.2f, \"in_flight_at_end\": %d",
           quantile(latencies, latency_count, 0.5), quantile(latencies, latency_count, 0.9),
           quantile(latencies, latency_count, 0.99), quantile(latencies, latency_count, 1.0), in_flight);
    printf(", \"send_lag_p99_ms\": %.2f, \"send_lag_max_ms\": %.2f, \"wake_lag_p99_ms\": %.2f, "
           "\"wake_lag_max_ms\": %.2f, \"realtime\": %s}\n",
           quantile(send_lags, send_count, 0.99), quantile(send_lags, send_count, 1.0),
           quantile(wake_lags, wake_count, 0.99), quantile(wake_lags, wake_count, 1.0), realtime ? "true" : "false");
    return 0;
}
