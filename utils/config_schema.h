/* The keys a config may hold. Every key a user writes is either used or
 * rejected: a typo such as "trainer.epochz" must not leave the default
 * 100-epoch run going for hours. The "args" blocks are checked by what they
 * configure (each constructor knows its own arguments, as a PyTorch class
 * refuses unexpected keyword arguments); this table covers everything
 * around them. */
#ifndef UTILS_CONFIG_SCHEMA_H
#define UTILS_CONFIG_SCHEMA_H

#include "utils/config.h"

/* -1 with "config.json: trainer.epochz: unknown key (did you mean
 * 'epochs'?; known here: ...)" for the first key outside the schema. */
int config_check_schema(const Config *c);

/* The known name closest to name by edit distance, or NULL when none is
 * close enough to be a likely typo. known is NULL-terminated. */
const char *config_nearest_key(const char *name, const char *const *known);

#endif
