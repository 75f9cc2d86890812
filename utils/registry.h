/* Registries: static tables from the names used in config.json to the C
 * functions that build or compute them (arch, data_loader, optimizer,
 * lr_scheduler, loss, metrics). An unknown name is an error that lists the
 * known ones. */
#ifndef UTILS_REGISTRY_H
#define UTILS_REGISTRY_H

#include <stddef.h>

typedef struct {
    const char *name;
    void (*fn)(void); /* cast to the table's own function type */
} RegistryEntry;

/* The entry's function, or NULL with "config.json: loss: unknown loss
 * 'foo' (known: nll_loss, cross_entropy)". */
void (*registry_find(const RegistryEntry *table, size_t n, const char *name, const char *config_label,
                     const char *key))(void);

#endif
