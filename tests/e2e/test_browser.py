"""The browser demo end to end: headless Chromium (Debian's, driven by Playwright) against the
local cloud, the page opened at us-east-1's API origin where that region's `web` function serves
it. Screenshots go to test-artifacts/ (gitignored)."""

from __future__ import annotations

import base64
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Locator, Page, expect, sync_playwright

from .cloud import CHROMIUM, CHROMIUM_ARGS, ROOT, Cloud, http, wait_for

if not CHROMIUM.exists():
    pytest.skip(
        f"the browser tests need Debian's Chromium at {CHROMIUM} (apt-get install chromium)",
        allow_module_level=True,
    )

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

VIEWPORT = {"width": 1280, "height": 900}
ARTIFACTS = ROOT / "test-artifacts"
IMAGES = ROOT / "static" / "assets" / "images"
EAST, WEST = "us-east-1", "us-west-2"
REGIONS = (EAST, WEST)
SESSION_KEY = "active-active-demo.session"
SERVED_BY = re.compile(r"served by (us-east-1|us-west-2)")
VIEWS = re.compile(r"page viewed (\d+) (?:(?<= 1 )time|(?<! 1 )times)\b")  # "1 time", "2 times"
PROVOKED = re.compile(r"Failed to load resource: the server responded with a status of (401|500|503)\b")
# What Chromium logs for a request to a blacked-out region: nothing listens there.
REFUSED = re.compile(r"Failed to load resource: net::ERR_CONNECTION_REFUSED")

# Lambda cold starts in the local cloud can take a few seconds.
expect.set_options(timeout=15_000)

CSP_HOOK = """
window.__cspViolations = [];
document.addEventListener('securitypolicyviolation',
  (e) => window.__cspViolations.push(`${e.violatedDirective} ${e.blockedURI}`));
"""


@dataclass
class App:
    """The demo page in its own browser context, with what it logged."""

    page: Page
    cloud: Cloud
    user: dict[str, str]
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)

    def tid(self, test_id: str) -> Locator:
        return self.page.get_by_test_id(test_id)

    def log_in(self, username: str, password: str) -> None:
        self.tid("username").fill(username)
        self.tid("password").fill(password)
        self.tid("login-submit").click()

    def serving_region(self) -> str:
        expect(self.tid("serving-region")).to_have_text(SERVED_BY)
        match = SERVED_BY.search(self.tid("serving-region").inner_text())
        assert match, self.tid("serving-region").inner_text()
        return match.group(1)

    def click_image(self) -> int:
        """Click the image, wait until the click has its answer, return the count it shows."""
        button = self.tid("image-button")
        button.click()
        # The click handler marks the button busy before its request and clears it after.
        expect(button).to_have_attribute("aria-busy", "false")
        expect(self.tid("error-message")).to_be_hidden()
        expect(self.tid("view-count")).to_have_text(VIEWS)
        match = VIEWS.search(self.tid("view-count").inner_text())
        assert match
        return int(match.group(1))

    def click_stored(self) -> int:
        """Click once the views shown so far are stored in every region (the writer stores each
        view asynchronously, through the bus, and the global table replicates it); return the
        count the click shows."""
        shown = VIEWS.search(self.tid("view-count").inner_text())
        self.cloud.wait_for_views(self.token(), int(shown.group(1)) if shown else 0)
        return self.click_image()

    def token(self) -> str:
        """A token of the signed-in user (a user of the test's own, so only its clicks count)."""
        if "token" not in self.user:
            self.user["token"] = self.cloud.token(user=self.user)
        return self.user["token"]

    def counted_by(self) -> str:
        """The region that counted the last click, from the line under the count."""
        match = re.match(r"counted by (us-east-1|us-west-2)", self.page.locator("#view-detail").inner_text())
        assert match, self.page.locator("#view-detail").inner_text()
        return match.group(1)

    def image_kind(self) -> str:
        """Which of the app's images the image button shows: normal, clicked or error."""
        src = self.tid("image-button").locator("img").get_attribute("src") or ""
        assert src.startswith("data:image/svg+xml;base64,"), src[:80]
        shown = base64.b64decode(src.split(",", 1)[1])
        kinds = [path.stem for path in IMAGES.glob("*.svg") if path.read_bytes() == shown]
        assert len(kinds) == 1, f"the image is none of {sorted(p.name for p in IMAGES.glob('*.svg'))}"
        return kinds[0]

    def screenshot(self, name: str, page: Page | None = None) -> Path:
        """The app's viewport, or the whole of another page (the Slack console)."""
        path = ARTIFACTS / name
        (page or self.page).screenshot(path=str(path), animations="disabled", full_page=page is not None)
        return path

    def assert_no_script_errors(self, *also_provoked: re.Pattern[str]) -> None:
        """No JS errors, no CSP violations, and no console errors except Chromium's own
        "Failed to load resource" lines for the 401s, 500s and 503s the tests provoke on purpose
        (a 404 for a missing asset still fails)."""
        assert not self.page_errors, self.page_errors
        violations = self.page.evaluate("window.__cspViolations")
        assert violations == [], violations
        csp = [m for m in self.console_errors if "Content Security Policy" in m]
        assert not csp, csp
        provoked = (PROVOKED, *also_provoked)
        unexpected = [m for m in self.console_errors if not any(p.match(m) for p in provoked)]
        assert not unexpected, unexpected


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def app(browser: Browser, cloud: Cloud) -> Iterator[App]:
    """A fresh tab (own context, so no session carries over) on us-east-1's copy of the page."""
    context = browser.new_context(viewport=VIEWPORT, device_scale_factor=1)
    context.add_init_script(CSP_HOOK)
    page = context.new_page()
    opened = App(page, cloud, cloud.new_user())
    page.on("console", lambda m: opened.console_errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda error: opened.page_errors.append(str(error)))
    try:
        page.goto(cloud.api(EAST) + "/")
        expect(opened.tid("login-form")).to_be_visible()
        yield opened
    finally:
        context.close()


