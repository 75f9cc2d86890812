/* Where the Python reference scripts (tests/ref) are: TEST_REF_DIR from the
 * environment when set (test binaries run from a copy of the build on
 * another machine, where the source path compiled in does not exist), else
 * the source tree's tests/ref. */
#ifndef TESTS_SUPPORT_REF_DIR_H
#define TESTS_SUPPORT_REF_DIR_H

const char *ref_dir(void);

#endif
