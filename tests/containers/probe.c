/* The container entrypoint for the container tests: a static binary of our own, so the exec
 * event names it (busybox applets re-exec /proc/self/exe). Sleeps argv[1] milliseconds. */
#include <stdlib.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	int ms = argc > 1 ? atoi(argv[1]) : 0;

	if (ms > 0)
		usleep((useconds_t)ms * 1000);
	return 0;
}
