/* Unit tests: web.config import (published samples, collections, every
 * malformed case we could think of, and hostile files: entity attacks,
 * external references, size and depth). Every parse here also checks that
 * nothing was printed on stderr. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/inotify.h>
#include <sys/stat.h>

#include <apr_file_io.h>
#include <apr_strings.h>

#include "check_suites.h"
#include "ac_webconfig.h"

#ifndef AC_TEST_DATA
#define AC_TEST_DATA "tests/unit/data"
#endif

#define WC_PATH "/srv/app/web.config"

static char *const env[] = {
    "HOME=/home/app", "LAUNCHER_PATH=/usr/bin/dotnet", "APPDIR=/srv/app", "EMPTY=", NULL
};

/* Runs `fn` with stderr sent to a temporary file, and fails the test if
 * anything was written there. */
static const char *quiet_parse(const char *buf, apr_size_t len, ac_webconfig_t **wc)
{
    char tmpl[] = "/tmp/check_webconfig_stderr_XXXXXX";
    int fd = mkstemp(tmpl), saved;
    const char *err;
    struct stat st;

    ck_assert_int_ge(fd, 0);
    unlink(tmpl);
    fflush(stderr);
    saved = dup(2);
    ck_assert_int_ge(saved, 0);
    ck_assert_int_eq(dup2(fd, 2), 2);
    err = ac_webconfig_parse(test_pool, WC_PATH, buf, len, ac_env_lookup_envp, (void *)env, wc);
    fflush(stderr);
    ck_assert_int_eq(dup2(saved, 2), 2);
    close(saved);
    ck_assert_int_eq(fstat(fd, &st), 0);
    close(fd);
    ck_assert_msg(st.st_size == 0, "%ld bytes printed on stderr", (long)st.st_size);
    return err;
}

static ac_webconfig_t *ok(const char *xml)
{
    ac_webconfig_t *wc = NULL;
    const char *err = quiet_parse(xml, strlen(xml), &wc);
    ck_assert_msg(err == NULL, "refused: %s", err);
    ck_assert_ptr_nonnull(wc);
    return wc;
}

/* Expects an error that contains `want`. */
static const char *bad(const char *xml, const char *want)
{
    ac_webconfig_t *wc = NULL;
    const char *err = quiet_parse(xml, strlen(xml), &wc);
    ck_assert_msg(err != NULL, "accepted: %s", xml);
    ck_assert_msg(strstr(err, want) != NULL, "'%s' not in: %s", want, err);
    ck_assert_msg(strncmp(err, WC_PATH ":", strlen(WC_PATH ":")) == 0, "no path: %s", err);
    ck_assert_ptr_null(wc);
    return err;
}

/* A web.config with `inner` inside <aspNetCore processPath="dotnet" ...>. */
static const char *section(const char *attributes, const char *children)
{
    return apr_psprintf(test_pool,
                        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n"
                        "<configuration>\n"
                        "  <system.webServer>\n"
                        "    <aspNetCore processPath=\"dotnet\" %s>%s</aspNetCore>\n"
                        "  </system.webServer>\n"
                        "</configuration>\n", attributes, children);
}

static const char *entry(const apr_array_header_t *a, int i, int value)
{
    const ac_env_entry_t *e = &APR_ARRAY_IDX(a, i, ac_env_entry_t);
    return value ? e->value : e->name;
}

static char *read_data(const char *name, apr_size_t *len)
{
    const char *path = apr_pstrcat(test_pool, AC_TEST_DATA "/", name, NULL);
    apr_file_t *f;
    apr_finfo_t fi;
    char *buf;

    ck_assert_int_eq(apr_file_open(&f, path, APR_FOPEN_READ, APR_OS_DEFAULT, test_pool),
                     APR_SUCCESS);
    ck_assert_int_eq(apr_file_info_get(&fi, APR_FINFO_SIZE, f), APR_SUCCESS);
    buf = apr_palloc(test_pool, (apr_size_t)fi.size + 1);
    ck_assert_int_eq(apr_file_read_full(f, buf, (apr_size_t)fi.size, len), APR_SUCCESS);
    buf[*len] = '\0';
    apr_file_close(f);
    return buf;
}

static void assert_all_absent_but_paths(const ac_webconfig_t *wc)
{
    ck_assert(wc->request_timeout == -1);
    ck_assert_int_eq(wc->startup_time_limit, -1);
    ck_assert_int_eq(wc->shutdown_time_limit, -1);
    ck_assert_int_eq(wc->rapid_fails_per_minute, -1);
    ck_assert_int_eq(wc->processes_per_application, -1);
    ck_assert_int_eq(wc->disable_startup_error_page, -1);
    ck_assert_int_eq(wc->forward_windows_auth_token, -1);
    ck_assert_int_eq(wc->env->nelts, 0);
    ck_assert_int_eq(wc->env_cleared, 0);
    ck_assert_int_eq(wc->handler_settings->nelts, 0);
}

/* ------------------------------------------------------ published files */

/* The two web.config files of the ASP.NET Core Module documentation
 * (framework-dependent and self-contained), copied verbatim. */
START_TEST(reference_framework_dependent)
{
    ac_webconfig_t *wc;
    const char *path = AC_TEST_DATA "/reference-framework-dependent.config";

    ck_assert_ptr_null(ac_webconfig_load(test_pool, path, ac_env_lookup_envp, (void *)env, &wc));
    ck_assert_str_eq(wc->path, path);
    ck_assert_int_eq(wc->line, 8);
    ck_assert_str_eq(wc->process_path, "dotnet");
    ck_assert_str_eq(wc->arguments, "./MyApp.dll");
    ck_assert_int_eq(wc->stdout_log_enabled, 0);
    ck_assert_str_eq(wc->stdout_log_file, "./logs/stdout");
    ck_assert_int_eq(wc->hosting_inprocess, 1);
    assert_all_absent_but_paths(wc);
}
END_TEST

