/* mod_aspnetcore: the module record, shared by the module's files. */
#ifndef MOD_ASPNETCORE_H
#define MOD_ASPNETCORE_H

#include <httpd.h>
#include <http_config.h>

extern module AP_MODULE_DECLARE_DATA aspnetcore_module;

#define AC_HANDLER "aspnetcore"

#endif /* MOD_ASPNETCORE_H */
