/* See threads.h. */
#include "utils/threads.h"

#include <stdlib.h>
#include <unistd.h>

void prefer_passive_omp_waiting(char **argv)
{
    if (getenv("OMP_WAIT_POLICY")) return; /* the user's choice, or already re-executed */
    if (setenv("OMP_WAIT_POLICY", "passive", 1) != 0) return;
    execv("/proc/self/exe", argv);
    /* exec failed: carry on with the default policy */
}