START_TEST(reference_self_contained)
{
    ac_webconfig_t *wc;
    const char *path = AC_TEST_DATA "/reference-self-contained.config";

    ck_assert_ptr_null(ac_webconfig_load(test_pool, path, ac_env_lookup_envp, (void *)env, &wc));
    ck_assert_int_eq(wc->line, 8);
    ck_assert_str_eq(wc->process_path, "./MyApp.exe");
    ck_assert_ptr_null(wc->arguments);
    ck_assert_int_eq(wc->stdout_log_enabled, 0);
    ck_assert_str_eq(wc->stdout_log_file, "./logs/stdout");
    ck_assert_int_eq(wc->hosting_inprocess, 1);
    assert_all_absent_but_paths(wc);
}
END_TEST

/* The same pair from the ANCM V1 documentation: no <location>, no hostingModel. */
START_TEST(reference_v1)
{
    ac_webconfig_t *wc;

    ck_assert_ptr_null(ac_webconfig_load(test_pool,
                                         AC_TEST_DATA "/reference-v1-framework-dependent.config",
                                         NULL, NULL, &wc));
    ck_assert_int_eq(wc->line, 7);
    ck_assert_str_eq(wc->process_path, "dotnet");
    ck_assert_str_eq(wc->arguments, "./MyApp.dll");
    ck_assert_int_eq(wc->hosting_inprocess, -1);
    ck_assert_ptr_null(ac_webconfig_load(test_pool,
                                         AC_TEST_DATA "/reference-v1-self-contained.config",
                                         NULL, NULL, &wc));
    ck_assert_str_eq(wc->process_path, "./MyApp.exe");
    ck_assert_ptr_null(wc->arguments);
    ck_assert_str_eq(wc->stdout_log_file, "./logs/stdout");
}
END_TEST

/* What `dotnet publish` writes for samples/HelloApp: UTF-8 BOM, <location>. */
START_TEST(published_by_dotnet)
{
    ac_webconfig_t *wc;
    apr_size_t len;
    char *buf = read_data("published-helloapp.config", &len);

    ck_assert_uint_eq((unsigned char)buf[0], 0xEF);              /* the BOM is there */
    ck_assert_ptr_null(quiet_parse(buf, len, &wc));
    ck_assert_int_eq(wc->line, 8);
    ck_assert_str_eq(wc->path, WC_PATH);
    ck_assert_str_eq(wc->process_path, "dotnet");
    ck_assert_str_eq(wc->arguments, "./HelloApp.dll");
    ck_assert_int_eq(wc->stdout_log_enabled, 0);
    ck_assert_str_eq(wc->stdout_log_file, "./logs/stdout");
    ck_assert_int_eq(wc->hosting_inprocess, 0);
    assert_all_absent_but_paths(wc);
}
END_TEST

START_TEST(every_attribute)
{
    ac_webconfig_t *wc = ok(
        "<configuration><location path=\"\"><system.webServer>\n"
        "<aspNetCore processPath=\"%LAUNCHER_PATH%\"\n"
        "    arguments=\"%APPDIR%\\My App.dll --x %NOPE%\"\n"
        "    stdoutLogEnabled=\"TRUE\" stdoutLogFile=\"\\\\?\\%home%\\LogFiles\\stdout\"\n"
        "    requestTimeout=\"1.02:03:04\" startupTimeLimit=\"3600\" shutdownTimeLimit=\"0\"\n"
        "    rapidFailsPerMinute=\"100\" processesPerApplication=\"100\"\n"
        "    forwardWindowsAuthToken=\"false\" disableStartUpErrorPage=\"true\"\n"
        "    hostingModel=\"OutOfProcess\" />\n"
        "</system.webServer></location></configuration>");

    ck_assert_int_eq(wc->line, 2);
    ck_assert_str_eq(wc->process_path, "/usr/bin/dotnet");
    ck_assert_str_eq(wc->arguments, "/srv/app/My App.dll --x %NOPE%");
    ck_assert_int_eq(wc->stdout_log_enabled, 1);
    ck_assert_str_eq(wc->stdout_log_file, "/home/app/LogFiles/stdout");
    ck_assert(wc->request_timeout == apr_time_from_sec(86400 + 2 * 3600 + 3 * 60 + 4));
    ck_assert_int_eq(wc->startup_time_limit, 3600);
    ck_assert_int_eq(wc->shutdown_time_limit, 0);
    ck_assert_int_eq(wc->rapid_fails_per_minute, 100);
    ck_assert_int_eq(wc->processes_per_application, 100);
    ck_assert_int_eq(wc->forward_windows_auth_token, 0);
    ck_assert_int_eq(wc->disable_startup_error_page, 1);
    ck_assert_int_eq(wc->hosting_inprocess, 0);
}
END_TEST

/* A variable's value is taken as it is: only the file's '\' are separators. */
START_TEST(backslashes_from_variables_kept)
{
    static char *const odd[] = { "ODD=a\\b", NULL };
    const char *xml = "<configuration><system.webServer><aspNetCore processPath=\"%ODD%\\x\"/>"
                      "</system.webServer></configuration>";
    ac_webconfig_t *wc;

    ck_assert_ptr_null(ac_webconfig_parse(test_pool, WC_PATH, xml, strlen(xml),
                                          ac_env_lookup_envp, (void *)odd, &wc));
    ck_assert_str_eq(wc->process_path, "a\\b/x");
    /* no lookup: nothing expanded */
    ck_assert_ptr_null(ac_webconfig_parse(test_pool, WC_PATH, xml, strlen(xml), NULL, NULL,
                                          &wc));
    ck_assert_str_eq(wc->process_path, "%ODD%/x");
}
END_TEST

