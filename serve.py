"""Active Learning Studio's server: ``streamlit run serve.py [-- --project DIR]`` (what
``./dev.sh app`` runs). Streamlit finds ``app`` below (an ``st.App``, Streamlit's ASGI
entry point) and serves ``app.py`` with the sign-in routes of :mod:`ui.auth_routes`
beside it (a Streamlit script cannot set an HttpOnly cookie, a route can), and the
routes a Review tab renews its images' leases through while in use and gives them back
through when closed (:mod:`ui.tab_leases`).

``app.py`` stays a plain Streamlit script (``streamlit run app.py`` and the AppTest
tests open it directly); without these routes a project with users cannot be signed
into from the browser.
"""
import os

from streamlit.starlette import App

from ui.auth_routes import ROUTES_ENV, routes_for
from ui.state import project_dir
from ui.tab_leases import routes_for as tab_routes

os.environ[ROUTES_ENV] = "1"  # the app's screens (same process) may link to the routes
app = App("app.py", routes=routes_for(project_dir) + tab_routes())
