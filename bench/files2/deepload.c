// Opens PATH in a loop for 3 s and prints opens per second (a file many directories deep).
#include <fcntl.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv) {
  if (argc != 2) return 2;
  struct timespec t0, t;
  long n = 0;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  do {
    for (int i = 0; i < 1000; i++) {
      int fd = open(argv[1], O_RDONLY);
      if (fd >= 0) close(fd);
    }
    n += 1000;
    clock_gettime(CLOCK_MONOTONIC, &t);
  } while (t.tv_sec - t0.tv_sec < 3);
  printf("%ld\n", n / 3);
  return 0;
}