START_TEST(where_aspnetcore_may_be)
{
    ac_webconfig_t *wc;

    /* a default namespace on the whole file (old Visual Studio templates) */
    wc = ok("<configuration xmlns=\"http://schemas.microsoft.com/.NetConfiguration/v2.0\">"
            "<system.webServer><aspNetCore processPath=\"a\"/></system.webServer>"
            "</configuration>");
    ck_assert_str_eq(wc->process_path, "a");
    /* <location> without a path, with ".", with "": all the app itself */
    ok("<configuration><location><system.webServer><aspNetCore processPath=\"a\"/>"
       "</system.webServer></location></configuration>");
    ok("<configuration><location path=\".\"><system.webServer><aspNetCore processPath=\"a\"/>"
       "</system.webServer></location></configuration>");
    /* a sub-path's <location> is not about the app: skipped */
    wc = ok("<configuration>\n<location path=\"api\"><system.webServer>"
            "<aspNetCore processPath=\"other\"/></system.webServer></location>\n"
            "<system.webServer><aspNetCore processPath=\"mine\"/></system.webServer>"
            "</configuration>");
    ck_assert_str_eq(wc->process_path, "mine");
    ck_assert_int_eq(wc->line, 3);
    /* deeper or elsewhere is not where IIS looks */
    bad("<configuration><system.webServer><handlers><aspNetCore processPath=\"a\"/></handlers>"
        "</system.webServer></configuration>", ":1: no <aspNetCore> element in "
        "configuration/system.webServer");
    bad("<configuration><aspNetCore processPath=\"a\"/></configuration>", "no <aspNetCore>");
    bad("<configuration><location path=\"api\"><system.webServer><aspNetCore processPath=\"a\"/>"
        "</system.webServer></location></configuration>", "no <aspNetCore>");
    bad("<configuration><system.webServer><AspNetCore processPath=\"a\"/></system.webServer>"
        "</configuration>", "no <aspNetCore>");       /* names are case-sensitive */
    /* comments, processing instructions, CDATA and text around are fine */
    ok("<?xml version=\"1.0\"?><!-- c --><?pi x?><configuration><!-- <aspNetCore/> -->"
       "<system.webServer>text<![CDATA[<aspNetCore>]]><aspNetCore processPath=\"a\">"
       "<!-- x --></aspNetCore></system.webServer></configuration><!-- end -->");
}
END_TEST

START_TEST(ignored_foreign_attributes)
{
    ac_webconfig_t *wc = ok(
        "<configuration xmlns:xdt=\"http://schemas.microsoft.com/XML-Document-Transform\">"
        "<system.webServer><aspNetCore processPath=\"a\" xdt:Transform=\"SetAttributes\" "
        "xdt:Locator=\"Match(name)\"/></system.webServer></configuration>");
    ck_assert_str_eq(wc->process_path, "a");
    ok("<configuration><system.webServer><aspNetCore processPath=\"a\"><recycleOnFileChange>"
       "<file path=\"x.dll\"/></recycleOnFileChange></aspNetCore></system.webServer>"
       "</configuration>");
}
END_TEST

/* ---------------------------------------------------------- collections */

START_TEST(environment_variables)
{
    ac_webconfig_t *wc = ok(section("",
        "<environmentVariables>"
        "<environmentVariable name=\"ASPNETCORE_ENVIRONMENT\" value=\"Development\" />"
        "<environmentVariable name=\"CONFIG_DIR\" value=\"f:\\application_config\" />"
        "<environmentVariable name=\"DATA\" value=\"%HOME%/data;%NOPE%\" />"
        "<environmentVariable name=\"aspnetcore_environment\" value=\"Staging\" />"
        "<environmentVariable name=\"BLANK\" value=\"\" />"
        "</environmentVariables>"));

    ck_assert_int_eq(wc->env->nelts, 4);
    /* a later duplicate (any case) wins, in the place of the first */
    ck_assert_str_eq(entry(wc->env, 0, 0), "aspnetcore_environment");
    ck_assert_str_eq(entry(wc->env, 0, 1), "Staging");
    ck_assert_str_eq(entry(wc->env, 1, 0), "CONFIG_DIR");
    ck_assert_str_eq(entry(wc->env, 1, 1), "f:\\application_config");   /* values are not paths */
    ck_assert_str_eq(entry(wc->env, 2, 1), "/home/app/data;%NOPE%");
    ck_assert_str_eq(entry(wc->env, 3, 0), "BLANK");
    ck_assert_str_eq(entry(wc->env, 3, 1), "");
    ck_assert_int_eq(wc->env_cleared, 0);
}
END_TEST

