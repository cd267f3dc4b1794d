"""The operators' dashboard in a real headless Chromium, driven by Playwright."""
