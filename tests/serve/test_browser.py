"""`edgesig serve` in a real browser: headless Chromium signs on the pen page with pen
pointer events carrying pressure and tilt, enrols, verifies a genuine signature and a
forgery, and takes a kiosk photo through the pipeline. Skips (saying why) without
Chromium, ChromeDriver or Selenium. EDGESIG_SCREENSHOTS=DIR also keeps the screenshots there
(the README's come from it)."""
from __future__ import annotations

import os
import shutil
import threading
import time
from pathlib import Path
from typing import Iterator

import numpy as np
import pytest

pytest.importorskip("starlette", reason="the serve extra is not installed (pip install 'edgesig[serve]')")
uvicorn = pytest.importorskip("uvicorn", reason="the serve extra is not installed (pip install 'edgesig[serve]')")
webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (pip install selenium)")
from selenium.webdriver.common.actions import interaction  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

from edgesig.capture.units import tilt_from_orientation  # noqa: E402
from edgesig.pen import PenStream  # noqa: E402
from edgesig.serve.app import create_app  # noqa: E402
from edgesig.serve.config import ServeConfig  # noqa: E402
from edgesig.serve.demo import Demo  # noqa: E402
from edgesig.serve.service import Service  # noqa: E402
from edgesig.verifier import Verifier  # noqa: E402
from tests.conftest import free_port  # noqa: E402

pytestmark = pytest.mark.slow
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
#: Chromium flags for a closed network, as root, without a screen.
FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--window-size=1200,1000",
         "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream")  # a test-pattern camera


@pytest.fixture(scope="module")
def demo() -> Demo:
    return Demo.create(users=("demo-anna",))


@pytest.fixture(scope="module")
def base_url(demo: Demo) -> Iterator[str]:
    """A real uvicorn server on loopback with one demo user enrolled (pen and photos)."""
    verifier = Verifier()
    demo.enrol(verifier)
    config = ServeConfig(port=free_port())
    server = uvicorn.Server(uvicorn.Config(create_app(Service.create(verifier), config, demo), host=config.host,
                                           port=config.port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "uvicorn did not start within 30 s"
    yield f"http://127.0.0.1:{config.port}"
    server.should_exit = True
    thread.join(10)


@pytest.fixture(scope="module")
def driver(tmp_path_factory: pytest.TempPathFactory) -> Iterator:
    if CHROMIUM is None or CHROMEDRIVER is None:
        pytest.skip("headless Chromium and ChromeDriver are not installed "
                    "(apt-get install chromium chromium-driver; .ci/run does it)")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium')}")
    browser = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=CHROMEDRIVER))
    browser.set_script_timeout(60)
    yield browser
    browser.quit()


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    folders = [tmp_path_factory.mktemp("screenshots")]
    if os.environ.get("EDGESIG_SCREENSHOTS"):
        folders.append(Path(os.environ["EDGESIG_SCREENSHOTS"]))
    return folders


def screenshot(driver, shots: list[Path], name: str) -> None:
    driver.execute_script("window.scrollTo(0, 0);")
    for folder in shots:
        folder.mkdir(parents=True, exist_ok=True)
        assert driver.save_screenshot(str(folder / f"{name}.png"))


def sign(driver, pen: PenStream, kind: str = interaction.POINTER_PEN) -> None:
    """Draw ``pen`` on the pad with a pen (or a mouse): its shape fitted to the pad, every
    sample with its own timestamp, and for a pen its pressure and tilt.

    The samples go through Chromium's input pipeline (DevTools ``Input.dispatchMouseEvent``)
    stamped with the pen's times, so the page sees the signature's timing whatever the load.
    ChromeDriver's pointer actions stamped each event when it was dispatched: a loaded
    machine stretched the timing unevenly (the move after a pen-down came a few ms after it,
    a whole sample away), and CI rejected a genuine mouse signature now and then."""
    pad = driver.find_element(By.ID, "pad")
    box = driver.execute_script("const r = arguments[0].getBoundingClientRect(); return [r.left, r.top, r.width, r.height];", pad)
    scale = min((box[2] - 80) / np.ptp(pen.x), (box[3] - 60) / np.ptp(pen.y))
    px = box[0] + 40 + (pen.x - pen.x.min()) * scale
    py = box[1] + 30 + (pen.y - pen.y.min()) * scale
    tilt_x, tilt_y = (tilt_from_orientation(pen.azimuth, pen.altitude) if pen.azimuth is not None
                      else (np.zeros(len(pen)), np.zeros(len(pen))))
    start = time.time() - pen.t[0] / 1000
    was_down = False
    for i in range(len(pen)):
        down = bool(pen.pen_down[i])
        event = {"type": "mouseMoved", "x": float(px[i]), "y": float(py[i]), "pointerType": kind,
                 "buttons": int(down), "timestamp": start + pen.t[i] / 1000}
        if down != was_down:
            event.update(type="mousePressed" if down else "mouseReleased", button="left", clickCount=1)
        if kind == interaction.POINTER_PEN:
            event.update(force=max(float(pen.pressure[i]), 0.05) if down else 0.0,
                         tiltX=int(round(tilt_x[i])), tiltY=int(round(tilt_y[i])))
        driver.execute_cdp_cmd("Input.dispatchMouseEvent", event)
        was_down = down
    if was_down:
        driver.execute_cdp_cmd("Input.dispatchMouseEvent", {**event, "type": "mouseReleased", "buttons": 0,
                                                            "button": "left", "clickCount": 1, "force": 0.0})
    time.sleep(max(0.0, event["timestamp"] - time.time()))  # the next drawing's times come after these