START_TEST(collections_clear_and_remove)
{
    ac_webconfig_t *wc = ok(section("",
        "<environmentVariables>"
        "<environmentVariable name=\"GONE\" value=\"1\" />"
        "<clear />"
        "<environmentVariable name=\"A\" value=\"1\" />"
        "<environmentVariable name=\"B\" value=\"2\" />"
        "<environmentVariable name=\"C\" value=\"3\" />"
        "<remove name=\"b\" />"
        "<remove name=\"NEVER_SET\" />"
        "<environmentVariable name=\"D\" value=\"4\" />"
        "<environmentVariable name=\"B\" value=\"again\" />"
        "<environmentVariable name=\"a\" value=\"one\" />"
        "</environmentVariables>"
        "<handlerSettings>"
        "<handlerSetting name=\"debugFile\" value=\".\\logs\\aspnetcore-debug.log\" />"
        "<handlerSetting name=\"debugLevel\" value=\"FILE,TRACE\" />"
        "<handlerSetting name=\"stackSize\" value=\"%HOME%\" />"
        "<remove name=\"DEBUGLEVEL\" />"
        "<handlerSetting name=\"DebugFile\" value=\"x\" />"
        "</handlerSettings>"));

    ck_assert_int_eq(wc->env_cleared, 1);
    ck_assert_int_eq(wc->env->nelts, 4);
    ck_assert_str_eq(entry(wc->env, 0, 0), "a");
    ck_assert_str_eq(entry(wc->env, 0, 1), "one");
    ck_assert_str_eq(entry(wc->env, 1, 0), "C");
    ck_assert_str_eq(entry(wc->env, 2, 0), "D");
    ck_assert_str_eq(entry(wc->env, 3, 0), "B");
    ck_assert_str_eq(entry(wc->env, 3, 1), "again");

    ck_assert_int_eq(wc->handler_settings->nelts, 2);
    ck_assert_str_eq(entry(wc->handler_settings, 0, 0), "DebugFile");
    ck_assert_str_eq(entry(wc->handler_settings, 0, 1), "x");
    ck_assert_str_eq(entry(wc->handler_settings, 1, 0), "stackSize");
    ck_assert_str_eq(entry(wc->handler_settings, 1, 1), "%HOME%");    /* not expanded */
}
END_TEST

START_TEST(collection_clear_at_end)
{
    ac_webconfig_t *wc = ok(section("", "<environmentVariables>"
                                    "<environmentVariable name=\"A\" value=\"1\" /><clear/>"
                                    "</environmentVariables><handlerSettings><clear/>"
                                    "</handlerSettings>"));
    ck_assert_int_eq(wc->env->nelts, 0);
    ck_assert_int_eq(wc->env_cleared, 1);
    ck_assert_int_eq(wc->handler_settings->nelts, 0);
}
END_TEST

START_TEST(many_entries)
{
    /* 8000 entries and as many duplicates: linear, not quadratic */
    apr_array_header_t *parts = apr_array_make(test_pool, 16001, sizeof(const char *));
    ac_webconfig_t *wc;
    int i;

    for (i = 0; i < 16000; i++) {
        APR_ARRAY_PUSH(parts, const char *) =
            apr_psprintf(test_pool, "<environmentVariable name=\"V%d\" value=\"%d\"/>",
                         i % 8000, i);
    }
    APR_ARRAY_PUSH(parts, const char *) = "<remove name=\"v0\"/>";
    wc = ok(section("", apr_pstrcat(test_pool, "<environmentVariables>",
                                    apr_array_pstrcat(test_pool, parts, 0),
                                    "</environmentVariables>", NULL)));
    ck_assert_int_eq(wc->env->nelts, 7999);
    ck_assert_str_eq(entry(wc->env, 0, 0), "V1");
    ck_assert_str_eq(entry(wc->env, 0, 1), "8001");
}
END_TEST

START_TEST(collection_errors)
{
    bad(section("", "<environmentVariables><environmentVariable value=\"x\"/>"
                "</environmentVariables>"), ":4: <environmentVariable> needs a non-empty "
        "'name' attribute");
    bad(section("", "<environmentVariables><environmentVariable name=\"\" value=\"x\"/>"
                "</environmentVariables>"), "non-empty 'name'");
    bad(section("", "<environmentVariables><environmentVariable name=\"A\"/>"
                "</environmentVariables>"), "<environmentVariable name='A'> needs a 'value' "
        "attribute");
    bad(section("", "<environmentVariables><environmentVariable name=\"A=B\" value=\"x\"/>"
                "</environmentVariables>"), "environment variable name 'A=B' must not "
        "contain '='");
    bad(section("", "<environmentVariables><environmentVariable name=\"A\" value=\"x\" "
                "Value=\"y\"/></environmentVariables>"), "unrecognized attribute 'Value' on "
        "<environmentVariable>");
    bad(section("", "<environmentVariables><add name=\"A\" value=\"x\"/>"
                "</environmentVariables>"), "unrecognized element <add> in "
        "<environmentVariables> (allowed: environmentVariable, remove, clear)");
    bad(section("", "<environmentVariables><handlerSetting name=\"A\" value=\"x\"/>"
                "</environmentVariables>"), "unrecognized element <handlerSetting>");
    bad(section("", "<environmentVariables><remove/></environmentVariables>"),
        "<remove> needs a non-empty 'name'");
    bad(section("", "<environmentVariables><remove name=\"A\" value=\"x\"/>"
                "</environmentVariables>"), "unrecognized attribute 'value' on <remove>");
    bad(section("", "<environmentVariables><clear name=\"x\"/></environmentVariables>"),
        "unrecognized attribute 'name' on <clear>");
    bad(section("", "<environmentVariables x=\"1\"></environmentVariables>"),
        "unrecognized attribute 'x' on <environmentVariables>");
    bad(section("", "<environmentVariables/>\n<environmentVariables/>"),
        ":5: a second <environmentVariables> in <aspNetCore> (the first is at line 4)");
    bad(section("", "<handlerSettings/><handlerSettings/>"), "a second <handlerSettings>");
    bad(section("", "<environmentVariable name=\"A\" value=\"1\"/>"),
        "unrecognized element <environmentVariable> in <aspNetCore>");
    bad(section("", "<EnvironmentVariables/>"), "unrecognized element <EnvironmentVariables>");
    bad(section("", "<handlerSettings><handlerSetting name=\"x\"/></handlerSettings>"),
        "<handlerSetting name='x'> needs a 'value'");
}
END_TEST

