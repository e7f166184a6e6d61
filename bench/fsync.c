/*
 * fsync.c - how many write+fdatasync pairs per second this disk does, in
 * the directory given: the ceiling for durable one-at-a-time ingest.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	char path[4096], block[4096] = { 0 };
	struct timespec a, b;
	int fd, n = 2000;

	snprintf(path, sizeof(path), "%s/fsync.bench", argc > 1 ? argv[1] : ".");
	fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0600);
	if (fd < 0) {
		perror(path);
		return 1;
	}
	clock_gettime(CLOCK_MONOTONIC, &a);
	for (int i = 0; i < n; i++)
		if (pwrite(fd, block, sizeof(block), 0) < 0 || fdatasync(fd) != 0) {
			perror("fdatasync");
			return 1;
		}
	clock_gettime(CLOCK_MONOTONIC, &b);
	close(fd);
	unlink(path);
	printf("%.0f\n", n / ((double)(b.tv_sec - a.tv_sec) +
			      (double)(b.tv_nsec - a.tv_nsec) / 1e9));
	return 0;
}
