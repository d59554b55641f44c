/* ac_version: the module's version, as configure.ac's AC_INIT sets it
 * (config.h's PACKAGE_VERSION; httpd's own headers define that name too,
 * so only ac_version.c, which includes no httpd header, reads config.h). */
#ifndef AC_VERSION_H
#define AC_VERSION_H

extern const char ac_module_version[] __attribute__((visibility("hidden")));

#endif /* AC_VERSION_H */
