/*
 * The floor for bench/cost.ts: join+leave of one multicast membership on
 * `lo` (ifindex 1), N times, with the setsockopt calls netjoin makes and
 * structs built once.
 *
 * Speaks the cost worker protocol on stdin/stdout: it prints
 * "ready C <compiler>" once its socket is set up, then answers each line
 * "<case> <iterations>" with the mean ns per join+leave of that many
 * iterations, or "error <text>". Cases: "ssm" (MCAST_JOIN_SOURCE_GROUP +
 * MCAST_LEAVE_SOURCE_GROUP) and "asm" (IPV6_JOIN_GROUP + IPV6_LEAVE_GROUP).
 * It exits at end of input. By hand:
 *
 *   gcc -O2 -o bench/.build/join_loop bench/cost/join_loop.c
 *   printf 'ssm 100000\nasm 100000\n' | bench/.build/join_loop
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define GROUP "ff3e::b:1"
#define SOURCE "2001:db8::b1"
#define LOOPBACK_IFINDEX 1

#ifdef __clang__
#define COMPILER "clang " __clang_version__
#elif defined(__GNUC__)
#define COMPILER "gcc " __VERSION__
#else
#define COMPILER "cc"
#endif

static double now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

int main(void) {
  int fd = socket(AF_INET6, SOCK_DGRAM, IPPROTO_UDP);
  if (fd < 0) {
    printf("error socket: %s\n", strerror(errno));
    return 1;
  }
  int one = 1;
  setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in6 any = {.sin6_family = AF_INET6};
  if (bind(fd, (struct sockaddr *)&any, sizeof any)) {
    printf("error bind: %s\n", strerror(errno));
    return 1;
  }

  struct in6_addr group, source;
  inet_pton(AF_INET6, GROUP, &group);
  inet_pton(AF_INET6, SOURCE, &source);

  struct group_source_req gsr;
  memset(&gsr, 0, sizeof gsr);
  gsr.gsr_interface = LOOPBACK_IFINDEX;
  struct sockaddr_in6 *g6 = (struct sockaddr_in6 *)&gsr.gsr_group;
  struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&gsr.gsr_source;
  g6->sin6_family = AF_INET6;
  g6->sin6_addr = group;
  s6->sin6_family = AF_INET6;
  s6->sin6_addr = source;

  struct ipv6_mreq mreq;
  memset(&mreq, 0, sizeof mreq);
  mreq.ipv6mr_multiaddr = group;
  mreq.ipv6mr_interface = LOOPBACK_IFINDEX;

  setvbuf(stdout, NULL, _IOLBF, 0);
  printf("ready C %s\n", COMPILER);

  char line[128], name[32];
  long iters;
  while (fgets(line, sizeof line, stdin)) {
    if (sscanf(line, "%31s %ld", name, &iters) != 2 || iters <= 0) {
      printf("error bad request: %s", line);
      continue;
    }
    int ssm = strcmp(name, "ssm") == 0;
    if (!ssm && strcmp(name, "asm") != 0) {
      printf("error unknown case %s\n", name);
      continue;
    }
    const char *failed = NULL;
    double start = now_ns();
    if (ssm) {
      for (long i = 0; i < iters; i++) {
        if (setsockopt(fd, IPPROTO_IPV6, MCAST_JOIN_SOURCE_GROUP, &gsr,
                       sizeof gsr)) {
          failed = "MCAST_JOIN_SOURCE_GROUP";
          break;
        }
        if (setsockopt(fd, IPPROTO_IPV6, MCAST_LEAVE_SOURCE_GROUP, &gsr,
                       sizeof gsr)) {
          failed = "MCAST_LEAVE_SOURCE_GROUP";
          break;
        }
      }
    } else {
      for (long i = 0; i < iters; i++) {
        if (setsockopt(fd, IPPROTO_IPV6, IPV6_JOIN_GROUP, &mreq, sizeof mreq)) {
          failed = "IPV6_JOIN_GROUP";
          break;
        }
        if (setsockopt(fd, IPPROTO_IPV6, IPV6_LEAVE_GROUP, &mreq,
                       sizeof mreq)) {
          failed = "IPV6_LEAVE_GROUP";
          break;
        }
      }
    }
    double elapsed = now_ns() - start;
    if (failed) {
      printf("error %s: %s\n", failed, strerror(errno));
    } else {
      printf("%.1f\n", elapsed / (double)iters);
    }
  }
  close(fd);
  return 0;
}
