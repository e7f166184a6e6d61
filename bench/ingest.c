/*
 * ingest.c - load generator for the alert socket (make bench).
 *
 *   ingest SOCKET CLIENTS ALERTS_PER_CLIENT MODE
 *
 * MODE "pipe": each client writes its alerts in batches of 256 lines and
 * reads the replies as they come (pipelined); "one": send one line, wait
 * for its reply, repeat. Every reply must be {"ok":true,...}. Prints
 * alerts/s over the wall time of the slowest client.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int dial(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	strncpy(sa.sun_path, path, sizeof(sa.sun_path) - 1);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		perror("connect");
		exit(2);
	}
	return fd;
}

/* Reads until `want` newlines have arrived; checks each reply is ok. */
static long read_replies(int fd, long want, char *buf, size_t cap)
{
	static char carry[256];
	static size_t ncarry;
	long got = 0;

	while (got < want) {
		ssize_t r = read(fd, buf, cap);

		if (r <= 0) {
			fprintf(stderr, "ingest: connection closed early\n");
			exit(3);
		}
		for (ssize_t i = 0; i < r; i++) {
			if (ncarry < sizeof(carry) - 1)
				carry[ncarry++] = buf[i];
			if (buf[i] != '\n')
				continue;
			carry[ncarry] = '\0';
			if (strncmp(carry, "{\"ok\":true", 10) != 0) {
				fprintf(stderr, "ingest: error reply: %s", carry);
				exit(4);
			}
			ncarry = 0;
			got++;
		}
	}
	return got;
}

static void client(const char *path, int id, long n, int pipe)
{
	static char line[512], out[256 * 512], in[1 << 16];
	int fd = dial(path);
	long sent = 0;

	while (sent < n) {
		long batch = pipe ? (n - sent < 256 ? n - sent : 256) : 1;
		size_t len = 0;

		for (long i = 0; i < batch; i++) {
			int k = snprintf(line, sizeof(line),
				"{\"severity\":\"warning\",\"source\":\"bench%d\","
				"\"title\":\"Disk usage high\",\"text\":\"/var at "
				"91%% on host %ld\",\"labels\":{\"env\":\"prod\"}}\n",
				id, sent + i);
			memcpy(out + len, line, (size_t)k);
			len += (size_t)k;
		}
		if (write(fd, out, len) != (ssize_t)len) {
			perror("write");
			exit(2);
		}
		read_replies(fd, batch, in, sizeof(in));
		sent += batch;
	}
	close(fd);
}

int main(int argc, char **argv)
{
	int clients, pipe;
	long n;
	double t0;

	if (argc != 5) {
		fprintf(stderr, "usage: ingest SOCKET CLIENTS N pipe|one\n");
		return 2;
	}
	clients = atoi(argv[2]);
	n = atol(argv[3]);
	pipe = strcmp(argv[4], "pipe") == 0;
	t0 = now_s();
	for (int i = 0; i < clients; i++)
		if (fork() == 0) {
			client(argv[1], i, n, pipe);
			_exit(0);
		}
	for (int i = 0; i < clients; i++) {
		int st;

		wait(&st);
		if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
			fprintf(stderr, "ingest: a client failed\n");
			return 1;
		}
	}
	printf("%.0f\n", (double)clients * (double)n / (now_s() - t0));
	return 0;
}
