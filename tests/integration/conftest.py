"""pytest wiring for the mod_aspnetcore integration tests.

Environment:
  ASPNETCORE_TEST_MPMS       MPMs every httpd test runs under, comma separated (default: event)
  ASPNETCORE_TEST_BACKENDS   backends for `backend`-parametrized tests (default: standin,aspnetcore)
  ASPNETCORE_MODULE_SO       module to load (default: <repo>/.libs/mod_aspnetcore.so)
  ASPNETCORE_SAMPLE_DLL      real ASP.NET Core app (default: <repo>/build/sample/HelloApp/HelloApp.dll)
  ASPNETCORE_TEST_LOGLEVEL   httpd LogLevel (default: "warn aspnetcore:debug")
  ASPNETCORE_TEST_KEEP=1     keep every server's temp dir (dirs of failed tests are always kept)

Fixtures: apache (HttpdFactory), mpm, backend (parametrized standin/aspnetcore),
standin_backend, aspnetcore_backend.
Markers: @pytest.mark.expect_log(regex, ...) tolerate matching error-level httpd log lines;
         @pytest.mark.backends("standin") restrict the backend parametrization;
         @pytest.mark.mpms("prefork") restrict the MPM parametrization;
         @pytest.mark.also_mpms("prefork") add MPMs to it (a test that guards something
         only one MPM can show, also in a run under another MPM).

A test that used `apache` FAILS when, after it ran, stopping httpd left a descendant
process alive or the error log has unexpected error/crit/alert/emerg lines, a
'Segmentation fault' or an 'exit signal'.
"""

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import backends  # noqa: E402
import httpd  # noqa: E402

FACTORY_KEY = pytest.StashKey()


def _env_list(name, default, allowed):
    raw = os.environ.get(name, "").strip()
    items = [x.strip() for x in (raw or default).split(",") if x.strip()]
    bad = [x for x in items if x not in allowed]
    if bad:
        raise pytest.UsageError("%s: unknown value(s) %s (allowed: %s)" % (name, bad, ", ".join(allowed)))
    return items


def pytest_configure(config):
    config.addinivalue_line("markers", "expect_log(*regexes): error-level httpd log lines "
                                       "matching one of these are expected by the test")
    config.addinivalue_line("markers", "backends(*names): run only with these backends")
    config.addinivalue_line("markers", "mpms(*names): run only under these MPMs")
    config.addinivalue_line("markers", "also_mpms(*names): run under these MPMs too, whatever "
                                       "ASPNETCORE_TEST_MPMS says")
    config.addinivalue_line("markers", "every_mpm(*names): MPM-sensitive (threads, keep-alive, "
                                       "tunnels, per-child pools, child-side registration): runs "
                                       "under the MPMs that ASPNETCORE_TEST_NARROW_MPMS narrows "
                                       "too (only under `names` of them when given)")
    config.addinivalue_line("markers", "not_under_sanitizers(reason): skipped, saying why, "
                                       "against the sanitizer build: the test's time goes to "
                                       "waiting on real clocks, and the module code it runs is "
                                       "run under the sanitizers by other tests")


def pytest_collection_modifyitems(config, items):
    """ASPNETCORE_TEST_NARROW_MPMS (comma list, e.g. "worker,prefork"): under those MPMs only
    the tests marked every_mpm run (and those that name the MPM in also_mpms); the others are
    deselected (counted in the summary). The test command uses it to keep its time: event
    runs everything; worker shares its threaded request path; what the files without the
    mark test (configuration parsing, the parent's and the supervisor's logic, pages, logs)
    does not depend on the MPM."""
    if httpd.sanitizer_build():
        for item in items:
            why = item.get_closest_marker("not_under_sanitizers")
            if why is not None:
                item.add_marker(pytest.mark.skip(reason="not against the sanitizer build: %s"
                                                 % why.args[0]))
    narrow = set(_env_list("ASPNETCORE_TEST_NARROW_MPMS", "", httpd.MPMS)) if \
        os.environ.get("ASPNETCORE_TEST_NARROW_MPMS", "").strip() else set()
    if not narrow:
        return
    keep, drop = [], []
    for item in items:
        callspec = getattr(item, "callspec", None)
        mpm = callspec.params.get("mpm") if callspec else None
        every = item.get_closest_marker("every_mpm")
        also = item.get_closest_marker("also_mpms")
        kept = (every is not None and (not every.args or mpm in every.args)) or \
            (also is not None and mpm in also.args)
        if mpm in narrow and not kept:
            drop.append(item)
        else:
            keep.append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


def pytest_report_header(config):
    so = httpd.module_so_path()
    return ["aspnetcore integration: MPMs=%s backends=%s module=%s (%s)" % (
        ",".join(_env_list("ASPNETCORE_TEST_MPMS", "event", httpd.MPMS)),
        ",".join(_env_list("ASPNETCORE_TEST_BACKENDS", "standin,aspnetcore", backends.BACKEND_NAMES)),
        so, "present" if os.path.isfile(so) else "MISSING")]