/* ------------------------------------------------------------ malformed */

START_TEST(attribute_errors)
{
    bad("<configuration><system.webServer>\n<aspNetCore arguments=\"x\"/>"
        "</system.webServer></configuration>", WC_PATH ":2: Attribute 'processPath' is "
        "required.");
    bad(section("processPath=\"b\"", ""), "Attribute processPath redefined");   /* XML itself */
    bad("<configuration><system.webServer><aspNetCore processPath=\"  \"/>"
        "</system.webServer></configuration>", "Attribute 'processPath' is required.");
    bad("<configuration><system.webServer><aspNetCore processPath=\"%EMPTY%\"/>"
        "</system.webServer></configuration>", "processPath '%EMPTY%' is empty once expanded");
    bad(section("processpath=\"x\"", ""), ":4: unrecognized attribute 'processpath' on "
        "<aspNetCore> (attribute names are case-sensitive)");
    bad(section("stackSize=\"1\"", ""), "unrecognized attribute 'stackSize'");
    bad(section("disableStartupErrorPage=\"true\"", ""),
        "unrecognized attribute 'disableStartupErrorPage'");
    bad(section("requestTimeout=\"00:61:00\"", ""), WC_PATH ":4: requestTimeout '00:61:00': "
        "minutes must be 00-59 (format hh:mm:ss, at most 360:00:00)");
    bad(section("requestTimeout=\"00:00:60\"", ""), "seconds must be 00-59");
    bad(section("requestTimeout=\"361:00:00\"", ""), "requestTimeout '361:00:00' is too long");
    bad(section("requestTimeout=\"120\"", ""), "requestTimeout '120' is not a time span");
    bad(section("startupTimeLimit=\"3601\"", ""),
        ":4: startupTimeLimit '3601' is not a whole number from 0 to 3600");
    bad(section("startupTimeLimit=\"-1\"", ""), "startupTimeLimit '-1' is not a whole number");
    bad(section("shutdownTimeLimit=\"601\"", ""), "'601' is not a whole number from 0 to 600");
    bad(section("rapidFailsPerMinute=\"101\"", ""), "from 0 to 100");
    bad(section("processesPerApplication=\"0\"", ""),
        "processesPerApplication '0' is not a whole number from 1 to 100");
    bad(section("processesPerApplication=\"99999999999999999999999\"", ""), "from 1 to 100");
    bad(section("stdoutLogEnabled=\"yes\"", ""), "stdoutLogEnabled 'yes' is not true or false");
    bad(section("forwardWindowsAuthToken=\"1\"", ""), "forwardWindowsAuthToken '1' is not");
    bad(section("disableStartUpErrorPage=\"\"", ""), "disableStartUpErrorPage '' is not");
    bad(section("hostingModel=\"bogus\"", ""),
        "hostingModel 'bogus' is not InProcess or OutOfProcess");
    bad(section("", "<unknownChild/>"), "unrecognized element <unknownChild> in <aspNetCore>");
}
END_TEST

/* An error in an attribute of a tag spread over lines names the '<' line. */
START_TEST(error_lines)
{
    bad("<configuration>\n<system.webServer>\n\n<aspNetCore\n processPath=\"dotnet\"\n"
        " startupTimeLimit=\"x\"\n />\n</system.webServer>\n</configuration>",
        WC_PATH ":4: startupTimeLimit 'x'");
    bad("<configuration>\r\n<system.webServer>\r\n<aspNetCore processPath=\"a\">\r\n"
        "<environmentVariables>\r\n<environmentVariable\r\n name=\"A\"\r\n/>"
        "</environmentVariables></aspNetCore></system.webServer></configuration>",
        WC_PATH ":5: <environmentVariable name='A'> needs a 'value'");
}
END_TEST

START_TEST(two_sections)
{
    bad("<configuration>\n<system.webServer>\n<aspNetCore processPath=\"a\"/>\n"
        "<aspNetCore processPath=\"b\"/>\n</system.webServer></configuration>",
        WC_PATH ":4: two <aspNetCore> elements apply to this app, at lines 3 and 4");
    bad("<configuration>\n<location path=\".\"><system.webServer>\n<aspNetCore processPath=\"a\"/>"
        "\n</system.webServer></location>\n<system.webServer><aspNetCore processPath=\"b\"/>"
        "</system.webServer></configuration>", "at lines 3 and 5");
    bad("<configuration><system.webServer><aspNetCore processPath=\"a\"/></system.webServer>"
        "<system.webServer><aspNetCore processPath=\"b\"/></system.webServer></configuration>",
        "two <aspNetCore> elements");
}
END_TEST

