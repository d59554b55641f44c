/* ac_version: see ac_version.h. */
#include "config.h"
#include "ac_version.h"

const char ac_module_version[] = PACKAGE_VERSION;
