"""Browser tests: the mask editor in JupyterLab 4 and Notebook 7, driven in headless Debian Chromium."""