START_TEST(bad_documents)
{
    ac_webconfig_t *wc = NULL;

    bad("", ":1: XML error: ");
    bad("   ", ":1: XML error: ");
    bad("<?xml version=\"1.0\"?>", ":1: XML error: ");
    bad("not xml at all", ":1: XML error: Start tag expected");
    bad("<configuration>\n<system.webServer>\n</configuration>", ":3: XML error: Opening and "
        "ending tag mismatch: system.webServer line 2 and configuration");
    bad("<configuration><system.webServer><aspNetCore processPath=\"a\"></system.webServer>",
        "XML error");
    bad("<configuration><system.webServer><aspNetCore processPath=a/></system.webServer>"
        "</configuration>", "XML error: AttValue: \" or ' expected");
    bad("<configuration><system.webServer><aspNetCore processPath=\"a&b\"/>"
        "</system.webServer></configuration>", "XML error");
    bad("<configuration><system.webServer><aspNetCore processPath=\"&undefined;\"/>"
        "</system.webServer></configuration>", "XML error: Entity 'undefined' not defined");
    bad("<configuration><a:b/></configuration>", "XML error: Namespace prefix a on b is "
        "not defined");
    bad("<configuration/><configuration/>", "XML error: Extra content at the end");
    bad("<root><system.webServer><aspNetCore processPath=\"a\"/></system.webServer></root>",
        ":1: the root element is <root>, not <configuration>: not a web.config");
    bad("<Configuration/>", "the root element is <Configuration>");
    bad("<configuration/>", ":1: no <aspNetCore> element");
    bad("<configuration>\n<system.webServer/>\n</configuration>", "no <aspNetCore> element");
    /* a NUL byte in the middle */
    ck_assert_ptr_nonnull(quiet_parse("<configuration>\0</configuration>", 32, &wc));
    /* not UTF-8 */
    bad("<?xml version=\"1.0\" encoding=\"iso-8859-1\"?><configuration><system.webServer>"
        "<aspNetCore processPath=\"caf\xe9\"/></system.webServer></configuration>",
        "(a web.config must be UTF-8, whatever its XML declaration says)");
    bad("<?xml version=\"1.0\" encoding=\"bogus-encoding\"?><configuration/>", "no <aspNetCore>");
    ck_assert_ptr_nonnull(strstr(quiet_parse("\xff\xfe<\0c\0/\0>\0", 10, &wc),
                                 ":1: the file is encoded in UTF-16: a web.config must be "
                                 "saved as UTF-8"));
    ck_assert_ptr_nonnull(strstr(quiet_parse("\xfe\xff\0<\0c\0/\0>", 10, &wc), "UTF-16"));
    ck_assert_ptr_nonnull(strstr(quiet_parse("\0\0\0<\0\0\0c", 8, &wc), "UCS-4"));
    ck_assert_ptr_nonnull(strstr(quiet_parse("\x4c\x6f\xa7\x94", 4, &wc), "EBCDIC"));
    /* a non-ASCII but valid UTF-8 value is fine */
    wc = ok("<configuration><system.webServer><aspNetCore processPath=\"./caf\xc3\xa9\"/>"
            "</system.webServer></configuration>");
    ck_assert_str_eq(wc->process_path, "./caf\xc3\xa9");
}
END_TEST

/* Control characters from the file never reach a message raw. */
START_TEST(messages_are_clean)
{
    const char *err = bad(section("startupTimeLimit=\"1&#10;&#13;&#9;2\"", ""),
                          "startupTimeLimit '1\\x0a\\x0d\\x092'");
    ck_assert_ptr_null(strchr(err, '\n'));
    /* other control characters cannot even be referenced in XML */
    bad(section("startupTimeLimit=\"&#x1b;[31m\"", ""), "invalid xmlChar value 27");
    err = bad(section(apr_psprintf(test_pool, "startupTimeLimit=\"%0500dx\"", 7), ""),
              "startupTimeLimit");
    ck_assert_uint_lt(strlen(err), 200);
    err = bad(apr_pstrcat(test_pool, "<configuration><", apr_psprintf(test_pool, "%0900d", 0),
                          "/></configuration>", NULL), "XML error");
    ck_assert_uint_lt(strlen(err), 300);
    /* long names are cut too */
    err = bad(section(apr_psprintf(test_pool, "x%0900d=\"1\"", 0), ""),
              "unrecognized attribute 'x0000");
    ck_assert_uint_lt(strlen(err), 200);
    err = bad(section("", apr_psprintf(test_pool, "<x%0900d/>", 0)), "unrecognized element <x000");
    ck_assert_ptr_nonnull(strstr(err, "...> in <aspNetCore>"));
    ck_assert_uint_lt(strlen(err), 250);
}
END_TEST

/* ------------------------------------------------------------- hostile */

/* A file the hostile documents point at: it must never be opened. */
typedef struct {
    char dir[64];
    const char *secret;                /* absolute path */
    int inotify;
} bait_t;

