/* The reference scripts' folder (see ref_dir.h). */
#include "tests/support/ref_dir.h"

#include <stdlib.h>

const char *ref_dir(void)
{
    const char *env = getenv("TEST_REF_DIR");
    return env && env[0] ? env : REF_DIR;
}
