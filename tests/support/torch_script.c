/* Runs standalone PyTorch reference scripts for the tests (see torch_script.h). */
#include "tests/support/torch_script.h"
#include "tests/support/ref_dir.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

int torch_script_run(const char *script, const char *label, int n, const char *const *names,
                     Tensor *const *tensors, const char *args_json, Safetensors **result)
{
    *result = NULL;
    if (TORCH_PYTHON[0] == '\0') return 1;
    const char *tmpdir = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    char in_path[512], out_path[512];
    snprintf(in_path, sizeof in_path, "%s/torch_%s_%d_in.safetensors", tmpdir, label, (int)getpid());
    snprintf(out_path, sizeof out_path, "%s/torch_%s_%d_out.safetensors", tmpdir, label, (int)getpid());
    const char *keys[] = {"args"};
    const char *values[] = {args_json ? args_json : "{}"};
    if (safetensors_save(in_path, n, names, tensors, 1, keys, values) != 0) {
        fprintf(stderr, "%s: %s\n", label, engine_last_error());
        return -1;
    }
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "'%s' '%s/%s' '%s' '%s'", TORCH_PYTHON, ref_dir(), script, in_path, out_path);
    int status = system(cmd);
    unlink(in_path);
    if (status == -1 || !WIFEXITED(status)) {
        fprintf(stderr, "%s: could not run %s\n", label, cmd);
        return -1;
    }
    if (WEXITSTATUS(status) == 3) return 1; /* torch not importable */
    if (WEXITSTATUS(status) != 0) {
        fprintf(stderr, "%s: %s failed (exit %d)\n", label, script, WEXITSTATUS(status));
        return -1;
    }
    *result = safetensors_load(out_path);
    unlink(out_path);
    if (!*result) {
        fprintf(stderr, "%s: %s\n", label, engine_last_error());
        return -1;
    }
    return 0;
}