static void bait_set(bait_t *b)
{
    apr_file_t *f;

    strcpy(b->dir, "/tmp/check_webconfig_XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(b->dir));
    b->secret = apr_pstrcat(test_pool, b->dir, "/secret.xml", NULL);
    ck_assert_int_eq(apr_file_open(&f, b->secret, APR_FOPEN_WRITE | APR_FOPEN_CREATE,
                                   APR_OS_DEFAULT, test_pool), APR_SUCCESS);
    apr_file_puts("<!ENTITY leak \"TOPSECRET\">TOPSECRET", f);
    apr_file_close(f);
    b->inotify = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    ck_assert_int_ge(b->inotify, 0);
    ck_assert_int_ge(inotify_add_watch(b->inotify, b->secret, IN_OPEN | IN_ACCESS), 0);
}

static void bait_check(bait_t *b)
{
    char events[4096];
    ssize_t n = read(b->inotify, events, sizeof(events));

    ck_assert_msg(n < 0 && errno == EAGAIN, "the parser opened %s", b->secret);
    close(b->inotify);
    unlink(b->secret);
    rmdir(b->dir);
}

static void hostile(const char *xml, const char *want)
{
    const char *err = bad(xml, want);
    ck_assert_ptr_null(strstr(err, "TOPSECRET"));
    ck_assert_ptr_null(strstr(err, "root:"));
    ck_assert_ptr_null(strstr(err, "lol"));
}

#define NO_DTD "must not contain a DTD (<!DOCTYPE>)"

START_TEST(entity_attacks)
{
    bait_t b;
    const char *rest = "<configuration><system.webServer><aspNetCore processPath=\"&x;\"/>"
                       "</system.webServer></configuration>";

    bait_set(&b);
    /* billion laughs */
    hostile(apr_pstrcat(test_pool, "<?xml version=\"1.0\"?>\n<!DOCTYPE configuration [\n"
                        " <!ENTITY lol \"lol\">\n"
                        " <!ENTITY lol1 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">\n"
                        " <!ENTITY lol2 \"&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;\">\n"
                        " <!ENTITY lol3 \"&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;\">\n"
                        " <!ENTITY lol4 \"&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;\">\n"
                        " <!ENTITY lol5 \"&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;\">\n"
                        " <!ENTITY lol6 \"&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;\">\n"
                        " <!ENTITY lol7 \"&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;\">\n"
                        " <!ENTITY lol8 \"&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;\">\n"
                        " <!ENTITY lol9 \"&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;\">\n"
                        " <!ENTITY x \"&lol9;\">\n]>\n", rest, NULL),
            WC_PATH ":2: a web.config " NO_DTD);
    /* external entity: a local file, then the test's own bait */
    hostile(apr_pstrcat(test_pool, "<!DOCTYPE configuration [<!ENTITY x SYSTEM "
                        "\"file:///etc/passwd\">]>", rest, NULL), NO_DTD);
    hostile(apr_pstrcat(test_pool, "<!DOCTYPE configuration [<!ENTITY x SYSTEM \"file://",
                        b.secret, "\">]>", rest, NULL), NO_DTD);
    hostile(apr_pstrcat(test_pool, "<!DOCTYPE configuration [<!ENTITY x SYSTEM \"",
                        b.secret, "\">]>", rest, NULL), NO_DTD);
    /* over the network */
    hostile(apr_pstrcat(test_pool, "<!DOCTYPE configuration [<!ENTITY x SYSTEM "
                        "\"http://127.0.0.1:9/x\">]>", rest, NULL), NO_DTD);
    /* external DTD, with and without an internal subset */
    hostile(apr_pstrcat(test_pool, "<!DOCTYPE configuration SYSTEM \"", b.secret, "\">",
                        rest, NULL), NO_DTD);
    hostile(apr_pstrcat(test_pool, "<!DOCTYPE configuration PUBLIC \"-//x//y\" \"", b.secret,
                        "\" [<!ENTITY y \"z\">]>", rest, NULL), NO_DTD);
    /* parameter entities */
    hostile(apr_pstrcat(test_pool, "<!DOCTYPE configuration [<!ENTITY % p SYSTEM \"",
                        b.secret, "\"> %p; ]>", rest, NULL), NO_DTD);
    hostile(apr_pstrcat(test_pool, "<!DOCTYPE configuration [<!ENTITY % p \"<!ENTITY x "
                        "'lol'>\"> %p; ]>", rest, NULL), NO_DTD);
    /* an empty DTD is still a DTD; the line is the DOCTYPE's */
    hostile("<?xml version=\"1.0\"?>\n\n<!DOCTYPE configuration>\n<configuration/>",
            WC_PATH ":3: a web.config " NO_DTD);
    /* a DOCTYPE after an error: still refused, still nothing read */
    hostile(apr_pstrcat(test_pool, "<?xml version=\"1.0\" bogus?><!DOCTYPE configuration "
                        "SYSTEM \"", b.secret, "\">", rest, NULL), "XML error");
    /* XInclude is not processed: it is just an unknown element */
    hostile(apr_pstrcat(test_pool, "<configuration xmlns:xi=\"http://www.w3.org/2001/XInclude\">"
                        "<system.webServer><aspNetCore processPath=\"a\"><xi:include href=\"",
                        b.secret, "\"/></aspNetCore></system.webServer></configuration>", NULL),
            "unrecognized element <include> in <aspNetCore>");
    bait_check(&b);
}
END_TEST

START_TEST(size_limits)
{
    apr_size_t n = AC_WEBCONFIG_MAX_BYTES + 1;
    char *big = apr_palloc(test_pool, n + 1);
    const char *head = "<configuration><system.webServer><aspNetCore processPath=\"a\"/>"
                       "</system.webServer><!-- ";
    ac_webconfig_t *wc = NULL;
    const char *err;

    /* just over 1 MiB: refused before parsing */
    memset(big, ' ', n);
    memcpy(big, head, strlen(head));
    memcpy(big + n - 20, " --></configuration>", 20);
    big[n] = '\0';
    err = quiet_parse(big, n, &wc);
    ck_assert_ptr_nonnull(err);
    ck_assert_str_eq(err, WC_PATH ": 1048577 bytes is more than the 1048576 a web.config "
                     "may have");
    /* exactly 1 MiB is fine */
    memcpy(big + n - 21, " --></configuration>", 20);
    ck_assert_ptr_null(quiet_parse(big, n - 1, &wc));

    /* a huge value: bounded by the %VAR% expansion limit */
    err = bad(section(apr_pstrcat(test_pool, "arguments=\"",
                                  apr_psprintf(test_pool, "%0100000d", 0), "\"", NULL), ""),
              ":4: arguments: '0000");
    ck_assert_ptr_nonnull(strstr(err, "expands to more than 65536 bytes"));
}
END_TEST

START_TEST(deep_nesting)
{
    apr_array_header_t *parts = apr_array_make(test_pool, 20002, sizeof(const char *));
    int i;

    APR_ARRAY_PUSH(parts, const char *) = "<configuration>";
    for (i = 0; i < 10000; i++) {
        APR_ARRAY_PUSH(parts, const char *) = "<a>";
    }
    for (i = 0; i < 10000; i++) {
        APR_ARRAY_PUSH(parts, const char *) = "</a>";
    }
    APR_ARRAY_PUSH(parts, const char *) = "</configuration>";
    bad(apr_array_pstrcat(test_pool, parts, 0), "XML error: Excessive depth in document");
    /* deep, but within libxml2's limit: fine, and not where aspNetCore is */
    apr_array_clear(parts);
    APR_ARRAY_PUSH(parts, const char *) = "<configuration><system.webServer>"
                                          "<aspNetCore processPath=\"a\"/></system.webServer>";
    for (i = 0; i < 200; i++) {
        APR_ARRAY_PUSH(parts, const char *) = "<system.webServer>";
    }
    APR_ARRAY_PUSH(parts, const char *) = "<aspNetCore processPath=\"deep\"/>";
    for (i = 0; i < 200; i++) {
        APR_ARRAY_PUSH(parts, const char *) = "</system.webServer>";
    }
    APR_ARRAY_PUSH(parts, const char *) = "</configuration>";
    ck_assert_str_eq(ok(apr_array_pstrcat(test_pool, parts, 0))->process_path, "a");
}
END_TEST

/* ------------------------------------------------------------ the file */

START_TEST(load_errors)
{
    char dir[] = "/tmp/check_webconfig_XXXXXX";
    const char *path, *err;
    ac_webconfig_t *wc = NULL;
    apr_file_t *f;
    apr_off_t off = AC_WEBCONFIG_MAX_BYTES;
    int fd;

    ck_assert_ptr_nonnull(mkdtemp(dir));
    err = ac_webconfig_load(test_pool, apr_pstrcat(test_pool, dir, "/missing", NULL), NULL,
                            NULL, &wc);
    ck_assert_ptr_nonnull(strstr(err, "/missing: cannot read: "));
    err = ac_webconfig_load(test_pool, dir, NULL, NULL, &wc);
    ck_assert_ptr_nonnull(strstr(err, ": not a regular file"));

    /* a FIFO neither blocks nor is read */
    path = apr_pstrcat(test_pool, dir, "/fifo", NULL);
    ck_assert_int_eq(mkfifo(path, 0600), 0);
    err = ac_webconfig_load(test_pool, path, NULL, NULL, &wc);
    ck_assert_ptr_nonnull(strstr(err, "/fifo: not a regular file"));
    unlink(path);

    /* over the limit: refused from its size, never read */
    path = apr_pstrcat(test_pool, dir, "/web.config", NULL);
    ck_assert_int_eq(apr_file_open(&f, path, APR_FOPEN_WRITE | APR_FOPEN_CREATE,
                                   APR_OS_DEFAULT, test_pool), APR_SUCCESS);
    ck_assert_int_eq(apr_file_seek(f, APR_SET, &off), APR_SUCCESS);
    ck_assert_int_eq(apr_file_putc('x', f), APR_SUCCESS);
    apr_file_close(f);
    fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    ck_assert_int_ge(inotify_add_watch(fd, path, IN_ACCESS), 0);
    err = ac_webconfig_load(test_pool, path, NULL, NULL, &wc);
    ck_assert_str_eq(err, apr_pstrcat(test_pool, path, ": 1048577 bytes is more than the "
                                      "1048576 a web.config may have", NULL));
    {
        char ev[256];
        ck_assert_int_lt(read(fd, ev, sizeof(ev)), 0);
    }
    close(fd);
    unlink(path);

    /* an error inside names the file and the line */
    ck_assert_int_eq(apr_file_open(&f, path, APR_FOPEN_WRITE | APR_FOPEN_CREATE,
                                   APR_OS_DEFAULT, test_pool), APR_SUCCESS);
    apr_file_puts("<configuration>\n<system.webServer>\n<aspNetCore processPath=\"a\" "
                  "requestTimeout=\"00:60:00\"/>\n</system.webServer>\n</configuration>\n", f);
    apr_file_close(f);
    err = ac_webconfig_load(test_pool, path, NULL, NULL, &wc);
    ck_assert_str_eq(err, apr_pstrcat(test_pool, path, ":3: requestTimeout '00:60:00': minutes "
                                      "must be 00-59 (format hh:mm:ss, at most 360:00:00)",
                                      NULL));
    unlink(path);
    rmdir(dir);
    ck_assert_ptr_null(wc);
}
END_TEST

Suite *webconfig_suite(void)
{
    Suite *s = suite_create("webconfig");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, pool_setup, pool_teardown);
    tcase_set_timeout(tc, 60);              /* valgrind runs are slow */
    tcase_add_test(tc, reference_framework_dependent);
    tcase_add_test(tc, reference_self_contained);
    tcase_add_test(tc, reference_v1);
    tcase_add_test(tc, published_by_dotnet);
    tcase_add_test(tc, every_attribute);
    tcase_add_test(tc, backslashes_from_variables_kept);
    tcase_add_test(tc, where_aspnetcore_may_be);
    tcase_add_test(tc, ignored_foreign_attributes);
    tcase_add_test(tc, environment_variables);
    tcase_add_test(tc, collections_clear_and_remove);
    tcase_add_test(tc, collection_clear_at_end);
    tcase_add_test(tc, many_entries);
    tcase_add_test(tc, collection_errors);
    tcase_add_test(tc, attribute_errors);
    tcase_add_test(tc, error_lines);
    tcase_add_test(tc, two_sections);
    tcase_add_test(tc, bad_documents);
    tcase_add_test(tc, messages_are_clean);
    tcase_add_test(tc, entity_attacks);
    tcase_add_test(tc, size_limits);
    tcase_add_test(tc, deep_nesting);
    tcase_add_test(tc, load_errors);
    suite_add_tcase(s, tc);
    return s;
}