@pytest.fixture
def signed_in(app: App) -> App:
    app.log_in(app.user["username"], app.user["password"])
    expect(app.tid("hello-message")).to_have_text(re.compile(r"^hello from (us-east-1|us-west-2)$"))
    return app


def _wait_for_clicks(cloud: Cloud, status: int, regions: tuple[str, ...] = REGIONS) -> None:
    """Wait until POST /click answers `status` in each region: the functions cache the chaos
    state for a few seconds after a Slack command."""
    headers = {"authorization": f"Bearer {cloud.token()}"}
    for region in regions:
        answered = wait_for(
            lambda r=region: http("POST", f"{cloud.api(r)}/click", {}, headers).status == status,
            timeout=15,
            interval=0.5,
        )
        assert answered, f"/click did not answer {status} in {region} within 15 s"


def _other(region: str) -> str:
    return WEST if region == EAST else EAST


def test_bad_password_shows_the_servers_login_error(app: App, cloud: Cloud):
    app.log_in(cloud.state["demoUser"]["username"], "wrong-password")

    expect(app.tid("login-error")).to_be_visible()
    expect(app.tid("login-error")).to_have_text("incorrect username or password")
    expect(app.tid("login-error")).to_be_focused()
    expect(app.tid("hello-message")).to_be_hidden()
    app.screenshot("login-error.png")
    app.assert_no_script_errors()


def test_login_shows_hello_from_a_region_with_the_image_and_the_serving_region(signed_in: App):
    app = signed_in

    expect(app.tid("hello-message")).to_be_focused()
    expect(app.tid("image-button").locator("img")).to_have_attribute("src", re.compile(r"^data:image/"))
    assert app.image_kind() == "normal"
    assert app.serving_region() in REGIONS
    expect(app.tid("login-form")).to_be_hidden()
    expect(app.tid("logout")).to_be_visible()
    expect(app.tid("region-list").locator("li")).to_have_count(2)
    app.screenshot("hello.png")
    app.assert_no_script_errors()


def test_each_click_increases_the_view_count_by_one(signed_in: App):
    app = signed_in
    counts = [app.click_stored() for _ in range(3)]

    assert counts == [1, 2, 3], counts
    expect(app.tid("view-count")).to_have_text(f"page viewed {counts[2]} times")
    assert app.image_kind() == "clicked"
    expect(app.tid("error-message")).to_be_hidden()
    app.screenshot("clicked.png")
    app.assert_no_script_errors()


def test_injected_errors_show_the_error_image_and_retry_brings_the_count_back(signed_in: App, cloud: Cloud):
    app = signed_in
    try:
        assert cloud.slack(EAST, "errors 1").status == 200  # no region named: every region
        _wait_for_clicks(cloud, 500)
        app.tid("image-button").click()

        expect(app.tid("error-message")).to_be_visible()
        expect(app.tid("error-message")).to_contain_text("injected failure")
        expect(app.tid("retry-button")).to_be_visible()
        expect(app.tid("image-button")).to_have_attribute("data-kind", "error")
        assert app.image_kind() == "error"
        app.screenshot("injected-error.png")
    finally:
        assert cloud.slack(EAST, "errors 0").status == 200
    _wait_for_clicks(cloud, 200)

    app.tid("retry-button").click()

    expect(app.tid("view-count")).to_have_text(VIEWS)
    expect(app.tid("image-button")).to_have_attribute("data-kind", "clicked")
    assert app.image_kind() == "clicked"
    expect(app.tid("error-message")).to_be_hidden()
    expect(app.tid("retry-button")).to_be_hidden()
    app.assert_no_script_errors()


