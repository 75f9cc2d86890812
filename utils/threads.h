/* Thread behaviour of the programs (./train, ./test). */
#ifndef UTILS_THREADS_H
#define UTILS_THREADS_H

/* OpenMP threads that wait for work by spinning collapse when another
 * process holds one of the cores: on a 2-core machine with one core busy we
 * measured MnistModel forward+backward at 184 ms per step spinning and 10.5 ms
 * sleeping (7-9 ms either way on an idle machine). So unless the user chose
 * OMP_WAIT_POLICY, the programs re-execute themselves once with it set to
 * passive; libgomp reads it only at start-up. Call first thing in main(). */
void prefer_passive_omp_waiting(char **argv);

#endif
