"""The city roll-up page (`/city`, served by a city hub on PostgreSQL) in Chromium.

Three wards in one database, their coordinators' devices recording real work over HTTPS, the
roll-up computed (`hub roll-up`), then the page read by a city viewer: every ward's figures,
sorting by a column, 360 px wide, a wrong token refused, and nothing personal on the page.
Run by scripts/postgres-tests.sh (which starts the database); screenshots go to
target/screenshots/ unless DOORSTEP_SCREENSHOTS names another directory.
"""

import json
import os
import subprocess
import tempfile
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

ROOT = Path(__file__).resolve().parents[2]
BIN = ROOT / "target" / "debug" / "doorstep"
SHOTS = Path(os.environ.get("DOORSTEP_SCREENSHOTS", ROOT / "target" / "screenshots"))
ENV = dict(os.environ, DOORSTEP_PIN="246810", DOORSTEP_HUB_PASSPHRASE="phường thử nghiệm")
ALLEYS = ["Ngõ 5 Hàng Bông", "Ngõ 12 Hàng Gai", "Ngõ 3 Lò Sũ"]


def doorstep(*args, db=None):
    command = [str(BIN), "--json"] + (["--db", str(db)] if db else []) + [str(a) for a in args]
    out = subprocess.run(command, env=ENV, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, f"doorstep {args}: {out.stderr}"
    return json.loads(out.stdout) if out.stdout.strip() else None


@pytest.fixture(scope="module")
def city():
    url = os.environ["DOORSTEP_TEST_CITY_DB"]
    work = tempfile.TemporaryDirectory()
    wards = {
        "Phường Cửa Nam": (ALLEYS[0], 4, 3),
        "Phường Hàng Gai": (ALLEYS[1], 2, 2),
        "Phường Lý Thái Tổ": (ALLEYS[2], 3, 0),
    }
    added = {
        name: doorstep("hub", "ward", "add", "--database", url, "--name", name, "--group", "Tổ 1")
        for name in wards
    }
    hub = subprocess.Popen(
        [str(BIN), "hub", "serve", "--database", url, "--listen", "127.0.0.1:0"],
        env=ENV, stdout=subprocess.PIPE, stderr=open(Path(work.name) / "hub.log", "w"), text=True)
    base = hub.stdout.readline().strip().removeprefix("listening on ")
    assert base.startswith("https://"), base
    try:
        for name, (alley, households, visited) in wards.items():
            device = Path(work.name) / f"{added[name]['key']}.sqlite"
            invite = added[name]["invite"]
            doorstep("join", "--hub", base, "--code", invite["code"], "--pin", invite["pin"], db=device)
            for n in range(households):
                made = doorstep("household", "add", "--group", "Tổ 1", "--alley", alley,
                                "--number", str(n + 1), db=device)
                if n < visited:
                    doorstep("visit", "add", "--household", made["id"], "--outcome", "assisted",
                             "--assist", "vneid_activate:done", db=device)
            doorstep("sync", db=device)
        doorstep("hub", "rollup", "--database", url)
        token = doorstep("hub", "ward", "viewer", "--database", url, "--name", "Sở KH&CN")["token"]
        yield {"base": base, "token": token}
    finally:
        hub.kill()
        hub.wait()
        work.cleanup()


@pytest.fixture()
def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for arg in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--ignore-certificate-errors", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--window-size=1280,900"]:
        options.add_argument(arg)
    profile = tempfile.TemporaryDirectory()
    options.add_argument(f"--user-data-dir={profile.name}")
    driver = webdriver.Chrome(options=options, service=Service("/usr/bin/chromedriver"))
    yield driver
    driver.quit()
    profile.cleanup()


def shot(driver, name):
    SHOTS.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(SHOTS / f"{name}.png"))


def loaded(driver):
    WebDriverWait(driver, 20).until(
        lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-loaded") == "true")


def ward_order(driver):
    return [row.get_attribute("data-ward") for row in driver.find_elements(By.CSS_SELECTOR, "#wards tbody tr")]


def test_a_viewer_sees_every_ward_and_sorts_them(city, browser):
    browser.get(f"{city['base']}/city#token={city['token']}")
    loaded(browser)
    assert "token" not in browser.current_url, "the token leaves the address bar"
    assert not browser.find_element(By.ID, "login").is_displayed(), "no token asked for"
    assert "Tiến độ chuyển đổi số" in browser.find_element(By.TAG_NAME, "h1").text
    assert ward_order(browser) == ["Phường Cửa Nam", "Phường Hàng Gai", "Phường Lý Thái Tổ"]
    cells = [td.text for td in browser.find_elements(By.CSS_SELECTOR, "tr[data-ward='Phường Cửa Nam'] td")]
    assert cells[1] == "4" and "75.0%" in cells[2], cells
    totals = browser.find_element(By.ID, "totals").text
    assert "Kích hoạt VNeID" in totals and "5" in totals, totals
    # Highest coverage first.
    browser.find_element(By.CSS_SELECTOR, "th button[data-key='coverage']").click()
    assert ward_order(browser) == ["Phường Hàng Gai", "Phường Cửa Nam", "Phường Lý Thái Tổ"]
    shot(browser, "city-rollup")
    # Nothing personal reaches the page: no address, and the data is aggregates.
    for alley in ALLEYS:
        assert alley not in browser.page_source
    # 360 px wide: the page fits; the table scrolls inside its frame.
    browser.set_window_size(360, 800)
    width = browser.execute_script("return document.documentElement.scrollWidth")
    assert width <= 360, width
    shot(browser, "city-rollup-360")


def test_a_wrong_token_is_refused_and_asked_for_again(city, browser):
    browser.get(f"{city['base']}/city#token=dsv_not_a_viewer")
    WebDriverWait(browser, 20).until(
        lambda d: "Mã xem không đúng" in d.find_element(By.ID, "error").text)
    assert browser.find_element(By.ID, "login").is_displayed()
    assert browser.find_elements(By.CSS_SELECTOR, "#wards tbody tr") == []
    box = browser.find_element(By.ID, "token")
    box.send_keys(city["token"])
    browser.find_element(By.CSS_SELECTOR, "#login button").click()
    loaded(browser)
    assert len(ward_order(browser)) == 3
    assert not browser.find_element(By.ID, "login").is_displayed()