def click(driver, element_id: str) -> None:
    driver.find_element(By.ID, element_id).click()


def wait_for(driver, selector: str, timeout: float = 60):
    """The element once it is there; fails with the page's own error message if it shows one."""
    def ready(d):
        message = d.find_element(By.ID, "message")
        if message.is_displayed() and "error" in message.get_attribute("class"):
            pytest.fail(f"the page said: {message.text}")
        found = d.find_elements(By.CSS_SELECTOR, selector)
        return found[0] if found else False
    return WebDriverWait(driver, timeout).until(ready)


def verify_drawing(driver, pen: PenStream, kind: str = interaction.POINTER_PEN) -> str:
    click(driver, "clear")
    sign(driver, pen, kind)
    driver.execute_script("document.getElementById('result').replaceChildren();")
    click(driver, "verify")
    return wait_for(driver, "#result .decision").get_attribute("data-decision")


def test_pen_page_enrols_and_verifies_pen_drawings(driver, base_url: str, demo: Demo, shots: list[Path]) -> None:
    writer = demo.writers["demo-anna"]
    rng = np.random.default_rng(3)
    driver.get(f"{base_url}/pen")
    driver.find_element(By.ID, "user").send_keys("grace")
    for _ in range(5):
        sign(driver, writer.genuine(rng))
        click(driver, "keep")
    assert len(driver.find_elements(By.CSS_SELECTOR, "#refs .ref")) == 5
    assert driver.find_element(By.ID, "device").text.startswith("pen, pressure")
    click(driver, "enrol")
    report = wait_for(driver, "#report [data-enrolled='grace']")
    assert "5 of 5 references kept" in report.text or "Redo reference" in driver.find_element(By.ID, "report").text
    assert verify_drawing(driver, writer.genuine(rng)) == "accepted"
    assert "ACCEPTED" in driver.find_element(By.ID, "result").text
    screenshot(driver, shots, "serve-pen")
    assert verify_drawing(driver, writer.forgery(rng)) == "rejected"
    assert "below threshold" in driver.find_element(By.ID, "result").text


def test_pen_page_works_with_a_mouse_without_pressure(driver, base_url: str, demo: Demo) -> None:
    writer = demo.writers["demo-anna"]
    rng = np.random.default_rng(4)
    driver.get(f"{base_url}/pen")
    driver.find_element(By.ID, "user").send_keys("judy")
    for _ in range(5):
        sign(driver, writer.genuine(rng), interaction.POINTER_MOUSE)
        click(driver, "keep")
    assert driver.find_element(By.ID, "device").text == "mouse"
    click(driver, "enrol")
    wait_for(driver, "#report [data-enrolled='judy']")
    assert verify_drawing(driver, writer.genuine(rng), interaction.POINTER_MOUSE) == "accepted"


def test_kiosk_page_locates_and_verifies_a_photo(driver, base_url: str, shots: list[Path]) -> None:
    driver.get(f"{base_url}/kiosk")
    wait_for(driver, "#demo-user option[value='demo-anna']")
    click(driver, "demo-genuine")
    wait_for(driver, "#photo[data-located='yes']")
    click(driver, "verify")
    decision = wait_for(driver, "#result .decision").get_attribute("data-decision")
    assert decision in ("accepted", "rejected")
    WebDriverWait(driver, 30).until(lambda d: d.find_element(By.ID, "heatmap").get_attribute("naturalWidth") != "0")
    screenshot(driver, shots, "serve-kiosk")


def test_kiosk_camera_snapshot_goes_through_the_pipeline(driver, base_url: str) -> None:
    """getUserMedia through Chromium's fake camera (a test pattern, not a form): the snapshot
    reaches the pipeline and the page shows what it found, or the pipeline's reason."""
    driver.get(f"{base_url}/kiosk")
    click(driver, "camera")
    WebDriverWait(driver, 30).until(lambda d: d.find_element(By.ID, "snap").is_enabled())
    WebDriverWait(driver, 30).until(lambda d: d.execute_script("return document.getElementById('video').videoWidth") > 0)
    click(driver, "snap")
    WebDriverWait(driver, 60).until(lambda d: d.find_element(By.ID, "message").is_displayed()
                                    or d.find_element(By.ID, "photo").get_attribute("data-located") == "yes")
    if driver.find_element(By.ID, "message").is_displayed():
        assert driver.find_element(By.ID, "message").text.startswith(("no signature found", "image too"))
    assert not driver.find_element(By.ID, "video").is_displayed()


def test_admin_page_lists_users_audit_and_models(driver, base_url: str, shots: list[Path]) -> None:
    driver.get(f"{base_url}/admin")
    wait_for(driver, "#users tr[data-user='demo-anna']")
    wait_for(driver, "#audit tr[data-event]")
    assert "dtw" in driver.find_element(By.ID, "models").text
    screenshot(driver, shots, "serve-admin")