def test_failing_the_serving_region_from_the_slack_console_fails_clicks_over_without_an_error(
    signed_in: App, cloud: Cloud
):
    app = signed_in
    before = app.click_stored()
    failed = app.counted_by()
    healthy = _other(failed)
    console = app.page.context.new_page()
    console.set_viewport_size({"width": 1024, "height": 320})
    try:
        console.goto(cloud.state["slack"]["console"])
        console.get_by_test_id("console-region").select_option(healthy)
        console.get_by_test_id("console-text").fill(f"fail {failed}")
        console.get_by_test_id("console-send").click()
        expect(console.get_by_test_id("console-answer")).to_contain_text(f"{failed} is now FAILED")
        app.screenshot("slack-console.png", page=console)
        _wait_for_clicks(cloud, 503, (failed,))

        after = app.click_stored()

        assert app.counted_by() == healthy
        assert after == before + 1, f"{before} views before failing over, then {after}"
        expect(app.tid("error-message")).to_be_hidden()
        expect(app.tid("serving-region")).to_have_text(f"served by {healthy}")
        expect(app.tid("region-list").locator(f"li[data-region='{failed}']")).to_have_attribute(
            "data-state", "failed"
        )
        expect(app.tid("activity-log")).to_contain_text(f"{failed} is unhealthy")
        app.screenshot("failover.png")
    finally:
        assert cloud.slack(healthy, f"recover {failed}").status == 200
        console.close()

    recovered = app.tid("region-list").locator(f"li[data-region='{failed}']")
    deadline = time.monotonic() + 15
    while True:
        app.tid("probe-now").click()
        try:
            expect(recovered).to_have_attribute("data-state", "ok", timeout=1_500)
            break
        except AssertionError:
            if time.monotonic() > deadline:
                raise
    app.assert_no_script_errors()


def test_a_blackout_from_the_slack_console_moves_clicks_to_the_other_region_without_an_error(
    signed_in: App, cloud: Cloud
):
    app = signed_in  # the page itself comes from us-east-1's API
    before = app.click_stored()
    cloud.wait_for_views(app.token(), before)  # stored everywhere: none of it waits for us-west-2
    console = app.page.context.new_page()
    console.set_viewport_size({"width": 1024, "height": 480})
    try:
        console.goto(cloud.state["slack"]["console"])
        console.get_by_test_id(f"outage-blackout-{WEST}").click()
        expect(console.get_by_test_id("drill-answer")).to_contain_text('"state": "blackout"')

        after = app.click_image()  # (us-west-2's table cannot be read now: no click_stored)

        assert app.counted_by() == EAST
        assert after == before + 1, f"{before} views before the blackout, then {after}"
        expect(app.tid("error-message")).to_be_hidden()
        app.tid("probe-now").click()
        expect(app.tid("region-list").locator(f"li[data-region='{WEST}']")).to_have_attribute(
            "data-state", "failed"
        )
        console.goto(cloud.state["slack"]["console"])
        app.screenshot("slack-console-blackout.png", page=console)
        console.get_by_test_id(f"outage-restore-{WEST}").click()
        expect(console.get_by_test_id("drill-answer")).to_contain_text('"state": "up"')
    finally:
        if http("GET", f"{cloud.state['control']}/regions/{WEST}").json()["state"] == "blackout":
            http("POST", f"{cloud.state['control']}/regions/{WEST}/restore")
        console.close()

    restored = app.tid("region-list").locator(f"li[data-region='{WEST}']")
    deadline = time.monotonic() + 15
    while True:
        app.tid("probe-now").click()
        try:
            expect(restored).to_have_attribute("data-state", "ok", timeout=1_500)
            break
        except AssertionError:
            if time.monotonic() > deadline:
                raise
    cloud.wait_for_views(app.token(), after)  # the backlog drained into us-west-2
    app.assert_no_script_errors(REFUSED)


def test_logout_returns_to_the_login_form_and_clears_the_session(signed_in: App):
    app = signed_in
    assert app.page.evaluate(f"sessionStorage.getItem('{SESSION_KEY}')")

    app.tid("logout").click()

    expect(app.tid("login-form")).to_be_visible()
    expect(app.tid("logout")).to_be_hidden()
    expect(app.tid("hello-message")).to_be_hidden()
    assert app.page.evaluate("sessionStorage.length") == 0
    app.assert_no_script_errors()
    app.page.reload()
    expect(app.tid("login-form")).to_be_visible()
    expect(app.tid("hello-message")).to_be_hidden()
    app.assert_no_script_errors()
