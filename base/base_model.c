/* BaseModel's printed summary (see base_model.h). */
#include "base/base_model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void base_model_log_summary(const Module *model, const Logger *lg)
{
    char *text = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&text, &size);
    if (!f) return;
    module_summary(model, f);
    fclose(f);
    /* one record per line, as Python's logger prints the repr */
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) log_info(lg, "%s", line);
    free(text);
}
