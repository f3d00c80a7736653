"""The name node's web page in a real headless Chromium (Debian's chromium + chromium-driver,
driven by selenium): the nodes are shown and the tree is browsed down to a file's blocks. A
screenshot of each page is saved in test-artifacts/."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

from tests.cluster import web
from tests.ops.helpers import HEARTBEAT, SMALL_BLOCKS

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


@pytest.fixture
def browser():
    chromium = shutil.which("chromium")
    driver_path = shutil.which("chromedriver")
    assert chromium and driver_path, "scripts/install.sh --test installs chromium and chromium-driver"
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                     "--window-size=1400,1000"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


def shot(driver, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    assert driver.save_screenshot(str(ARTIFACTS / f"web_page_{name}.png"))


def test_web_page_shows_the_nodes_and_browses_to_a_file(make_cluster, browser):
    cluster = make_cluster(datanodes=4, heartbeat=HEARTBEAT, env=SMALL_BLOCKS)
    nn = cluster.client(user="root")
    nn.mkdirs("/web/inner")
    data = b"0123456789" * 60_000  # 3 blocks
    nn.tee("/web/inner/data.bin", data)
    nn.tee("/web/note<b>.txt", b"escaped")
    ids = cluster.alive_ids()
    # fresh blocks wait for one healer check before the page may call them fully replicated
    cluster.wait_for(lambda: cluster.status()["namenode"]["under_replicated"] == 0, timeout=30)

    token = f"?delegation={cluster.token}" if cluster.token else ""  # a browser has no header to send
    browser.get(cluster.namenode_url + "/" + token)
    # read in one script: the overview reloads itself every few seconds
    rows = browser.execute_script(
        "return [...document.querySelectorAll('#datanodes tbody tr')].map(r => [r.dataset.nodeId,"
        " r.querySelector('td.state').textContent, r.querySelector('td.root').textContent])")
    assert {row[0] for row in rows} == ids
    assert {(state, root) for _, state, root in rows} == {("alive", "local")}
    assert browser.execute_script("return [document.getElementById('safemode').textContent,"
                                  " document.getElementById('under-replicated').textContent]") \
        == ["Safe mode is off", "0"]
    shot(browser, "overview")

    for attempt in range(3):  # a reload between finding the link and clicking it makes it stale
        try:
            browser.find_element(By.ID, "nav-browse").click()
            break
        except StaleElementReferenceException:
            if attempt == 2:
                raise
    browser.find_element(By.CSS_SELECTOR, '#listing tr[data-name="web"] a').click()
    names = [row.get_attribute("data-name") for row in browser.find_elements(By.CSS_SELECTOR, "#listing tbody tr")]
    assert names == ["inner", "note<b>.txt"]  # escaped, not markup
    browser.find_element(By.CSS_SELECTOR, '#listing tr[data-name="inner"] a').click()
    assert "/web/inner" in browser.find_element(By.ID, "breadcrumbs").text.replace(" ", "")
    browser.find_element(By.CSS_SELECTOR, '#listing tr[data-name="data.bin"] a').click()
    blocks = browser.find_elements(By.CSS_SELECTOR, "#blocks tbody tr")
    assert len(blocks) == 3
    for block in blocks:
        replicas = {a.get_attribute("data-node-id") for a in block.find_elements(By.CSS_SELECTOR, "a.replica")}
        assert len(replicas) == 3 and replicas <= ids
    shot(browser, "file")
    link = browser.find_element(By.ID, "download").get_attribute("href")
    assert web.get(link, timeout=10).content == data  # the 307 to a data node, followed

    browser.find_element(By.CSS_SELECTOR, "#blocks a.replica").click()
    assert browser.find_element(By.ID, "node-state").text == "alive"
    assert browser.find_element(By.ID, "node-root").text == "local"
    shot(browser, "node")

    browser.get(cluster.namenode_url + "/ui/browse?path=/nope" + token.replace("?", "&"))
    assert "does not exist" in browser.find_element(By.ID, "error").text
