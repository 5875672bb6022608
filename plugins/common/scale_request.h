/* What every scaler checks of a scale request before acting on it. Header-only, for plugins. */
#ifndef HYDRA_PLUGIN_SCALE_REQUEST_H
#define HYDRA_PLUGIN_SCALE_REQUEST_H

#include <hydra/plugin.h>

#include <stdbool.h>

/* false, with the reason set as the instance's error, when the request names no target or fewer than 0 replicas. */
static inline bool scale_request_valid(const hydra_host *host, const hydra_scale_request *request)
{
    if (!request || !request->target || !request->target[0]) {
        host->set_error(host, "scale: target must be a non-empty name");
        return false;
    }
    if (request->replicas < 0) {
        host->set_error(host, "scale %s: replicas must be >= 0, not %d", request->target, request->replicas);
        return false;
    }
    return true;
}

#endif
