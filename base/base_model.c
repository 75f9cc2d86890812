/* BaseModel's printed summary (see base_model.h). */
#include "base/base_model.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void base_model_log_summary(const Module *model, const Logger *lg)
{
    char *text = module_repr(model);
    if (!text) return;
    /* one record per line, as Python's logger prints the repr */
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) log_info(lg, "%s", line);
    free(text);
    int64_t all = module_num_parameters(model, false), trainable = module_num_parameters(model, true);
    log_info(lg, "Trainable parameters: %" PRId64, trainable);
    log_info(lg, "Frozen parameters: %" PRId64, all - trainable);
}