def _selected(metafunc, env, default, known, marker_name):
    """The values of env (comma list) that the test's marker (if any) allows; a loud skip
    when none is left, instead of silently collecting nothing."""
    values = _env_list(env, default, known)
    marker = metafunc.definition.get_closest_marker(marker_name)
    if marker:
        values = [v for v in values if v in marker.args]
    if not values:
        values = [pytest.param("none", marks=pytest.mark.skip(
            reason="test needs %s %s, none of which is in %s"
            % (marker_name, marker.args if marker else (), env)))]
    return values


def pytest_generate_tests(metafunc):
    if "mpm" in metafunc.fixturenames:
        mpms = _selected(metafunc, "ASPNETCORE_TEST_MPMS", "event", httpd.MPMS, "mpms")
        also = metafunc.definition.get_closest_marker("also_mpms")
        if also:
            mpms = [m for m in mpms if m != "none"] + [m for m in also.args if m not in mpms]
        metafunc.parametrize("mpm", mpms, scope="function")
    if "backend" in metafunc.fixturenames:
        metafunc.parametrize("backend_name", _selected(
            metafunc, "ASPNETCORE_TEST_BACKENDS", "standin,aspnetcore", backends.BACKEND_NAMES,
            "backends"), scope="function")


@pytest.fixture
def backend_name():
    # Overridden by pytest_generate_tests parametrization.
    return "standin"


@pytest.fixture
def apache(request, mpm):
    fac = httpd.HttpdFactory(mpm, request.node.name)
    for mark in request.node.iter_markers("expect_log"):
        for rx in mark.args:
            fac.expect_log(rx)
    request.node.stash[FACTORY_KEY] = fac
    yield fac
    problems = fac.finish()
    failed = getattr(request.node, "_rig_failed", False)
    if failed or problems:
        fac.keep = True
        for srv in fac.servers:
            print("kept temp dir of %s: %s" % (srv.name, srv.dir))
    fac.cleanup()
    if problems and not failed and not getattr(request.node, "_rig_reported", False):
        pytest.fail("httpd problems found at teardown:\n" + "\n".join(problems), pytrace=False)


@pytest.fixture(scope="session")
def hello_app_dll():
    if not backends.find_dotnet():
        pytest.skip("SKIPPED LOUDLY: `dotnet` is not installed, so the real ASP.NET Core backend "
                    "(build/sample/HelloApp) cannot be built or run; install the .NET SDK to run "
                    "the aspnetcore-backend variants")
    dll, err = backends.build_sample()
    if err:
        pytest.fail("cannot build the real ASP.NET Core sample app: %s" % err, pytrace=False)
    return dll


@pytest.fixture(scope="session")
def real_app_dll():
    """samples/RealApp, built once per session (tools/build-sample.sh --app RealApp)."""
    if not backends.find_dotnet():
        pytest.skip("SKIPPED LOUDLY: `dotnet` is not installed, so the real-app conformance "
                    "sample (samples/RealApp) cannot be built or run; install the .NET SDK")
    dll, err = backends.build_real_app()
    if err:
        pytest.fail("cannot build the real-app sample (samples/RealApp): %s" % err, pytrace=False)
    return dll


@pytest.fixture
def real_app(real_app_dll):
    return backends.real_app(real_app_dll)


@pytest.fixture
def standin_backend():
    return backends.standin()


@pytest.fixture
def aspnetcore_backend(hello_app_dll):
    return backends.aspnetcore(hello_app_dll)


@pytest.fixture
def backend(request, backend_name):
    if backend_name == "standin":
        return backends.standin()
    if backend_name == "aspnetcore":
        return backends.aspnetcore(request.getfixturevalue("hello_app_dll"))
    raise AssertionError("unknown backend %r" % backend_name)


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_pyfunc_call(pyfuncitem):
    """Right after the test body: stop its httpd servers and turn leftover processes or
    unexpected error-log lines into a failure of the test itself."""
    __tracebackhide__ = True
    outcome = yield
    fac = pyfuncitem.stash.get(FACTORY_KEY, None)
    if fac is None:
        return
    problems = fac.finish()
    if problems and outcome.excinfo is None:
        pyfuncitem._rig_reported = True
        raise AssertionError("httpd problems after the test:\n" + "\n".join(problems))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    fac = item.stash.get(FACTORY_KEY, None)
    if fac is None or not rep.failed:
        return
    item._rig_failed = True
    if fac.problems and call.excinfo is not None and "httpd problems after the test" not in str(call.excinfo.value):
        rep.sections.append(("httpd problems", "\n".join(fac.problems)))
    for title, text in fac.report_sections():
        rep.sections.append((title, text))
    dirs = "\n".join("%s: %s" % (s.name, s.dir) for s in fac.servers)
    if dirs:
        rep.sections.append(("httpd temp dirs (kept)", dirs))
